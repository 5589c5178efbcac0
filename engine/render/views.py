"""What each document shows, computed once in Python: words in the reader's language,
formatted numbers and dates, sorted lists. Templates only lay them out (and still get the
raw result as `account` for anything else)."""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable, Mapping

from .. import expr
from ..analysis import MetricRef, resolve
from ..evidence import DECLINE, PURSUE
from ..i18n import format_date, format_number, format_value
from ..model import NO_RISK, Project, text_in, value_key
from . import states
from .labels import say


@dataclass(frozen=True)
class PlaybookWords:
    """What a plan says of a playbook whatever the account: its description, and each
    step's description and checklist, in one language."""

    description: str
    steps: Mapping[str, tuple[str, list[str]]]  # step id -> (description, checklist)


@dataclass(frozen=True)
class Words:
    """Everything a view needs to speak: the project, the language and its labels.

    What depends only on these (a date's words, a role's, a playbook's texts) is worked
    out once and kept: a run renders tens of thousands of plans of a few playbooks, whose
    steps fall on a few hundred dates. Views share what is kept (lists included); nothing
    changes a view once built, and the sandbox lets no template change one."""

    project: Project
    lang: str
    labels: Mapping[str, Any]
    _dates: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _roles: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _risks: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _every: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def date(self, iso: str) -> str:
        text = self._dates.get(iso)
        if text is None:
            text = self._dates[iso] = format_date(iso, self.labels["months"])
        return text

    def num(self, value: Any, decimals: int = 2) -> str:
        return "—" if value is None else format_number(value, self.lang, decimals)

    def money(self, value: Any) -> str:
        if value is None:
            return "—"
        code = self.project.currency
        unit = self.labels["currencies"].get(code, code)
        return format_number(value, self.lang, 0) + (f"\u00a0{unit}" if unit else "")

    def metric(self, mid: str, value: Any) -> str:
        m = self.project.metrics.get(mid)
        unit = m.unit if m is not None else ""
        if unit == "money":
            return self.money(value)
        if value is not None and not unit and m is not None and (m.min, m.max) == (0, 1):
            return f"{format_number(value * 100, self.lang, 1)}\u00a0%"  # a probability
        text = format_value(value, self.lang, unit)
        return f"{text}\u00a0%" if unit == "%" and value is not None else text

    def metric_title(self, mid: str) -> str:
        m = self.project.metrics.get(mid)
        return (text_in(m.description, self.lang) if m is not None else "") or mid

    def role(self, owner: str) -> str:
        text = self._roles.get(owner)
        if text is None:
            text = self._roles[owner] = self.labels["roles"].get(owner, owner.replace("_", " "))
        return text

    def risk(self, level: str) -> str:
        text = self._risks.get(level)
        if text is None:
            text = self._risks[level] = self._risk(level)
        return text

    def _risk(self, level: str) -> str:
        for r in self.project.risk_levels:
            if r.id == level:
                return text_in(r.title, self.lang)
        return self.labels["risk_none"] if level == NO_RISK else level

    def every(self, every: str, iso: str) -> str:
        """'every month, next: 23 December 2026'."""
        text = self._every.get((every, iso))
        if text is None:
            text = self._every[(every, iso)] = say(self.labels, f"every_{every}", date=self.date(iso))
        return text

    def playbook(self, pid: str) -> PlaybookWords:
        """The account-independent texts of playbook `pid`."""
        key = ("playbook", pid)
        words = self._memo.get(key)
        if words is None:
            pb, lang = self.project.playbooks[pid], self.lang
            words = self._memo[key] = PlaybookWords(
                text_in(pb.description, lang),
                {s.id: (text_in(s.description, lang), [text_in(c, lang) for c in s.checklist])
                 for s in pb.steps})
        return words

    def category(self, cid: str) -> str:
        key = ("category", cid)
        text = self._memo.get(key)
        if text is None:
            c = self.project.categories.get(cid)
            text = self._memo[key] = text_in(c.title, self.lang) if c is not None else cid
        return text

    def segment(self, value: Any) -> str:
        return "—" if value in (None, "") else self.labels["segments"].get(value, str(value))

    @functools.cached_property
    def signal_inputs(self) -> frozenset[str]:
        """Raw metrics the signal rules read (through formulas): the inputs whose absence
        keeps a warning from firing, which a plan asks the manager to find out."""
        p = self.project
        signal_rules = [r for r in p.rules if any(k == "signal" for k, _ in r.asserts)]
        seen: set[str] = set()
        stack = [ref for r in signal_rules for ref in expr.refs(r.when)]
        out: set[str] = set()
        while stack:
            ref = stack.pop()
            try:
                target = resolve(p, ref)
            except expr.ExprError:
                continue
            if not isinstance(target, MetricRef) or target.id in seen:
                continue
            seen.add(target.id)
            m = p.metrics[target.id]
            if m.formula is not None:
                stack += expr.refs(m.formula)
            else:
                out.add(target.id)
        return frozenset(out)

    def unknown(self, result: Mapping[str, Any]) -> list[dict[str, str]]:
        """What the plan cannot see because an input is empty, with what to do about it."""
        missing = result.get("missing") or ()
        key = ("unknown", tuple(missing))
        rows = self._memo.get(key)
        if rows is None:
            ask = self.labels["ask"]
            rows = self._memo[key] = [
                (self.metric_title(m),
                 ask.get(m) or say(self.labels, "unknown_input", metric=_lower_first(self.metric_title(m))))
                for m in missing if m in self.signal_inputs]
        return [{"metric": metric, "text": text} for metric, text in rows]

    def lost_reason(self, value: Any) -> str:
        if value in (None, ""):
            return self.labels["lost_reason_unknown"]
        return self.labels["lost_reasons"].get(value_key(value), str(value))


