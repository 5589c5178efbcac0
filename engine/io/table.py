"""What every reader produces: a Table of RawRecords (metric id -> cell) with file and row.

Readers stream: records are yielded one by one and never held as a whole file of Python
objects, so a large portfolio can be evaluated in chunks.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from ..errors import KamError, Problem
from ..project.cells import _fold
from .limits import MAX_COLUMNS, MAX_FIELD


@dataclass
class RawRecord:
    source: str
    row: int  # see read_table: the record's line / sheet row / position in its file
    cells: dict[str, Any]  # metric id -> cell as read (text, number, bool or None)
    problem: str | None = None  # the record as a whole cannot be read (ragged row, bad line)


@dataclass
class Table:
    source: str
    header: list[str]  # the columns as written in the file ([] for JSON Lines)
    header_row: int | None  # where the header is (None: the format has none)
    decimal_comma: bool
    records: Iterator[RawRecord]
    unknown: list[str] = field(default_factory=list)  # columns that name no metric: ignored
    columns: list[str] = field(default_factory=list)  # metric ids present, in file order
    sheet: str | None = None  # .xlsx: the sheet read
    # CSV only: blocks(n) -> the records as chunks of n lines (or rows) that the workers
    # finish reading (csv_reader.Block, csv_reader.Rows)
    blocks: Callable[[int], Iterator[Any] | None] | None = None


@dataclass(frozen=True)
class Layout:
    """What readers need of the project to find the data in a file laid out for people."""

    required: frozenset[str] = frozenset()  # metric ids a header must give (engine/io/header.py)
    header_row: int | None = None  # kam.yaml header_row: N, where headers start; None: found
    percent: frozenset[str] = frozenset()  # metrics whose unit is "%": a 25 % cell (0.25) reads 25


class Columns:
    """Column names -> metric ids: kam.yaml's `columns:` first, then the metric ids
    themselves; both ignore case and runs of spaces, as exports vary in both."""

    def __init__(self, mapping: Mapping[str, str] | None, known: Iterable[str] | None):
        self.mapping = {_fold(k): v for k, v in (mapping or {}).items()}
        self.known = None if known is None else {_fold(m): m for m in known}

    def resolve(self, name: str) -> str | None:
        """The metric id a column gives, or None when the project has no such metric."""
        key = _fold(name)
        target = self.mapping.get(key, name.strip())
        if self.known is None:
            return target or None
        return self.known.get(_fold(target))

    def shown(self, name: str) -> str:
        """An ignored column as reported: a mapping onto a metric that does not exist says so."""
        target = self.mapping.get(_fold(name))
        return f"{name} (mapped to '{target}', which is not a metric)" if target else name

    def header(self, table: Table, names: list[Any], row: int) -> list[str | None]:
        """Resolve a header row; unknown columns go to table.unknown, two columns giving
        the same metric are an error naming both."""
        shown = [plain_name(n) for n in names]
        while shown and not shown[-1]:
            shown.pop()  # trailing empty cells: a trailing delimiter or spreadsheet formatting
        if not shown:
            raise KamError(Problem(table.source, row, 1, "the header row is empty"))
        if len(shown) > MAX_COLUMNS:
            raise KamError(Problem(table.source, row, MAX_COLUMNS + 1, f"the header has {len(shown)} columns; kam "
                                                                       f"reads at most {MAX_COLUMNS}"))
        resolved: list[str | None] = []
        first: dict[str, int] = {}
        for col, name in enumerate(shown, start=1):
            metric = self.resolve(name) if name else None
            if metric is None:
                table.unknown.append(self.shown(name) if name else f"column {col} (no header)")
            elif metric in first:
                other = first[metric]
                how = (f"column '{name}' appears twice (columns {other} and {col})"
                       if _fold(shown[other - 1]) == _fold(name) else
                       f"columns '{shown[other - 1]}' (column {other}) and '{name}' (column {col}) "
                       f"both give metric '{metric}'")
                raise KamError(Problem(table.source, row, col, how))
            else:
                first[metric] = col
                table.columns.append(metric)
            resolved.append(metric)
        table.header = shown
        table.header_row = row
        return resolved


def plain_name(name: Any) -> str:
    return "" if name is None else str(plain(name)).strip()


def plain(value: Any) -> Any:
    """A cell as records.normalize takes it: None, str, bool, int, float or Decimal as they
    are; dates as ISO text (the model has no date type); other types as text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)  # records rejects it as binary data
    if isinstance(value, (list, dict, tuple, Decimal)):
        return value  # records: a Decimal is a number, a list/object is a bad cell
    return str(value)


def too_long(cells: Mapping[str, Any]) -> str | None:
    """Why a record cannot be read when a cell of it (text, binary) is longer than MAX_FIELD."""
    for value in cells.values():  # on every record of a workbook or JSON Lines file: kept short
        if (value.__class__ is str or value.__class__ is bytes) and len(value) > MAX_FIELD:
            name = next(n for n, v in cells.items() if v is value)
            return f"the cell of '{name}' is {len(value)} characters long; a cell holds at most {MAX_FIELD}"
    return None


def row_problem(cells: int, width: int) -> str:
    return f"the row has {cells} cells but the header has {width}"
