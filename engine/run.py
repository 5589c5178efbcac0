"""A whole evaluation run: read -> validate records -> portfolio pass -> rules -> write.

Every input record ends in exactly one of results.jsonl and rejected.jsonl.
"""
from __future__ import annotations

import difflib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable

from .evaluate import Evaluator
from .errors import KamError, Problem
from .io.readers import RawRecord, Table, read_table
from .io.records import normalize, shown_id
from .io.writers import AtomicDir
from .model import Project
from .portfolio import measure
from .report import write_report
from .runtime import EngineRuntimeError


@dataclass
class Loaded:
    accepted: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # source,row,values
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    read: int = 0


def _reject(source: str, row: int, account_id: Any, errors: list[tuple[str | None, str]]) -> dict[str, Any]:
    return {"source": source, "row": row, "account_id": account_id,
            "reason": "; ".join(f"{f}: {r}" if f else r for f, r in errors),
            "errors": [{"field": f, "reason": r} for f, r in errors]}


def _required_columns(project: Project, table: Table) -> None:
    """A file whose header lacks a required column is a file error, not N rejections."""
    if table.header_row is None:
        return  # JSON Lines: no header; each record is checked on its own
    for m in project.metrics.values():
        if m.required and m.default is None and not m.derived and m.id not in table.columns:
            near = difflib.get_close_matches(m.id, table.header, n=1, cutoff=0.5)
            hint = f" (is it '{near[0]}'?" if near else " ("
            raise KamError(Problem(table.source, table.header_row, 0,
                                   f"no column for the required metric '{m.id}'{hint} map a column onto "
                                   f"it with `columns:` in kam.yaml)"))


def load_accounts(project: Project, inputs: Iterable[Path], sheet: str | None = None) -> Loaded:
    """Read and type-check every record of every input; nothing is dropped silently:
    each record is accepted or rejected with its file, row, field and reason."""
    inputs = [Path(p) for p in inputs]
    out = Loaded()
    seen: dict[str, tuple[str, int]] = {}
    for path in inputs:
        table = read_table(path, project.columns, project.metrics, sheet)
        _required_columns(project, table)
        for rec in table.records:
            out.read += 1
            _take(project, rec, table.decimal_comma, seen, out)
        if table.unknown:
            out.ignored_columns[table.source] = list(dict.fromkeys(table.unknown))
    assert out.read == len(out.accepted) + len(out.rejected), "every record is accepted or rejected"
    return out


def _take(project: Project, rec: RawRecord, decimal_comma: bool, seen: dict[str, tuple[str, int]],
          out: Loaded) -> None:
    account_id = shown_id(rec.cells.get("account_id"))
    if rec.problem is not None:
        out.rejected.append(_reject(rec.source, rec.row, account_id, [(None, rec.problem)]))
        return
    values, errors = normalize(project, rec.cells, decimal_comma)
    problems: list[tuple[str | None, str]] = [(e.field, e.reason) for e in errors]
    aid = values.get("account_id")
    if aid is not None and aid in seen and not problems:
        first = seen[aid]
        problems.append(("account_id", f"duplicate account_id '{aid}' (first at {first[0]} row {first[1]})"))
    if problems:
        out.rejected.append(_reject(rec.source, rec.row, aid if aid is not None else account_id, problems))
        return
    seen[aid] = (rec.source, rec.row)
    out.accepted.append((rec.source, rec.row, values))


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
    results: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"accounts_read": self.read, "evaluated": self.evaluated, "rejected": self.rejected,
                "by_risk_level": dict(sorted(self.by_risk.items())),
                "by_signal": dict(sorted(self.by_signal.items(), key=lambda kv: (-kv[1], kv[0]))),
                "by_playbook": dict(sorted(self.by_playbook.items(), key=lambda kv: (-kv[1], kv[0]))),
                "ignored_columns": self.ignored_columns}


def evaluate_portfolio(project: Project, inputs: list[Path], out_dir: Path, as_of: date,
                       lang: str | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       write_documents: Callable[[Project, list[dict], Path, str], None] | None = None,
                       sheet: str | None = None) -> RunReport:
    """Evaluate every account of the inputs and write the output folder atomically."""
    lang = lang or project.language
    loaded = load_accounts(project, inputs, sheet)
    measure(project, [v for _, _, v in loaded.accepted])
    evaluator = Evaluator(project, as_of, lang)
    results: list[dict[str, Any]] = []
    rejected = list(loaded.rejected)
    try:
        total = len(loaded.accepted)
        for i, (source, row, values) in enumerate(loaded.accepted, start=1):
            try:
                results.append(evaluator.evaluate(values))
            except EngineRuntimeError as exc:
                rejected.append(_reject(source, row, values.get("account_id"), [("", str(exc))]))
            if progress is not None:
                progress(i, total)
    finally:
        evaluator.close()
    rejected.sort(key=lambda r: (r["source"], r["row"]))
    report = RunReport(loaded.read, len(results), len(rejected),
                       Counter(r["risk_level"] for r in results),
                       Counter(s["id"] for r in results for s in r["signals"]),
                       Counter(p["id"] for r in results for p in r["playbooks"]),
                       loaded.ignored_columns, out_dir, results)
    assert report.evaluated + report.rejected == report.read, "every record is evaluated or rejected"
    with AtomicDir(out_dir) as staging:
        _write_jsonl(staging / "results.jsonl", results)
        _write_jsonl(staging / "rejected.jsonl", rejected)
        (staging / "summary.json").write_text(
            json.dumps(report.summary(), ensure_ascii=False, indent=2) + "\n", "utf-8")
        if write_documents is not None:
            write_documents(project, results, staging, lang)
            write_report(project, results, staging, lang)
    return report


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n")