def _risk_order(project: Project, result: Mapping[str, Any]) -> int:
    return project.risk_rank(result["risk_level"])


def at_stake(result: Mapping[str, Any]) -> float:
    """Revenue at stake: this period's revenue, or for a lost client what winning it back would bring."""
    wb = result.get("winback")
    if result.get("status") == "lost" and wb:
        return wb["inputs"].get("expected_annual_revenue") or 0.0
    return result.get("revenue_current") or 0.0


def urgency_key(project: Project, result: Mapping[str, Any]) -> tuple:
    """Highest priority first (rules/priority.yaml: expected loss × boosts); then the
    higher risk, more revenue at stake, the id."""
    return (-(result.get("priority") or 0.0), -_risk_order(project, result), -at_stake(result),
            str(result["account_id"]))


def step_ref(playbook: Mapping[str, Any], step: Mapping[str, Any]) -> str:
    """What `kam plans done` takes for this step: the plan id and the step id ('' without a store)."""
    plan_id = playbook.get("plan_id")
    return f"{plan_id} {step['id']}" if plan_id is not None else ""


def queued_text(w: Words, step: Mapping[str, Any]) -> str:
    q = step.get("queued")
    if not q:
        return ""
    return say(w.labels, "queued", week=w.date(q["week"]), role=_lower_first(w.role(step["owner"])))


def priority_view(w: Words, result: Mapping[str, Any]) -> dict[str, Any]:
    """The account's expected loss and what raised its priority."""
    key = ("raised", tuple(result.get("priority_boosts") or ()))
    raised = w._memo.get(key)
    if raised is None:
        boosts = {b.id: b for b in w.project.priority.boosts}
        names = [f"{text_in(boosts[b].title, w.lang) or b} ×{w.num(boosts[b].factor, 1)}"
                 for b in key[1] if b in boosts]
        raised = w._memo[key] = say(w.labels, "priority_raised", boosts=", ".join(names)) if names else ""
    return {"value": w.num(result.get("priority"), 0), "expected_loss": w.money(result.get("expected_loss")),
            "raised": raised}


