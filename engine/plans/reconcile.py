"""Plans across runs, as a pure function: an account's earlier plans and history plus this
run's result -> what each plan is now (new, ongoing, escalated, resolved, or held back).

No SQLite here: engine/plans/store reads the inputs, calls these functions and writes the outcome,
so every rule about plan states is unit-testable on plain values.

Counting runs. "Runs" are the account's own evaluations, newest first, one per evaluation
date (a second run on the same date is a correction: it supersedes the first). A run in which
the account is absent neither counts nor breaks a streak.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from ..project.model import Project
from ..project.workdays import WorkCalendar

NEW, ONGOING, ESCALATED, RESOLVED = "new", "ongoing", "escalated", "resolved"
OPEN, SNOOZED, DONE = "open", "snoozed", "done"  # plan statuses (and RESOLVED)
ACTIVE = (OPEN, SNOOZED)


@dataclass(frozen=True)
class Policy:
    """What a playbook says about its plans' lives (from the project's YAML)."""

    cooldown_days: int = 0  # calendar days: a pause, not a deadline
    keep_open_runs: int = 0
    steps: tuple[tuple[str, int], ...] = ()  # (step id, due_days), in playbook order
    every: Mapping[str, str] = field(default_factory=dict)  # step id -> week|month|quarter: recurring steps
    calendar: WorkCalendar = field(default_factory=WorkCalendar)  # the working days due_days count
    # (step, opened, as_of) -> due date: a run gives the same few dates to most of its plans
    dues: dict[tuple[str, str, str], str] = field(default_factory=dict, compare=False, repr=False)


# Plans and steps are tuples: a run reads, reconciles and rewrites ~690,000 plans at 1,000,000
# accounts, and a frozen dataclass's __init__ and dataclasses.replace were a third of that
class PlanStep(NamedTuple):
    id: str
    due: str  # ISO date, fixed when the step first appeared in the plan; a recurring step's next one
    done_on: str | None = None


class Plan(NamedTuple):
    plan_id: int | None  # None until the store has written a new plan
    playbook: str
    status: str  # open | snoozed | done | resolved
    opened: str
    steps: tuple[PlanStep, ...]
    state: str = NEW  # the state at the latest run that saw it
    risk_level: str = "none"
    snoozed_until: str | None = None
    snooze_risk: str | None = None  # the risk level when snoozed: a rise above it ends the snooze
    done_on: str | None = None
    resolved_on: str | None = None
    kept_open: bool = False  # open although its trigger cleared (keep_open_runs)
    snooze_reason: str | None = None
    snoozed_by: str | None = None

    def overdue(self, as_of: str, shown: Iterable[str] | None = None) -> bool:
        ids = None if shown is None else set(shown)
        return any(s.done_on is None and s.due < as_of and (ids is None or s.id in ids) for s in self.steps)


@dataclass(frozen=True)
class Past:
    """The account at one earlier evaluation date."""

    as_of: str
    risk_level: str
    fired: frozenset[str]  # rules whose condition held (the engine's run, before for_runs)
    playbooks: frozenset[str]  # the playbooks its rules assigned (after for_runs), shown or held


@dataclass(frozen=True)
class Held:
    """A playbook that fired but is held back: its plan is snoozed, or done and cooling down."""

    playbook: str
    plan_id: int | None
    state: str  # snoozed | cooldown
    until: str
    reason: str | None = None  # a snooze's reason and who set it
    by: str | None = None


@dataclass(frozen=True)
class Change:
    plan: Plan  # the plan after this run
    event: str  # new | ongoing | escalated | kept_open | unsnoozed | snoozed | resolved


@dataclass(frozen=True)
class Reconciliation:
    """One account's plans reconciled with this run: what changed, and what is held back."""

    changes: tuple[Change, ...]
    held: tuple[Held, ...]

    @property
    def active(self) -> list[Plan]:
        """The plans the account's documents show this run."""
        return [c.plan for c in self.changes if c.plan.status == OPEN]

    @property
    def resolved(self) -> list[Plan]:
        return [c.plan for c in self.changes if c.event == RESOLVED]


def pending_rules(for_runs: Mapping[str, int], fired: Iterable[str], history: Sequence[Past]) -> dict[str, int]:
    """Rules whose condition holds now but not yet for `for_runs` consecutive runs:
    rule id -> the runs it has held so far (this one included)."""
    out: dict[str, int] = {}
    for rule in sorted(set(fired)):
        need = for_runs.get(rule, 1)
        if need <= 1:
            continue
        held = 1
        for past in history:
            if held >= need or rule not in past.fired:
                break
            held += 1
        if held < need:
            out[rule] = held
    return out


def _rank(levels: Sequence[str], level: str | None) -> int:
    return levels.index(level) + 1 if level in levels else 0


def _days(iso: str, n: int) -> str:
    try:
        return (date.fromisoformat(iso) + timedelta(days=n)).isoformat()
    except OverflowError:  # a store written before dates were checked (done --on 9999-12-31)
        return date.max.isoformat()


