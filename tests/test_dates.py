"""parse_date: the dates of input files (kam backtest's snapshot_date and lost_date) as
exports in both languages write them, and the forms it refuses, with the reason."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from engine.io.dates import parse_date

NOV_23 = date(2026, 11, 23)


@pytest.mark.parametrize("cell", [
    datetime(2026, 11, 23), datetime(2026, 11, 23, 14, 30), NOV_23,  # spreadsheet date cells
    "2026-11-23", "2026-11-23T14:30:00", "2026-11-23 14:30", "2026-11-23T14:30:00+03:00",
    "23.11.2026", "23.11.26", "23.11.2026 0:00:00", " 23.11.2026 ",
    "23 ноября 2026", "23 Ноября 2026", "23 нояб. 2026", "23 ноя 2026", "23 ноября 2026 г.",
    "23 ноября 2026 года", "23 ноябрь 2026",
    "23 November 2026", "23 Nov 2026", "Nov 23, 2026", "November 23 2026", "23-Nov-2026", "23-Nov-26",
    "23/11/2026", "11/23/2026", "23-11-2026", "2026/11/23",
])
def test_the_forms_exports_write(cell):
    assert parse_date(cell) == NOV_23


@pytest.mark.parametrize("cell, expected", [
    ("1.2.2026", date(2026, 2, 1)), ("01.02.99", date(1999, 2, 1)), ("01.02.68", date(2068, 2, 1)),
    ("1 мая 2026", date(2026, 5, 1)), ("3 сент. 2026", date(2026, 9, 3)), ("3 Sept 2026", date(2026, 9, 3)),
    ("03/03/2026", date(2026, 3, 3)),  # the same either way
])
def test_day_first_short_years_and_month_abbreviations(cell, expected):
    assert parse_date(cell) == expected


@pytest.mark.parametrize("cell, reason", [
    ("03/04/2026", "'03/04/2026' is ambiguous: day/month or month/day? Write it as 2026-MM-DD or DD.MM.2026"),
    ("03-04-2026", "'03-04-2026' is ambiguous: day/month or month/day? Write it as 2026-MM-DD or DD.MM.2026"),
    ("31.04.2026", "'31.04.2026' is not a date: April 2026 has no day 31"),
    ("29.02.2025", "'29.02.2025' is not a date: February 2025 has no day 29"),
    ("11.23.2026", "'11.23.2026' is not a date: there is no month 23"),  # dots are day first
    ("23 Novembre 2026", "'23 Novembre 2026': unknown month 'Novembre'"),
    ("soon", "expected a date (2026-11-23, 23.11.2026, 23 ноября 2026, 23 Nov 2026), got 'soon'"),
    ("23 ноября", "expected a date (2026-11-23, 23.11.2026, 23 ноября 2026, 23 Nov 2026), got '23 ноября'"),
    ("11/23/26", "expected a date (2026-11-23, 23.11.2026, 23 ноября 2026, 23 Nov 2026), got '11/23/26'"),
    ("23.11.2026" + " " * 100 + "x", "expected a date (2026-11-23, 23.11.2026, 23 ноября 2026, 23 Nov 2026), "
                                    f"got '23.11.2026{' ' * 30}…'"),  # refused by its length, unparsed
    (46349, "expected a date, got the number 46349 (format the column as dates)"),
    ("", "required value is missing"), (None, "required value is missing"),
])
def test_what_is_refused_and_why(cell, reason):
    with pytest.raises(ValueError) as exc:
        parse_date(cell)
    assert str(exc.value) == reason