def profile(w: Words, result: Mapping[str, Any]) -> list[dict[str, str]]:
    """ABC class, the KAISM quadrant with its advice (source 004) and the criteria score."""
    rows = []
    if result.get("abc"):
        rows.append({"label": w.labels["abc_class"], "value": str(result["abc"]), "note": ""})
    quadrant = result.get("kaism")
    if quadrant:
        port = w.project.portfolio
        rows.append({"label": w.labels["kaism_quadrant"],
                     "value": text_in(port.quadrants.get(quadrant), w.lang) or quadrant,
                     "note": text_in(port.quadrant_notes.get(quadrant), w.lang)})
    if result.get("criteria_score") is not None:
        rows.append({"label": w.labels["criteria_score"],
                     "value": say(w.labels, "score_of_ten", score=w.num(result["criteria_score"], 1)), "note": ""})
    return rows


def steps_by_due(w: Words, result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every step of every playbook, soonest first (playbook priority breaks ties); with a
    store, each step says whether it is done or overdue."""
    rows = []
    for p_index, p in enumerate(result["playbooks"]):
        for s_index, s in enumerate(p["steps"]):
            rows.append(((s["due"], p_index, s_index), _step_row(w, p, s)))
    rows.sort(key=lambda kv: kv[0])
    return [r for _, r in rows]


def _step_row(w: Words, p: Mapping[str, Any], s: Mapping[str, Any]) -> dict[str, Any]:
    """A step of playbook `p` as steps_by_due lists it."""
    return {"title": s["title"], "playbook": p["title"], "who": w.role(s["owner"]), "owner": s["owner"],
            "due": w.date(s["due"]), "due_iso": s["due"], "every": _every(w, s), "ref": step_ref(p, s),
            "queued": queued_text(w, s), **states.step_flags(s)}


def _every(w: Words, step: Mapping[str, Any]) -> str:
    """'every month, next: 23 December 2026' for a recurring step, '' for any other."""
    every = step.get("every")
    return w.every(every, step["due"]) if every else ""


def plan(w: Words, result: Mapping[str, Any]) -> dict[str, Any]:
    signals = [{"title": s["title"], "text": s["text"], "severity": s["severity"],
                "category": s["category"], "category_title": w.category(s["category"])}
               for s in result["signals"]]
    playbooks, by_due, ids_hint = [], [], ""
    for p_index, pr in enumerate(result["playbooks"]):
        texts = w.playbook(pr["id"])
        plan_id = pr.get("plan_id")
        steps = []
        for s_index, s in enumerate(pr["steps"]):
            row = _step_row(w, pr, s)  # its line in next_steps, and what its section shows
            by_due.append(((s["due"], p_index, s_index), row))
            model = texts.steps.get(s["id"])
            step = {"title": row["title"], "who": row["who"], "due": row["due"], "due_iso": row["due_iso"],
                    "every": row["every"], "done": row["done"], "overdue": row["overdue"], "ref": row["ref"],
                    "queued": row["queued"],
                    "description": model[0] if model else "", "checklist": model[1] if model else []}
            if s.get("merged"):
                step.update(_merged(w, s))
            else:
                step["also"], step["with"], step["agenda"] = "", "", []
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
                         reason=w.lost_reason((result.get("winback") or {}).get("lost_reason")))
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
    }


def _classes(w: Words, ids: Iterable[str]) -> list[str]:
    """The account's classes in the project's order, but the win-back decision's (its own
    section explains it)."""
    key = ("classes", tuple(ids))
    titles = w._memo.get(key)
    if titles is None:
        titles = w._memo[key] = [text_in(c.title, w.lang) for c in w.project.classes.values()
                                 if c.id in key[1] and c.id not in (PURSUE, DECLINE)]
    return titles


def _merged(w: Words, step: Mapping[str, Any]) -> dict[str, Any]:
    """A step that carries the same action for other playbooks: which, who else takes part,
    and their checklists as its agenda (each item once)."""
    merged = step.get("merged") or ()
    if not merged:
        return {"also": "", "with": "", "agenda": []}
    key = ("merged", step["owner"], tuple((m["playbook"], m["step"], m["title"], m["owner"]) for m in merged))
    view = w._memo.get(key)
    if view is None:
        view = w._memo[key] = _merged_view(w, step, merged)
    return view


def _merged_view(w: Words, step: Mapping[str, Any], merged: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    p = w.project
    seen: set[str] = set()
    agenda = []
    for m in merged:
        pb = p.playbooks.get(m["playbook"])
        model = next((x for x in pb.steps if x.id == m["step"]), None) if pb else None
        items = [t for c in (model.checklist if model else ()) if (t := text_in(c, w.lang)) not in seen]
        seen.update(items)
        if items:
            agenda.append({"title": say(w.labels, "agenda_from", step=m["title"],
                                        playbook=text_in(pb.title, w.lang) if pb else m["playbook"]),
                           "checklist": items})
    others = list(dict.fromkeys(w.role(m["owner"]) for m in merged if m["owner"] != step["owner"]))
    return {"also": say(w.labels, "also_covers", steps="; ".join(
                f"{m['title']} ({text_in(p.playbooks[m['playbook']].title, w.lang) if m['playbook'] in p.playbooks else m['playbook']})"
                for m in merged)),
            "with": say(w.labels, "with_roles", roles=", ".join(_lower_first(o) for o in others)) if others else "",
            "agenda": agenda}


def reasons(w: Words, result: Mapping[str, Any]) -> list[dict[str, str]]:
    """Why the account has a plan beyond its signals: a dependency, and the
    values behind playbooks assigned on account values (e.g. days since the last QBR)."""
    out: list[dict[str, str]] = []
    dependency = result.get("dependency")
    if dependency in ("risky", "mono") and f"why_dependency_{dependency}" in w.labels:
        text = say(w.labels, f"why_dependency_{dependency}", share=w.num(result.get("revenue_share_pct"), 1))
        out.append({"title": "", "text": text[:1].upper() + text[1:]})
    for pr in result["playbooks"]:
        reason = pr.get("reason") or {}
        metrics = {m: v for m, v in reason.get("metrics", {}).items() if m != "status"}
        if not metrics:
            continue  # assigned on signals, risk or classes: the lines above say why
        text = "; ".join(f"{_lower_first(w.metric_title(m))}: {w.metric(m, v)}" for m, v in metrics.items())
        limits = [f"{w.labels['threshold']}: {w.num(v)}" for v in reason.get("thresholds", {}).values()]
        out.append({"title": pr["title"], "text": text + (f" ({'; '.join(limits)})" if limits else "")})
    return out


def _lower_first(text: str) -> str:
    """'Days since …' -> 'days since …', but 'NPS …' stays."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def negotiation(w: Words, result: Mapping[str, Any]) -> dict[str, Any] | None:
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
    key = ("negotiation", tuple((title, pid) for title, pid, _ in blocks))
    view = w._memo.get(key)
    if view is None:
        view = w._memo[key] = _negotiation_view(w, [(title, n) for title, _, n in blocks])
    return view


