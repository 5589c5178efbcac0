"""The store step of a run, as a sink inside the chunk loop.

`StoreSink` records the run (its rules version, its input files) when it opens, then takes the
evaluated accounts chunk by chunk, in input order: it reads the chunk's plans and histories
(a few batched queries), reconciles every account with its plans (engine/plans/reconcile.py),
writes the changes and one history row per account, and hands back each account's overlay
(engine/plans/store/overlay.py) for the worker that writes the account's line and plan. All in the
store's one write transaction, which the caller commits once the output folder is in place
(Store.__exit__).

Before stage B evaluates a chunk, `held_back` gives the workers what `for_runs` needs: each
account's earlier runs (or, in a replay, the recorded pending rules), so rules that have not
held long enough are held back where the account's values already are.

Same input twice: a run whose key (rules version, as-of date, input contents, sheet) is already
recorded is not recorded again; its stored overlays are applied instead, so the output is the
recorded run's and the store does not change.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import urllib.parse
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from ...errors import KamError, Problem
from ...project.model import Project
from ...result import Moved, Result, StepKey
from .. import reconcile as rc
from . import overlay as ov
from .blobs import PendingFile, file_sha256, put_rules, start_file
from .db import Store
from .plans import PlanWriter, histories, live_plans, pack, recently_closed, unpack, write_account_runs

CANCELLED_DAYS = 28


class AccountIn(NamedTuple):
    """What the store needs of one evaluated account: built by the worker that evaluated it,
    a few small tuples (cheap to pickle), never the whole result."""

    account_id: str
    name: Any
    owner: Any
    risk_level: str
    signals: tuple[str, ...]
    fired: tuple[str, ...]  # rules whose condition held (before for_runs held any back)
    playbooks: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (playbook, ((step, due), ...))
    pending: Mapping[str, int]  # rules for_runs held back: rule -> runs held so far
    status: Any = None  # the account's status metric ('lost': kam outcomes' lost while open)
    segment: Any = None  # kam outcomes --by segment


def account_in(result: Result, fired: Sequence[str], pending: Mapping[str, int]) -> AccountIn:
    return AccountIn(str(result["account_id"]), result.get("name"), result.get("owner"), result["risk_level"],
                     tuple(s["id"] for s in result["signals"]), tuple(fired),
                     tuple((p["id"], tuple((s["id"], s["due"]) for s in p["steps"])) for p in result["playbooks"]),
                     pending, _text(result.get("status")), _text(result.get("segment")))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass
class RunInfo:
    """What the store did with a run, for the command's summary."""

    store: Path
    as_of: str
    run_id: int | None  # the recorded run (or the identical one replayed); None in a dry run
    replayed: bool = False
    dry_run: bool = False
    states: Counter[str] = field(default_factory=Counter)  # new, ongoing, escalated, resolved, held...
    pending_rules: int = 0


