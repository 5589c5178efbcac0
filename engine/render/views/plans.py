"""The view of an account's action plan (templates/plan.*.j2)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...project.model import text_in
from ...result import MergedStep, Result, StepEntry, Winback
from ...rules.evidence import DECLINE, PURSUE
from ..labels import say
from . import states
from .context import (
    AgendaItem,
    LabelValue,
    MergedView,
    NegotiationView,
    PlanPlaybook,
    PlanStep,
    PlanView,
    ProfileRow,
    SignalRow,
    StepRow,
    TextRow,
    WinbackView,
)
from .steps import priority_view, step_row
from .words import Words, lower_first


def profile(w: Words, result: Result) -> list[ProfileRow]:
    """ABC class, the KAISM quadrant with its advice (source 004) and the criteria score."""
    rows: list[ProfileRow] = []
    if result.get("abc"):
        rows.append({"label": w.labels["abc_class"], "value": str(result["abc"]), "note": ""})
    quadrant = result.get("kaism")
    if quadrant:
        port = w.project.portfolio
        rows.append({"label": w.labels["kaism_quadrant"],
                     "value": text_in(port.quadrants.get(quadrant), w.lang) or quadrant,
                     "note": w.text(port.quadrant_notes.get(quadrant), result.get("segment"))})
    if result.get("criteria_score") is not None:
        rows.append({"label": w.labels["criteria_score"],
                     "value": say(w.labels, "score_of_ten", score=w.num(result["criteria_score"], 1)), "note": ""})
    return rows


def plan(w: Words, result: Result) -> PlanView:
    signals: list[SignalRow] = [{"title": s["title"], "text": s["text"], "severity": s["severity"],
                                 "category": s["category"], "category_title": w.category(s["category"])}
                                for s in result["signals"]]
    playbooks: list[PlanPlaybook] = []
    by_due: list[tuple[tuple[str, int, int], StepRow]] = []
    ids_hint = ""
    for p_index, pr in enumerate(result["playbooks"]):
        texts = w.playbook(pr["id"], result.get("segment"))
        plan_id = pr.get("plan_id")
        steps: list[PlanStep] = []
        for s_index, s in enumerate(pr["steps"]):
            row = step_row(w, pr, s)  # its line in next_steps, and what its section shows
            by_due.append(((s["due"], p_index, s_index), row))
            model = texts.steps.get(s["id"])
            if s.get("merged"):
                merged = _merged(w, s, result.get("segment"))
                also, with_roles, agenda = merged["also"], merged["with"], merged["agenda"]
            else:
                also, with_roles, agenda = "", "", []
            step: PlanStep = {
                "title": row["title"], "who": row["who"], "due": row["due"], "due_iso": row["due_iso"],
                "every": row["every"], "done": row["done"], "overdue": row["overdue"], "ref": row["ref"],
                "queued": row["queued"], "description": model[0] if model else "",
                "checklist": model[1] if model else [], "also": also, "with": with_roles, "agenda": agenda}
            steps.append(step)
            if row["ref"] and not ids_hint:
                ids_hint = say(w.labels, "ids_hint", example=f"kam plans done {row['ref']}")
        playbooks.append({"id": pr["id"], "title": pr["title"], "description": texts.description,
                          "steps": steps, "state_id": pr.get("state", ""), "state": states.state_text(w, pr),
                          "plan_id": plan_id,
                          "plan_ref": say(w.labels, "plan_ref", id=plan_id) if plan_id is not None else "",
                          "kept_open": w.labels["kept_open"] if pr.get("kept_open") else ""})
    by_due.sort(key=lambda kv: kv[0])
    share = result.get("revenue_share_pct")
    wb = result.get("winback")
    return {
        "title": result.get("name") or result["account_id"],
        "account_id": result["account_id"],
        "owner": result.get("owner") or w.labels["unassigned"],
        "segment": w.segment(result.get("segment")),
        "as_of": w.date(result["as_of"]),
        "risk_id": result["risk_level"],
        "risk": w.risk(result["risk_level"]),
        "lost": result.get("status") == "lost",
        "revenue": w.money(result.get("revenue_current")),
        "revenue_share": say(w.labels, "revenue_share", share=w.num(share, 1)) if share else "",
        "classes": _classes(w, result["classes"]),
        "signals": signals,
        "reasons": reasons(w, result),
        "lost_text": say(w.labels, "lost",
                         reason=w.lost_reason(wb.get("lost_reason") if wb else None))
        if result.get("status") == "lost" else "",
        "next_steps": [row for _, row in by_due],  # steps_by_due(w, result)
        "playbooks": playbooks,
        "negotiation": negotiation(w, result),
        "winback": winback(w, result),
        "closed": states.closed(w, result),
        "on_hold": states.on_hold(w, result),
        "priority": priority_view(w, result),
        "profile": profile(w, result),
        "unknown": w.unknown(result),
        "ids_hint": ids_hint,  # the first step's ref in playbook order
        # "8 warning signs in 3 areas", "15 steps; the first is due 26 November 2026": counts in
        # their plural forms
        "why_line": say(w.labels, "why_line", signals=say(w.labels, "signals_count", count=len(signals)),
                        areas=say(w.labels, "in_areas", count=len({s["category"] for s in signals})))
        if signals else "",
        "steps_line": say(w.labels, "steps_line", steps=say(w.labels, "steps_count", count=len(by_due)),
                          date=_first_due(by_due)) if by_due else "",
    }


def _first_due(by_due: list[tuple[Any, StepRow]]) -> str:
    """The due date the plan's step line names: its first step still to do (a step done last
    week heads the table, but nobody acts on it), else its first step."""
    return next((row["due"] for _, row in by_due if not row["done"]), by_due[0][1]["due"])


def _classes(w: Words, ids: Iterable[str]) -> list[str]:
    """The account's classes in the project's order, but the win-back decision's (its own
    section explains it)."""
    key = ("classes", tuple(ids))
    titles = w._memo.get(key)
    if titles is None:
        titles = w._memo[key] = [text_in(c.title, w.lang) for c in w.project.classes.values()
                                 if c.id in key[1] and c.id not in (PURSUE, DECLINE)]
    return titles


def _merged(w: Words, step: StepEntry, segment: Any = None) -> MergedView:
    """A step that carries the same action for other playbooks: which, who else takes part,
    and their checklists as its agenda (each item once)."""
    merged = step.get("merged") or ()
    if not merged:
        return {"also": "", "with": "", "agenda": []}
    segment = segment if segment in w.project_segments else None
    key = ("merged", step["owner"], tuple((m["playbook"], m["step"], m["title"], m["owner"]) for m in merged), segment)
    view = w._memo.get(key)
    if view is None:
        view = w._memo[key] = _merged_view(w, step, merged, segment)
    return view


def _merged_view(w: Words, step: StepEntry, merged: Iterable[MergedStep],
                 segment: Any) -> MergedView:
    p = w.project
    seen: set[str] = set()
    agenda: list[AgendaItem] = []
    for m in merged:
        pb = p.playbooks.get(m["playbook"])
        model = next((x for x in pb.steps if x.id == m["step"]), None) if pb else None
        items = [t for c in (model.checklist if model else ()) if (t := w.text(c, segment)) not in seen]
        seen.update(items)
        if items:
            agenda.append({"title": say(w.labels, "agenda_from", step=m["title"],
                                        playbook=text_in(pb.title, w.lang) if pb else m["playbook"]),
                           "checklist": items})
    others = list(dict.fromkeys(w.role(m["owner"]) for m in merged if m["owner"] != step["owner"]))
    def titled(m: MergedStep) -> str:
        pb = m["playbook"]
        return f"{m['title']} ({text_in(p.playbooks[pb].title, w.lang) if pb in p.playbooks else pb})"
    return {"also": say(w.labels, "also_covers", steps="; ".join(titled(m) for m in merged)),
            "with": say(w.labels, "with_roles", roles=", ".join(lower_first(o) for o in others)) if others else "",
            "agenda": agenda}


def reasons(w: Words, result: Result) -> list[TextRow]:
    """Why the account has a plan beyond its signals: a dependency, and the
    values behind playbooks assigned on account values (e.g. days since the last QBR)."""
    out: list[TextRow] = []
    dependency = result.get("dependency")
    if dependency in ("risky", "mono") and f"why_dependency_{dependency}" in w.labels:
        text = say(w.labels, f"why_dependency_{dependency}", share=w.num(result.get("revenue_share_pct"), 1))
        out.append({"title": "", "text": text[:1].upper() + text[1:]})
    for pr in result["playbooks"]:
        reason = pr.get("reason") or {}
        metrics = {m: v for m, v in reason.get("metrics", {}).items() if m != "status"}
        if not metrics:
            continue  # assigned on signals, risk or classes: the lines above say why
        text = "; ".join(f"{lower_first(w.metric_title(m))}: {w.metric(m, v)}" for m, v in metrics.items())
        limits = [f"{w.labels['threshold']}: {w.num(v)}" for v in reason.get("thresholds", {}).values()]
        out.append({"title": pr["title"], "text": text + (f" ({'; '.join(limits)})" if limits else "")})
    return out


def negotiation(w: Words, result: Result) -> NegotiationView | None:
    """One preparation section for all meetings of the plan: the playbooks' blocks merged,
    each participant, problem and mistake once, in playbook priority order."""
    # the steps in the plan, kept or merged into another: a block that names its meetings
    # shows only when one of them is here (a lost client we do not pursue has no meeting)
    present: set[tuple[str, str]] | None = None
    blocks = []
    for pr in result["playbooks"]:
        n = w.project.playbooks[pr["id"]].negotiation
        if n is None:
            continue
        if n.meetings:
            if present is None:
                present = {(q["id"], s["id"]) for q in result["playbooks"] for s in q["steps"]}
                present |= {(m["playbook"], m["step"]) for q in result["playbooks"] for s in q["steps"]
                            for m in s.get("merged") or ()}
            if not any((pr["id"], m) in present for m in n.meetings):
                continue
        blocks.append((pr["title"], pr["id"], n))
    if not blocks:
        return None
    if present is None:
        present = {(q["id"], s["id"]) for q in result["playbooks"] for s in q["steps"]}
        present |= {(m["playbook"], m["step"]) for q in result["playbooks"] for s in q["steps"]
                    for m in s.get("merged") or ()}
    # what tailors the section: the techniques and problems chosen by the signals that fired,
    # at the meetings the plan has
    fired = {s["id"] for s in result["signals"]}
    chosen = tuple(
        (pid, tuple(i for i, t in enumerate(n.techniques)
                    if (not t.signals or fired.intersection(t.signals))
                    and (not t.steps or any((pid, st) in present for st in t.steps))),
         tuple(i for i, (_, _, sig) in enumerate(n.problems) if not sig or fired.intersection(sig)))
        for _, pid, n in blocks)
    segment = result.get("segment")
    segment = segment if segment in w.project_segments else None
    key = ("negotiation", tuple((title, pid) for title, pid, _ in blocks), chosen, segment)
    view = w._memo.get(key)
    if view is None:
        view = w._memo[key] = _negotiation_view(w, [(title, n) for title, _, n in blocks], chosen, segment)
    return view


def _negotiation_view(w: Words, blocks: list[tuple[str, Any]], chosen: tuple[Any, ...],
                      segment: Any) -> NegotiationView:
    participants: dict[str, str] = {}
    problems: dict[str, str] = {}
    mistakes: dict[str, None] = {}
    stages: dict[str, dict[str, str]] = {}  # stage -> technique title -> how (first playbook's)
    for (_, n), (_, techniques, picked) in zip(blocks, chosen):
        for role, wants in n.participants:
            participants.setdefault(w.text(role, segment), w.text(wants, segment))
        for i in techniques:
            t = n.techniques[i]
            stages.setdefault(w.text(t.stage, segment), {}).setdefault(w.text(t.title, segment),
                                                                       w.text(t.how, segment))
        for i in picked:
            problem, remedy, _ = n.problems[i]
            problems.setdefault(w.text(problem, segment), w.text(remedy, segment))
        for m in n.mistakes:
            mistakes.setdefault(w.text(m, segment), None)
    return {"intro": say(w.labels, "negotiation_for", playbooks=", ".join(t for t, _ in blocks)),
            "participants": [{"role": r, "wants": x} for r, x in participants.items()],
            "techniques": [{"stage": stage, "title": title, "how": how}
                           for stage, by_title in stages.items() for title, how in by_title.items()],
            "problems": [{"problem": pr, "remedy": x} for pr, x in problems.items()],
            "mistakes": list(mistakes)}


def winback(w: Words, result: Result) -> WinbackView | None:
    wb = result.get("winback")
    if not wb:
        return None
    L = w.labels
    reason = w.lost_reason(wb.get("lost_reason"))
    decision = wb["decision"]
    value, cost = w.money(wb["value"]), w.money(wb["cost"])
    if decision == "pursue":
        worth, costs = wb["value"], wb["cost"]
        assert worth is not None and costs is not None  # the rules decide to pursue on both values only
        reasoning = [say(L, "reason_pursue", value=value, cost=cost, difference=w.money(worth - costs)),
                     say(L, "advice_pursue", reason=reason)]
    elif decision == "do_not_pursue":
        reasoning = [say(L, "reason_do_not_pursue", value=value, cost=cost),
                     say(L, "advice_do_not_pursue", reason=reason)]
    else:
        reasoning = [say(L, "reason_undecided",
                         missing=", ".join(lower_first(w.metric_title(m)) for m in wb["missing"])),
                     L["advice_undecided"]]
    cost_id = wb.get("cost_metric", "winback_cost")
    cost_inputs = [m for m in wb.get("cost_inputs", ()) if m != cost_id]

    def row(m: str, v: Any) -> LabelValue:
        text = w.metric(m, v)
        if m in wb.get("defaulted", ()):
            text = say(L, "defaulted_value", value=text, by=_default_key(w, m, wb))
        return {"label": w.metric_title(m), "value": text}

    return {"decision_id": decision, "decision": L[f"decision_{decision}"],
            "inputs": [row(m, v) for m, v in wb["inputs"].items() if m not in cost_inputs and m != cost_id],
            "value_label": w.metric_title("winback_value"), "value": value,
            "costs": [row(m, wb["inputs"][m]) for m in cost_inputs if m in wb["inputs"]],
            "cost_label": w.metric_title(cost_id), "cost": cost,
            "reasoning": reasoning, "missing": [w.metric_title(m) for m in wb["missing"]]}


def _default_key(w: Words, mid: str, wb: Winback) -> str:
    """The value that picked an input's default (default_by), as the plan names it: a lost
    client's reason in the labels' words, else the value itself."""
    m = w.project.metrics.get(mid)
    by = m.default_by.metric if m is not None and m.default_by is not None else ""
    if by == "lost_reason":
        return w.lost_reason(wb.get("lost_reason"))
    value = wb.get("inputs", {}).get(by)
    return "—" if value is None else str(value)
