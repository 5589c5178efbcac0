"""Load accounts: read every input and type-check every record against the declared
metrics. Each record is accepted or rejected with its file, row, field and reason."""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import KamError, Problem
from .io.readers import Layout, RawRecord, Table, read_table
from .io.records import normalize, shown_id
from .io.totals import Sums, Tally, keyword, no_id, replay
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


def required_metrics(project: Project) -> list[str]:
    """The metrics every record must have a column for (a header must give them)."""
    return [m.id for m in project.metrics.values() if m.required and m.default is None and not m.derived]


def money_metrics(project: Project) -> list[str]:
    """The money columns of a file, that a totals row sums (engine/io/totals.py)."""
    return [m.id for m in project.metrics.values() if m.unit == "money" and not m.derived]


def read_input(project: Project, path: Path, sheet: str | None = None) -> Table:
    """One input, read with the project's columns, header and units."""
    # a metric that declares its numbers fractions (percent: {fractions: true}) is x100 already
    layout = Layout(required=frozenset(required_metrics(project)), header_row=project.header_row,
                    percent=frozenset(m.id for m in project.metrics.values() if m.unit == "%" and not m.fractions))
    return read_table(path, project.columns, project.metrics, sheet, layout)


def relabel(rejected: Iterable[dict[str, Any]], source: str, totals: dict[int, str]) -> None:
    """Rejected rows without an id that the sums show to be totals rows say so."""
    if not totals:
        return
    for r in rejected:
        reason = totals.get(r["row"]) if r["source"] == source else None
        if reason is not None:
            r["reason"], r["errors"] = reason, [{"field": None, "reason": reason}]


def required_columns(project: Project, table: Table) -> None:
    """A file whose header lacks a required column is a file error, not N rejections."""
    if table.header_row is None:
        return  # JSON Lines: no header; each record is checked on its own
    for mid in required_metrics(project):
        if mid not in table.columns:
            near = difflib.get_close_matches(mid, table.header, n=1, cutoff=0.5)
            hint = f" (is it '{near[0]}'?" if near else " ("
            raise KamError(Problem(table.source, table.header_row, 0,
                                   f"no column for the required metric '{mid}'{hint} map a column onto "
                                   f"it with `columns:` in kam.yaml)"))


def load_accounts(project: Project, inputs: Iterable[Path], sheet: str | None = None) -> Loaded:
    """Read and type-check every record of every input; nothing is dropped silently:
    each record is accepted or rejected with its file, row, field and reason."""
    inputs = [Path(p) for p in inputs]
    out = Loaded()
    seen: dict[str, tuple[str, int]] = {}
    for path in inputs:
        table = read_input(project, path, sheet)
        required_columns(project, table)
        tally = Tally(money_metrics(project))
        for rec in table.records:
            out.read += 1
            take_record(project, rec, table.decimal_comma, seen, out, tally)
        relabel(out.rejected, table.source, replay(tally.done(), Sums(tally.money)))
        if table.unknown:
            out.ignored_columns[table.source] = list(dict.fromkeys(table.unknown))
    assert out.read == len(out.accepted) + len(out.rejected), "every record is accepted or rejected"
    return out


def take_record(project: Project, rec: RawRecord, decimal_comma: bool, seen: dict[str, tuple[str, int]],
                out: Loaded, tally: Tally | None = None) -> None:
    """Type-check one record into `out` (accepted or rejected with its reasons); `seen`
    holds the accepted ids so far, for duplicates; `tally`, the file's rows for the sums
    rule of totals rows (engine/io/totals.py: then `relabel` after the file)."""
    account_id = shown_id(rec.cells.get("account_id"))
    words = keyword(rec.cells)
    if words is not None:
        out.rejected.append(reject(rec.source, rec.row, account_id, [(None, words)]))
        if tally is not None:
            tally.words()
        return
    if rec.problem is not None:
        out.rejected.append(reject(rec.source, rec.row, account_id, [(None, rec.problem)]))
        return
    values, errors = normalize(project, rec.cells, decimal_comma)
    if tally is not None:
        (tally.no_id if no_id(rec.cells) else tally.row)(rec.row, values)
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