def run_key(digest: str, as_of: date, input_shas: Sequence[str], sheet: str | None) -> str:
    text = json.dumps({"rules": digest, "as_of": as_of.isoformat(), "inputs": list(input_shas),
                       "sheet": sheet}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class StoreSink:
    """One run's store step. Open it before stage B (it takes the write lock and records the
    run), feed it chunks in input order with `reconcile`, `close` it at the end; `abort`
    rolls everything back."""

    def __init__(self, store: Store, project: Project, as_of: date, inputs: Sequence[Path],
                 sheet: str | None = None):
        self.store, self.project, self.as_of = store, project, as_of
        self.day = as_of.isoformat()
        # plans closed this long ago still send their steps to the calendars as cancelled
        # (engine/render/worklist): a manager who imports every week or two still sees them go
        self.since = (as_of - timedelta(days=CANCELLED_DAYS)).isoformat()
        self.policies = rc.policies_of(project)
        self.for_runs = rc.for_runs_of(project)
        self.levels = [r.id for r in project.risk_levels]
        self.window = max([1] + [n - 1 for n in self.for_runs.values()]
                          + [p.keep_open_runs for p in project.playbooks.values()])
        self.accounts = 0
        inputs = [Path(p) for p in inputs]
        shas = [file_sha256(p) for p in inputs]
        self.key = key = run_key(project.yaml_digest, as_of, shas, sheet)
        self.pending: list[PendingFile] = []  # inputs being compressed (blobs.PendingFile)
        store.begin()
        try:
            self.info = RunInfo(store.path, self.day, None, dry_run=store.dry_run)
            same = store.one("SELECT run_id FROM runs WHERE run_key = ?", (key,))
            if same is not None:
                self.info.run_id, self.info.replayed = same["run_id"], True
            else:
                latest = store.one("SELECT run_id, as_of FROM runs ORDER BY as_of DESC, run_id DESC LIMIT 1")
                if latest is not None and latest["as_of"] > self.day:
                    raise KamError(Problem(str(store.path), 0, 0,
                                           f"the store's latest run (run {latest['run_id']}) is as of "
                                           f"{latest['as_of']}; a run as of {self.day} would go back in time. "
                                           "Plans are reconciled in date order: use --dry-run, or another --store"))
                self.info.run_id = _record_run(store, project, key, self.day, inputs, shas, sheet, self.pending)
            # a second run on the same date: its accounts' earlier rows of that date stop counting
            self.correction = store.one("SELECT 1 FROM runs WHERE as_of = ? AND run_id != ?",
                                        (self.day, self.info.run_id)) is not None
        except BaseException:
            self._cancel()
            store.rollback()
            raise

    @property
    def replayed(self) -> bool:
        return self.info.replayed

    # -- before stage B: what for_runs needs -------------------------------------------------

    def held_back(self, account_ids: Sequence[str]) -> dict[str, Any] | None:
        """For the workers of stage B: {"past": account -> earlier runs} (newest first, enough
        for the longest for_runs), or in a replay {"pending": account -> the pending rules
        recorded}. None when no rule has a for_runs."""
        if not self.for_runs:
            return None
        ids = [str(a) for a in account_ids]
        if self.info.replayed:
            return {"pending": {aid: (o or {}).get("pending") or {} for aid, o in self._stored(ids).items()}}
        need = max(self.for_runs.values()) - 1
        return {"past": histories(self.store, ids, self.day, need)}

    # -- stage C: one chunk, in input order ----------------------------------------------------

    def reconcile(self, accounts: Sequence[AccountIn], moved: Mapping[StepKey, Moved]) -> list[dict[str, Any] | None]:
        """Each account's overlay (None: the store adds nothing but empty lists), the chunk's
        plans and history written. `moved`: the steps capacity scheduling moved (their new
        due dates go into the plans; the marks into the overlay)."""
        self.accounts += len(accounts)
        if self.info.replayed:
            stored = self._stored([a.account_id for a in accounts])
            overlays: list[dict[str, Any] | None] = [stored.get(a.account_id) for a in accounts]
            for a, o in zip(accounts, overlays):
                self._count(a, o)
            return overlays
        ids = [a.account_id for a in accounts]
        plans = live_plans(self.store, ids)
        closed = recently_closed(self.store, ids, self.since)
        need_past = [a.account_id for a in accounts
                     if any(p.status in rc.ACTIVE for p in plans.get(a.account_id, ()))
                     or (self.for_runs and not self.for_runs.keys().isdisjoint(a.fired))]
        pasts = histories(self.store, need_past, self.day, self.window) if need_past else {}
        writer = PlanWriter(self.store, self.info.run_id, self.day)
        overlays = []
        rows: list[tuple[Any, ...]] = []
        run_id, day = self.info.run_id, self.day
        for a in accounts:
            account_plans = plans.get(a.account_id)
            recent = closed.get(a.account_id, ())
            if not a.playbooks and not account_plans:  # most accounts: nothing fires, nothing open
                overlay = ov.build(_NOTHING, {}, a.pending, closed=recent) if (a.pending or recent) else None
                rows.append((run_id, a.account_id, day, a.name, a.owner, a.risk_level, _json(a.signals),
                             _json(sorted(set(a.fired))), "[]", pack(overlay), a.status, a.segment))
                if overlay is not None:
                    self._count(a, overlay)
                overlays.append(overlay)
                continue
            steps, queued = _scheduled(a, moved)
            assigned = [pid for pid, _ in a.playbooks]
            outcome = rc.reconcile(self.as_of, a.risk_level, assigned, account_plans or [],
                                   pasts.get(a.account_id, []), self.policies, self.levels, steps)
            by_id = {p.plan_id: p for p in account_plans} if account_plans else {}
            ids_written = {i: writer.write(a, c, by_id.get(c.plan.plan_id)) for i, c in enumerate(outcome.changes)}
            overlay = ov.build(outcome, ids_written, a.pending, queued, recent, account_plans or ())
            if self.store.dry_run:  # plan ids of a dry run are the in-memory copy's: not real
                overlay = _without_new_ids(overlay, outcome)
            rows.append((run_id, a.account_id, day, a.name, a.owner, a.risk_level, _json(a.signals),
                         _json(sorted(set(a.fired))), _json(sorted(set(assigned))), pack(overlay), a.status,
                         a.segment))
            self._count(a, overlay)
            overlays.append(overlay)
        writer.flush()
        write_account_runs(self.store, rows, self.correction)
        return overlays

    def has_plan(self, account: AccountIn, overlay: Mapping[str, Any] | None) -> bool:
        """Whether the account's final result has a playbook (and so a plan document)."""
        if not overlay:
            return False
        engine = {pid for pid, _ in account.playbooks}
        return any(pid in engine or pid in self.project.playbooks for pid in overlay["plans"])

    def close(self) -> RunInfo:
        """The run's last writes; the caller commits (Store.__exit__)."""
        for f in self.pending:
            f.finish(self.store)
        self.pending = []
        if not self.info.replayed:
            self.store.conn.execute("UPDATE runs SET accounts = ? WHERE run_id = ?", (self.accounts, self.info.run_id))
        if self.store.dry_run and not self.info.replayed:
            self.info.run_id = None  # the in-memory copy's number, not a recorded run
        self.store.last_run = self.info
        return self.info

    def abort(self) -> None:
        self._cancel()
        self.store.rollback()

    def _cancel(self) -> None:
        for f in self.pending:
            f.cancel()
        self.pending = []

    # -- helpers ---------------------------------------------------------------------------

    def _count(self, a: AccountIn, overlay: Mapping[str, Any] | None) -> None:
        if not overlay:
            return
        engine = {pid for pid, _ in a.playbooks}
        states = self.info.states
        states.update(info["state"] for pid, info in overlay["plans"].items()
                      if pid in engine or pid in self.project.playbooks)
        states.update(h["state"] for h in overlay["held"])
        states.update("resolved" for _ in overlay["resolved"])
        self.info.pending_rules += len(overlay.get("pending") or ())

    def _stored(self, ids: Sequence[str]) -> dict[str, Any]:
        """The recorded overlays of the replayed run for these accounts."""
        stored: dict[str, Any] = {}
        for i in range(0, len(ids), 500):
            batch = list(ids[i:i + 500])
            for row in self.store.all(f"SELECT account_id, overlay FROM account_runs WHERE run_id = ? AND "
                                      f"account_id IN ({','.join('?' * len(batch))})",
                                      [self.info.run_id, *batch]):
                stored[row["account_id"]] = unpack(row["overlay"])
        return stored


_NOTHING = rc.Reconciliation((), ())


def _json(ids: Sequence[str]) -> str:
    return orjson.dumps(list(ids)).decode() if ids else "[]"


def run_recorded(info: Mapping[str, Any]) -> bool | None:
    """Whether the store an output folder's marker names (engine/io/writers.py) has recorded
    that run: the decision a killed run's leftovers are finished by. None: no store named."""
    path, key = info.get("store"), info.get("run_key")
    if not isinstance(path, str) or not isinstance(key, str):
        return None
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return False
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT 1 FROM runs WHERE run_key = ?", (key,)).fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def _scheduled(a: AccountIn, moved: Mapping[StepKey, Moved]) -> tuple[dict[str, list[tuple[str, str]]], dict[str, Any]]:
    """Per playbook: (step, due) with capacity scheduling's new dates, and the queued marks."""
    steps: dict[str, list[tuple[str, str]]] = {}
    queued: dict[str, dict[str, Any]] = {}
    for pid, pairs in a.playbooks:
        if moved:
            out = []
            for sid, due in pairs:
                m = moved.get((a.account_id, pid, sid))
                if m is not None:
                    due = m.due
                    queued.setdefault(pid, {})[sid] = {"from": m.original, "week": m.week}
                out.append((sid, due))
            steps[pid] = out
        else:
            steps[pid] = list(pairs)
    return steps, queued


def _record_run(store: Store, project: Project, key: str, day: str, inputs: list[Path], shas: list[str],
                sheet: str | None, pending: list[PendingFile]) -> int:
    """The run's row, its rules and its inputs (those new to the store are compressed in the
    background and appended to `pending`: StoreSink.close stores them)."""
    put_rules(store, project)
    cur = store.conn.execute(
        "INSERT INTO runs (run_key, as_of, recorded, rules_digest, project, sheet) VALUES (?, ?, ?, ?, ?, ?)",
        (key, day, datetime.now(timezone.utc).isoformat(timespec="seconds"), project.yaml_digest,
         project.name, sheet))
    assert cur.lastrowid is not None  # set by the INSERT
    run_id = int(cur.lastrowid)
    for i, (path, sha) in enumerate(zip(inputs, shas)):
        if sha not in {p.sha for p in pending}:  # the same file given twice is stored once
            started = start_file(store, path, sha)
            if started is not None:
                pending.append(started)
        store.conn.execute("INSERT INTO run_inputs (run_id, position, name, sha256) VALUES (?, ?, ?, ?)",
                           (run_id, i, path.name, sha))
    return run_id


def _without_new_ids(overlay: dict[str, Any] | None, outcome: rc.Reconciliation) -> dict[str, Any] | None:
    if overlay is None:
        return None
    new = {c.plan.playbook for c in outcome.changes if c.plan.plan_id is None}
    for pid in new:
        if pid in overlay["plans"]:
            overlay["plans"][pid]["plan_id"] = None
    return overlay
