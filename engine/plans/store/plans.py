"""Plans and account history in the store <-> the plain records of engine/plans/reconcile.py."""
from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from ..reconcile import ACTIVE, DONE, Change, Past, Plan, PlanStep
from .db import Store

_BATCH = 500  # ids per IN (...) list


def _batches(ids: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(ids), _BATCH):
        yield ids[i:i + _BATCH]


def _marks(n: int) -> str:
    return ",".join("?" * n)


# live_plans reads these columns as plain tuples: a sqlite3.Row per plan and per step, and the
# lookups by name, cost more than the queries (0.30 s per 20,000 accounts at 1,000,000)
_PLAN_COLUMNS = ("plan_id, account_id, playbook, status, opened, state, risk_level, snoozed_until, snooze_risk, "
                 "done_on, resolved_on, kept_open, snooze_reason, snoozed_by")


def steps_of(store: Store, plan_ids: Sequence[int]) -> dict[int, list[sqlite3.Row]]:
    out: dict[int, list[sqlite3.Row]] = {pid: [] for pid in plan_ids}
    for batch in _batches(list(plan_ids)):
        for s in store.all(f"SELECT * FROM plan_steps WHERE plan_id IN ({_marks(len(batch))}) "
                           "ORDER BY plan_id, position", batch):
            out[s["plan_id"]].append(s)
    return out


def _plan_steps(store: Store, plan_ids: Sequence[int]) -> dict[int, tuple[PlanStep, ...]]:
    grouped: dict[int, list[PlanStep]] = {}
    for batch in _batches(plan_ids):
        cur = store.conn.execute(f"SELECT plan_id, step_id, due, done_on FROM plan_steps WHERE plan_id IN "
                                 f"({_marks(len(batch))}) ORDER BY plan_id, position", tuple(batch))
        cur.row_factory = None
        for pid, sid, due, done_on in cur:
            grouped.setdefault(pid, []).append(PlanStep(sid, due, done_on))
    return {pid: tuple(steps) for pid, steps in grouped.items()}


def live_plans(store: Store, account_ids: Sequence[str]) -> dict[str, list[Plan]]:
    """Each account's open and snoozed plans, and its latest done plan per playbook (cooldowns)."""
    rows: list[tuple[Any, ...]] = []
    for batch in _batches(list(account_ids)):
        cur = store.conn.execute(f"SELECT {_PLAN_COLUMNS} FROM plans WHERE account_id IN ({_marks(len(batch))}) "
                                 "AND status IN ('open', 'snoozed', 'done') ORDER BY plan_id", tuple(batch))
        cur.row_factory = None
        rows += cur.fetchall()
    latest_done: dict[tuple[str, str], tuple[Any, ...]] = {}
    keep: list[tuple[Any, ...]] = []
    for r in rows:  # r[1] account, r[2] playbook, r[3] status, r[9] done_on
        if r[3] in ACTIVE:
            keep.append(r)
        elif r[3] == DONE:
            key = (r[1], r[2])
            if key not in latest_done or (r[9] or "") >= (latest_done[key][9] or ""):
                latest_done[key] = r
    keep += latest_done.values()
    steps = _plan_steps(store, [r[0] for r in keep])
    out: dict[str, list[Plan]] = {}
    for (pid, account, playbook, status, opened, state, risk, snoozed_until, snooze_risk, done_on, resolved_on,
         kept_open, snooze_reason, snoozed_by) in keep:
        out.setdefault(account, []).append(Plan(pid, playbook, status, opened, steps.get(pid, ()), state, risk,
                                                snoozed_until, snooze_risk, done_on, resolved_on, bool(kept_open),
                                                snooze_reason, snoozed_by))
    return out


