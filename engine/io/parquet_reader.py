"""Parquet, streamed in record batches; only the columns the project knows are read.

Row numbers: a Parquet file has no lines, so record i (1-based) is row i + 1, as if the
column names were row 1 - the same numbers a CSV export of the table would have.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..errors import KamError, Problem
from .table import Columns, RawRecord, Table, plain

BATCH = 4096


def _open(path: Path, source: str) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise KamError(Problem(source, 0, 0, f"not a readable Parquet file: {str(exc)[:200]}")) from None


def read_parquet(path: Path, columns: Columns) -> Table:
    source = str(path)
    pf = _open(path, source)
    try:
        header = list(pf.schema_arrow.names)
    finally:
        pf.close()
    if not header:
        raise KamError(Problem(source, 0, 0, "the file has no columns"))
    table = Table(source, [], None, False, iter(()))
    names = columns.header(table, header, 1)
    table.records = _records(path, source, header, names)
    return table


def _records(path: Path, source: str, header: list[str], names: list[str | None]) -> Iterator[RawRecord]:
    import pyarrow as pa

    wanted = [(h, n) for h, n in zip(header, names) if n]
    row = 1
    pf = _open(path, source)
    try:
        batches = pf.iter_batches(batch_size=BATCH, columns=[h for h, _ in wanted])
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise KamError(Problem(source, row + 1, 0, f"cannot read the Parquet data from record "
                                                          f"{row}: {str(exc)[:200]}")) from None
            data = {h: batch.column(h).to_pylist() for h, _ in wanted}
            for i in range(batch.num_rows):
                row += 1
                yield RawRecord(source, row, {n: plain(data[h][i]) for h, n in wanted})
    finally:
        pf.close()