def _steps(policy: Policy | None, as_of: str, opened: str, kept: tuple[PlanStep, ...] = (),
           wanted: Sequence[tuple[str, str]] | None = None) -> tuple[PlanStep, ...]:
    """Kept steps keep their due dates; a step new to the plan is due from this run: at the
    date `wanted` gives it (this run's (step id, due) for the account, after step conditions,
    merging and capacity scheduling), or without it (a plan kept open after its trigger
    cleared) `due_days` working days from this run. A recurring step, not done, is due on the
    first date on or after this run of its series, which starts at the due date of the plan's
    opening day: never overdue."""
    if policy is None:
        return kept + tuple(PlanStep(sid, d) for sid, d in wanted or ())
    dues = policy.dues

    def due(sid: str) -> str:
        key = (sid, opened, as_of)
        found = dues.get(key)
        if found is None:
            found = dues[key] = _due(policy, sid, opened, as_of)
        return found

    every = policy.every
    moved = tuple(s._replace(due=due(s.id)) if s.done_on is None and s.id in every else s
                  for s in kept) if every else kept
    if wanted is None:
        wanted = [(sid, due(sid)) for sid, _ in policy.steps]
    have = {s.id for s in kept}
    return moved + tuple(PlanStep(sid, d) for sid, d in wanted if sid not in have)


def _due(policy: Policy, sid: str, opened: str, as_of: str) -> str:
    """A step's due date in a plan opened on `opened`, as of this run (see _steps)."""
    cal, days = policy.calendar, dict(policy.steps)
    every = policy.every.get(sid)
    if every is None:
        return cal.add_working_days(date.fromisoformat(as_of), days[sid]).isoformat()
    anchor = cal.add_working_days(date.fromisoformat(opened), days[sid])
    return cal.next_occurrence(every, anchor, date.fromisoformat(as_of)).isoformat()


def cleared_runs(playbook: str, history: Sequence[Past]) -> int:
    """Consecutive earlier runs (newest first) in which the playbook was not assigned."""
    n = 0
    for past in history:
        if playbook in past.playbooks:
            break
        n += 1
    return n


def reconcile(as_of: date, risk_level: str, playbooks: Iterable[str], plans: Sequence[Plan],
              history: Sequence[Past], policies: Mapping[str, Policy], levels: Sequence[str],
              steps: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> Reconciliation:
    """One account: this run's risk level and assigned playbooks against its plans.

    `steps`: per assigned playbook, the (step id, due) this run gives the account; a
    playbook not in it gets all its steps, due from the policy.

    `plans` are the account's open and snoozed plans and, per playbook, its latest done one
    (for the cooldown); `history` its earlier runs, newest first, without this run's date;
    `levels` the risk levels lowest first ('none' ranks below all)."""
    day = as_of.isoformat()
    fires = set(playbooks)
    wanted = steps or {}
    prev_risk = history[0].risk_level if history else None
    rose = prev_risk is not None and _rank(levels, risk_level) > _rank(levels, prev_risk)
    active = {p.playbook: p for p in plans if p.status in ACTIVE}
    done: dict[str, Plan] = {}
    for p in plans:
        if p.status == DONE and (p.playbook not in done or (p.done_on or "") > (done[p.playbook].done_on or "")):
            done[p.playbook] = p
    changes: list[Change] = []
    held: list[Held] = []

    def running(plan: Plan, kept_open: bool, event: str | None = None) -> Change:
        state = NEW if plan.opened == day else (ESCALATED if rose else ONGOING)
        after = plan._replace(status=OPEN, state=state, risk_level=risk_level, snoozed_until=None,
                        snooze_risk=None, kept_open=kept_open,
                        steps=_steps(policies.get(plan.playbook), day, plan.opened, plan.steps,
                                     wanted.get(plan.playbook)))
        return Change(after, event or ("kept_open" if kept_open else state))

    for pb in sorted(fires | set(active)):
        plan = active.get(pb)
        policy = policies.get(pb)
        if plan is None:  # fires, no plan yet
            last = done.get(pb)
            cooldown = policy.cooldown_days if policy else 0
            if last is not None and last.done_on and cooldown and day < _days(last.done_on, cooldown):
                held.append(Held(pb, last.plan_id, "cooldown", _days(last.done_on, cooldown)))
                continue
            changes.append(Change(Plan(None, pb, OPEN, day, _steps(policy, day, day, (), wanted.get(pb)), NEW,
                                       risk_level), NEW))
            continue
        # an open or snoozed plan: does its trigger still hold, or has it held off long enough?
        clear = 0 if pb in fires else 1 + cleared_runs(pb, history)
        if clear > (policy.keep_open_runs if policy else 0):
            changes.append(Change(plan._replace(status=RESOLVED, state=RESOLVED, resolved_on=day,
                                          risk_level=risk_level, kept_open=False), RESOLVED))
            continue
        if plan.status == SNOOZED:
            worse = _rank(levels, risk_level) > _rank(levels, plan.snooze_risk)
            if plan.snoozed_until is not None and day < plan.snoozed_until and not worse:
                held.append(Held(pb, plan.plan_id, SNOOZED, plan.snoozed_until, plan.snooze_reason,
                                 plan.snoozed_by))
                changes.append(Change(plan._replace(risk_level=risk_level), SNOOZED))
                continue
            change = running(plan, clear > 0)
            if worse:  # a snooze never hides a rise in risk
                change = Change(change.plan._replace(state=ESCALATED), ESCALATED)
            changes.append(Change(change.plan, "unsnoozed" if change.event != ESCALATED else ESCALATED))
            continue
        changes.append(running(plan, clear > 0))
    return Reconciliation(tuple(changes), tuple(held))


def policies_of(project: Project) -> dict[str, Policy]:
    return {pid: Policy(pb.cooldown_days, pb.keep_open_runs, tuple((s.id, s.due_days) for s in pb.steps),
                        {s.id: s.every for s in pb.steps if s.every}, project.calendar)
            for pid, pb in project.playbooks.items()}


def for_runs_of(project: Project) -> dict[str, int]:
    """Rules that must hold for more than one run."""
    return {r.id: r.for_runs for r in project.rules if r.for_runs > 1}