def _negotiation_view(w: Words, blocks: list[tuple[str, Any]]) -> dict[str, Any]:
    lang = w.lang
    participants: dict[str, str] = {}
    problems: dict[str, str] = {}
    mistakes: dict[str, None] = {}
    for _, n in blocks:
        for role, wants in n.participants:
            participants.setdefault(text_in(role, lang), text_in(wants, lang))
        for problem, remedy in n.problems:
            problems.setdefault(text_in(problem, lang), text_in(remedy, lang))
        for m in n.mistakes:
            mistakes.setdefault(text_in(m, lang), None)
    return {"intro": say(w.labels, "negotiation_for", playbooks=", ".join(t for t, _ in blocks)),
            "participants": [{"role": r, "wants": x} for r, x in participants.items()],
            "problems": [{"problem": pr, "remedy": x} for pr, x in problems.items()],
            "mistakes": list(mistakes)}


def winback(w: Words, result: Mapping[str, Any]) -> dict[str, Any] | None:
    wb = result.get("winback")
    if not wb:
        return None
    L = w.labels
    reason = w.lost_reason(wb.get("lost_reason"))
    decision = wb["decision"]
    value, cost = w.money(wb["value"]), w.money(wb["cost"])
    if decision == "pursue":
        reasoning = [say(L, "reason_pursue", value=value, cost=cost,
                         difference=w.money(wb["value"] - wb["cost"])),
                     say(L, "advice_pursue", reason=reason)]
    elif decision == "do_not_pursue":
        reasoning = [say(L, "reason_do_not_pursue", value=value, cost=cost),
                     say(L, "advice_do_not_pursue", reason=reason)]
    else:
        reasoning = [say(L, "reason_undecided",
                         missing=", ".join(_lower_first(w.metric_title(m)) for m in wb["missing"])),
                     L["advice_undecided"]]
    cost_id = wb.get("cost_metric", "winback_cost")
    cost_inputs = [m for m in wb.get("cost_inputs", ()) if m != cost_id]

    def row(m: str, v: Any) -> dict[str, str]:
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


