"""Made-up results with every part a document can show, for `kam validate` to render every
template once in every language: a template that reads a missing field or label fails
there, not in the middle of a run. The shape follows engine/rules/evaluate.py and the store
step (engine/plans/store/overlay.py; a test keeps them in step): plans in every state, a step
done and one overdue, plans on hold and closed. `without_store` gives the same results as
a run without a store writes them, so both kinds are rendered."""
from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any, Literal

from ..project.model import NO_RISK, Project, text_in
from ..result import HeldPlan, PlaybookEntry, ResolvedPlan, Result, StepEntry, Winback
from ..rules.evidence import WINBACK_COST, WINBACK_TOTAL_COST, WINBACK_VALUE

STATES = ("escalated", "ongoing", "new")  # the playbooks of the sample account take these in turn
PLAN_FIELDS: tuple[Literal["state", "plan_id", "opened", "kept_open", "overdue"], ...] = (
    "state", "plan_id", "opened", "kept_open", "overdue")
STEP_FIELDS: tuple[Literal["done", "overdue"], ...] = ("done", "overdue")
ACCOUNT_FIELDS: tuple[Literal["held_plans", "resolved_plans", "pending_rules"], ...] = (
    "held_plans", "resolved_plans", "pending_rules")


def _playbook(project: Project, pid: str, as_of: date, lang: str, n: int = 2) -> PlaybookEntry:
    """The n-th plan of an account: new on `as_of`, or opened three weeks earlier (ongoing or
    escalated, its first step done, the next ones overdue if their due dates have passed and
    they do not recur)."""
    pb = project.playbooks[pid]
    cal = project.calendar
    state = STATES[n % len(STATES)]
    opened = as_of if state == "new" else as_of - timedelta(days=21)
    steps: list[StepEntry] = []
    for i, s in enumerate(pb.steps):
        done = state != "new" and i == 0
        first = cal.add_working_days(opened, s.due_days)
        due = (cal.next_occurrence(s.every, first, as_of) if s.every and not done else first).isoformat()
        step: StepEntry = {"id": s.id, "title": text_in(s.title, lang), "owner": s.owner, "due": due}
        if s.every:
            step["every"] = s.every
        step["done"], step["overdue"] = done, not done and due < as_of.isoformat()
        steps.append(step)
    return {"id": pid, "title": text_in(pb.title, lang), "priority": pb.priority,
            "reason": {"metrics": {}, "thresholds": {}, "rules": []}, "steps": steps,
            "state": state, "plan_id": 100 + n, "opened": opened.isoformat(), "kept_open": n == 1,
            "overdue": any(s["overdue"] for s in steps)}


def _held_and_closed(project: Project, as_of: date, lang: str) -> tuple[list[HeldPlan], list[ResolvedPlan]]:
    ids = sorted(project.playbooks)[:2]
    titles = [text_in(project.playbooks[i].title, lang) for i in ids]
    later = (as_of + timedelta(days=30)).isoformat()
    held: list[HeldPlan] = []
    for k, (i, t) in enumerate(zip(ids, titles)):
        h: HeldPlan = {"id": i, "title": t, "plan_id": 90 + k, "state": ("snoozed", "cooldown")[k % 2], "until": later}
        if k % 2 == 0:
            h["reason"], h["by"] = "<the client's & team on holiday>", "Sample Director"
        held.append(h)
    closed: list[ResolvedPlan] = [
        {"id": i, "title": t, "plan_id": 80 + k, "opened": (as_of - timedelta(days=35)).isoformat(),
         "resolved": as_of.isoformat()} for k, (i, t) in enumerate(zip(ids, titles))]
    return held, closed


