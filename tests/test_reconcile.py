"""engine/plans/reconcile.py on plain values: plan states, cooldowns, snoozes, for_runs, keep_open_runs."""
from __future__ import annotations

from datetime import date, timedelta

from engine.plans.reconcile import Past, Plan, PlanStep, Policy, cleared_runs, pending_rules, reconcile

LEVELS = ["medium", "high"]
POLICIES = {
    "respond": Policy(steps=(("call", 7), ("visit", 30))),
    "crisis": Policy(steps=(("meet", 3),)),
    "qbr": Policy(cooldown_days=90, steps=(("review", 14),)),
    "watch": Policy(keep_open_runs=2, steps=(("look", 5),)),
}
D1, D2, D3 = date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)


def past(as_of: str, risk: str = "none", fired: tuple[str, ...] = (), playbooks: tuple[str, ...] = ()) -> Past:
    return Past(as_of, risk, frozenset(fired), frozenset(playbooks))


def plan(playbook: str, opened: str = "2026-01-05", status: str = "open", plan_id: int = 1, **kw) -> Plan:
    steps = tuple(PlanStep(sid, (date.fromisoformat(opened) + timedelta(days=days)).isoformat())
                  for sid, days in POLICIES[playbook].steps)
    return Plan(plan_id, playbook, status, opened, steps, **kw)


def run(as_of: date, risk: str, playbooks: list[str], plans: list[Plan], history: list[Past]):
    return reconcile(as_of, risk, playbooks, plans, history, POLICIES, LEVELS)


def test_a_new_playbook_opens_a_new_plan_with_due_dates_from_the_run():
    out = run(D1, "medium", ["respond"], [], [])
    (change,) = out.changes
    assert change.event == "new" and change.plan.plan_id is None and change.plan.state == "new"
    # 7 and 30 working days: without a declared calendar, weekends are the days off
    assert [(s.id, s.due) for s in change.plan.steps] == [("call", "2026-01-14"), ("visit", "2026-02-16")]
    assert out.active == [change.plan] and out.resolved == [] and out.held == ()


def test_a_playbook_that_fires_again_is_the_same_plan_with_its_due_dates_kept():
    before = plan("respond", risk_level="medium")
    out = run(D2, "medium", ["respond"], [before], [past("2026-01-05", "medium", playbooks=("respond",))])
    (change,) = out.changes
    assert change.event == "ongoing" and change.plan.plan_id == 1
    assert change.plan.steps == before.steps  # not moved to D2 + 7


def test_a_rise_in_risk_level_escalates_open_plans_and_opens_new_ones():
    before = plan("respond", risk_level="medium")
    out = run(D2, "high", ["respond", "crisis"], [before], [past("2026-01-05", "medium", playbooks=("respond",))])
    states = {c.plan.playbook: (c.event, c.plan.state) for c in out.changes}
    assert states == {"respond": ("escalated", "escalated"), "crisis": ("new", "new")}
    # the next run at the same level: ongoing again
    after = [c.plan for c in out.changes]
    again = run(D3, "high", ["respond", "crisis"], after, [past("2026-01-12", "high", playbooks=("respond", "crisis"))])
    assert {c.plan.playbook: c.plan.state for c in again.changes} == {"respond": "ongoing", "crisis": "ongoing"}


def test_a_plan_whose_trigger_stops_is_resolved_and_kept():
    before = plan("respond")
    out = run(D2, "none", [], [before], [past("2026-01-05", "medium", playbooks=("respond",))])
    (change,) = out.changes
    assert change.event == "resolved" and change.plan.status == "resolved" and change.plan.resolved_on == "2026-01-12"
    assert out.resolved == [change.plan] and out.active == []


def test_a_done_plan_is_not_reopened_within_its_cooldown():
    done = plan("qbr", status="done", done_on="2026-01-06")
    inside = run(date(2026, 4, 5), "none", ["qbr"], [done], [])
    assert inside.changes == () and inside.held[0].state == "cooldown" and inside.held[0].until == "2026-04-06"
    after = run(date(2026, 4, 6), "none", ["qbr"], [done], [])
    assert [(c.event, c.plan.plan_id) for c in after.changes] == [("new", None)]


def test_without_a_cooldown_a_done_plan_is_followed_by_a_new_one():
    done = plan("respond", status="done", done_on="2026-01-06")
    out = run(D2, "medium", ["respond"], [done], [])
    assert [c.event for c in out.changes] == ["new"]


def test_a_snoozed_plan_is_held_until_its_date_then_comes_back():
    snoozed = plan("respond", status="snoozed", snoozed_until="2026-01-19", snooze_risk="medium")
    hist = [past("2026-01-05", "medium", playbooks=("respond",))]
    held = run(D2, "medium", ["respond"], [snoozed], hist)
    assert held.active == [] and held.held[0].state == "snoozed" and held.held[0].until == "2026-01-19"
    back = run(D3, "medium", ["respond"], [snoozed], hist)
    (change,) = back.changes
    assert change.event == "unsnoozed" and change.plan.status == "open" and change.plan.snoozed_until is None
    assert change.plan.state == "ongoing"


