"""The store step of a run: after every account is evaluated, before documents are written.

`reconcile_run` records the run (its rules version, its input files, each account's risk,
signals and plans), reconciles every account with its plans (engine/reconcile.py), applies
`for_runs`, and rewrites results.jsonl with each plan's state. All in the store's one write
transaction, which the caller commits once the output folder is in place (Store.__exit__).

Same input twice: a run whose key (rules version, as-of date, input contents, sheet) is already
recorded is not recorded again; its stored overlays are applied instead, so the output is the
recorded run's and the store does not change.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from ..errors import KamError, Problem
from ..model import Project
from .. import reconcile as rc
from .. import schedule
from ..schedule import Moved, StepKey
from . import overlay as ov
from .blobs import file_sha256, put_file, put_rules
from .db import Store
from .plans import PlanWriter, account_row, history, live_plans, unpack, write_account_runs

CHUNK = 2000  # accounts reconciled (and written) at a time: memory stays flat


class Output(Protocol):
    """What the pipeline hands over (engine.pipeline.PipelineOutput)."""

    results: list[dict[str, Any]]
    by_risk: Counter
    by_signal: Counter
    by_playbook: Counter


@dataclass
class RunInfo:
    """What the store did with a run, for the command's summary."""

    store: Path
    as_of: str
    run_id: int | None  # the recorded run (or the identical one replayed); None in a dry run
    replayed: bool = False
    dry_run: bool = False
    states: Counter = field(default_factory=Counter)  # new, ongoing, escalated, resolved, held...
    pending_rules: int = 0


