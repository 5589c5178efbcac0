"""A whole evaluation run: read -> validate records -> portfolio pass -> rules -> write.

Every input record ends in exactly one of results.jsonl and rejected.jsonl.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import orjson

from .io.writers import AtomicDir
from .model import Project
from .report import write_report
from .pipeline import CHUNK_SIZE, Inline, Processes, run_pipeline
from .progress import Clock, Progress
from . import schedule
from .store import Store, reconcile_run
from .store.plans import booked_steps


@dataclass(frozen=True)
class Gate:
    """The data-quality gate: a run that rejects more than `max_pct` % of its records fails,
    so that a broken export does not pass as a quiet week."""

    read: int
    rejected: int
    max_pct: float
    reason: str | None = None  # the most common reason a record was rejected for
    reason_count: int = 0

    @property
    def pct(self) -> float:
        return 100 * self.rejected / self.read if self.read else 0.0

    @property
    def passed(self) -> bool:
        return self.pct <= self.max_pct

    def summary(self) -> dict[str, Any]:
        return {"rejected_pct": round(self.pct, 2), "max_rejected_pct": self.max_pct, "passed": self.passed,
                "most_common": {"reason": self.reason, "count": self.reason_count} if self.reason else None}


def quality_gate(read: int, rejected: list[dict[str, Any]], max_pct: float) -> Gate:
    """The gate's verdict; the reasons are counted per field and message (`status: 'Активный'
    is not one of active, lost`), so a column the export broke stands out."""
    # totals and subtotal rows of an export (engine/io/totals.py) are no accounts and no sign
    # of a broken export: they count on neither side of the share
    data = [r for r in rejected if not r["reason"].startswith("totals row (")]
    reasons = Counter(f"{e['field']}: {e['reason']}" if e["field"] else e["reason"]
                      for r in data for e in r["errors"])
    top = reasons.most_common(1)
    return Gate(read - (len(rejected) - len(data)), len(data), max_pct, *(top[0] if top else (None, 0)))


@dataclass
class RunReport:
    read: int
    evaluated: int
    rejected: int
    by_risk: Counter
    by_signal: Counter
    by_playbook: Counter
    ignored_columns: dict[str, list[str]]
    out_dir: Path
    gate: Gate
    results: list[dict[str, Any]] = field(default_factory=list)  # only when documents are rendered
    timings: dict[str, float] = field(default_factory=dict)
    documents: int = 0
    totals_rows: int = 0  # of the rejected: totals and subtotal rows of the inputs (engine/io/totals.py)

    def summary(self) -> dict[str, Any]:
        return {"accounts_read": self.read, "evaluated": self.evaluated, "rejected": self.rejected,
                "totals_rows": self.totals_rows,
                "by_risk_level": dict(sorted(self.by_risk.items())),
                "by_signal": dict(sorted(self.by_signal.items(), key=lambda kv: (-kv[1], kv[0]))),
                "by_playbook": dict(sorted(self.by_playbook.items(), key=lambda kv: (-kv[1], kv[0]))),
                "ignored_columns": self.ignored_columns,
                "quality_gate": self.gate.summary(), "documents": self.documents, "timings": self.timings}


def make_executor(project: Project, workers: int = 1, dask: str | None = None) -> Any:
    """Where the chunks run: this process, local worker processes, or a Dask cluster."""
    if dask:
        from .distributed import DaskExecutor
        return DaskExecutor(dask, project)
    if workers > 1:
        return Processes(workers, project)
    return Inline(project)


def evaluate_portfolio(project: Project, inputs: list[Path], out_dir: Path, as_of: date,
                       lang: str | None = None,
                       progress: Progress | None = None,
                       write_documents: Callable[..., None] | None = None,
                       sheet: str | None = None, workers: int = 1, dask: str | None = None,
                       chunk_size: int = CHUNK_SIZE, store: Store | None = None,
                       max_rejected: float | None = None) -> RunReport:
    """Evaluate every account of the inputs and write the output folder atomically.

    Accounts stream through in chunks (see pipeline.py); only documents need the results
    kept in memory, so without them memory stays flat in the number of accounts.

    A run that rejects more than `max_rejected` % of its records (default: the project's)
    fails the quality gate (`report.gate`): its output folder has results.jsonl,
    rejected.jsonl and summary.json but no documents, and the store is left as it was.
    Recorded, a broken export would resolve the plans of every account it lost.

    `progress` hears of every phase (engine/progress.py): read, portfolio, rules, store (with
    a store), documents (`write_documents(..., progress=)` reports its files) and output."""
    lang = lang or project.language
    executor = make_executor(project, workers, dask)
    try:
        with AtomicDir(out_dir) as staging:
            spill = staging / ".spill"
            spill.mkdir()
            out = run_pipeline(project, [Path(p) for p in inputs], staging / "results.jsonl", as_of, lang,
                               executor, spill, keep_results=write_documents is not None, sheet=sheet,
                               progress=progress, chunk_size=chunk_size)
            shutil.rmtree(spill, ignore_errors=True)
            gate = quality_gate(out.read, out.rejected,
                                project.max_rejected if max_rejected is None else max_rejected)
            if gate.passed:
                storing = Clock(progress if store is not None else None, "store", "accounts", out.evaluated)
                moved = _schedule(project, out.demands, as_of, store)
                out.demands = []
                # plans across runs: states into results.jsonl and out.results (engine/store/runs.py)
                out = reconcile_run(store, project, out, staging / "results.jsonl", as_of, inputs, lang, sheet,
                                    moved, storing.tick)
                if store is None and moved:
                    _reschedule(staging / "results.jsonl", out.results, moved)
                out.timings["store"] = round(storing.end(out.evaluated), 3)
            report = RunReport(out.read, out.evaluated, len(out.rejected), out.by_risk, out.by_signal,
                               out.by_playbook, out.ignored_columns, out_dir, gate, out.results, out.timings)
            assert report.evaluated + report.rejected == report.read, "every record is evaluated or rejected"
            report.totals_rows = sum(r["reason"].startswith("totals row (") for r in out.rejected)
            _write_jsonl(staging / "rejected.jsonl", out.rejected)
            if gate.passed and write_documents is not None:
                rendering = Clock(progress, "documents", "files")
                before = _count_files(staging)
                write_documents(project, out.results, staging, lang, progress=rendering.tick)
                write_report(project, out.results, staging, lang)
                report.documents = _count_files(staging) - before
                report.timings["render"] = round(rendering.end(report.documents), 3)
            (staging / "summary.json").write_text(
                json.dumps(report.summary(), ensure_ascii=False, indent=2) + "\n", "utf-8")
            files = _count_files(staging)
            # in place of the previous output, which goes: tens of seconds for many documents
            placing = Clock(progress, "output", "files", files)
        placing.end(files)
    finally:
        executor.close()
    return report


def _schedule(project: Project, demands: list, as_of: date, store: Store | None) -> dict:
    """Steps of roles with a capacity that move to a later week (engine/schedule.py)."""
    if not project.capacity:
        return {}
    owners = {(pid, s.id): s.owner for pid, pb in project.playbooks.items() for s in pb.steps
              if s.owner in project.capacity}
    booked = booked_steps(store, owners) if store is not None else ()
    return schedule.plan(demands, project.capacity, as_of, project.calendar.next_working_day, booked)


def _reschedule(path: Path, results: list[dict[str, Any]], moved: dict) -> None:
    """results.jsonl (and the kept results) with queued steps' new dates; a run without a
    store rewrites only the lines of accounts with a moved step."""
    accounts = {key[0] for key in moved}
    tmp = path.with_name(path.name + ".schedule")
    with path.open("rb") as src, tmp.open("wb") as dst:
        for line in src:
            result = orjson.loads(line)
            if str(result["account_id"]) in accounts:
                line = orjson.dumps(schedule.apply(result, moved)) + b"\n"
            dst.write(line)
    tmp.replace(path)
    for r in results:
        schedule.apply(r, moved)


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n")
