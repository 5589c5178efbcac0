"""What `kam plans` and `kam history` do: list plans, mark them done, snooze and reopen them
(each change one short write transaction, logged as a plan event), show an account over runs."""
from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import Any

from ...errors import KamError
from ...hints import did_you_mean
from ..reconcile import DONE, ONGOING, OPEN, RESOLVED, SNOOZED
from .db import Store
from .plans import steps_of, unpack

STATUSES = ("open", "overdue", "new", "ongoing", "escalated", "resolved", "snoozed", "done")
PLAN_IDS = ("A plan id is the N of 'plan N' beside each playbook's title in the plan documents "
            "(plans/<account>.md), also written before each step's id there ('N step_id'); "
            "`kam plans` lists the open plans with their ids first.")


def _steps(rows: list[sqlite3.Row], day: str, live: bool) -> list[dict[str, Any]]:
    return [{"id": s["step_id"], "due": s["due"], "done_on": s["done_on"],
             "overdue": live and s["done_on"] is None and s["due"] < day} for s in rows]


def _view(row: sqlite3.Row, steps: list[sqlite3.Row], day: str) -> dict[str, Any]:
    shown = _steps(steps, day, row["status"] == OPEN)
    undone = [s["due"] for s in shown if s["done_on"] is None]
    return {"plan_id": row["plan_id"], "account_id": row["account_id"], "account_name": row["account_name"],
            "owner": row["owner"], "playbook": row["playbook"], "status": row["status"], "state": row["state"],
            "opened": row["opened"], "risk_level": row["risk_level"], "kept_open": bool(row["kept_open"]),
            "next_due": min(undone) if undone else None, "overdue": any(s["overdue"] for s in shown),
            "snoozed_until": row["snoozed_until"], "snooze_reason": row["snooze_reason"],
            "done_on": row["done_on"], "resolved_on": row["resolved_on"], "steps": shown}


