"""Excel .xlsx: the first sheet (or a named one), streamed in openpyxl's read-only mode.

Row numbers are the sheet's own row numbers; the header is the first non-empty row. Cells
keep their type (numbers stay numbers, yes/no cells stay booleans); dates become ISO text;
formulas give the value Excel last computed.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import KamError, Problem
from .table import Columns, RawRecord, Table, plain, row_problem


def _open(handle: BinaryIO, source: str) -> Any:
    """The caller owns `handle`: openpyxl leaves its zip member streams open when a damaged
    sheet fails mid-parse, and a file it opened itself would then leak."""
    import openpyxl

    try:
        return openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise KamError(Problem(source, 0, 0, "not a readable .xlsx workbook (damaged, or not "
                                             "an Excel 2007+ file)")) from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises anything on a hostile file
        raise KamError(Problem(source, 0, 0, f"not a readable .xlsx workbook: {type(exc).__name__}: "
                                             f"{str(exc)[:200]}")) from None


def _sheet(book: Any, sheet: str | None, source: str) -> Any:
    sheets = book.worksheets
    if sheet is None:
        if not sheets:
            raise KamError(Problem(source, 0, 0, "the workbook has no worksheet"))
        ws = sheets[0]
    else:
        match = [s for s in sheets if s.title == sheet] or [s for s in sheets
                                                               if s.title.casefold() == sheet.casefold()]
        if not match:
            names = ", ".join(f"'{s.title}'" for s in sheets) or "none"
            raise KamError(Problem(source, 0, 0, f"no sheet '{sheet}' (sheets: {names})"))
        ws = match[0]
    ws.reset_dimensions()  # a stored size like A1:XFD1048576 would pad every row
    return ws


def _rows(ws: Any, source: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
    row = 0
    try:
        for row, cells in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            yield row, cells
    except KamError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet fails anywhere inside openpyxl
        raise KamError(Problem(f"{source}[{ws.title}]", row + 1, 0,
                               f"cannot read the sheet: {type(exc).__name__}: {str(exc)[:200]}")) from None


def _blank(cells: tuple[Any, ...]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def read_xlsx(path: Path, columns: Columns, sheet: str | None = None) -> Table:
    source = str(path)
    with open(path, "rb") as handle:
        book = _open(handle, source)
        try:
            ws = _sheet(book, sheet, source)
            title = ws.title
            header_row, header = 0, ()
            for row, cells in _rows(ws, source):
                if not _blank(cells):
                    header_row, header = row, cells
                    break
        finally:
            book.close()
    if not header_row:
        raise KamError(Problem(source, 0, 0, f"sheet '{title}' is empty: expected a header row"))
    table = Table(source, [], None, False, iter(()))
    names = columns.header(table, list(header), header_row)
    table.records = _records(path, source, sheet, header_row, names)
    return table


def _records(path: Path, source: str, sheet: str | None, header_row: int,
             names: list[str | None]) -> Iterator[RawRecord]:
    width = len(names)
    with open(path, "rb") as handle:
        book = _open(handle, source)
        try:
            ws = _sheet(book, sheet, source)
            for row, cells in _rows(ws, source):
                if row <= header_row or _blank(cells):
                    continue
                values = {n: plain(c) for n, c in zip(names, cells) if n}
                if not _blank(cells[width:]):
                    last = max(i for i, c in enumerate(cells, start=1) if c is not None)
                    yield RawRecord(source, row, values, row_problem(last, width) + " (cells right of the header)")
                    continue
                yield RawRecord(source, row, values)
        finally:
            book.close()
