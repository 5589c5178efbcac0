"""Load accounts: read every input and type-check every record against the declared
metrics. Each record is accepted or rejected with its file, row, field and reason."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import KamError, Problem
from .io.readers import RawRecord, Table, read_table
from .io.records import normalize, shown_id
from .model import Project


@dataclass
class Loaded:
    accepted: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # source,row,values
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    read: int = 0


def reject(source: str, row: int, account_id: Any, errors: list[tuple[str | None, str]]) -> dict[str, Any]:
    return {"source": source, "row": row, "account_id": account_id,
            "reason": "; ".join(f"{f}: {r}" if f else r for f, r in errors),
            "errors": [{"field": f, "reason": r} for f, r in errors]}


def required_columns(project: Project, table: Table) -> None:
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
        required_columns(project, table)
        for rec in table.records:
            out.read += 1
            take_record(project, rec, table.decimal_comma, seen, out)
        if table.unknown:
            out.ignored_columns[table.source] = list(dict.fromkeys(table.unknown))
    assert out.read == len(out.accepted) + len(out.rejected), "every record is accepted or rejected"
    return out


def take_record(project: Project, rec: RawRecord, decimal_comma: bool, seen: dict[str, tuple[str, int]],
                out: Loaded) -> None:
    """Type-check one record into `out` (accepted or rejected with its reasons); `seen`
    holds the accepted ids so far, for duplicates."""
    account_id = shown_id(rec.cells.get("account_id"))
    if rec.problem is not None:
        out.rejected.append(reject(rec.source, rec.row, account_id, [(None, rec.problem)]))
        return
    values, errors = normalize(project, rec.cells, decimal_comma)
    problems: list[tuple[str | None, str]] = [(e.field, e.reason) for e in errors]
    aid = values.get("account_id")
    if aid is not None and aid in seen and not problems:
        first = seen[aid]
        problems.append(("account_id", f"duplicate account_id '{aid}' (first at {first[0]} row {first[1]})"))
    if problems:
        out.rejected.append(reject(rec.source, rec.row, aid if aid is not None else account_id, problems))
        return
    seen[aid] = (rec.source, rec.row)
    out.accepted.append((rec.source, rec.row, values))
