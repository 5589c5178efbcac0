"""Capacity-aware scheduling: what a role can take on per week (kam.yaml `capacity:`).

Each role with a capacity is one person (or one team) across the whole portfolio: a sales
director, a CEO. Its steps are taken in account priority order (then due date, then ids, so
the outcome never depends on input order); a step keeps its due date while its week has room,
otherwise it moves forward by whole weeks to the first week with room (to a working day) and
is marked queued. Steps the store already holds for open plans keep their dates and fill their
weeks first; overdue ones count against the current week.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from .result import Result

# (priority, account id, playbook, step id, due ISO, role): one step of a role with a capacity
Demand = tuple[float, str, str, str, str, str]
StepKey = tuple[str, str, str]  # (account id, playbook, step id)


@dataclass(frozen=True)
class Moved:
    due: str  # the new due date
    original: str  # the date the playbook gave it
    week: str  # the Monday of the week it was queued to


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def demands_of(result: Result, capacity: Mapping[str, int]) -> list[Demand]:
    """The steps of one result whose role has a capacity."""
    if not capacity:
        return []
    return [(result.get("priority") or 0.0, str(result["account_id"]), p["id"], s["id"], s["due"], s["owner"])
            for p in result["playbooks"] for s in p["steps"] if s["owner"] in capacity and s.get("due")]


def plan(demands: Iterable[Demand], capacity: Mapping[str, int], as_of: date,
         next_working_day: Callable[[date], date],
         booked: Iterable[tuple[StepKey, str, str]] = ()) -> dict[StepKey, Moved]:
    """The steps that move, with their new dates. `booked`: (key, due ISO, role) of steps the
    store already holds undone in open plans; they keep their dates."""
    this_week = week_start(as_of)
    load: dict[str, Counter[date]] = defaultdict(Counter)
    held: set[StepKey] = set()
    for key, due, role in booked:
        if role in capacity:
            held.add(key)
            load[role][max(week_start(date.fromisoformat(due)), this_week)] += 1
    by_role: dict[str, list[Demand]] = defaultdict(list)
    for d in demands:
        if d[5] in capacity and (d[1], d[2], d[3]) not in held:
            by_role[d[5]].append(d)
    moved: dict[StepKey, Moved] = {}
    for role in sorted(by_role):
        weeks = _Weeks(capacity[role], load[role])
        for _priority, account, playbook, step, due, _ in sorted(by_role[role],
                                                                 key=lambda d: (-d[0], d[4], d[1], d[2], d[3])):
            day = date.fromisoformat(due)
            start = week_start(day)
            week = weeks.take(start)
            if week != start:
                new = next_working_day(day + (week - start))
                moved[(account, playbook, step)] = Moved(new.isoformat(), due, week.isoformat())
    return moved


class _Weeks:
    """One role's weeks: `take` books the first week with room at or after a given week.

    A full week points to the week after it, and a lookup follows and shortens those links
    (path compression), so a queue thousands of weeks long costs nearly nothing per step.
    Walking the full weeks one by one made scheduling quadratic: at 1,000,000 accounts a
    sales director's queue kept the run in this loop for over twenty minutes."""

    def __init__(self, capacity: int, load: Counter[date]):
        self.capacity, self.load = capacity, load
        self.full: dict[date, date] = {w: w + _WEEK for w, n in load.items() if n >= capacity}

    def take(self, week: date) -> date:
        full = self.full
        root = week
        while root in full:
            root = full[root]
        while week in full and full[week] != root:  # every week passed now points at the answer
            full[week], week = root, full[week]
        self.load[root] += 1
        if self.load[root] >= self.capacity:
            full[root] = root + _WEEK
        return root


_WEEK = timedelta(days=7)


def apply(result: Result, moved: Mapping[StepKey, Moved]) -> Result:
    """The result with its queued steps' new dates (in place, and returned)."""
    if not moved or not result["playbooks"]:
        return result
    account = str(result["account_id"])
    for p in result["playbooks"]:
        for s in p["steps"]:
            m = moved.get((account, p["id"], s["id"]))
            if m is not None:
                s["due"] = m.due
                s["queued"] = {"from": m.original, "week": m.week}
    return result
