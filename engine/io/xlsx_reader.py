"""Excel .xlsx: the first worksheet (or a named one).

Cell values come from python-calamine (Rust): it reads a 100,000-row sheet several times
faster than openpyxl. It holds the sheet's cells in memory (about 32 bytes a cell, outside
Python) while the records stream; a Python object is made only for the row being read.
What calamine does not give:

- number formats, to read a percent-formatted cell of a metric in % as people see it
  (0.25 shown as 25 % reads 25): read for the first FORMAT_ROWS rows below the header only
  (engine/io/xlsx_formats.py); a column is percent when its numbers there are
  percent-formatted, and the whole column is then read so. A format that changes further
  down the column is not seen; both kinds among the first rows are an error;
- error cells (#N/A, #DIV/0!): calamine reads them as empty cells. A sheet whose XML has
  none (checked by a byte search) needs nothing more; one that has some is read once more by
  openpyxl (read-only) to find them, as slowly as openpyxl reads, so that an error stays a
  rejected value and is never taken for a missing one.

Before calamine reads anything, engine/io/xlsx_check.py checks what the workbook would take
(its parts unpacked, the sheet's used range, shared texts as the cells repeat them): calamine
aborts the process when memory runs out. A cell longer than MAX_FIELD is its record's
rejection.

Row numbers are the sheet's own; the header is found as engine/io/header.py says (merged
ranges from calamine). Cells keep their type (numbers stay numbers, integral ones int, as
openpyxl gave them; yes/no cells stay booleans); dates become ISO text; formulas give the
value Excel last computed.
"""
from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from .header import Header, find_header, head
from .table import Columns, Layout, RawRecord, Table, plain, row_problem, too_long
from .totals import keyword
from .xlsx_check import Workbook, check_sheet, check_workbook
from .xlsx_formats import percent_numbers, sheet_part

FORMAT_ROWS = 100  # data rows whose number formats decide whether a column is percent


def read_xlsx(path: Path, columns: Columns, sheet: str | None = None, layout: Layout = Layout()) -> Table:
    source = str(path)
    book = check_workbook(path, source)
    title, ws, has_errors = _sheet(path, book, sheet, source)
    where = f"{source}[{title}]"
    offset = ws.start[1] if ws.start else 0  # calamine's rows begin at the first used column
    rows = _rows(ws, offset, where)
    top = head(rows, layout)
    merged = [(r0 + 1, c0, r1 + 1, c1) for (r0, c0), (r1, c1) in ws.merged_cell_ranges or ()]
    header = find_header(source, top, columns, layout, merged)
    if header is None:
        raise KamError(Problem(source, 0, 0, f"sheet '{title}' is empty: expected a header row"))
    table = Table(source, [], None, False, iter(()), sheet=title)
    names = columns.header(table, header.names, header.first)
    body = chain((r for r in top if r[0] > header.last), rows)
    sample = list(islice(body, FORMAT_ROWS))
    percent = [c for c, n in enumerate(names) if n in layout.percent]
    if percent:
        percent = _percent_columns(path, title, header, names, percent, sample, where)
    errors = _error_cells(path, title, where) if has_errors else {}
    table.records = _records(source, chain(sample, body), names, percent, errors)
    return table


def _open(path: Path, source: str) -> Any:
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - calamine raises anything, a Rust panic too, on a hostile file
        raise KamError(Problem(source, 0, 0, f"not a readable .xlsx workbook (damaged, or not an Excel "
                                             f"2007+ file): {type(exc).__name__}: {str(exc)[:200]}")) from None


def _sheet(path: Path, book: Workbook, sheet: str | None, source: str) -> tuple[str, Any, bool]:
    """The sheet's name, its cells (calamine reads the whole sheet here, once checked) and
    whether it has error cells."""
    from python_calamine import SheetTypeEnum

    workbook = _open(path, source)
    try:
        names = [s.name for s in workbook.sheets_metadata if s.typ == SheetTypeEnum.WorkSheet]
        if sheet is None:
            if not names:
                raise KamError(Problem(source, 0, 0, "the workbook has no worksheet"))
            title = names[0]
        else:
            match = [n for n in names if n == sheet] or [n for n in names if n.casefold() == sheet.casefold()]
            if not match:
                shown = ", ".join(f"'{n}'" for n in names) or "none"
                raise KamError(Problem(source, 0, 0, f"no sheet '{sheet}' (sheets: {shown})"))
            title = match[0]
        errors = check_sheet(path, book, title, sheet_part(path, title)).errors
        try:
            return title, workbook.get_sheet_by_name(title), errors
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - as in _open
            raise KamError(Problem(f"{source}[{title}]", 0, 0, f"cannot read the sheet: {type(exc).__name__}: "
                                                              f"{str(exc)[:200]}")) from None
    finally:
        workbook.close()