def test_a_rise_in_risk_ends_a_snooze():
    snoozed = plan("respond", status="snoozed", snoozed_until="2026-03-01", snooze_risk="medium")
    out = run(D2, "high", ["respond"], [snoozed], [past("2026-01-05", "high", playbooks=("respond",))])
    (change,) = out.changes
    assert change.plan.status == "open" and change.plan.state == "escalated" and out.held == ()


def test_a_snoozed_plan_whose_trigger_stops_is_resolved():
    snoozed = plan("respond", status="snoozed", snoozed_until="2026-03-01", snooze_risk="medium")
    out = run(D2, "none", [], [snoozed], [past("2026-01-05", "medium", playbooks=("respond",))])
    assert [c.event for c in out.changes] == ["resolved"]


def test_keep_open_runs_keeps_a_plan_through_a_flap_and_resolves_it_after():
    watch = plan("watch")
    h = [past("2026-01-05", playbooks=("watch",))]
    first = run(D2, "none", [], [watch], h)  # cleared 1 run <= 2: kept
    assert [(c.event, c.plan.kept_open, c.plan.status) for c in first.changes] == [("kept_open", True, "open")]
    h = [past("2026-01-12")] + h
    second = run(D3, "none", [], [first.changes[0].plan], h)  # cleared 2 runs: kept
    assert second.changes[0].plan.kept_open
    h = [past("2026-01-19")] + h
    third = run(date(2026, 1, 26), "none", [], [second.changes[0].plan], h)  # cleared 3 runs: resolved
    assert [c.event for c in third.changes] == ["resolved"]
    # fires again while kept open: the same plan, no longer marked kept open
    again = run(D3, "none", ["watch"], [first.changes[0].plan], [past("2026-01-12")] + h[1:])
    assert again.changes[0].plan.plan_id == 1 and not again.changes[0].plan.kept_open


def test_cleared_runs_counts_from_the_newest_run():
    h = [past("3"), past("2"), past("1", playbooks=("watch",)), past("0")]
    assert cleared_runs("watch", h) == 2 and cleared_runs("other", h) == 4


def test_for_runs_holds_a_rule_back_until_it_held_long_enough():
    for_runs = {"blip": 2, "slow": 3}
    assert pending_rules(for_runs, ["blip", "other"], []) == {"blip": 1}
    assert pending_rules(for_runs, ["blip"], [past("1", fired=("blip",))]) == {}
    assert pending_rules(for_runs, ["blip"], [past("2"), past("1", fired=("blip",))]) == {"blip": 1}
    assert pending_rules(for_runs, ["slow"], [past("2", fired=("slow",)), past("1")]) == {"slow": 2}
    assert pending_rules(for_runs, ["slow"], [past("2", fired=("slow",)), past("1", fired=("slow",))]) == {}
    assert pending_rules(for_runs, [], [past("1", fired=("blip",))]) == {}


def test_a_correction_run_on_the_same_date_keeps_new_plans_new():
    opened_today = plan("respond", opened="2026-01-12")
    out = run(D2, "medium", ["respond"], [opened_today], [past("2026-01-05")])
    assert out.changes[0].plan.state == "new"


def test_a_step_added_to_the_playbook_gets_a_due_date_from_this_run():
    before = plan("respond")._replace(steps=(PlanStep("call", "2026-01-12"),))
    out = run(D2, "medium", ["respond"], [before], [past("2026-01-05", "medium", playbooks=("respond",))])
    assert [(s.id, s.due) for s in out.changes[0].plan.steps] == [("call", "2026-01-12"), ("visit", "2026-02-23")]


def test_overdue_counts_undone_steps_past_their_date():
    p = plan("respond")
    assert not p.overdue("2026-01-12") and p.overdue("2026-01-13")
    done = p._replace(steps=(p.steps[0]._replace(done_on="2026-01-10"), p.steps[1]))
    assert not done.overdue("2026-01-13")


def test_a_recurring_step_is_due_on_its_next_date_and_never_overdue():
    policies = {"watch": Policy(steps=(("look", 5), ("report", 5)), every={"report": "month"})}
    opened = reconcile(D1, "medium", ["watch"], [], [], policies, LEVELS).changes[0].plan  # Monday 5 January
    assert [(s.id, s.due) for s in opened.steps] == [("look", "2026-01-12"), ("report", "2026-01-12")]
    history = [past("2026-01-05", "medium", playbooks=("watch",))]
    for day, due in ((date(2026, 1, 12), "2026-01-12"), (date(2026, 1, 13), "2026-02-12"),
                     (date(2026, 3, 13), "2026-04-13")):  # 12 April is a Sunday
        out = reconcile(day, "medium", ["watch"], [opened], history, policies, LEVELS)
        plan_now = out.changes[0].plan
        assert [(s.id, s.due) for s in plan_now.steps] == [("look", "2026-01-12"), ("report", due)]
        assert plan_now.overdue(day.isoformat(), ["report"]) is False
    done = opened._replace(steps=(opened.steps[0], opened.steps[1]._replace(done_on="2026-01-12")))
    out = reconcile(date(2026, 3, 13), "medium", ["watch"], [done], history, policies, LEVELS)
    assert out.changes[0].plan.steps == done.steps  # a done step keeps its date
