"""`kam inspect FILE`: how a file will be read, before any run.

The sheet and header row the reader chose, each column and the metric it maps onto (or why
none), sample values as typed, the rows that would be rejected and why (totals rows among
them), and the required metrics no column covers. It reads the file exactly as a run does
(the same reader, the same per-record checks), so what it says is what a run would do.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

from ..hints import mean, nearest
from ..io.records import normalize
from ..io.table import Columns
from ..io.totals import keyword
from ..project.model import Project
from ..run.accounts import read_input
from ..run.read import read_accounts

SAMPLES = 3  # typed values shown per column
SAMPLE_ROWS = 50  # from the first rows
SHOWN_REJECTED = 20  # rejected rows listed one by one; the rest are counted by reason


@dataclass
class Column:
    position: int  # 1-based, as a person counts columns
    name: str  # as written in the file
    metric: str | None
    how: str  # "name" (the column is named by the metric id) | "columns" (kam.yaml columns:) | ""
    why_not: str = ""  # for a column that maps onto no metric
    samples: list[Any] = field(default_factory=list)

    @property
    def letter(self) -> str:
        """The spreadsheet column letter (A, B, …, AA)."""
        n, out = self.position, ""
        while n:
            n, r = divmod(n - 1, 26)
            out = chr(65 + r) + out
        return out


@dataclass
class Inspection:
    source: str
    sheet: str | None
    header_row: int | None
    header: list[str]
    columns: list[Column]
    uncovered: list[str]  # required metrics no column maps onto
    read: int
    accepted: int
    rejected: list[dict[str, Any]]  # every rejected record (source, row, account_id, reason, errors)
    reasons: Counter[str]  # field: reason kind -> count

    @property
    def totals_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rejected if "totals row" in r["reason"]]


def inspect_file(project: Project, path: Path, sheet: str | None = None) -> Inspection:
    """Read one input as a run would (engine/run/read.py) and say how."""
    table = read_input(project, Path(path), sheet)
    resolver = Columns(project.columns, project.metrics)
    by_metric: dict[str, Column] = {}
    columns: list[Column] = []
    for i, name in enumerate(table.header, start=1):
        metric = resolver.resolve(name)
        how = "" if metric is None else ("name" if resolver.mapping.get(_fold(name)) is None else "columns")
        col = Column(i, name, metric, how, "" if metric else _why_not(project, name))
        columns.append(col)
        if metric is not None:
            by_metric.setdefault(metric, col)
    # samples: each field as typed, where it reads, from the first rows; never from a totals row
    head = list(islice(table.records, SAMPLE_ROWS))
    table.records = chain(head, table.records)
    for rec in head:
        if rec.problem is None and keyword(rec.cells) is None:
            values, _ = normalize(project, rec.cells, table.decimal_comma)
            for metric, col in by_metric.items():
                v = values.get(metric)
                if v is not None and len(col.samples) < SAMPLES:
                    col.samples.append(v)
    # the records' fates as a run has them; a missing required column is reported, not an error
    accepted, rejected = 0, []
    with read_accounts(project, [table], check_header=False) as stream:
        for chunk in stream.chunks():
            accepted += len(chunk.accepted)
            rejected += [r.as_dict() for r in chunk.rejected]
    uncovered = [m.id for m in project.metrics.values()
                 if m.required and m.default is None and not m.derived and m.id not in by_metric
                 and table.header_row is not None]
    reasons = Counter(_kind(e) for r in rejected for e in r["errors"])
    return Inspection(table.source, table.sheet, table.header_row, list(table.header),
                      columns, uncovered, stream.read, accepted, rejected, reasons)


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def _why_not(project: Project, name: str) -> str:
    """Why a column is ignored, with the nearest metric ids when the name looks like one."""
    options = sorted(project.metrics)
    near = nearest(_fold(name).replace(" ", "_"), options, n=2)
    hint = f"; {mean(near)}" if near else ""
    return f"no metric is named so, and kam.yaml columns: does not map it{hint}"


def _kind(error: dict[str, Any]) -> str:
    """A reason without the value that caused it, to count alike rejections together."""
    reason = error["reason"]
    for cut in (": '", " '", ": "):
        if cut in reason:
            reason = reason.split(cut, 1)[0]
            break
    return f"{error['field']}: {reason}" if error.get("field") else reason


def as_json(ins: Inspection) -> dict[str, Any]:
    return {"source": ins.source, "sheet": ins.sheet, "header_row": ins.header_row,
            "columns": [{"position": c.position, "letter": c.letter, "name": c.name, "metric": c.metric,
                         "mapped_by": c.how or None, "why_not": c.why_not or None,
                         "samples": [_plain(v) for v in c.samples]} for c in ins.columns],
            "required_not_covered": ins.uncovered, "records": ins.read, "would_evaluate": ins.accepted,
            "would_reject": len(ins.rejected), "totals_rows": [r["row"] for r in ins.totals_rows],
            "rejected": ins.rejected, "reasons": dict(ins.reasons.most_common())}


def _plain(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def text_lines(ins: Inspection) -> list[str]:
    where = f"sheet '{ins.sheet}', " if ins.sheet else ""
    if ins.header_row is None:
        head = f"{ins.source}: {where}no header row (each record names its fields)"
    else:
        skipped = f" (rows 1–{ins.header_row - 1} above it skipped)" if ins.header_row > 1 else ""
        head = f"{ins.source}: {where}header on row {ins.header_row}{skipped}"
    lines = [head, "", "Columns:"]
    width = max([len(c.name) for c in ins.columns] + [4])
    for c in ins.columns:
        if c.metric:
            by = " (kam.yaml columns:)" if c.how == "columns" else ""
            samples = "; ".join(_show(v) for v in c.samples) or "no value that reads in the first rows"
            lines.append(f"  {c.letter:>3}  {c.name:<{width}}  → {c.metric}{by}: {samples}")
        else:
            lines.append(f"  {c.letter:>3}  {c.name:<{width}}  ignored: {c.why_not}")
    lines.append("")
    if ins.uncovered:
        lines.append("Required metrics no column covers: " + ", ".join(ins.uncovered)
                     + " (map a column onto each with columns: in kam.yaml)")
    else:
        lines.append("Every required metric has a column.")
    lines.append(f"Records: {ins.read}; {ins.accepted} would be evaluated, {len(ins.rejected)} rejected"
                 + (f" (totals rows among them: {len(ins.totals_rows)})" if ins.totals_rows else ""))
    for r in ins.rejected[:SHOWN_REJECTED]:
        who = f" ({r['account_id']})" if r.get("account_id") else ""
        lines.append(f"  row {r['row']}{who}: {r['reason']}")
    if len(ins.rejected) > SHOWN_REJECTED:
        lines.append(f"  … {len(ins.rejected) - SHOWN_REJECTED} more; by reason:")
        for reason, n in ins.reasons.most_common(10):
            lines.append(f"    {n} × {reason}")
    return lines


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}" if abs(v) < 1e6 else f"{v:,.2f}"
    return repr(v) if isinstance(v, str) else str(v)
