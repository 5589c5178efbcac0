"""Capacity-aware scheduling: what a role can take on per week (kam.yaml `capacity:`).

Each role with a capacity is one person (or one team) across the whole portfolio: a sales
director, a CEO. Its steps are taken in account priority order (then due date, then ids, so
the outcome never depends on input order); a step keeps its due date while its week has room,
otherwise it moves forward by whole weeks to the first week with room (to a working day) and
is marked queued. Steps the store already holds for open plans keep their dates and fill their
weeks first; overdue ones count against the current week.

Scheduling is global, so every chunk's steps wait in the main process until the last chunk is
evaluated. They wait as columns (`Demands`: an account id, a 2-byte step index, a day and a
priority per step, ~20 bytes besides the id) and the outcome is a week count per step; the
dates a chunk's steps move to are made when the chunk is finished (`moved_of`).
"""
from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ..result import Moved, Result, StepKey

if TYPE_CHECKING:
    from ..project.model import Project


class CapacitySteps:
    """The playbook steps whose role has a capacity, numbered in (playbook, step) order so that
    comparing numbers compares ids (the tie-break of the priority order)."""

    def __init__(self, owners: Mapping[tuple[str, str], str], capacity: Mapping[str, int]):
        self.pairs = sorted(k for k, role in owners.items() if role in capacity)
        self.index = {k: i for i, k in enumerate(self.pairs)}
        self.roles = [owners[k] for k in self.pairs]
        self.capacity = dict(capacity)

    @classmethod
    def of(cls, project: Project) -> CapacitySteps:
        return cls({(pid, s.id): s.owner for pid, pb in project.playbooks.items() for s in pb.steps},
                   project.capacity)


@dataclass
class Demands:
    """One chunk's steps of roles with a capacity, in the order the chunk's results list them."""

    accounts: list[str] = field(default_factory=list)
    steps: array[int] = field(default_factory=lambda: array("H"))  # CapacitySteps number
    due: array[int] = field(default_factory=lambda: array("i"))  # date ordinal
    priority: array[float] = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.accounts)

    def add(self, result: Result, steps: CapacitySteps) -> None:
        """The steps of one result whose role has a capacity."""
        index = steps.index
        account, priority = str(result["account_id"]), result.get("priority") or 0.0
        for p in result["playbooks"]:
            for s in p["steps"]:
                n = index.get((p["id"], s["id"]))
                if n is not None and s.get("due"):
                    self.accounts.append(account)
                    self.steps.append(n)
                    self.due.append(date.fromisoformat(s["due"]).toordinal())
                    self.priority.append(priority)


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _monday(ordinal: int) -> int:
    return ordinal - (ordinal - 1) % 7  # date.fromordinal(1) is a Monday


def plan(chunks: Sequence[Demands], steps: CapacitySteps, as_of: date,
         booked: Iterable[tuple[StepKey, str, str]] = ()) -> list[array[int]]:
    """Per chunk, the whole weeks each of its steps moves (0: it keeps its date). `booked`:
    (key, due ISO, role) of steps the store already holds undone in open plans; they keep
    their dates and fill their weeks first."""
    import numpy as np
    capacity = steps.capacity
    this_week = _monday(as_of.toordinal())
    load: dict[str, Counter[int]] = defaultdict(Counter)
    held: set[tuple[str, int]] = set()
    for (account, playbook, step), day, role in booked:
        if role in capacity:
            n = steps.index.get((playbook, step))
            if n is not None:
                held.add((account, n))
            load[role][max(_monday(date.fromisoformat(day).toordinal()), this_week)] += 1
    shifts = [array("I", bytes(4 * len(c))) for c in chunks]
    total = sum(len(c) for c in chunks)
    if not total:
        return shifts
    # one row per step of the portfolio: numpy sorts them (a tuple per step would not be flat)
    chunk_of = np.repeat(np.arange(len(chunks)), [len(c) for c in chunks])
    position = np.concatenate([np.arange(len(c)) for c in chunks])
    number = np.concatenate([np.frombuffer(c.steps, dtype=np.uint16) for c in chunks]).astype(np.int32)
    due = np.concatenate([np.frombuffer(c.due, dtype=np.int32) for c in chunks])
    priority = np.concatenate([np.frombuffer(c.priority, dtype=np.float64) for c in chunks])
    accounts = np.array([a for c in chunks for a in c.accounts], dtype=str)
    role_of = np.array([sorted(capacity).index(r) for r in steps.roles], dtype=np.int32)[number]
    keep = np.ones(total, dtype=bool)
    if held:
        keep = np.array([(a, n) not in held for a, n in zip(accounts.tolist(), number.tolist())], dtype=bool)
    rows = np.flatnonzero(keep)
    # role, then priority (highest first), due date, account id, playbook and step id
    rows = rows[np.lexsort((number[rows], accounts[rows], due[rows], -priority[rows], role_of[rows]))]
    roles = sorted(capacity)
    weeks: dict[int, _Weeks] = {}
    for r, k, p, d in zip(role_of[rows].tolist(), chunk_of[rows].tolist(), position[rows].tolist(),
                          due[rows].tolist()):
        w = weeks.get(r)
        if w is None:
            w = weeks[r] = _Weeks(capacity[roles[r]], load[roles[r]])
        start = _monday(d)
        week = w.take(start)
        if week != start:
            shifts[k][p] = (week - start) // 7
    return shifts


def moved_of(chunk: Demands, shift: array[int], steps: CapacitySteps,
             next_working_day: Callable[[date], date]) -> dict[StepKey, Moved]:
    """The chunk's steps that move, with their new dates: the same weekday `shift` weeks
    later, or the next working day."""
    moved: dict[StepKey, Moved] = {}
    for i, weeks in enumerate(shift):
        if weeks:
            day = date.fromordinal(chunk.due[i])
            playbook, step = steps.pairs[chunk.steps[i]]
            later = _WEEK * weeks
            moved[(chunk.accounts[i], playbook, step)] = Moved(
                next_working_day(day + later).isoformat(), day.isoformat(), (week_start(day) + later).isoformat())
    return moved


class _Weeks:
    """One role's weeks (date ordinals of Mondays): `take` books the first week with room at
    or after a given week.

    A full week points to the week after it, and a lookup follows and shortens those links
    (path compression), so a queue thousands of weeks long costs nearly nothing per step.
    Walking the full weeks one by one made scheduling quadratic: at 1,000,000 accounts a
    sales director's queue kept the run in this loop for over twenty minutes."""

    def __init__(self, capacity: int, load: Counter[int]):
        self.capacity, self.load = capacity, load
        self.full: dict[int, int] = {w: w + 7 for w, n in load.items() if n >= capacity}

    def take(self, week: int) -> int:
        full = self.full
        root = week
        while root in full:
            root = full[root]
        while week in full and full[week] != root:  # every week passed now points at the answer
            full[week], week = root, full[week]
        self.load[root] += 1
        if self.load[root] >= self.capacity:
            full[root] = root + 7
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
