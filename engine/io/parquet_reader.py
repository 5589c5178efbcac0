"""Parquet, streamed in record batches; only the columns the project knows are read.

Row numbers: a Parquet file has no lines, so record i (1-based) is row i + 1, as if the
column names were row 1 - the same numbers a CSV export of the table would have.

Limits (engine/io/limits.py). A few kilobytes of Parquet can stand for gigabytes: one long
text in a column's dictionary, repeated by every row, or millions of rows of one repeated
value. So before a batch becomes Python values, its size as read is counted - text by the
lengths of the values each row refers to (text columns are read dictionary-encoded, so a
repeated value is held once until then), numbers by their width - and a file whose data
would pass MAX_UNPACKED is refused at the row where it does. A text longer than MAX_FIELD
is that record's rejection, and is never made a Python string. A column of lists or structs
is read only when its metadata bounds it within MAX_UNPACKED (its records are rejected:
a metric is one value).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from .limits import MAX_FIELD, MAX_UNPACKED
from .table import Columns, RawRecord, Table, plain

BATCH = 4096
_WIDTH = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8}


def _open(path: Path, source: str, text: list[str] | None = None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, read_dictionary=text)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise KamError(Problem(source, 0, 0, f"not a readable Parquet file: {str(exc)[:200]}")) from None


def read_parquet(path: Path, columns: Columns) -> Table:
    source = str(path)
    pf = _open(path, source)
    try:
        schema = pf.schema_arrow
        header = list(schema.names)
        if not header:
            raise KamError(Problem(source, 0, 0, "the file has no columns"))
        table = Table(source, [], None, False, iter(()))
        names = columns.header(table, header, 1)
        wanted = [(h, n) for h, n in zip(header, names) if n]
        nested = _nested(pf, source, [h for h, _ in wanted])
    finally:
        pf.close()
    # text columns read dictionary-encoded: a value repeated by many rows is held once until measured
    text = [h for h, _ in wanted if _is_text(_values(schema.field(h).type))]
    table.records = _records(path, source, wanted, text, nested)
    return table


def _values(kind: Any) -> Any:
    """The type of a column's values (a dictionary-encoded column: its dictionary's)."""
    import pyarrow as pa

    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    text: bool = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) \
        or pa.types.is_large_binary(kind)
    return text


def _nested(pf: Any, source: str, wanted: list[str]) -> dict[str, int]:
    """Column -> bytes its data may take as read, for the wanted columns that are not one
    value per row (lists, structs, maps): the most the metadata allows, counting a dictionary
    as repeated by every value. One that could pass MAX_UNPACKED is the file's error."""
    import pyarrow as pa

    schema = pf.schema_arrow
    out: dict[str, int] = {}
    meta = pf.metadata
    for name in wanted:
        if not pa.types.is_nested(schema.field(name).type):
            continue
        worst = 0
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for j in range(group.num_columns):
                chunk = group.column(j)
                if chunk.path_in_schema.split(".")[0] != name:
                    continue
                width = _WIDTH.get(chunk.physical_type, 0)
                size = max(chunk.total_uncompressed_size, chunk.num_values * width)
                worst += chunk.num_values * size if chunk.has_dictionary_page and not width else size
        if worst > MAX_UNPACKED:
            raise KamError(Problem(source, 0, 0, f"column '{name}' holds {schema.field(name).type} values that may "
                                                 f"unpack to {worst} bytes; kam reads at most {MAX_UNPACKED} bytes "
                                                 f"of a file (and a metric is one value per row)"))
        out[name] = worst
    return out


def _records(path: Path, source: str, wanted: list[tuple[str, str]], text: list[str],
             nested: dict[str, int]) -> Iterator[RawRecord]:
    import numpy as np
    import pyarrow as pa

    row = 1
    total = sum(nested.values())  # bytes of the file's data as read so far (nested columns: at most)
    pf = _open(path, source, text)
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
            data: dict[str, list[Any]] = {}
            problems: dict[int, str] = {}
            sizes = np.zeros(batch.num_rows, dtype=np.int64)  # bytes of each record as read
            for h, n in wanted:
                column = batch.column(h)
                if h not in nested:
                    column = _measured(column, n, sizes, problems)
                data[h] = column  # made Python values only once the batch is within the limit
            ends = total + np.cumsum(sizes)
            if len(ends) and ends[-1] > MAX_UNPACKED:
                over = int(np.argmax(ends > MAX_UNPACKED))
                raise KamError(Problem(source, row + 1 + over, 0, (
                    f"the file's data would take more than {MAX_UNPACKED} bytes as read by this record: kam reads "
                    f"at most {MAX_UNPACKED} bytes of a file (a long text repeated by many rows?)")))
            total = int(ends[-1]) if len(ends) else total
            values = {h: _decoded(data[h]).to_pylist() for h, _ in wanted}
            for i in range(batch.num_rows):
                row += 1
                yield RawRecord(source, row, {n: plain(values[h][i]) for h, n in wanted}, problems.get(i))
    finally:
        pf.close()


def _decoded(column: Any) -> Any:
    """A dictionary-encoded column as plain values (to_pylist is many times slower on a dictionary)."""
    import pyarrow as pa

    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _measured(column: Any, name: str, sizes: Any, problems: dict[int, str]) -> Any:
    """Add the bytes each row of a column takes as read to `sizes` (a text by its length,
    anything else by its width), and return the column with every text longer than
    MAX_FIELD made null - its row's problem says why - before any becomes a Python string.
    `name`: the metric the column gives."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    values = column.dictionary if pa.types.is_dictionary(kind) else column
    if not _is_text(values.type):
        sizes += kind.bit_width // 8 if pa.types.is_primitive(kind) and kind.bit_width >= 64 else 8
        return column
    nbytes = pc.binary_length(values)
    chars = pc.utf8_length(values) if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) \
        else nbytes
    if pa.types.is_dictionary(kind):
        nbytes, chars = pc.take(nbytes, column.indices), pc.take(chars, column.indices)
    each = nbytes.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    long = np.flatnonzero(chars.fill_null(0).to_numpy(zero_copy_only=False) > MAX_FIELD)
    if len(long):
        count = chars.to_numpy(zero_copy_only=False)
        for i in long:
            problems.setdefault(int(i), f"the cell of '{name}' is {int(count[i])} characters long; a cell holds at "
                                        f"most {MAX_FIELD}")
        mask = np.zeros(len(column), dtype=bool)
        mask[long] = True
        if pa.types.is_dictionary(kind):
            indices = pc.if_else(pa.array(mask), pa.scalar(None, column.indices.type), column.indices)
            column = pa.DictionaryArray.from_arrays(indices, column.dictionary)
        else:
            column = pc.if_else(pa.array(mask), pa.scalar(None, kind), column)
        each[long] = 0
    sizes += each
    return column