def list_plans(store: Store, as_of: date, owner: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Plans by status: open (the default), overdue (open, a step past due on as_of), new /
    ongoing / escalated (open, by the state of the latest run), snoozed, done, resolved."""
    status = status or "open"
    if status not in STATUSES:
        raise KamError(f"unknown status '{status}'; one of {', '.join(STATUSES)}")
    where, args = [], []
    if status in ("open", "overdue", "new", "ongoing", "escalated"):
        where.append("status = 'open'")
        if status in ("new", "ongoing", "escalated"):
            where.append("state = ?")
            args.append(status)
    else:
        where.append("status = ?")
        args.append(status)
    if owner is not None:
        where.append("owner = ?")
        args.append(owner)
    rows = store.all(f"SELECT * FROM plans WHERE {' AND '.join(where)} ORDER BY account_id, playbook, plan_id",
                     args)
    steps = steps_of(store, [r["plan_id"] for r in rows])
    day = as_of.isoformat()
    views = [_view(r, steps[r["plan_id"]], day) for r in rows]
    if status == "overdue":
        views = [v for v in views if v["overdue"]]
    return sorted(views, key=lambda v: (not v["overdue"], v["next_due"] or "9999", v["account_id"],
                                        v["playbook"], v["plan_id"]))


def _plan(store: Store, plan_id: int) -> sqlite3.Row:
    # SQLite's integers are 64-bit: a larger id names no plan (and cannot be a query parameter)
    row: sqlite3.Row | None = \
        store.one("SELECT * FROM plans WHERE plan_id = ?", (plan_id,)) if 0 < plan_id < 2**63 else None
    if row is None:
        span = store.one("SELECT count(*) AS n, min(plan_id) AS lo, max(plan_id) AS hi FROM plans")
        held = f"which has plans {span['lo']} to {span['hi']}" if span["n"] else "which has no plans yet"
        raise KamError(f"no plan {plan_id} in {store.path}, {held}. {PLAN_IDS}")
    return row


def _event(store: Store, plan_id: int, on: date, event: str, detail: str = "") -> None:
    store.conn.execute("INSERT INTO plan_events (plan_id, run_id, at, event, detail) VALUES (?, NULL, ?, ?, ?)",
                       (plan_id, on.isoformat(), event, detail or None))


def mark_done(store: Store, plan_id: int, step_id: str | None, on: date) -> str:
    """One step (or every step) done; the plan is done when all its steps are."""
    with store.transaction():
        plan = _plan(store, plan_id)
        if plan["status"] not in (OPEN, SNOOZED):
            raise KamError(f"plan {plan_id} is {plan['status']}: only an open or snoozed plan can be done "
                           f"(`kam plans reopen {plan_id}` first)")
        steps = steps_of(store, [plan_id])[plan_id]
        ids = [s["step_id"] for s in steps]
        day = on.isoformat()
        if step_id is not None:
            if step_id not in ids:
                hint = did_you_mean(step_id, ids, otherwise=f"; its steps: {', '.join(ids)}")
                raise KamError(f"plan {plan_id} ({plan['playbook']}) has no step '{step_id}'{hint}")
            store.conn.execute("UPDATE plan_steps SET done_on = ? WHERE plan_id = ? AND step_id = ? "
                               "AND done_on IS NULL", (day, plan_id, step_id))
            _event(store, plan_id, on, "step_done", step_id)
        else:
            store.conn.execute("UPDATE plan_steps SET done_on = ? WHERE plan_id = ? AND done_on IS NULL",
                               (day, plan_id))
        left = store.one("SELECT count(*) AS n FROM plan_steps WHERE plan_id = ? AND done_on IS NULL",
                         (plan_id,))["n"]
        if left:
            return f"plan {plan_id}: step {step_id} done; {left} step(s) left"
        store.conn.execute("UPDATE plans SET status = 'done', done_on = ?, snoozed_until = NULL, "
                           "snooze_reason = NULL, snooze_risk = NULL WHERE plan_id = ?", (day, plan_id))
        _event(store, plan_id, on, "done")
        return f"plan {plan_id} ({plan['account_id']}, {plan['playbook']}) done on {day}"


def snooze(store: Store, plan_id: int, until: date, reason: str, on: date, by: str | None = None) -> str:
    """Hold an open plan back until a date, for a stated reason (as alert silences ask)."""
    reason = reason.strip()
    if not reason:
        raise KamError("a snooze needs a reason (--reason TEXT)")
    if until <= on:
        raise KamError(f"--until {until.isoformat()} is not after {on.isoformat()}")
    with store.transaction():
        plan = _plan(store, plan_id)
        if plan["status"] not in (OPEN, SNOOZED):
            raise KamError(f"plan {plan_id} is {plan['status']}: only an open plan can be snoozed")
        store.conn.execute("UPDATE plans SET status = 'snoozed', snoozed_until = ?, snooze_reason = ?, "
                           "snooze_risk = ?, snoozed_by = ? WHERE plan_id = ?",
                           (until.isoformat(), reason, plan["risk_level"], by, plan_id))
        _event(store, plan_id, on, "snoozed", f"until {until.isoformat()}" + (f" by {by}" if by else "")
               + f": {reason}")
    return f"plan {plan_id} ({plan['account_id']}, {plan['playbook']}) snoozed until {until.isoformat()}"


def reopen(store: Store, plan_id: int, on: date) -> str:
    """A done, snoozed or resolved plan open again (a done plan's steps start over)."""
    with store.transaction():
        plan = _plan(store, plan_id)
        if plan["status"] == OPEN:
            raise KamError(f"plan {plan_id} is already open")
        other = store.one("SELECT plan_id FROM plans WHERE account_id = ? AND playbook = ? AND plan_id != ? "
                          "AND status IN ('open', 'snoozed')", (plan["account_id"], plan["playbook"], plan_id))
        if other is not None:
            raise KamError(f"plan {other['plan_id']} is already open for {plan['account_id']} and "
                           f"{plan['playbook']}")
        if plan["status"] == DONE:
            store.conn.execute("UPDATE plan_steps SET done_on = NULL WHERE plan_id = ?", (plan_id,))
        state = ONGOING if plan["state"] == RESOLVED else plan["state"]
        store.conn.execute("UPDATE plans SET status = 'open', state = ?, done_on = NULL, resolved_on = NULL, "
                           "snoozed_until = NULL, snooze_reason = NULL, snooze_risk = NULL, snoozed_by = NULL "
                           "WHERE plan_id = ?", (state, plan_id))
        _event(store, plan_id, on, "reopened", f"was {plan['status']}")
    return f"plan {plan_id} ({plan['account_id']}, {plan['playbook']}) open again"


def account_history(store: Store, account_id: str) -> dict[str, Any]:
    """The account's risk level, signals and plans at each run (a correction replaces its date's run)."""
    rows = store.all("SELECT a.*, r.recorded, r.rules_digest FROM account_runs a JOIN runs r USING (run_id) "
                     "WHERE a.account_id = ? AND a.current = 1 ORDER BY a.as_of, a.run_id", (account_id,))
    if not rows:
        n = store.one("SELECT count(*) AS n FROM runs")["n"]
        raise KamError(f"no account '{account_id}' in {store.path} ({n} run(s) recorded)")
    runs = []
    for r in rows:
        overlay = unpack(r["overlay"]) or {}
        runs.append({"run_id": r["run_id"], "as_of": r["as_of"], "risk_level": r["risk_level"],
                     "signals": json.loads(r["signals"]), "playbooks": json.loads(r["playbooks"]),
                     "pending_rules": sorted(overlay.get("pending") or {}),
                     "rules_version": r["rules_digest"]})
    plans = store.all("SELECT * FROM plans WHERE account_id = ? ORDER BY plan_id", (account_id,))
    steps = steps_of(store, [p["plan_id"] for p in plans])
    last = rows[-1]
    events = {p["plan_id"]: [dict(e) for e in store.all(
        "SELECT at, event, run_id, detail FROM plan_events WHERE plan_id = ? ORDER BY event_id", (p["plan_id"],))]
        for p in plans}
    return {"account_id": account_id, "name": last["name"], "owner": last["owner"], "runs": runs,
            "plans": [{**_view(p, steps[p["plan_id"]], last["as_of"]), "events": events[p["plan_id"]]}
                      for p in plans]}