def _result(project: Project, as_of: date, lang: str, account_id: str) -> Result:
    top = project.risk_levels[-1].id if project.risk_levels else NO_RISK
    held, closed = _held_and_closed(project, as_of, lang)
    r: Result = {
        "account_id": account_id, "name": f"<Sample & {account_id}>", "owner": "Sample Manager",
        "segment": "sample", "status": "active", "as_of": as_of.isoformat(), "risk_level": top,
        "signals": [{"id": s.id, "category": s.category, "severity": s.severity,
                     "title": text_in(s.title, lang),
                     "evidence": {"metrics": {}, "thresholds": {}, "rules": []},
                     "text": text_in(s.evidence, lang) or s.id} for s in project.signals.values()],
        "classes": sorted(project.classes),
        "playbooks": [_playbook(project, pid, as_of, lang, n) for n, pid in enumerate(
            sorted(project.playbooks, key=lambda i: (project.playbooks[i].priority, i)))],
        "key_account": True, "dependency": "risky", "abc": "A", "kaism": "key", "criteria_score": 7.5,
        "kaism_value": 7.0, "kaism_attractiveness": 3.0, "nps": 6, "days_since_qbr": 120,
        "revenue_previous": 1500000.0, "revenue_share_pct": 12.5, "revenue_current": 1234567.89,
        "orders_current": 12, "repeat_orders_current": 9, "deals_current": 3, "missing": sorted(project.metrics)[:2],
        "winback": None, "priority": 1_500_000.0, "expected_loss": 500_000.0,
        "priority_boosts": [b.id for b in project.priority.boosts][:2],
        "fired": [], "held_plans": held, "resolved_plans": closed,
        "pending_rules": [{"rule": r.id, "runs": 1, "for_runs": 2, "asserts": []} for r in project.rules[:1]]}
    _merge_and_queue(r["playbooks"])
    return r


def _quiet(r: Result, owner: str | None) -> Result:
    """An account without signals or plans."""
    r["owner"], r["risk_level"] = owner, NO_RISK
    r["signals"], r["classes"], r["playbooks"] = [], [], []
    r["revenue_share_pct"] = r["revenue_current"] = None
    r["held_plans"], r["resolved_plans"], r["pending_rules"] = [], [], []
    return r


def _merge_and_queue(playbooks: list[PlaybookEntry]) -> None:
    """The first step carries the second playbook's first step (merged, engine/rules/planning.py);
    the first playbook's last step waits for capacity (engine/run/schedule.py)."""
    if len(playbooks) < 2 or not playbooks[1]["steps"]:
        return
    other = playbooks[1]["steps"].pop(0)
    first = playbooks[0]["steps"][0]
    first["merged"] = [{"playbook": playbooks[1]["id"], "step": other["id"], "title": other["title"],
                        "owner": other["owner"]}]
    last = playbooks[0]["steps"][-1]
    due = date.fromisoformat(last["due"])
    week = due + timedelta(days=7 - due.weekday())
    last["queued"] = {"from": last["due"], "week": week.isoformat()}
    last["due"] = week.isoformat()


def _winback(decision: str, missing: list[str]) -> Winback:
    inputs: dict[str, Any] = {"expected_annual_revenue": 2_000_000.0, "margin_pct": 25.0, "win_probability": 0.5,
              WINBACK_COST: 100_000.0, "concessions_cost": 50_000.0}
    for m in missing:
        inputs[m] = None
    return {"decision": decision, "value": None if missing else 250_000.0,
            "cost": None if missing else 150_000.0, "cost_metric": WINBACK_TOTAL_COST,
            "cost_inputs": [WINBACK_COST, "concessions_cost"], "inputs": inputs, "missing": missing,
            "defaulted": [] if missing else ["win_probability"], "lost_reason": "price pressure"}


def sample_results(project: Project, lang: str, as_of: date = date(2026, 11, 23)) -> list[Result]:
    """An account with everything, a quiet one, one whose plans all closed (another manager's),
    and lost ones for each win-back decision."""
    closing = _quiet(_result(project, as_of, lang, "S-3"), "Other Sample Manager")
    closing["resolved_plans"] = _held_and_closed(project, as_of, lang)[1]
    results = [_result(project, as_of, lang, "S-1"), _quiet(_result(project, as_of, lang, "S-2"), None), closing]
    if WINBACK_VALUE in project.metrics:
        for i, (decision, missing) in enumerate((("pursue", []), ("do_not_pursue", []),
                                                 ("undecided", ["concessions_cost"]))):
            wb = _winback(decision, missing)
            if decision == "do_not_pursue":
                wb["value"], wb["lost_reason"], wb["defaulted"] = 50_000.0, None, []
            r = _result(project, as_of, lang, f"S-L{i}")
            r["status"], r["revenue_current"], r["winback"] = "lost", 0.0, wb
            r["held_plans"], r["resolved_plans"], r["pending_rules"] = [], [], []
            results.append(r)
    return results


def without_store(results: Iterable[Result]) -> list[Result]:
    """The results as a run without a state store writes them: no plan states."""
    out = []
    for r in copy.deepcopy(list(results)):
        for field in ACCOUNT_FIELDS:
            r.pop(field, None)
        for p in r["playbooks"]:
            for plan_field in PLAN_FIELDS:
                p.pop(plan_field, None)
            for s in p["steps"]:
                for step_field in STEP_FIELDS:
                    s.pop(step_field, None)
        out.append(r)
    return out
