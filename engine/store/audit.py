"""`kam explain ACCOUNT_ID --run RUN_ID`: a past result explained with the rules of its run.

The store keeps each run's project files and input files, so the run is rebuilt in a
temporary folder: the project is loaded from its stored YAML, the inputs are read and the
portfolio pass is made exactly as then, and the account is evaluated as of the run's date
(without the rules `for_runs` held back in that run)."""
from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

from ..errors import KamError
from .blobs import extract_rules, get_blob
from .db import Store
from .plans import unpack


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
    from ..accounts import load_accounts
    from ..analysis import chain_levels
    from ..evaluate import Evaluator
    from ..explain import explain
    from ..portfolio import measure
    from ..project import load_project

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
        loaded = load_accounts(project, paths, run["sheet"])
        accepted = [v for _, _, v in loaded.accepted]
        measure(project, accepted)
        values = next((v for v in accepted if v.get("account_id") == account_id), None)
        if values is None:
            raise KamError(f"account '{account_id}' is not in the stored input of run {run_id}")
        evaluated = replace(project, rules=tuple(r for r in project.rules if r.id not in held_back))
        evaluator = Evaluator(evaluated, date.fromisoformat(run["as_of"]), project.language)
        try:
            result = evaluator.evaluate(values)
        finally:
            evaluator.close()
        lines = [f"Run {run_id} as of {run['as_of']} (recorded {run['recorded']}; rules version "
                 f"{run['rules_digest']}; input {', '.join(i['name'] for i in inputs)})"]
        for rid, n in sorted((overlay.get("pending") or {}).items()):
            need = next((r.for_runs for r in project.rules if r.id == rid), n + 1)
            lines.append(f"Held back by for_runs: {rid} held {n} of {need} runs; explained without it")
        lines += explain(evaluated, values, result, chain_levels(evaluated))
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
