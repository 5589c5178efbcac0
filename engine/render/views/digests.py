"""The view of an account manager's digest (templates/digest.*.j2)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from ...result import Result
from ..labels import say
from . import states
from .context import DigestAccount, DigestView, StepRow, ThisWeekRow
from .steps import at_stake, priority_view, step_row, steps_by_due, urgency_key
from .words import Words

NEXT_STEPS = 3  # a digest shows the soonest steps of each account; the plan has the rest
MANAGER_ROLE = "key_account_manager"  # the role a digest's reader, the account's owner, holds


THIS_WEEK = 10  # at most this many of the manager's own steps lead the digest


def this_week(w: Words, results: Iterable[Result], as_of: str,
              steps: list[list[StepRow]] | None = None) -> list[ThisWeekRow]:
    """The manager's own open steps to start this week: due by the end of next week (a step
    due in six working days needs work now) or overdue; accounts by priority, then by due
    date, at most THIS_WEEK. `steps`: steps_by_due of each result, when already at hand."""
    end = _week_end(as_of, weeks=2)
    rows: list[tuple[tuple[int, str], ThisWeekRow]] = []
    for rank, r in enumerate(results):
        for s in steps[rank] if steps is not None else steps_by_due(w, r):
            if s["owner"] == MANAGER_ROLE and not s["done"] and s["due_iso"] <= end:
                rows.append(((rank, s["due_iso"]), {**s, "account": r.get("name") or r["account_id"],
                                                    "account_id": r["account_id"]}))
        if len(rows) >= THIS_WEEK:
            break  # the next accounts' rows sort after these (rank first)
    return [row for _, row in sorted(rows, key=lambda kv: kv[0])][:THIS_WEEK]


def _week_end(iso: str, weeks: int = 1) -> str:
    """The Sunday ending the week of `iso` (weeks=2: the next week's)."""
    d = date.fromisoformat(iso)
    return (d + timedelta(days=6 - d.weekday(), weeks=weeks - 1)).isoformat()


def digest(w: Words, owner: str, results: list[Result], plan_files: Mapping[str, str],
           quiet: int, closed: Iterable[Result] = (), tracked: bool = False,
           by_due: Mapping[str, list[StepRow]] | None = None) -> DigestView:
    """One manager's accounts that have a plan, most urgent first. With a store (`tracked`),
    it leads with what needs attention (new and escalated plans, overdue steps) and what the
    run closed (`closed`: the manager's results with resolved plans). `by_due`: steps_by_due
    of results by account id, where their plans' views have them."""
    accounts: list[DigestAccount] = []
    ordered = sorted(results, key=lambda r: urgency_key(w.project, r))
    rows = [by_due.get(r["account_id"]) for r in ordered] if by_due else []
    for i, r in enumerate(ordered):
        accounts.append(account_entry(w, r, plan_files, rows[i] if rows else None))
    as_of = ordered[0]["as_of"] if ordered else ""
    known = [x for x in rows if x is not None]
    return {"owner": owner, "accounts": accounts, "tracked": tracked,
            "this_week": this_week(w, ordered, as_of, known if rows and len(known) == len(rows) else None)
            if as_of else [],
            "week_end": w.date(_week_end(as_of, weeks=2)) if as_of else "",
            "attention": states.attention(w, ordered, plan_files) if tracked else [],
            "closed": states.closed_rows(w, sorted(closed, key=lambda r: urgency_key(w.project, r))),
            "quiet": say(w.labels, "no_action", count=quiet) if quiet else "",
            # every account, plan and closing is listed here; aggregate.py stops at caps and says so
            "more_accounts": "", "more_attention": "", "more_closed": ""}


def account_entry(w: Words, r: Result, plan_files: Mapping[str, str], by_due: list[StepRow] | None = None
                  ) -> DigestAccount:
    """The account's entry in its manager's digest (`by_due`: its steps_by_due, when at hand)."""
    steps, left = _open_steps(w, r, NEXT_STEPS, by_due)  # done: nothing left to do
    wb = r.get("winback")
    return {
        "title": r.get("name") or r["account_id"], "account_id": r["account_id"],
        "risk_id": r["risk_level"], "risk": w.risk(r["risk_level"]),
        "at_stake": w.money(at_stake(r)), "lost": r.get("status") == "lost",
        "priority": priority_view(w, r), "abc": r.get("abc") or "",
        "signals": [s["title"] for s in r["signals"]],
        "decision": w.labels[f"decision_{wb['decision']}"] if wb else "",
        "next_steps": steps,
        "more": say(w.labels, "more_steps", count=left - NEXT_STEPS) if left > NEXT_STEPS else "",
        "plan": plan_files.get(r["account_id"], ""),
        "plans": [{"title": p["title"], "state_id": p["state"], "state": states.state_word(w, p["state"])}
                  for p in r["playbooks"] if p.get("state")]}


def _open_steps(w: Words, result: Result, n: int, by_due: list[StepRow] | None = None
                ) -> tuple[list[StepRow], int]:
    """The first `n` of the account's steps not done, as steps_by_due lists them (`by_due`,
    when at hand), and how many are not done (a row is made only for the `n`)."""
    if by_due is not None:
        left = [row for row in by_due if not row["done"]]
        return left[:n], len(left)
    playbooks = result["playbooks"]
    keys = sorted((s["due"], p_index, s_index) for p_index, p in enumerate(playbooks)
                  for s_index, s in enumerate(p["steps"]) if not s.get("done"))
    return [step_row(w, playbooks[p], playbooks[p]["steps"][i]) for _, p, i in keys[:n]], len(keys)
