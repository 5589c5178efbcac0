"""Where the header of a sheet or CSV file is, and what its columns are called.

Exports made for people start with titles, export dates and blank rows, and group columns
under two-row headers. The header is the first of the first 20 rows whose column names give
every required metric (kam.yaml's `columns:` applied), or the row kam.yaml's `header_row: N`
names; rows above it are skipped. Without required metrics to look for, or when no row gives
them all, it is the first non-blank row (and a missing required column is then the error).

A row right below the header is a sub-header, joined onto it, when every non-empty cell in it
is text that is not a number and names no metric, and sits under a group of the row above: a
merged range of two or more columns, or a name followed by empty, unmerged cells (the group
runs up to the next name). A column under a group is named "Group / sub" ("Выручка, руб. /
текущий период"); one whose sub-header cell is empty keeps the group's name. A sub-header
may have a sub-header of its own ("Выручка / 2025 / план").
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import KamError, Problem
from .records import parse_number
from .table import Columns, Layout, plain_name

Row = TypeVar("Row", bound=Sequence[Any])  # a row's cells, as the reader gives them

SCAN = 20  # the header is looked for in the first 20 rows
LEVELS = 3  # sub-header rows a header may have
# a merged range: (first row, first column, last row, last column); rows as the reader numbers
# them, columns 0-based
Merged = Sequence[tuple[int, int, int, int]]


@dataclass
class Header:
    first: int  # the row the header starts on
    last: int  # the row it ends on: data rows follow
    names: list[str]  # one per column, sub-headers joined
    found: bool  # it gives every required metric (or was named by header_row)


def head(rows: Iterator[tuple[int, Row]], layout: Layout) -> list[tuple[int, Row]]:
    """The rows find_header looks at, from the top: the first 20 (or up to `header_row`) and
    the sub-header rows that may follow; further down only when all of those are blank."""
    out: list[tuple[int, Row]] = []
    limit = max(SCAN, layout.header_row or 0) + LEVELS
    first = None  # where the first non-blank row is
    for row, cells in rows:
        out.append((row, cells))
        if first is None and not _blank(cells):
            first = len(out) - 1
        if len(out) >= limit and first is not None and len(out) - first > LEVELS:
            break
    return out


def find_header(source: str, rows: Sequence[tuple[int, Sequence[Any]]], columns: Columns, layout: Layout,
                merged: Merged = ()) -> Header | None:
    """The header among `rows` (row number, cells: text, or a spreadsheet's typed values),
    which are the file's first rows as `head` gives them; None when they are all blank."""
    if layout.header_row is not None:
        at = [i for i, (row, _) in enumerate(rows) if row == layout.header_row]
        if not at or _blank(rows[at[0]][1]):
            raise KamError(Problem(source, layout.header_row, 0, f"header_row: {layout.header_row} "
                                   f"(kam.yaml) is {'blank' if at else 'beyond the end of the file'}"))
        return _joined(rows, at[0], columns, merged, found=True)
    first: Header | None = None  # the first non-blank row: the header when none gives them all
    for i, (_, cells) in enumerate(rows):
        if _blank(cells):
            continue
        if i >= SCAN:  # the first 20 rows are blank: the first non-blank row, as it always was
            return first if first is not None else _joined(rows, i, columns, merged, found=False)
        header = _joined(rows, i, columns, merged, found=False)
        if layout.required <= {columns.resolve(n) for n in header.names if n}:
            header.found = True
            return header
        if first is None:
            first = header
    return first


def _blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _joined(rows: Sequence[tuple[int, Sequence[Any]]], i: int, columns: Columns, merged: Merged,
            found: bool) -> Header:
    """The header at rows[i] with the sub-header rows below it joined on."""
    row, cells = rows[i]
    names = [plain_name(c) for c in cells]
    last = row
    for j in range(i + 1, min(i + 1 + LEVELS, len(rows))):
        if not _join(names, rows[j - 1], rows[j][1], columns, merged):
            break
        last = rows[j][0]
    return Header(row, last, names, found)


def _join(names: list[str], above: tuple[int, Sequence[Any]], cells: Sequence[Any], columns: Columns,
          merged: Merged) -> bool:
    """Join the row `cells` onto `names` when it is a sub-header of the row above (see the
    module's doc); False, and `names` untouched, when it is not."""
    labels = {c: plain_name(v) for c, v in enumerate(cells) if plain_name(v)}
    if not labels or not all(_label(cells[c], text, columns) for c, text in labels.items()):
        return False
    width = max(len(names), len(cells))
    names += [""] * (width - len(names))
    groups = _groups(above[0], [plain_name(v) for v in above[1]], width, merged)
    if any(c not in groups for c in labels):
        return False
    before = list(names)
    for c, start in groups.items():
        base = before[start]
        names[c] = f"{base} / {labels[c]}" if c in labels and base else labels.get(c, base)
    return True


def _label(cell: Any, text: str, columns: Columns) -> bool:
    if not isinstance(cell, str) or columns.resolve(text) is not None:
        return False
    try:
        parse_number(text, True)
    except ValueError:
        return True
    return False  # a number: a data row's cell, not a name


def _groups(row: int, above: list[str], width: int, merged: Merged) -> dict[int, int]:
    """Column -> the first column of its group, for the columns of row `row` that are in a
    group of two or more columns."""
    covered: dict[int, tuple[int, int]] = {}
    for r0, c0, r1, c1 in merged:
        if r0 <= row <= r1:
            for c in range(c0, c1 + 1):
                covered[c] = (c0, c1)
    above = above + [""] * (width - len(above))
    groups: dict[int, int] = {}
    c = 0
    while c < width:
        if c in covered:
            c0, c1 = covered[c]
            if c1 > c0:
                groups.update({k: c0 for k in range(c0, c1 + 1)})
            c = max(c1, c) + 1
            continue
        end = c + 1
        if above[c]:  # a name, and the empty unmerged cells after it
            while end < width and not above[end] and end not in covered:
                end += 1
            if end - c > 1:
                groups.update({k: c for k in range(c, end)})
        c = end
    return groups
