"""A whole evaluation run: read -> validate records -> portfolio pass -> rules -> write.

Every input record ends in exactly one of results.jsonl and rejected.jsonl.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable

from .evaluate import Evaluator
from .io.readers import read_table
from .io.records import normalize
from .io.writers import AtomicDir
from .model import Project
from .portfolio import measure
from .runtime import EngineRuntimeError


@dataclass
class Loaded:
    accepted: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # source,row,values
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    read: int = 0


def _reject(source: str, row: int, account_id: Any, errors: list[tuple[str, str]]) -> dict[str, Any]:
    return {"source": source, "row": row, "account_id": account_id,
            "reason": "; ".join(f"{f}: {r}" if f else r for f, r in errors),
            "errors": [{"field": f, "reason": r} for f, r in errors]}


def load_accounts(project: Project, inputs: Iterable[Path]) -> Loaded:
    """Read and type-check every record of every input; nothing is dropped silently."""
    out = Loaded()
    seen: dict[str, tuple[str, int]] = {}
    known = set(project.metrics)
    for path in inputs:
        table = read_table(Path(path), project.columns)
        unknown = [c for c in table.columns if c and c not in known]
        if unknown:
            out.ignored_columns[table.source] = unknown
        for rec in table.records:
            out.read += 1
            raw_id = rec.cells.get("account_id")
            account_id = (str(raw_id).strip() or None) if raw_id is not None else None
            if rec.extra:
                out.rejected.append(_reject(rec.source, rec.row, account_id,
                                            [("", f"the row has {len(rec.extra)} more cells than the header")
                                             if not rec.extra[0].startswith("malformed") else ("", rec.extra[0])]))
                continue
            values, errors = normalize(project, rec.cells, table.decimal_comma)
            problems = [(e.field, e.reason) for e in errors]
            aid = values.get("account_id")
            if aid is not None and aid in seen and not problems:
                first = seen[aid]
                problems.append(("account_id", f"duplicate account_id '{aid}' "
                                               f"(first at {first[0]} row {first[1]})"))
            if problems:
                out.rejected.append(_reject(rec.source, rec.row, aid if aid is not None else account_id,
                                            problems))
                continue
            seen[aid] = (rec.source, rec.row)
            out.accepted.append((rec.source, rec.row, values))
    return out


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
                       write_documents: Callable[[Project, list[dict], Path, str], None] | None = None
                       ) -> RunReport:
    """Evaluate every account of the inputs and write the output folder atomically."""
    lang = lang or project.language
    loaded = load_accounts(project, inputs)
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
    return report


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n")