def recently_closed(store: Store, account_ids: Sequence[str], since: str) -> dict[str, list[dict[str, Any]]]:
    """Each account's plans done or resolved on or after `since`, with their steps, as the
    overlay keeps them ({playbook, plan_id, why: done|resolved, on, steps: {id: [due, done_on]}}):
    the calendars cancel their steps for a while after they close."""
    rows: list[sqlite3.Row] = []
    for batch in _batches(list(account_ids)):
        rows += store.all(f"SELECT plan_id, account_id, playbook, status, done_on, resolved_on FROM plans "
                          f"WHERE account_id IN ({_marks(len(batch))}) AND status IN ('done', 'resolved') "
                          "AND coalesce(done_on, resolved_on) >= ? ORDER BY plan_id", [*batch, since])
    if not rows:
        return {}
    steps = steps_of(store, [r["plan_id"] for r in rows])
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["account_id"], []).append(
            {"playbook": r["playbook"], "plan_id": r["plan_id"], "why": r["status"],
             "on": r["done_on"] if r["status"] == DONE else r["resolved_on"],
             "steps": {s["step_id"]: [s["due"], s["done_on"]] for s in steps[r["plan_id"]]}})
    return out


def booked_steps(store: Store,
                 owners: Mapping[tuple[str, str], str]) -> Iterator[tuple[tuple[str, str, str], str, str]]:
    """((account, playbook, step), due, role) of every undone step of an open plan whose
    (playbook, step) has a role in `owners`: the work already scheduled (capacity)."""
    if not owners:
        return
    rows = store.conn.execute("SELECT p.account_id, p.playbook, s.step_id, s.due FROM plans p "
                              "JOIN plan_steps s ON s.plan_id = p.plan_id "
                              "WHERE p.status = 'open' AND s.done_on IS NULL")
    for account, playbook, step, due in rows:
        role = owners.get((playbook, step))
        if role is not None:
            yield (account, playbook, step), due, role


def histories(store: Store, account_ids: Sequence[str], before: str, limit: int) -> dict[str, list[Past]]:
    """Each account's earlier runs, newest first, one per evaluation date, at most `limit`:
    one query per batch of accounts (accounts without history are left out)."""
    out: dict[str, list[Past]] = {}
    if limit <= 0:
        return out
    sets: dict[str, frozenset[str]] = {}  # the same few lists of rules and playbooks, parsed once

    def parsed(text: str) -> frozenset[str]:
        found = sets.get(text)
        if found is None:
            found = sets[text] = frozenset(json.loads(text))
        return found

    for batch in _batches(list(account_ids)):
        # newest first along the index (account_id, current, as_of); the first `limit` kept.
        # A window function (ROW_NUMBER) and Rows made this 2.5x slower.
        cur = store.conn.execute("SELECT account_id, as_of, risk_level, fired, playbooks FROM account_runs "
                                 f"WHERE account_id IN ({_marks(len(batch))}) AND current = 1 AND as_of < ? "
                                 "ORDER BY account_id, as_of DESC", (*batch, before))
        cur.row_factory = None
        for account, as_of, risk, fired, playbooks in cur:
            past = out.get(account)
            if past is None:
                past = out[account] = []
            elif len(past) >= limit:
                continue
            past.append(Past(as_of, risk, parsed(fired), parsed(playbooks)))
    return out


_ABSENT = object()


