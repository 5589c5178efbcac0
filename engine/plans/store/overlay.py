"""What the store adds to a result, as data: built from a reconcile outcome, stored per account
and run, and applied to the engine's result. An identical re-run applies the stored overlay,
so it reproduces the recorded run's output exactly.

Fields a result gets (templates can rely on them after a run with a store):
  playbooks[*]: state (new|ongoing|escalated), plan_id (null in a dry run for a new plan),
                opened, overdue, kept_open; steps[*]: due (the plan's; a recurring step's
                next one), done, overdue
  held_plans:     [{id, title, plan_id, state: snoozed|cooldown, until, reason, by}] fired but held back
  resolved_plans: [{id, title, plan_id, opened, resolved}] closed by this run
  pending_rules:  [{rule, runs, for_runs, asserts}] conditions that hold but not yet for_runs
  steps[*].queued: {from, week} for a step this run moved for capacity (engine/run/schedule.py)

Kept for the calendars and tasks.csv only (engine/render/worklist), not applied to the result: the
steps of held and resolved plans, and "closed": plans done or resolved in the last weeks
(their steps leave the managers' calendars as cancelled events).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...project.model import Project, text_in
from ...result import HeldPlan, PlaybookEntry, Result, StepEntry
from ..reconcile import Plan, Reconciliation


def build(outcome: Reconciliation, ids: Mapping[int, int], pending: Mapping[str, int],
          queued: Mapping[str, Mapping[str, Any]] | None = None, closed: Sequence[Mapping[str, Any]] = (),
          stored: Sequence[Plan] = ()) -> dict[str, Any] | None:
    """`ids`: the store's plan id of each change (by position) once written; `queued`: the
    steps this run moved for capacity (playbook -> step -> {from, week}); `closed`: the
    account's plans done or resolved lately (plans.recently_closed); `stored`: its plans as
    the store had them (the steps of a plan held back in cooldown)."""
    plans: dict[str, Any] = {}
    resolved = []
    steps_of = {p.plan_id: p.steps for p in stored}
    for i, change in enumerate(outcome.changes):
        p = change.plan
        plan_id = ids.get(i, p.plan_id)
        if p.status == "open":
            plans[p.playbook] = {"plan_id": plan_id, "state": p.state, "opened": p.opened,
                                 "kept_open": p.kept_open,
                                 "steps": {s.id: [s.due, s.done_on] for s in p.steps}}
        elif change.event == "resolved":
            resolved.append({"playbook": p.playbook, "plan_id": plan_id, "opened": p.opened,
                             "resolved": p.resolved_on, "steps": {s.id: [s.due, s.done_on] for s in p.steps}})
        else:
            steps_of[plan_id] = p.steps  # a snoozed plan, as this run leaves it
    held = [{"playbook": h.playbook, "plan_id": h.plan_id, "state": h.state, "until": h.until,
             **({"reason": h.reason, "by": h.by} if h.reason else {}),
             "steps": {s.id: [s.due, s.done_on] for s in steps_of.get(h.plan_id, ())}}
            for h in outcome.held]
    seen = {e["plan_id"] for e in plans.values()} | {e["plan_id"] for e in resolved} | {h["plan_id"] for h in held}
    closed = [dict(c) for c in closed if c["plan_id"] not in seen]
    if not (plans or resolved or held or pending or closed):
        return None
    out = {"plans": plans, "resolved": resolved, "held": held, "pending": dict(pending)}
    if closed:
        out["closed"] = closed
    queued = {pid: steps for pid, steps in (queued or {}).items() if pid in plans}
    if queued:
        out["queued"] = queued
    return out


def _title(project: Project, pid: str, lang: str) -> str:
    pb = project.playbooks.get(pid)
    return text_in(pb.title, lang) if pb is not None else pid


def _entry(project: Project, pid: str, lang: str) -> PlaybookEntry:
    """A playbook entry shaped like the engine's, for a plan kept open after its trigger cleared."""
    pb = project.playbooks[pid]
    steps: list[StepEntry] = []
    for s in pb.steps:
        step: StepEntry = {"id": s.id, "title": text_in(s.title, lang), "owner": s.owner, "due": ""}
        if s.every:
            step["every"] = s.every
        steps.append(step)
    return {"id": pid, "title": text_in(pb.title, lang), "priority": pb.priority,
            "reason": {"metrics": {}, "thresholds": {}, "rules": []}, "steps": steps}


def _held(project: Project, h: Mapping[str, Any], lang: str) -> HeldPlan:
    held: HeldPlan = {"id": h["playbook"], "title": _title(project, h["playbook"], lang), "plan_id": h["plan_id"],
                      "state": h["state"], "until": h["until"]}
    if h.get("reason"):
        held["reason"], held["by"] = h["reason"], h.get("by")
    return held


def apply(project: Project, result: Result, overlay: Mapping[str, Any] | None, lang: str) -> Result:
    """The result as the run reports it (in place, and returned)."""
    ov = overlay or {}
    day = result["as_of"]
    engine_entries = {e["id"]: e for e in result["playbooks"]}
    entries: list[PlaybookEntry] = []
    for pid, info in (ov.get("plans") or {}).items():
        if pid not in engine_entries and pid not in project.playbooks:
            continue  # kept open, but its playbook left the project: listed by `kam plans` only
        e = engine_entries.get(pid) or _entry(project, pid, lang)
        steps: list[StepEntry] = []
        queued = (ov.get("queued") or {}).get(pid, {})
        for s in e["steps"]:
            due, done_on = info["steps"].get(s["id"], [s["due"], None])
            step: StepEntry = {**s, "due": due, "done": done_on is not None, "overdue": done_on is None and due < day}
            step.pop("queued", None)
            if s["id"] in queued:
                step["queued"] = queued[s["id"]]
            steps.append(step)
        entries.append({**e, "steps": steps, "state": info["state"], "plan_id": info["plan_id"],
                        "opened": info["opened"], "kept_open": info["kept_open"],
                        "overdue": any(s["overdue"] for s in steps)})
    entries.sort(key=lambda e: (e.get("priority", 5), e["id"]))
    result["playbooks"] = entries
    result["held_plans"] = [_held(project, h, lang) for h in ov.get("held", [])]
    result["resolved_plans"] = [{"id": r["playbook"], "title": _title(project, r["playbook"], lang),
                                 "plan_id": r["plan_id"], "opened": r["opened"], "resolved": r["resolved"]}
                                for r in ov.get("resolved", [])]
    rules = {r.id: r for r in project.rules}
    result["pending_rules"] = [{"rule": rid, "runs": n, "for_runs": rules[rid].for_runs if rid in rules else n + 1,
                                "asserts": [f"{k}.{i}" for k, i in rules[rid].asserts] if rid in rules else []}
                               for rid, n in sorted((ov.get("pending") or {}).items())]
    return result