def run_key(digest: str, as_of: date, input_shas: Sequence[str], sheet: str | None) -> str:
    text = json.dumps({"rules": digest, "as_of": as_of.isoformat(), "inputs": list(input_shas),
                       "sheet": sheet}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def reconcile_run(store: Store | None, project: Project, out: Output, results_path: Path, as_of: date,
                  inputs: Sequence[Path], lang: str | None = None, sheet: str | None = None,
                  moved: Mapping[StepKey, Moved] | None = None,
                  progress: Callable[[int], None] | None = None) -> Output:
    """Record the run and give every result its plans' states (results.jsonl rewritten,
    `out.results` and the counters updated), queued steps their scheduled dates (`moved`)
    before the store fixes them; `progress` hears the accounts done after each chunk.
    Without a store: nothing happens."""
    if store is None:
        return out
    try:
        return _reconcile(store, project, out, Path(results_path), as_of, [Path(p) for p in inputs],
                          lang or project.language, sheet, moved or {}, progress)
    except BaseException:
        store.rollback()
        raise


def _reconcile(store: Store, project: Project, out: Output, results_path: Path, as_of: date,
               inputs: list[Path], lang: str, sheet: str | None, moved: Mapping[StepKey, Moved],
               progress: Callable[[int], None] | None) -> Output:
    day = as_of.isoformat()
    shas = [file_sha256(p) for p in inputs]
    key = run_key(project.yaml_digest, as_of, shas, sheet)
    store.begin()
    info = RunInfo(store.path, day, None, dry_run=store.dry_run)
    same = store.one("SELECT run_id FROM runs WHERE run_key = ?", (key,))
    if same is not None:
        info.run_id, info.replayed = same["run_id"], True
    else:
        latest = store.one("SELECT run_id, as_of FROM runs ORDER BY as_of DESC, run_id DESC LIMIT 1")
        if latest is not None and latest["as_of"] > day:
            raise KamError(Problem(str(store.path), 0, 0,
                                   f"the store's latest run (run {latest['run_id']}) is as of {latest['as_of']}; "
                                   f"a run as of {day} would go back in time. Plans are reconciled in date "
                                   "order: use --dry-run, or another --store"))
        info.run_id = _record_run(store, project, key, day, inputs, shas, sheet)
    job = _Job(store, project, as_of, inputs, lang, sheet, info, moved)
    try:
        _rewrite(results_path, out, job, progress)
    finally:
        job.close()
    if not info.replayed:
        store.conn.execute("UPDATE runs SET accounts = ? WHERE run_id = ?", (job.accounts, info.run_id))
    if store.dry_run and not info.replayed:
        info.run_id = None  # the in-memory copy's number, not a recorded run
    store.last_run = info
    return out


def _record_run(store: Store, project: Project, key: str, day: str, inputs: list[Path], shas: list[str],
                sheet: str | None) -> int:
    put_rules(store, project)
    cur = store.conn.execute(
        "INSERT INTO runs (run_key, as_of, recorded, rules_digest, project, sheet) VALUES (?, ?, ?, ?, ?, ?)",
        (key, day, datetime.now(timezone.utc).isoformat(timespec="seconds"), project.yaml_digest,
         project.name, sheet))
    run_id = int(cur.lastrowid)
    for i, (path, sha) in enumerate(zip(inputs, shas)):
        put_file(store, path, sha)
        store.conn.execute("INSERT INTO run_inputs (run_id, position, name, sha256) VALUES (?, ?, ?, ?)",
                           (run_id, i, path.name, sha))
    return run_id


def _chunks(path: Path) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    with path.open(encoding="utf-8") as f:
        chunk: list[tuple[str, dict[str, Any]]] = []
        for line in f:
            if line.strip():
                chunk.append((line, json.loads(line)))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _rewrite(results_path: Path, out: Output, job: "_Job", progress: Callable[[int], None] | None) -> None:
    """results.jsonl through the store step, chunk by chunk, into a new file swapped in at the end."""
    keep = bool(out.results)
    final: list[dict[str, Any]] = []
    counts = (Counter(), Counter(), Counter())
    tmp = results_path.with_name(results_path.name + ".store")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for chunk in _chunks(results_path):
                for r, line in job.process(chunk):
                    f.write(line)
                    counts[0][r["risk_level"]] += 1
                    counts[1].update(s["id"] for s in r["signals"])
                    counts[2].update(p["id"] for p in r["playbooks"])
                    if keep:
                        final.append(r)
                if progress is not None:
                    progress(job.accounts)
        os.replace(tmp, results_path)
    finally:
        tmp.unlink(missing_ok=True)
    out.by_risk, out.by_signal, out.by_playbook = counts
    if keep:
        out.results[:] = final


class _Job:
    """One run's reconciliation: the project's policies, lazily the accounts' values (only for
    re-evaluations), and an evaluator per set of rules for_runs holds back."""

    def __init__(self, store: Store, project: Project, as_of: date, inputs: list[Path], lang: str,
                 sheet: str | None, info: RunInfo, moved: Mapping[StepKey, Moved]):
        self.store, self.project, self.as_of, self.inputs = store, project, as_of, inputs
        self.moved = moved
        self.lang, self.sheet, self.info = lang, sheet, info
        self.day = as_of.isoformat()
        self.policies = rc.policies_of(project)
        self.for_runs = rc.for_runs_of(project)
        self.levels = [r.id for r in project.risk_levels]
        self.window = max([1] + [n - 1 for n in self.for_runs.values()]
                          + [p.keep_open_runs for p in project.playbooks.values()])
        self._values: dict[str, dict[str, Any]] | None = None
        self._evaluators: dict[frozenset[str], Any] = {}
        self.accounts = 0
        # a second run on the same date: its accounts' earlier rows of that date stop counting
        self.correction = store.one("SELECT 1 FROM runs WHERE as_of = ? AND run_id != ?",
                                    (self.day, info.run_id)) is not None

    def close(self) -> None:
        for ev in self._evaluators.values():
            ev.close()
        self._evaluators.clear()

    # -- per chunk -------------------------------------------------------------------------

    def process(self, chunk: list[tuple[str, dict[str, Any]]]) -> list[tuple[dict[str, Any], str]]:
        """(line, result) of results.jsonl -> (result, line) as the run reports them."""
        self.accounts += len(chunk)
        if self.info.replayed:
            return self._replay(chunk)
        ids = [r["account_id"] for _, r in chunk]
        plans = live_plans(self.store, ids)
        writer = PlanWriter(self.store, self.info.run_id, self.day)
        done: list[tuple[dict[str, Any], str]] = []
        rows: list[tuple] = []
        for line, r in chunk:
            aid = r["account_id"]
            fired = [f["rule"] for f in r["fired"]]
            # the past matters for live plans (escalation, keep_open_runs) and for_runs rules only
            live = any(p.status in rc.ACTIVE for p in plans.get(aid, ()))
            held = bool(self.for_runs) and not self.for_runs.keys().isdisjoint(fired)
            past = history(self.store, aid, self.day, self.window) if live or held else []
            pending = rc.pending_rules(self.for_runs, fired, past) if held else {}
            if pending:
                r = self._evaluate(aid, frozenset(pending))
            schedule.apply(r, self.moved)
            assigned = [p["id"] for p in r["playbooks"]]
            outcome = rc.reconcile(self.as_of, r["risk_level"], assigned, plans.get(aid, []), past,
                                   self.policies, self.levels,
                                   {p["id"]: [(s["id"], s["due"]) for s in p["steps"]] for p in r["playbooks"]})
            ids_written = {i: writer.write(r, c) for i, c in enumerate(outcome.changes)}
            overlay = ov.build(outcome, ids_written, pending, _queued(r))
            if self.store.dry_run:  # plan ids of a dry run are the in-memory copy's: not real
                overlay = _without_new_ids(overlay, outcome)
            final = ov.apply(self.project, r, overlay, self.lang)
            rows.append(account_row(self.info.run_id, self.day, final, fired, assigned, overlay))
            self._count(final, outcome, pending)
            done.append((final, _line(line, final, overlay)))
        writer.flush()
        write_account_runs(self.store, rows, self.correction)
        return done

    def _replay(self, chunk: list[tuple[str, dict[str, Any]]]) -> list[tuple[dict[str, Any], str]]:
        ids = [r["account_id"] for _, r in chunk]
        stored: dict[str, Any] = {}
        for i in range(0, len(ids), 500):
            batch = ids[i:i + 500]
            for row in self.store.all(f"SELECT account_id, overlay FROM account_runs WHERE run_id = ? AND "
                                      f"account_id IN ({','.join('?' * len(batch))})",
                                      [self.info.run_id, *batch]):
                stored[row["account_id"]] = unpack(row["overlay"])
        done = []
        for line, r in chunk:
            overlay = stored.get(r["account_id"])
            pending = (overlay or {}).get("pending") or {}
            if pending:
                r = self._evaluate(r["account_id"], frozenset(pending))
            final = ov.apply(self.project, r, overlay, self.lang)  # queued steps come with the overlay
            self.info.states.update(p["state"] for p in final["playbooks"])
            self.info.states.update(h["state"] for h in final["held_plans"])
            self.info.states.update("resolved" for _ in final["resolved_plans"])
            self.info.pending_rules += len(pending)
            done.append((final, _line(line, final, overlay)))
        return done

    def _count(self, final: dict[str, Any], outcome: rc.Outcome, pending: dict[str, int]) -> None:
        self.info.states.update(p["state"] for p in final["playbooks"])
        self.info.states.update(h.state for h in outcome.held)
        self.info.states.update("resolved" for _ in outcome.resolved)
        self.info.pending_rules += len(pending)

    # -- for_runs: evaluate again without the rules that have not held long enough -----------

    def _evaluate(self, account_id: str, held_back: frozenset[str]) -> dict[str, Any]:
        from ..evaluate import Evaluator
        values = self._account_values().get(account_id)
        if values is None:
            raise KamError(Problem(str(self.inputs[0]), 0, 0, f"account '{account_id}' changed while the "
                                                              "run read its input; run again"))
        ev = self._evaluators.get(held_back)
        if ev is None:
            variant = replace(self.project, rules=tuple(r for r in self.project.rules if r.id not in held_back))
            ev = self._evaluators[held_back] = Evaluator(variant, self.as_of, self.lang)
        return ev.evaluate(dict(values))

    def _account_values(self) -> dict[str, dict[str, Any]]:
        """Every accepted account's values after the portfolio pass, as the run saw them: read
        again (only when some for_runs rule holds back an account)."""
        if self._values is None:
            from ..portfolio import measure
            from ..accounts import load_accounts
            loaded = load_accounts(self.project, self.inputs, self.sheet)
            accepted = [v for _, _, v in loaded.accepted]
            measure(self.project, accepted)
            self._values = {v["account_id"]: v for v in accepted}
        return self._values


def _queued(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The steps this run queued for capacity, per playbook: kept with the overlay, so an
    identical re-run shows them queued too."""
    out = {}
    for p in result["playbooks"]:
        steps = {s["id"]: s["queued"] for s in p["steps"] if "queued" in s}
        if steps:
            out[p["id"]] = steps
    return out


_NOTHING = ', "held_plans": [], "resolved_plans": [], "pending_rules": []}\n'


def _line(line: str, final: dict[str, Any], overlay: dict[str, Any] | None) -> str:
    """The result's line: most accounts have no plan, and their line only gains empty lists."""
    text = line.rstrip()
    if overlay is None and not final["playbooks"] and text.endswith("}") and text != "{}":
        return text[:-1] + _NOTHING
    return json.dumps(final, ensure_ascii=False) + "\n"


def _without_new_ids(overlay: dict[str, Any] | None, outcome: rc.Outcome) -> dict[str, Any] | None:
    if overlay is None:
        return None
    new = {c.plan.playbook for c in outcome.changes if c.plan.plan_id is None}
    for pid in new:
        if pid in overlay["plans"]:
            overlay["plans"][pid]["plan_id"] = None
    return overlay
