"""The dates a user gives kam (--as-of, --on, --until, a history's snapshot and loss dates)
lie from FIRST to LAST: a due date (at most 3650 working days), a cooldown (at most 3650
days) or a backtest horizon added to one stays far inside Python's dates, which end with
the year 9999 (`kam plans done --on 9999-12-31` made every later run fail)."""
from __future__ import annotations

from datetime import date

FIRST, LAST = date(1900, 1, 1), date(2199, 12, 31)


def in_range(day: date) -> date:
    """`day`, or ValueError when it lies outside FIRST to LAST."""
    if not FIRST <= day <= LAST:
        raise ValueError(f"{day.isoformat()} is outside the dates kam works with, {FIRST} to {LAST}")
    return day


def parse_day(text: str) -> date:
    """YYYY-MM-DD (a command-line option) from FIRST to LAST; ValueError saying which it is not."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"expected YYYY-MM-DD, got {text[:40]!r}") from None
    return in_range(day)
