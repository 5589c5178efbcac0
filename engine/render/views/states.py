"""Plans across runs in the documents: each plan's state, overdue and done steps, what closed
since the last run and what is on hold, and the digest's "needs attention" rows.

The fields come from the store step (engine/plans/store/overlay.py). Results of a run without a
store lack them: then nothing here adds anything to a document, and the templates show the
plans as they always did.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...result import PlaybookEntry, Result, StepEntry
from ..labels import say
from .context import AccountLink, AttentionRow, ClosedRow, HoldRow, StateCount, StepFlags, TextRow
from .words import Words

SHOWN = ("new", "ongoing", "escalated")  # the states of a plan a document shows
URGENT = ("new", "escalated")  # a digest lists these plans under "needs attention"


def tracked(results: Iterable[Result]) -> bool:
    """Did a store reconcile these results (so their plans have states)?"""
    return any("resolved_plans" in r for r in results)


def state_word(w: Words, state: str) -> str:
    """The short name of a state, for a badge or a table cell."""
    word: str = w.labels["states"].get(state, state)
    return word


def state_text(w: Words, entry: PlaybookEntry) -> str:
    """'New', 'Ongoing since 5 January 2026', 'Escalated: …' — '' for a plan without a state."""
    state = entry.get("state")
    if state not in SHOWN:
        return ""
    return say(w.labels, f"state_{state}", opened=w.date(entry.get("opened") or ""))


def step_flags(step: StepEntry) -> StepFlags:
    return {"done": bool(step.get("done")), "overdue": bool(step.get("overdue"))}


def closed(w: Words, result: Result) -> list[TextRow]:
    """The account's plans this run closed (their trigger no longer fires)."""
    return [{"title": r["title"], "text": say(w.labels, "closed_line", opened=w.date(r["opened"]),
                                              resolved=w.date(r["resolved"]))}
            for r in result.get("resolved_plans") or ()]


def on_hold(w: Words, result: Result) -> list[HoldRow]:
    """Plans whose playbook fires but that are snoozed, or done and cooling down."""
    rows: list[HoldRow] = []
    for h in result.get("held_plans") or ():
        if h["state"] == "snoozed" and h.get("reason"):
            text = say(w.labels, "snoozed_by", until=w.date(h["until"]), by=h.get("by") or "—",
                       reason=h["reason"])
        else:
            key = "snoozed_until" if h["state"] == "snoozed" else "cooldown_until"
            text = say(w.labels, key, until=w.date(h["until"]))
        rows.append({"title": h["title"], "state_id": h["state"], "state": state_word(w, h["state"]),
                     "plan_ref": say(w.labels, "plan_ref", id=h["plan_id"]) if h.get("plan_id") is not None else "",
                     "text": text})
    return rows


def attention_rank(playbook: PlaybookEntry) -> int | None:
    """Where the plan's "needs attention" row sorts: 0 for what got worse (escalated), 1 for
    what is late (an open step overdue), 2 for what is new; None when it has no row."""
    if playbook.get("state") == "escalated":
        return 0
    if any(s.get("overdue") and not s.get("done") for s in playbook["steps"]):
        return 1
    return 2 if playbook.get("state") in URGENT else None


def attention_row(w: Words, account: AccountLink, playbook: PlaybookEntry) -> AttentionRow:
    """The row of a plan that has one (attention_rank): its most overdue step (and how many
    more are overdue), or else its next one."""
    state = playbook.get("state")
    open_steps = sorted((s for s in playbook["steps"] if not s.get("done")), key=lambda s: s["due"])
    overdue = [s for s in open_steps if s.get("overdue")]
    s = overdue[0] if overdue else open_steps[0] if open_steps else None  # all done: no step to show
    return {**account, "playbook": playbook["title"], "state_id": state or "",
            "state": state_word(w, state) if state else "",
            "step": s["title"] if s else "", "who": w.role(s["owner"]) if s else "",
            "due": w.date(s["due"]) if s else "", "overdue": bool(overdue),
            "more": say(w.labels, "more_overdue", count=len(overdue) - 1) if len(overdue) > 1 else ""}


def account_link(result: Result, plan_files: Mapping[str, str]) -> AccountLink:
    return {"account": result.get("name") or result["account_id"], "account_id": result["account_id"],
            "plan": plan_files.get(result["account_id"], "")}


def attention(w: Words, results: Iterable[Result], plan_files: Mapping[str, str]) -> list[AttentionRow]:
    """Rows for the top of a manager's digest: one per new or escalated plan and per plan with
    an overdue step (attention_row). What got worse comes first, then what is late, then what
    is new; accounts in the order of `results` (most urgent first) within each."""
    rows: list[tuple[int, AttentionRow]] = []
    for r in results:
        account = account_link(r, plan_files)
        for p in r["playbooks"]:
            rank = attention_rank(p)
            if rank is not None:
                rows.append((rank, attention_row(w, account, p)))
    return [row for _, row in sorted(rows, key=lambda x: x[0])]


def closed_rows(w: Words, results: Iterable[Result]) -> list[ClosedRow]:
    """Every plan the run closed among `results`, account by account."""
    return [{"account": r.get("name") or r["account_id"], **c} for r in results for c in closed(w, r)]


COUNTED = ("new", "ongoing", "escalated", "resolved", "held", "overdue")


def counts(w: Words, results: Iterable[Result]) -> list[StateCount]:
    """Plans by state for the run summary ([] without a store): open plans by state, the
    plans this run closed, those on hold, and the open plans with an overdue step."""
    results = list(results)
    if not tracked(results):
        return []
    n = dict.fromkeys(COUNTED, 0)
    for r in results:
        for p in r["playbooks"]:
            if p.get("state") in n:
                n[p["state"]] += 1
            n["overdue"] += bool(p.get("overdue"))
        n["resolved"] += len(r.get("resolved_plans") or ())
        n["held"] += len(r.get("held_plans") or ())
    return [{"id": k, "title": w.labels["state_counts"].get(k, k), "count": n[k]} for k in COUNTED]
