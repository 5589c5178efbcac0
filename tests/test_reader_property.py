"""Issue 17: random bytes, and random files built from random values, for every reader. The
only outcomes are a KamError naming the file, or records each accepted or rejected - read =
accepted + rejected, the same whether read as one stream or as the workers get it - and the
memory Python allocates while reading stays small for a small file.

Deterministic (hypothesis derandomized, no example database) and quick: about ten seconds in all.
"""
from __future__ import annotations

import io
import tempfile
import tracemalloc
from datetime import datetime
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from reading import read_inputs

from engine.errors import KamError
from engine.project.load import load_project
from engine.run.read import chunks, normalise_chunk

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT)
PEAK = 16 << 20  # bytes Python may allocate reading a file of a few kilobytes
RUN = settings(max_examples=60, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def outcome(data: bytes, suffix: str) -> None:
    """Read `data` as a file named in.SUFFIX both ways, and check what comes of it."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"in{suffix}"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            loaded = _load(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < PEAK, f"{peak} bytes allocated reading {len(data)} bytes"
        chunked = _chunked(path)
    assert (loaded is None) == (chunked is None)  # a file is refused both ways, or read both ways
    event("refused" if loaded is None else "read, some rejected" if loaded.rejected else "read")
    if loaded is not None:
        assert loaded.read == len(loaded.accepted) + len(loaded.rejected)
        assert chunked == loaded.read


def _load(path: Path):
    try:
        return read_inputs(PROJECT, [path])
    except KamError as exc:
        assert exc.problems and all(p.path.startswith(str(path)) for p in exc.problems), exc.problems
        return None


def _chunked(path: Path) -> int | None:
    """Records read as the pipeline reads them: chunks of 3, blocks of lines parsed as in a
    worker; each chunk's accepted + rejected = its records. None: the file is refused."""
    read = 0
    try:
        for index, (records, decimal_comma) in enumerate(chunks(PROJECT, [path], None, {}, 3)):
            chunk = normalise_chunk(PROJECT, index, records, decimal_comma, None)
            assert chunk.read == len(chunk.rows) + len(chunk.rejected)
            read += chunk.read
    except KamError as exc:
        assert all(p.path.startswith(str(path)) for p in exc.problems), exc.problems
        return None
    return read


# ---- text: CSV (any delimiter), JSON Lines ------------------------------------------------------

TEXT_SUFFIXES = st.sampled_from([".csv", ".tsv", ".txt", ".jsonl"])
# pieces that matter to the CSV and JSON readers: delimiters, quotes, line breaks, BOMs, bytes of
# other encodings (0x98 is in no Windows-1251 character; Ж in Windows-1251 and UTF-8), names
PIECES = st.sampled_from([b",", b";", b"\t", b"|", b'"', b'""', b"\n", b"\r", b"\r\n", b"\xef\xbb\xbf", b"\xff\xfe",
                          b"\x98", "Ж".encode("cp1251"), "Жёлтый".encode(), b"\x00", b"account_id", b"nps", b"name",
                          b"revenue_current", b"A1", b"A2", b"12,5", b"1 234", b"yes", b"sep=;", b"{", b"}", b":",
                          b"[", b"]", b'{"account_id": "A1", "nps": 5}', "Итого".encode(), b" "])
TEXT = st.one_of(st.binary(max_size=2000),
                 st.lists(st.one_of(PIECES, st.binary(max_size=6)), max_size=300).map(b"".join),
                 st.lists(st.one_of(PIECES, st.binary(max_size=6)), max_size=300)
                 .map(lambda parts: b"account_id,nps,name\n" + b"".join(parts)))


@settings(RUN, max_examples=300)
@given(data=TEXT, suffix=TEXT_SUFFIXES)
def test_random_text_files(data, suffix):
    outcome(data, suffix)


# ---- .xlsx: random bytes, and workbooks of random values ------------------------------------------

CELL = st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15),
                 st.floats(allow_nan=False, allow_infinity=False),
                 st.text(max_size=12).map(lambda s: ILLEGAL_CHARACTERS_RE.sub("", s)),
                 st.sampled_from(["account_id", "nps", "name", "revenue_current", "Итого", "A1", "12,5", "#N/A"]),
                 st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)))


@settings(RUN, max_examples=150)
@given(rows=st.lists(st.lists(CELL, max_size=6), max_size=8), garbage=st.binary(max_size=300),
       cut=st.integers(0, 400), flip=st.booleans())
def test_random_workbooks(rows, garbage, cut, flip):
    book = openpyxl.Workbook()
    book.active.append(["account_id", "nps", "name", "revenue_current"])
    for r in rows:
        book.active.append(r)
    buf = io.BytesIO()
    book.save(buf)
    data = buf.getvalue()
    if flip:  # damaged: cut short, or bytes overwritten somewhere in the zip
        data = data[:len(data) - cut] if cut % 2 else data[:cut] + garbage + data[cut + len(garbage):]
    outcome(data, ".xlsx")


@RUN
@given(data=st.binary(max_size=2000))
def test_random_bytes_as_a_workbook_or_parquet_file(data):
    outcome(data, ".xlsx")
    outcome(data, ".parquet")


# ---- Parquet: tables of random values -------------------------------------------------------------

KINDS = st.sampled_from([
    (pa.string(), st.text(max_size=10)), (pa.int64(), st.integers(-2**63, 2**63 - 1)),
    (pa.float64(), st.floats()), (pa.bool_(), st.booleans()), (pa.binary(), st.binary(max_size=8)),
    (pa.list_(pa.string()), st.lists(st.text(max_size=3), max_size=3)),
    (pa.timestamp("s"), st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))),
])


@settings(RUN, max_examples=150)
@given(data=st.data(), names=st.lists(st.sampled_from(["account_id", "nps", "name", "strategic", "x", ""]),
                                      min_size=1, max_size=4),
       n=st.integers(0, 8), dictionary=st.booleans())
def test_random_parquet_tables(data, names, n, dictionary):
    columns = []
    for _ in names:
        kind, values = data.draw(KINDS)
        column = pa.array([data.draw(st.none() | values) for _ in range(n)], type=kind)
        columns.append(column.dictionary_encode() if dictionary and kind == pa.string() else column)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(columns, names=names), buf)
    outcome(buf.getvalue(), ".parquet")