def _rows(ws: Any, offset: int, where: str) -> Iterator[tuple[int, list[Any]]]:
    """(sheet row, cells from column A) of every row, blank ones too; cells as openpyxl gave
    them: None for an empty cell, integral numbers as int."""
    pad = [None] * offset
    row = 0
    try:
        for row, cells in enumerate(ws.iter_rows(), start=1):
            yield row, pad + [_cell(c) for c in cells]
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - as in _open
        raise KamError(Problem(where, row + 1, 0, f"cannot read the sheet: {type(exc).__name__}: "
                                                  f"{str(exc)[:200]}")) from None


def _cell(value: Any) -> Any:
    cls = value.__class__
    if cls is str:
        return value or None
    if cls is float:
        return int(value) if value.is_integer() and -1e16 < value < 1e16 else value
    return plain(value)


def _blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (c.__class__ is str and not c.strip()) for c in cells)


def _records(source: str, rows: Iterator[tuple[int, list[Any]]], names: list[str | None], percent: list[int],
             errors: dict[int, dict[int, str]]) -> Iterator[RawRecord]:
    width = len(names)
    named = [(c, n) for c, n in enumerate(names) if n]
    for row, cells in rows:
        for c, text in errors.get(row, {}).items():
            cells += [None] * (c + 1 - len(cells))
            cells[c] = text
        if _blank(cells):
            continue
        for c in percent:
            if c < len(cells):
                cells[c] = _hundredfold(cells[c])
        values = {n: cells[c] if c < len(cells) else None for c, n in named}
        if not _blank(cells[width:]):
            last = max(i for i, c in enumerate(cells, start=1) if c is not None)
            yield RawRecord(source, row, values, row_problem(last, width) + " (cells right of the header)")
            continue
        yield RawRecord(source, row, values, too_long(values))


def _hundredfold(value: Any) -> Any:
    """A percent-formatted number as it is shown: 0.25 -> 25 (0.07 -> 7, not 7.000000000000001)."""
    if value.__class__ is int:
        return value * 100
    if value.__class__ is float:
        return float(Decimal(repr(value)).scaleb(2))
    return value


# ---- what openpyxl reads -----------------------------------------------------------------------

def _workbook(handle: Any, where: str) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - calamine read it; openpyxl may still refuse
        raise KamError(Problem(where, 0, 0, f"cannot read the sheet's error cells: {type(exc).__name__}: "
                                            f"{str(exc)[:200]}")) from None


def _percent_columns(path: Path, title: str, header: Header, names: list[str | None], candidates: list[int],
                     sample: list[tuple[int, list[Any]]], where: str) -> list[int]:
    """The columns among `candidates` (metrics in %) whose numbers are percent-formatted, by
    their cells in the `sample` rows below the header (totals rows by their words aside).
    A column with both kinds there is an error: which numbers are fractions cannot be told."""
    if not sample:
        return []
    labels = {c: n for c, n in enumerate(names) if n in ("account_id", "name")}
    totals = {row for row, cells in sample if keyword({n: cells[c] for c, n in labels.items() if c < len(cells)})}
    seen: dict[int, dict[bool, int]] = {c: {} for c in candidates}
    try:
        for row, c, percent in percent_numbers(path, title, sample[0][0], sample[-1][0]):
            if c in seen and row not in totals:
                seen[c].setdefault(percent, row)
    except (KeyError, ValueError, SyntaxError, zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        # ParseError is a SyntaxError; calamine read the values, the formats are unreadable
        raise KamError(Problem(where, 0, 0, f"cannot read the number formats: {type(exc).__name__}: "
                                            f"{str(exc)[:200]}")) from None
    for c, kinds in seen.items():
        if len(kinds) == 2:
            raise KamError(Problem(where, kinds[False], c + 1, (
                f"column '{header.names[c]}' ({names[c]}) has percent-formatted numbers (row {kinds[True]}) and "
                f"plain ones (row {kinds[False]}): format the whole column one way")))
    return [c for c, kinds in seen.items() if kinds.get(True)]


def _error_cells(path: Path, title: str, where: str) -> dict[int, dict[int, str]]:
    """Row -> column -> error text (#N/A) of every error cell of the sheet, by openpyxl."""
    from openpyxl.cell.cell import ERROR_CODES

    out: dict[int, dict[int, str]] = {}
    with open(path, "rb") as handle:
        book = _workbook(handle, where)
        try:
            ws = book[title]
            ws.reset_dimensions()
            for row, cells in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
                for c, value in enumerate(cells):
                    if value.__class__ is str and value in ERROR_CODES:
                        out.setdefault(row, {})[c] = value
        except KamError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged sheet fails anywhere inside openpyxl
            raise KamError(Problem(where, 0, 0, f"cannot read the sheet: {type(exc).__name__}: "
                                                f"{str(exc)[:200]}")) from None
        finally:
            book.close()
    return out
