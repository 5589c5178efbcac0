"""Why an account got its result, worked out again: `kam explain ACCOUNT_ID INPUT...` with the
project's rules as of a date, and `kam explain ACCOUNT_ID --run RUN_ID` with a recorded run's
rules and input, taken from the store.

For a recorded run the store keeps the project files and input files, so the run is rebuilt
in a temporary folder: the project is loaded from its stored YAML, the inputs are read and
the portfolio pass is made exactly as then, and the account is evaluated as of the run's
date (without the rules `for_runs` held back in that run). This module is a tool above the
store: it reads the store; nothing in engine/plans/store/ imports evaluation.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import KamError
from ..plans.store.blobs import extract_rules, get_blob
from ..plans.store.db import Store
from ..plans.store.plans import unpack
from ..project.checks import chain_levels
from ..project.load import load_project
from ..project.model import Project
from ..rules.evaluate import Evaluator
from ..run.read import Accepted, Rejected, read_accounts
from .explain import explain


def find_account(project: Project, inputs: Sequence[Path], account_id: str,
                 sheet: str | None = None) -> Accepted | Rejected | None:
    """The account's accepted record; else its first rejection; None when no record has its
    id. Reading cannot stop before the end of the input: duplicate ids and the portfolio pass
    (shares, ABC) need every record, so the first chunk comes only once all are read. It
    stops at the chunk that holds the accepted account: the chunks after it are not loaded
    back nor measured. A rejection does not stop it, as a later row may be accepted."""
    rejected: Rejected | None = None
    with read_accounts(project, inputs, sheet) as stream:
        for record in stream:
            if record.account_id != account_id:
                continue
            if isinstance(record, Accepted):
                return record
            if rejected is None:
                rejected = record
    return rejected


def explained(project: Project, values: dict[str, Any], as_of: date) -> list[str]:
    """The account evaluated with the project's rules, and the lines that say why."""
    evaluator = Evaluator(project, as_of, project.language)
    try:
        result = evaluator.evaluate(values)
    finally:
        evaluator.close()
    return explain(project, values, result, chain_levels(project))


def explain_inputs(project: Project, account_id: str, inputs: Sequence[str | Path], as_of: date) -> list[str]:
    """`kam explain ACCOUNT_ID INPUT...`: the inputs as the user named them (messages show them so)."""
    found = find_account(project, [Path(i) for i in inputs], account_id)
    if isinstance(found, Rejected):
        raise KamError(f"account '{account_id}' was rejected: {found.source} row {found.row}: {found.reason}")
    if found is None:
        raise KamError(f"no account '{account_id}' in {', '.join(str(i) for i in inputs)}")
    return explained(project, found.values, as_of)


def find_run(store: Store, ref: str) -> int:
    if ref == "latest":
        row = store.one("SELECT max(run_id) AS n FROM runs")
        if row["n"] is None:
            raise KamError(f"no run recorded in {store.path}")
        return int(row["n"])
    try:
        return int(ref)
    except ValueError:
        raise KamError(f"--run: expected a run number or 'latest', got {ref!r}") from None


def explain_run(store: Store, account_id: str, ref: str) -> list[str]:
    """`kam explain ACCOUNT_ID --run RUN_ID`: the account's result in a recorded run, explained."""
    run_id = find_run(store, ref)
    run = store.one("SELECT * FROM runs WHERE run_id = ?", (run_id,))
    if run is None:
        raise KamError(f"no run {run_id} in {store.path} (see `kam history ACCOUNT_ID`)")
    row = store.one("SELECT * FROM account_runs WHERE run_id = ? AND account_id = ?", (run_id, account_id))
    if row is None:
        raise KamError(f"account '{account_id}' was not evaluated in run {run_id} (absent or rejected)")
    overlay = unpack(row["overlay"]) or {}
    held_back = sorted(overlay.get("pending") or {})
    inputs = store.all("SELECT name, sha256 FROM run_inputs WHERE run_id = ? ORDER BY position", (run_id,))
    with tempfile.TemporaryDirectory(prefix="kam-run-") as tmp:
        folder = extract_rules(store, run["rules_digest"], Path(tmp) / "project")
        paths = []
        for i, inp in enumerate(inputs):
            target = Path(tmp) / "inputs" / str(i) / Path(inp["name"]).name  # the name keeps the format
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(get_blob(store, inp["sha256"]))
            paths.append(target)
        project = load_project(folder, Path(f"run-{run_id}"))
        found = find_account(project, paths, account_id, run["sheet"])
        if not isinstance(found, Accepted):
            raise KamError(f"account '{account_id}' is not in the stored input of run {run_id}")
        evaluated = replace(project, rules=tuple(r for r in project.rules if r.id not in held_back))
        lines = [f"Run {run_id} as of {run['as_of']} (recorded {run['recorded']}; rules version "
                 f"{run['rules_digest']}; input {', '.join(i['name'] for i in inputs)})"]
        for rid, n in sorted((overlay.get("pending") or {}).items()):
            need = next((r.for_runs for r in project.rules if r.id == rid), n + 1)
            lines.append(f"Held back by for_runs: {rid} held {n} of {need} runs; explained without it")
        lines += explained(evaluated, found.values, date.fromisoformat(run["as_of"]))
    plans = overlay.get("plans") or {}
    if plans or overlay.get("resolved") or overlay.get("held"):
        lines += ["", "Plans in this run:"]
        for pid, p in sorted(plans.items()):
            kept = ", kept open after its trigger cleared" if p.get("kept_open") else ""
            lines.append(f"  plan {p['plan_id']} {pid}: {p['state']} (opened {p['opened']}{kept})")
        for h in overlay.get("held") or []:
            lines.append(f"  plan {h['plan_id']} {h['playbook']}: {h['state']} until {h['until']}")
        for r in overlay.get("resolved") or []:
            lines.append(f"  plan {r['plan_id']} {r['playbook']}: resolved (opened {r['opened']})")
    return lines