class PlanWriter:
    """A run's plan changes: a new plan is inserted at once (its id goes into the result), the
    updates, steps and events of a chunk go in a few batched statements (flush)."""

    def __init__(self, store: Store, run_id: int | None, day: str):
        self.store, self.run_id, self.day = store, run_id, day
        self.next_id: int | None = None  # new plans' ids, as AUTOINCREMENT gives them (the run holds the lock)
        self.inserts: list[tuple[Any, ...]] = []
        self.updates: list[tuple[Any, ...]] = []
        self.kept: list[tuple[Any, ...]] = []  # updates of plans whose status stays
        self.steps: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []

    def write(self, account: Any, change: Change, before: Plan | None = None) -> int:
        """The plan as it stands after the run, with the run's event for it; returns its id.
        `before`: the plan as stored, whose steps need no write where their due date stands."""
        p = change.plan
        values = (p.status, p.state, p.risk_level, int(p.kept_open), p.snoozed_until, p.snooze_risk,
                  p.done_on, p.resolved_on, self.run_id, account.owner, account.name)
        if p.plan_id is None:
            if self.next_id is None:
                # what an INTEGER PRIMARY KEY gives a row: one more than the largest
                self.next_id = 1 + self.store.conn.execute("SELECT coalesce(max(plan_id), 0) FROM plans").fetchone()[0]
            plan_id, self.next_id = self.next_id, self.next_id + 1
            self.inserts.append(values + (account.account_id, p.playbook, p.opened, self.run_id, plan_id))
        elif before is not None and before.status == p.status:  # most plans: open, and open still
            plan_id = p.plan_id
            self.kept.append(values[1:] + (plan_id,))
        else:
            plan_id = p.plan_id
            self.updates.append(values + (plan_id,))
        if before is None:
            self.steps += [(plan_id, s.id, i, s.due, s.done_on) for i, s in enumerate(p.steps)]
        else:  # what flush's upsert would leave as it is, it is not given (most steps of an ongoing plan)
            stored = {s.id: s.due for s in before.steps}
            self.steps += [(plan_id, s.id, i, s.due, s.done_on) for i, s in enumerate(p.steps)
                           if stored.get(s.id, _ABSENT) != s.due]
        self.events.append((plan_id, self.run_id, self.day, change.event, f"risk {p.risk_level}"))
        return plan_id

    def flush(self) -> None:
        c = self.store.conn
        c.executemany("INSERT INTO plans (status, state, risk_level, kept_open, snoozed_until, snooze_risk, done_on, "
                      "resolved_on, last_run, owner, account_name, account_id, playbook, opened, opened_run, plan_id) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.inserts)
        c.executemany("UPDATE plans SET status = ?, state = ?, risk_level = ?, kept_open = ?, snoozed_until = ?, "
                      "snooze_risk = ?, done_on = ?, resolved_on = ?, last_run = ?, owner = ?, account_name = ? "
                      "WHERE plan_id = ?", self.updates)
        # without `status` in SET, SQLite leaves the two indexes on it alone (plans_live,
        # plans_account): three B-tree writes fewer per plan, for every ongoing plan of a run
        c.executemany("UPDATE plans SET state = ?, risk_level = ?, kept_open = ?, snoozed_until = ?, "
                      "snooze_risk = ?, done_on = ?, resolved_on = ?, last_run = ?, owner = ?, account_name = ? "
                      "WHERE plan_id = ?", self.kept)
        # a step keeps its done mark, and its due date unless it is a recurring step's next one
        # (reconcile passes every other kept step on as stored): steps new to the plan are added
        c.executemany("INSERT INTO plan_steps (plan_id, step_id, position, due, done_on) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT (plan_id, step_id) DO UPDATE SET due = excluded.due "
                      "WHERE plan_steps.due != excluded.due", self.steps)
        c.executemany("INSERT INTO plan_events (plan_id, run_id, at, event, detail) VALUES (?, ?, ?, ?, ?)",
                      self.events)
        self.inserts, self.updates, self.kept, self.steps, self.events = [], [], [], [], []


def pack(overlay: dict[str, Any] | None) -> bytes | None:
    if overlay is None:
        return None
    return zlib.compress(orjson.dumps(overlay, option=orjson.OPT_SORT_KEYS))


def unpack(data: bytes | str | None) -> dict[str, Any] | None:
    if data is None:
        return None
    overlay: dict[str, Any]
    if isinstance(data, str):  # stores written before overlays were compressed
        overlay = json.loads(data)
    else:
        overlay = json.loads(zlib.decompress(data))
    return overlay


def write_account_runs(store: Store, rows: list[tuple[Any, ...]], correction: bool) -> None:
    """The accounts of a run; in a correction (an earlier run on the same date) their rows of
    that date stop counting."""
    if correction:
        store.conn.executemany("UPDATE account_runs SET current = 0 WHERE account_id = ? AND as_of = ? "
                               "AND current = 1", [(r[1], r[2]) for r in rows])
    store.conn.executemany("INSERT INTO account_runs (run_id, account_id, as_of, name, owner, risk_level, signals, "
                           "fired, playbooks, overlay, status, segment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           rows)
