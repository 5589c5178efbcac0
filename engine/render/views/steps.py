"""What a plan and a digest both show of an account: its steps soonest first, its priority,
and the order of urgency."""
from __future__ import annotations

from typing import Any

from ...project.model import Project
from ...result import PlaybookEntry, Result, StepEntry
from ..labels import say
from . import states
from .context import PriorityView, StepRow
from .words import Words, lower_first


def _risk_order(project: Project, result: Result) -> int:
    return project.risk_rank(result["risk_level"])


def at_stake(result: Result) -> float:
    """Revenue at stake: this period's revenue, or for a lost client what winning it back would bring."""
    wb = result.get("winback")
    if result.get("status") == "lost" and wb:
        return wb["inputs"].get("expected_annual_revenue") or 0.0
    return result.get("revenue_current") or 0.0


def urgency_key(project: Project, result: Result) -> tuple[Any, ...]:
    """Highest priority first (rules/priority.yaml: expected loss × boosts); then the
    higher risk, more revenue at stake, the id."""
    return (-(result.get("priority") or 0.0), -_risk_order(project, result), -at_stake(result),
            str(result["account_id"]))


def step_ref(playbook: PlaybookEntry, step: StepEntry) -> str:
    """What `kam plans done` takes for this step: the plan id and the step id ('' without a store)."""
    plan_id = playbook.get("plan_id")
    return f"{plan_id} {step['id']}" if plan_id is not None else ""


def queued_text(w: Words, step: StepEntry) -> str:
    q = step.get("queued")
    if not q:
        return ""
    return say(w.labels, "queued", week=w.date(q["week"]), role=lower_first(w.role(step["owner"])))


def priority_view(w: Words, result: Result) -> PriorityView:
    """The account's expected loss and what raised its priority."""
    key = ("raised", tuple(result.get("priority_boosts") or ()))
    raised = w._memo.get(key)
    if raised is None:
        boosts = {b.id: b for b in w.project.priority.boosts}
        names = [f"{w.text(boosts[b].title) or b} ×{w.num(boosts[b].factor, 1)}"
                 for b in key[1] if b in boosts]
        raised = w._memo[key] = say(w.labels, "priority_raised", boosts=", ".join(names)) if names else ""
    return {"value": w.num(result.get("priority"), 0), "expected_loss": w.money(result.get("expected_loss")),
            "raised": raised}


def steps_by_due(w: Words, result: Result) -> list[StepRow]:
    """Every step of every playbook, soonest first (playbook priority breaks ties); with a
    store, each step says whether it is done or overdue."""
    rows = []
    for p_index, p in enumerate(result["playbooks"]):
        for s_index, s in enumerate(p["steps"]):
            rows.append(((s["due"], p_index, s_index), step_row(w, p, s)))
    rows.sort(key=lambda kv: kv[0])
    return [r for _, r in rows]


def step_row(w: Words, p: PlaybookEntry, s: StepEntry) -> StepRow:
    """A step of playbook `p` as steps_by_due lists it."""
    return {"title": s["title"], "playbook": p["title"], "who": w.role(s["owner"]), "owner": s["owner"],
            "due": w.date(s["due"]), "due_iso": s["due"], "every": _every(w, s), "ref": step_ref(p, s),
            "queued": queued_text(w, s), **states.step_flags(s)}


def _every(w: Words, step: StepEntry) -> str:
    """'every month, next: 23 December 2026' for a recurring step, '' for any other."""
    every = step.get("every")
    return w.every(every, step["due"]) if every else ""
