"""Dates in input files, as spreadsheets and CRM exports write them (kam backtest's
snapshot_date and lost_date; no metric is a date).

Read: date cells (datetime/date), ISO 2026-11-23, the Russian 23.11.2026 and 23.11.26, month
names in English and Russian (23 November 2026, Nov 23, 2026, 23-Nov-2026, 23 ноября 2026,
23 нояб. 2026 г.), each with a time of day after it or not. A slash or dash between numbers
(03/04/2026, 03-04-2026) is read only when one order makes sense: a day above 12 tells
day/month from month/day, and the same number twice reads the same either way; otherwise it
is refused, as both orders are common and a wrong guess would move a date by months
without a word. A year of two digits is 2000-2068 up to 68, else 1969-1999 (as strptime's %y).
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

_NAMES = {
    1: "january jan января январь янв",
    2: "february feb февраля февраль фев февр",
    3: "march mar марта март мар",
    4: "april apr апреля апрель апр",
    5: "may мая май",
    6: "june jun июня июнь июн",
    7: "july jul июля июль июл",
    8: "august aug августа август авг",
    9: "september sep sept сентября сентябрь сен сент",
    10: "october oct октября октябрь окт",
    11: "november nov ноября ноябрь ноя нояб",
    12: "december dec декабря декабрь дек",
}
MONTHS = {name: month for month, names in _NAMES.items() for name in names.split()}

# a time of day after the date: Excel's '2026-11-23 14:30:00', 1C's '23.11.2026 0:00:00', ISO's 'T14:30Z'
_TIME = r"(?:(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?)?"
_YEAR_WORD = r"(?:\s*(?:г\.?|года?))?"  # '23 ноября 2026 г.', '... 2026 года'
_ISO = re.compile(rf"(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_TIME}")
_DOTTED = re.compile(rf"(\d{{1,2}})\.(\d{{1,2}})\.(\d{{4}}|\d{{2}}){_YEAR_WORD}{_TIME}")
_YEAR_FIRST = re.compile(rf"(\d{{4}})/(\d{{1,2}})/(\d{{1,2}}){_TIME}")
_NUMBERS = re.compile(rf"(\d{{1,2}})([/-])(\d{{1,2}})\2(\d{{4}}){_TIME}")
_DAY_NAME = re.compile(rf"(\d{{1,2}})(?:\s+|\s*[-/]\s*)([^\W\d_]+)\.?(?:\s+|\s*[-/]\s*)(\d{{4}}|\d{{2}})"
                       rf"{_YEAR_WORD}{_TIME}")
_NAME_DAY = re.compile(rf"([^\W\d_]+)\.?\s+(\d{{1,2}}),?\s+(\d{{4}}){_TIME}")


def parse_date(value: Any) -> date:
    """The date a cell holds; ValueError with a reason a person understands."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("required value is missing")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"expected a date, got the number {value!r} (format the column as dates)")
    text = str(value).strip()
    shown = repr(text[:40] + ("…" if len(text) > 40 else ""))
    if len(text) > 64:  # no date is longer; and the patterns need not backtrack over a long cell
        raise ValueError(f"expected a date (2026-11-23, 23.11.2026, 23 ноября 2026, 23 Nov 2026), got {shown}")
    if m := _ISO.fullmatch(text) or _YEAR_FIRST.fullmatch(text):
        return _day(int(m[1]), int(m[2]), int(m[3]), shown)
    if m := _DOTTED.fullmatch(text):
        return _day(_year(m[3]), int(m[2]), int(m[1]), shown)
    if m := _NUMBERS.fullmatch(text):
        first, second, year = int(m[1]), int(m[3]), int(m[4])
        if first > 12 or first == second:
            return _day(year, second, first, shown)
        if second > 12:
            return _day(year, first, second, shown)
        raise ValueError(f"{shown} is ambiguous: day/month or month/day? Write it as "
                         f"{year}-MM-DD or DD.MM.{year}")
    named = _DAY_NAME.fullmatch(text)
    if named or (named := _NAME_DAY.fullmatch(text)):
        day, name, year_text = (named[1], named[2], named[3]) if named.re is _DAY_NAME else \
            (named[2], named[1], named[3])
        month = MONTHS.get(name.lower())
        if month is None:
            raise ValueError(f"{shown}: unknown month {name!r}")
        return _day(_year(year_text), month, int(day), shown)
    raise ValueError(f"expected a date (2026-11-23, 23.11.2026, 23 ноября 2026, 23 Nov 2026), got {shown}")


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year <= 68 else 1900
    return year


def _day(year: int, month: int, day: int, shown: str) -> date:
    if not 1 <= month <= 12:
        raise ValueError(f"{shown} is not a date: there is no month {month}")
    try:
        return date(year, month, day)
    except ValueError:
        name = _NAMES[month].split()[0].capitalize()
        raise ValueError(f"{shown} is not a date: {name} {year} has no day {day}") from None
