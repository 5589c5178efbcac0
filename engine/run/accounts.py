"""The account input's shape: the columns a file must have, how one is opened with the
project's columns, header and units, and the rejection record (file, row, field, reason).
engine/run/read.py reads the records with them."""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from ..io.readers import Layout, Table, read_table
from ..project.model import Project


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


def read_input(project: Project, path: Path, sheet: str | None = None, also: Iterable[str] = ()) -> Table:
    """One input, read with the project's columns, header and units; `also`: columns a tool
    needs besides the metrics (kam backtest's snapshot_date), required like them."""
    # a metric that declares its numbers fractions (percent: {fractions: true}) is x100 already
    layout = Layout(required=frozenset([*required_metrics(project), *also]), header_row=project.header_row,
                    percent=frozenset(m.id for m in project.metrics.values() if m.unit == "%" and not m.fractions))
    return read_table(path, project.columns, [*project.metrics, *also], sheet, layout)


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
