"""Account files -> raw records (metric id -> cell), each with its file and row number.

Every format gives the same records, so the same portfolio gives the same results whether
it arrives as CSV, TSV, .xlsx, JSON Lines or Parquet. `columns:` in kam.yaml maps a
file's column names onto metric ids; columns that name no metric are ignored and listed.

Row numbers, for people to find a record: CSV/TSV the line the record starts on (the
header is line 1); .xlsx the sheet row; JSON Lines the line; Parquet the record's
position + 1 (as if the column names were row 1).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ..errors import KamError, Problem
from .csv_reader import read_csv
from .jsonl_reader import read_jsonl
from .parquet_reader import read_parquet
from .table import Columns, Layout, RawRecord, Table
from .xlsx_reader import read_xlsx

__all__ = ["FORMATS", "SHEET_FORMATS", "Layout", "RawRecord", "Table", "read_table"]

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
SHEET_FORMATS = {s for s, f in FORMATS.items() if f == "xlsx"}


def read_table(path: Path, columns: Mapping[str, str] | None = None, known: Iterable[str] | None = None,
               sheet: str | None = None, layout: Layout = Layout()) -> Table:
    """Open one input; raise KamError naming the file when it cannot be read at all.
    `known`: the metric ids (other columns are ignored); None keeps every column.
    `layout`: where the header is and which metrics are in % (accounts.layout)."""
    path = Path(path)
    source = str(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        hint = " (save it as .xlsx)" if path.suffix.lower() in (".xls", ".ods") else ""
        raise KamError(Problem(source, 0, 0, f"unsupported file type '{path.suffix}'{hint}; expected "
                                             f"{', '.join(sorted(FORMATS))}"))
    if sheet is not None and fmt != "xlsx":
        raise KamError(Problem(source, 0, 0, f"--sheet {sheet}: only .xlsx files have sheets"))
    try:
        if not path.is_file():
            raise KamError(Problem(source, 0, 0, "no such file" if not path.exists() else "not a file"))
        if path.stat().st_size == 0:
            raise KamError(Problem(source, 1, 1, "the file is empty"))
        resolver = Columns(columns, known)
        if fmt == "csv":
            table = read_csv(path, resolver, layout)
        elif fmt == "xlsx":
            table = read_xlsx(path, resolver, sheet, layout)
        elif fmt == "jsonl":
            table = read_jsonl(path, resolver)
        else:
            table = read_parquet(path, resolver)
    except (OSError, UnicodeError) as exc:
        raise KamError(Problem(source, 0, 0, f"cannot read: {getattr(exc, 'strerror', None) or exc}")) from None
    table.records = _guarded(table.records, source)
    return table


def _guarded(records: Iterator[RawRecord], source: str) -> Iterator[RawRecord]:
    """The file changed or vanished while it was read: a clear error, not a traceback."""
    try:
        yield from records
    except (OSError, UnicodeError) as exc:
        raise KamError(Problem(source, 0, 0, f"cannot read: {getattr(exc, 'strerror', None) or exc}")) from None
