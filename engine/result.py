"""The result record of one account, as types: the line of results.jsonl, and what a template
gets as `account` (docs/output.md).

engine/rules/evaluate.py builds it (Evaluator.evaluate); capacity scheduling (engine/run/schedule.py
apply) moves its steps; the store (engine/plans/store/overlay.py apply) adds the plan states; the
worklist (engine/render/worklist/) and the views of the documents (engine/render/views/) read it.

These are TypedDicts: at run time a result is the plain dict it always was (same keys in the
same order, the same bytes in results.jsonl, no cost per account); the types are for mypy and
for the reader. A field in a `total=False` class is there only in some results (the store's
fields, for example, only after a run with a store). tests/test_result_keys.py checks that
real results have exactly these keys.

Values read from the input (name, owner, nps, revenue_current, ...) are None where the record
has no value or the project has no such metric.

Moved (a frozen dataclass) and StepKey are a queued step before it is written into a result:
what capacity scheduling decides and the store keeps, so both stages take them from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict


class Evidence(TypedDict):
    """Why a signal fired (a signal's `evidence`) or a playbook was assigned (its `reason`)."""

    metrics: dict[str, Any]  # metric id -> the account's value that the rules read (floats to 6 places)
    thresholds: dict[str, Any]  # threshold id -> its value for the account's segment
    rules: list[str]  # the ids of the rules that asserted it


class SignalHit(TypedDict):
    """A signal that fired on the account (`signals[*]`), most severe first."""

    id: str  # the signal's id (rules/facts.yaml)
    category: str  # its category id: financial, emotional, ...
    severity: str  # low | medium | high
    title: str  # its title in the run's language
    evidence: Evidence  # the values and thresholds that made it fire
    text: str  # the evidence sentence in the run's language, values filled in


class MergedStep(TypedDict):
    """A step merged into another one with the same action (`steps[*].merged[*]`)."""

    playbook: str  # the playbook the merged step came from
    step: str  # its step id
    title: str  # its title in the run's language
    owner: str  # its role


# A step that capacity scheduling moved (`steps[*].queued`; "from" is a keyword, hence this form):
#   from: the due date its playbook gave it (ISO); week: the Monday of the week it was queued to (ISO)
Queued = TypedDict("Queued", {"from": str, "week": str})

StepKey = tuple[str, str, str]  # (account id, playbook, step id)


@dataclass(frozen=True)
class Moved:
    """A step that capacity scheduling moved, before it is written into the result's `queued`
    (engine/run/schedule.py decides it; the store keeps it with the plan, engine/plans/store/runs.py)."""

    due: str  # the new due date
    original: str  # the date the playbook gave it
    week: str  # the Monday of the week it was queued to


class _Step(TypedDict):
    id: str  # the step's id in its playbook (what `kam plans done` takes, after the plan id)
    title: str  # its title in the run's language
    owner: str  # the role that does it (sales_director, key_account_manager, ...)
    due: str  # its due date, ISO (working days of the project's calendar; with a store the plan's; "" if unknown)


class StepEntry(_Step, total=False):
    """A step of a playbook (`playbooks[*].steps[*]`), in the playbook's order."""

    every: str  # a recurring step's period (week, month, quarter, ...); `due` is its next date
    merged: list[MergedStep]  # steps of other playbooks with the same action that this one carries
    queued: Queued  # capacity scheduling moved it (kam.yaml `capacity:`)
    done: bool  # store: the step is recorded done
    overdue: bool  # store: not done and due before the run's date


class _Playbook(TypedDict):
    id: str  # the playbook's id (playbooks/*.yaml)
    title: str  # its title in the run's language
    priority: int  # its priority (1 first)
    reason: Evidence  # the values and rules that assigned it (empty for a plan kept open)
    steps: list[StepEntry]  # the steps that apply to the account, merged ones left out


class PlaybookEntry(_Playbook, total=False):
    """A playbook assigned to the account (`playbooks[*]`), by priority then id. The fields
    below come from the store (engine/plans/store/overlay.py): with a store every entry has them."""

    state: str  # new | ongoing | escalated
    plan_id: int | None  # the plan in the store (None in a dry run for a new plan)
    opened: str  # the date the plan was opened, ISO
    kept_open: bool  # open although its trigger no longer fires (keep_open_runs)
    overdue: bool  # a step of it is overdue


class Winback(TypedDict):
    """`winback`: the win-back cost–benefit of a lost client (docs/rules.md)."""

    decision: str  # pursue | do_not_pursue | undecided
    value: float | None  # winback_value: what winning the client back is worth
    cost: float | None  # the cost metric's value (winback_total_cost, else winback_cost)
    cost_metric: str  # that cost metric's id
    inputs: dict[str, Any]  # metric id -> value: the inputs the decision rests on, the benefit's then the cost's
    cost_inputs: list[str]  # which of the inputs make up the cost
    missing: list[str]  # inputs without a value (the decision then stays undecided)
    defaulted: list[str]  # inputs that were empty and took the project's default (default_by)
    lost_reason: str | None  # the recorded reason the client was lost



class FiredRule(TypedDict):
    """A rule that fired (`fired[*]`), in firing order."""

    rule: str  # the rule's id
    asserts: list[str]  # what it asserted: "signal.low_nps", "risk.high", "playbook.qbr", ...


class _Held(TypedDict):
    id: str  # the playbook's id
    title: str  # its title in the run's language
    plan_id: int | None  # the plan in the store
    state: str  # snoozed | cooldown
    until: str  # the date it is held until, ISO


class HeldPlan(_Held, total=False):
    """A plan whose playbook fires but that is held back (`held_plans[*]`, store)."""

    reason: str  # a snooze's reason (only when one was given)
    by: str | None  # who snoozed it (with `reason`)


class ResolvedPlan(TypedDict):
    """A plan this run closed because its trigger no longer fires (`resolved_plans[*]`, store)."""

    id: str  # the playbook's id
    title: str  # its title in the run's language
    plan_id: int | None  # the plan in the store
    opened: str  # when it was opened, ISO
    resolved: str  # when it was resolved (this run's date), ISO


class PendingRule(TypedDict):
    """A rule whose condition holds but not yet for its for_runs (`pending_rules[*]`, store)."""

    rule: str  # the rule's id
    runs: int  # the consecutive runs it has held, this one included
    for_runs: int  # the runs it must hold before its facts count
    asserts: list[str]  # what it will assert then


class _Result(TypedDict):
    account_id: str  # the account's id
    name: str | None  # the company's name
    owner: str | None  # the account manager
    segment: str | None  # the segment (per-segment thresholds)
    status: str | None  # active | lost
    as_of: str  # the run's date, ISO
    risk_level: str  # the highest risk level asserted, "none" if none
    signals: list[SignalHit]  # the signals that fired, most severe first
    classes: list[str]  # the ids of the account classes asserted (key_account, ...)
    playbooks: list[PlaybookEntry]  # the playbooks assigned, by priority, with their steps
    key_account: bool  # the key_account class was asserted
    dependency: str  # our dependency on the client: none | risky | mono (the portfolio pass)
    abc: str | None  # ABC class by revenue: A | B | C (the portfolio pass)
    kaism: str | None  # the KAISM quadrant's id (source 004)
    criteria_score: float | None  # the weighted criteria score, 0 to 10
    kaism_value: float | None  # the KAISM axis "value to us"
    kaism_attractiveness: float | None  # the KAISM axis "our share with the client"
    nps: int | None  # likelihood to recommend, 0 to 10
    days_since_qbr: int | None  # days since the last quarterly business review
    revenue_previous: float | None  # revenue in the same period before
    revenue_share_pct: float | None  # the account's share of our revenue, %
    revenue_current: float | None  # revenue in the current period
    orders_current: int | None  # orders this period (manager KPIs, source 003)
    repeat_orders_current: int | None  # repeat orders this period
    deals_current: int | None  # deals closed this period
    missing: list[str]  # inputs the rules need that the record has no value for (or took a default for)
    winback: Winback | None  # a lost client's win-back cost–benefit; null for the others
    priority: float  # expected loss × the boosts that hold (rules/priority.yaml): the order of urgency
    expected_loss: float  # money at stake × margin × the chance of losing it
    priority_boosts: list[str]  # the ids of the boosts that raised the priority
    fired: list[FiredRule]  # the rules that fired


class Result(_Result, total=False):
    """One account's result record (a line of results.jsonl). The fields below come from the
    store (engine/plans/store/overlay.py apply): a run with a store gives every result all three."""

    held_plans: list[HeldPlan]  # plans whose playbook fires but that are snoozed or cooling down
    resolved_plans: list[ResolvedPlan]  # plans this run closed
    pending_rules: list[PendingRule]  # conditions that hold, but not yet for their for_runs
