"""Working days of a declared calendar: due dates count them and recurring steps land on them.

kam.yaml declares the calendar (`calendar:`, read by `calendar_of`); without one only
Saturdays and Sundays are days off. A country's public holidays come from the `holidays`
package, with the days off it moves by decree and the weekend days it makes working days
where the package knows them (for Russia the government's yearly transfers); kam.yaml adds
company days off and working days of its own.
"""
from __future__ import annotations

import calendar as _months
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, date, timedelta
from typing import Any

import holidays

from ..errors import KamError, Problem
from ..hints import mean, nearest
from .loader import Document

EVERY = ("week", "month", "quarter")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS_IN = {"month": 1, "quarter": 3}
_YEARS = 10  # years of working days built at a time: due dates rarely reach further


@dataclass(frozen=True)
class WorkCalendar:
    country: str | None = None  # a country code of the holidays package, e.g. "RU"; None: weekends only
    subdivision: str | None = None
    weekend: tuple[int, ...] = (5, 6)  # date.weekday() numbers
    extra_holidays: tuple[date, ...] = ()  # company days off, declared in kam.yaml
    extra_working_days: tuple[date, ...] = ()  # e.g. a transferred working Saturday
    # built lazily: year -> that year's working days as sorted ordinals, and under "table"
    # (first ordinal, last ordinal, working days) of the contiguous years built so far
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not set(self.weekend) <= set(range(7)) or len(set(self.weekend)) == 7:
            raise ValueError(f"weekend {self.weekend!r}: weekday numbers 0-6, not all seven")

    def is_working(self, d: date) -> bool:
        work = self._covering(d.toordinal())
        i = bisect_left(work, d.toordinal())
        return i < len(work) and work[i] == d.toordinal()

    def add_working_days(self, start: date, days: int) -> date:
        """The date `days` working days after `start` (a day off as `start` counts from the
        next working day); 0 days: `start` if it is a working day, else the next one."""
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        o = start.toordinal()
        while True:
            work = self._covering(o)
            i = bisect_right(work, o) + days - 1 if days else bisect_left(work, o)
            if i < len(work):
                return date.fromordinal(work[i])
            self._extend(start, days)  # past the years built so far

    def next_working_day(self, d: date) -> date:
        """`d` itself when it is a working day."""
        return self.add_working_days(d, 0)

    def week_start(self, d: date) -> date:
        """The Monday of `d`'s week."""
        return d - timedelta(days=d.weekday())

    def next_occurrence(self, every: str, anchor: date, as_of: date) -> date:
        """The first date on or after `as_of` of the series `anchor`, `anchor` + 1 period, ...
        (every week, month or quarter; a month later than the 31st is the month's last day),
        each date moved forward to a working day."""
        if every not in EVERY:
            raise ValueError(f"every: one of {', '.join(EVERY)}, got {every!r}")
        if as_of <= anchor:
            return self.next_working_day(anchor)
        if every == "week":
            k = (self.week_start(as_of) - self.week_start(anchor)).days // 7  # lands in as_of's week
        else:
            k = ((as_of.year - anchor.year) * 12 + as_of.month - anchor.month) // _MONTHS_IN[every]
        while _nth(every, anchor, k) < as_of:
            k += 1
        # a date before as_of can still be moved forward onto or past it
        while k > 0 and self.next_working_day(_nth(every, anchor, k - 1)) >= as_of:
            k -= 1
        return self.next_working_day(_nth(every, anchor, k))

    # -- the table of working days -----------------------------------------------------------

    def _covering(self, ordinal: int) -> list[int]:
        """The working days of the years built so far, which include the one of `ordinal`."""
        table = self._cache.get("table")
        if table is None or not table[0] <= ordinal <= table[1]:
            year = date.fromordinal(ordinal).year
            first = year if table is None else min(year, date.fromordinal(table[0]).year)
            last = min(MAXYEAR, year + _YEARS) if table is None else max(year, date.fromordinal(table[1]).year)
            table = self._build(first, last)
        return table[2]

    def _extend(self, start: date, days: int) -> None:
        """More years after the ones built so far, for `days` working days after `start`."""
        first, last = (date.fromordinal(o).year for o in self._cache["table"][:2])
        if last == MAXYEAR:
            raise KamError(f"{days} working day(s) after {start.isoformat()} is past the year {MAXYEAR}")
        # days // 52 + 1 more years hold `days` working days unless most weeks have none (then: again)
        self._build(first, min(MAXYEAR, last + max(_YEARS, days // 52 + 1)))

    def _build(self, first: int, last: int) -> tuple[int, int, list[int]]:
        missing = [y for y in range(first, last + 1) if y not in self._cache]
        if missing:
            self._cache.update(self._working_days(missing))
        work = [o for y in range(first, last + 1) for o in self._cache[y]]
        # one tuple swapped in whole: a reader never sees the bounds of one build with another's days
        table = self._cache["table"] = (date(first, 1, 1).toordinal(), date(last, 12, 31).toordinal(), work)
        return table

    def _working_days(self, years: list[int]) -> dict[int, list[int]]:
        off = set(self.extra_holidays)
        on = set(self.extra_working_days)
        public: set[date] = set()
        if self.country is not None:
            found = holidays.country_holidays(self.country, subdiv=self.subdivision, years=years)
            public = set(found)
            on |= found.weekend_workdays - off
        weekend = set(self.weekend)
        out = {}
        for y in years:
            start, end = date(y, 1, 1).toordinal(), date(y, 12, 31).toordinal()
            out[y] = [o for o in range(start, end + 1)
                      if (d := date.fromordinal(o)) in on
                      or not (d in off or d in public or d.weekday() in weekend)]
        return out


def _nth(every: str, anchor: date, k: int) -> date:
    """The k-th date of the series, before it moves to a working day."""
    try:
        if every == "week":
            return anchor + timedelta(days=7 * k)
        year, month = divmod(anchor.month - 1 + k * _MONTHS_IN[every], 12)
        year += anchor.year
        if not MINYEAR <= year <= MAXYEAR:
            raise OverflowError
        return date(year, month + 1, min(anchor.day, _months.monthrange(year, month + 1)[1]))
    except OverflowError:
        raise KamError(f"the {every}ly series from {anchor.isoformat()} runs past the year {MAXYEAR}") from None


# -- kam.yaml --------------------------------------------------------------------------------

def calendar_of(doc: Document) -> tuple[WorkCalendar, list[Problem]]:
    """The `calendar:` of kam.yaml (already checked against its schema) and its problems."""
    spec = doc.data.get("calendar") if isinstance(doc.data, dict) else None
    if not spec:
        return WorkCalendar(), []
    problems: list[Problem] = []
    country, subdivision = spec.get("country"), spec.get("subdivision")
    if country is not None and _country_problem(doc, country, subdivision, problems):
        country = subdivision = None
    elif subdivision is not None and country is None:
        problems.append(doc.problem(("calendar", "subdivision"), "calendar → subdivision: needs a country"))
    dates: dict[str, tuple[date, ...]] = {}
    for key in ("holidays", "working_days"):
        ok = []
        for i, text in enumerate(spec.get(key, [])):
            try:
                ok.append(date.fromisoformat(text))
            except ValueError:
                problems.append(doc.problem(("calendar", key, i), f"calendar → {key}: '{text}' is not a date "
                                                                  "(YYYY-MM-DD)"))
        dates[key] = tuple(ok)
    for i, d in enumerate(dates["working_days"]):
        if d in dates["holidays"]:
            problems.append(doc.problem(("calendar", "working_days", i), f"calendar → working_days: "
                                        f"{d.isoformat()} is also in calendar → holidays"))
    weekend = tuple(WEEKDAYS.index(day) for day in spec.get("weekend", ("saturday", "sunday")))
    if len(weekend) == 7:
        problems.append(doc.problem(("calendar", "weekend"), "calendar → weekend: leaves no working day"))
        weekend = (5, 6)
    return WorkCalendar(country, subdivision, weekend, dates["holidays"], dates["working_days"]), problems


def _country_problem(doc: Document, country: str, subdivision: str | None, problems: list[Problem]) -> bool:
    """Whether the holidays package lacks the country (or its subdivision): a problem with a hint."""
    known = holidays.list_supported_countries()
    if country not in known:
        names = {name.lower(): code for name, code, *_ in holidays.registry.COUNTRIES.values()}
        by_name = nearest(country.lower(), names, cutoff=0.8)
        by_code = nearest(country.upper(), known)
        code = country.upper() if country.upper() in known else names[by_name[0]] if by_name else \
            by_code[0] if by_code else None
        hint = f"{mean([code])} " if code else ""
        problems.append(doc.problem(("calendar", "country"), f"calendar → country: unknown country code "
                                    f"'{country}' ({hint}codes are ISO 3166, as the holidays package "
                                    "knows them: RU, DE, US)"))
        return True
    if subdivision is not None and subdivision not in known[country]:
        subs = known[country]
        near = ([subdivision.upper()] if subdivision.upper() in subs
                else nearest(subdivision, subs))
        hint = (mean(near) if near else f"{country} has {', '.join(subs)}" if subs
                else f"the holidays package has none for {country}")
        problems.append(doc.problem(("calendar", "subdivision"), f"calendar → subdivision: unknown "
                                    f"subdivision '{subdivision}' of {country} ({hint})"))
        return True
    return False