def _default_key(w: Words, mid: str, wb: Mapping[str, Any]) -> str:
    """The value that picked an input's default (default_by), as the plan names it: a lost
    client's reason in the labels' words, else the value itself."""
    m = w.project.metrics.get(mid)
    by = m.default_by.metric if m is not None and m.default_by is not None else ""
    if by == "lost_reason":
        return w.lost_reason(wb.get("lost_reason"))
    value = wb.get("inputs", {}).get(by)
    return "—" if value is None else str(value)


# ---- digests and summary ---------------------------------------------------------------

NEXT_STEPS = 3  # a digest shows the soonest steps of each account; the plan has the rest
MANAGER_ROLE = "key_account_manager"  # the role a digest's reader, the account's owner, holds


THIS_WEEK = 10  # at most this many of the manager's own steps lead the digest


def this_week(w: Words, results: Iterable[Mapping[str, Any]], as_of: str,
              steps: list[list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """The manager's own open steps to start this week: due by the end of next week (a step
    due in six working days needs work now) or overdue; accounts by priority, then by due
    date, at most THIS_WEEK. `steps`: steps_by_due of each result, when already at hand."""
    end = _week_end(as_of, weeks=2)
    rows = []
    for rank, r in enumerate(results):
        for s in steps[rank] if steps is not None else steps_by_due(w, r):
            if s["owner"] == MANAGER_ROLE and not s["done"] and s["due_iso"] <= end:
                rows.append(((rank, s["due_iso"]), {**s, "account": r.get("name") or r["account_id"],
                                                    "account_id": r["account_id"]}))
    return [row for _, row in sorted(rows, key=lambda kv: kv[0])][:THIS_WEEK]


def _week_end(iso: str, weeks: int = 1) -> str:
    """The Sunday ending the week of `iso` (weeks=2: the next week's)."""
    d = date.fromisoformat(iso)
    return (d + timedelta(days=6 - d.weekday(), weeks=weeks - 1)).isoformat()


def digest(w: Words, owner: str, results: list[Mapping[str, Any]], plan_files: Mapping[str, str],
           quiet: int, closed: Iterable[Mapping[str, Any]] = (), tracked: bool = False) -> dict[str, Any]:
    """One manager's accounts that have a plan, most urgent first. With a store (`tracked`),
    it leads with what needs attention (new and escalated plans, overdue steps) and what the
    run closed (`closed`: the manager's results with resolved plans)."""
    accounts = []
    ordered = sorted(results, key=lambda r: urgency_key(w.project, r))
    by_due = [steps_by_due(w, r) for r in ordered]
    for r, rows in zip(ordered, by_due):
        steps = [s for s in rows if not s["done"]]  # done: nothing left to do
        wb = r.get("winback")
        accounts.append({
            "title": r.get("name") or r["account_id"], "account_id": r["account_id"],
            "risk_id": r["risk_level"], "risk": w.risk(r["risk_level"]),
            "at_stake": w.money(at_stake(r)), "lost": r.get("status") == "lost",
            "priority": priority_view(w, r), "abc": r.get("abc") or "",
            "signals": [s["title"] for s in r["signals"]],
            "decision": w.labels[f"decision_{wb['decision']}"] if wb else "",
            "next_steps": steps[:NEXT_STEPS],
            "more": say(w.labels, "more_steps", count=len(steps) - NEXT_STEPS)
            if len(steps) > NEXT_STEPS else "",
            "plan": plan_files.get(r["account_id"], ""),
            "plans": [{"title": p["title"], "state_id": p["state"], "state": states.state_word(w, p["state"])}
                      for p in r["playbooks"] if p.get("state")]})
    as_of = ordered[0]["as_of"] if ordered else ""
    return {"owner": owner, "accounts": accounts, "tracked": tracked,
            "this_week": this_week(w, ordered, as_of, by_due) if as_of else [],
            "week_end": w.date(_week_end(as_of, weeks=2)) if as_of else "",
            "attention": states.attention(w, ordered, plan_files) if tracked else [],
            "closed": states.closed_rows(w, sorted(closed, key=lambda r: urgency_key(w.project, r))),
            "quiet": say(w.labels, "no_action", count=quiet) if quiet else ""}


def summary(w: Words, results: list[Mapping[str, Any]], digests: Mapping[str, str],
            plan_files: Mapping[str, str], top: int = 15) -> dict[str, Any]:
    p = w.project
    levels = [r.id for r in reversed(p.risk_levels)] + [NO_RISK]
    by_level = {lvl: [r for r in results if r["risk_level"] == lvl] for lvl in levels}
    at_risk = [r for r in results if r["risk_level"] != NO_RISK]
    total_revenue = sum(r.get("revenue_current") or 0 for r in results)
    signal_counts = Counter(s["id"] for r in results for s in r["signals"])
    playbook_counts = Counter(pr["id"] for r in results for pr in r["playbooks"])
    n = len(results) or 1
    owners: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        owners.setdefault(r.get("owner") or w.labels["unassigned"], []).append(r)
    lost = sorted((r for r in results if r.get("winback")), key=lambda r: urgency_key(p, r))
    expected = sum(r.get("expected_loss") or 0.0 for r in results if r["playbooks"])
    return {
        "expected_loss": w.money(expected),
        "expected_loss_share": w.num(expected / total_revenue * 100, 1) if total_revenue else "0",
        "workload": workload(w, results),
        "accounts": len(results),
        "with_plan": sum(1 for r in results if r["playbooks"]),
        "plan_states": states.counts(w, results),
        "by_risk": [{"id": lvl, "title": w.risk(lvl), "count": len(rs),
                     "revenue": w.money(sum(r.get("revenue_current") or 0 for r in rs))}
                    for lvl, rs in by_level.items()],
        "revenue_at_risk": w.money(sum(r.get("revenue_current") or 0 for r in at_risk)),
        "revenue_at_risk_share": w.num(sum(r.get("revenue_current") or 0 for r in at_risk)
                                       / total_revenue * 100, 1) if total_revenue else "0",
        "total_revenue": w.money(total_revenue),
        "signals": [{"title": text_in(p.signals[sid].title, w.lang),
                     "category": text_in(p.categories[p.signals[sid].category].title, w.lang)
                     if p.signals[sid].category in p.categories else p.signals[sid].category,
                     "count": c, "share": w.num(c / n * 100, 1)}
                    for sid, c in sorted(signal_counts.items(), key=lambda kv: (-kv[1], kv[0]))],
        "playbooks": [{"title": text_in(p.playbooks[pid].title, w.lang), "count": c}
                      for pid, c in sorted(playbook_counts.items(),
                                           key=lambda kv: (-kv[1], p.playbooks[kv[0]].priority, kv[0]))],
        "owners": [{"owner": o, "accounts": len(rs), "digest": digests.get(o, ""),
                    "levels": [sum(1 for r in rs if r["risk_level"] == lvl) for lvl in levels[:-1]],
                    "revenue_at_risk": w.money(sum(r.get("revenue_current") or 0 for r in rs
                                                   if r["risk_level"] != NO_RISK)),
                    "expected_loss": w.money(sum(r.get("expected_loss") or 0.0 for r in rs if r["playbooks"]))}
                   for o, rs in sorted(owners.items())],
        "level_titles": [w.risk(lvl) for lvl in levels[:-1]],
        "top_accounts": [{"title": r.get("name") or r["account_id"], "account_id": r["account_id"],
                          "owner": r.get("owner") or w.labels["unassigned"], "risk": w.risk(r["risk_level"]),
                          "risk_id": r["risk_level"], "signals": len(r["signals"]),
                          "at_stake": w.money(at_stake(r)), "expected_loss": w.money(r.get("expected_loss")),
                          "priority": w.num(r.get("priority"), 0), "abc": r.get("abc") or "",
                          "plan": plan_files.get(r["account_id"], "")}
                         for r in sorted((r for r in results if r["playbooks"] and r.get("status") != "lost"),
                                         key=lambda r: urgency_key(p, r))[:top]],
        "lost": [{"title": r.get("name") or r["account_id"], "account_id": r["account_id"],
                  "owner": r.get("owner") or w.labels["unassigned"],
                  "decision_id": r["winback"]["decision"],
                  "decision": w.labels[f"decision_{r['winback']['decision']}"],
                  "benefit": w.money(r["winback"]["value"]), "cost": w.money(r["winback"]["cost"]),
                  "plan": plan_files.get(r["account_id"], "")} for r in lost],
    }


def workload(w: Words, results: Iterable[Mapping[str, Any]], weeks: int = 6) -> dict[str, Any] | None:
    """Open steps per week of each role with a capacity (kam.yaml), for the next `weeks` weeks
    and what lies beyond, so the people at the top see their load and the queue."""
    capacity = w.project.capacity
    if not capacity:
        return None
    per: dict[str, Counter] = {role: Counter() for role in capacity}
    first = ""
    for r in results:
        first = first or r["as_of"]
        for pr in r["playbooks"]:
            for s in pr["steps"]:
                if s["owner"] in per and not s.get("done"):
                    d = date.fromisoformat(max(s["due"], r["as_of"]))  # overdue: this week's work
                    per[s["owner"]][(d - timedelta(days=d.weekday())).isoformat()] += 1
    if not first:
        return None
    start = date.fromisoformat(first)
    start -= timedelta(days=start.weekday())
    columns = [(start + timedelta(weeks=i)).isoformat() for i in range(weeks)]
    rows = [{"role": w.role(role), "capacity": capacity[role],
             "weeks": [per[role].get(c, 0) for c in columns],
             "later": sum(n for k, n in per[role].items() if k > columns[-1]),
             "last": w.date(max(per[role])) if per[role] else "—"}
            for role in sorted(capacity)]
    # short column heads (dd.mm): six full dates do not fit a page's width
    return {"columns": [f"{c[8:10]}.{c[5:7]}" for c in columns], "rows": rows}


def owners_of(results: Iterable[Mapping[str, Any]], unassigned: str) -> list[str]:
    return sorted({r.get("owner") or unassigned for r in results})
