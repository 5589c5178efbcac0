"""A large CSV file is cut into blocks of lines that the workers parse themselves (and, for
regular blocks, read as columns). Cut or not, the run is the same: results, rejected
records and their line numbers."""
from __future__ import annotations

import csv
import datetime
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.io import csv_reader
from engine.io.readers import read_table
from engine.project.load import load_project
from engine.run import evaluate_portfolio

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT)
AS_OF = datetime.date(2026, 11, 23)
COLUMNS = ["account_id", "name", "segment", "status", "revenue_current", "revenue_previous", "nps",
           "strategic", "payment_overdue_days"]
CELLS = st.one_of(st.sampled_from(["", " ", "7", "11", "-3", "12,5", "1 234", "yes", "нет", "smb", "active",
                                   "lost", "Enterprise", "x", "1e3", "ООО «Ромашка»", "0"]),
                  st.text(alphabet=st.characters(blacklist_characters='"\r\n,;\x00', blacklist_categories=["Cs"]),
                          max_size=6))


def run(path: Path, out: Path, chunk_size: int) -> tuple[bytes, list]:
    evaluate_portfolio(PROJECT, [path], out, AS_OF, "en", chunk_size=chunk_size, max_rejected=100)
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text("utf-8").split("\n") if line]
    return (out / "results.jsonl").read_bytes(), [json.dumps(r, sort_keys=True) for r in rejected]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.one_of(st.lists(CELLS, min_size=len(COLUMNS), max_size=len(COLUMNS)),  # regular
                               st.lists(CELLS, max_size=len(COLUMNS) + 2),  # ragged
                               st.just([]),  # a blank line
                               st.just([""] * len(COLUMNS))),  # only delimiters
                     max_size=25),
       ids=st.booleans(), delimiter=st.sampled_from([",", ";"]), newline=st.sampled_from(["\n", "\r\n"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]), chunk_size=st.integers(1, 7))
def test_blocks_read_as_the_whole_file_does(rows, ids, delimiter, newline, encoding, chunk_size):
    lines = [delimiter.join(COLUMNS)]
    for i, r in enumerate(rows):
        if ids and r:
            r = [f"ACC-{i % 9}"] + r[1:]  # ids that repeat: duplicates across blocks
        lines.append(delimiter.join(r))
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "accounts.csv"
        f.write_bytes((newline.join(lines) + newline).encode(encoding, errors="replace"))
        table = read_table(f, PROJECT.columns, PROJECT.metrics, None)
        first = next(table.blocks(chunk_size), None)
        assert first is None or isinstance(first, csv_reader.Block)  # the file is cut
        cut = run(f, Path(d) / "cut", chunk_size)
        original = csv_reader._blocks
        csv_reader._blocks = lambda *a, **k: None  # the same run, read as one stream in the main process
        try:
            whole = run(f, Path(d) / "whole", chunk_size)
        finally:
            csv_reader._blocks = original
    assert cut == whole


@pytest.mark.parametrize("text, cut", [
    ('account_id,name\nA,"B, Ltd"\n', False),  # a quote: a line feed may sit inside a field
    ("account_id,name\rA,B\r", False),  # lone CRs: Python's csv splits lines where 0x0A is not
    ("account_id,name\r\nA,B\r\n", True),
    ("account_id,name\nA,B\n", True),
])
def test_only_files_whose_line_feeds_end_records_are_cut(tmp_path, text, cut):
    """The others are parsed by the main process and handed on as rows."""
    f = tmp_path / "a.csv"
    f.write_bytes(text.encode("utf-8"))
    table = read_table(f, PROJECT.columns, PROJECT.metrics, None)
    assert isinstance(next(table.blocks(10)), csv_reader.Block if cut else csv_reader.Rows)


def test_utf16_files_are_parsed_by_the_main_process(tmp_path):
    f = tmp_path / "a.csv"
    f.write_bytes("account_id,name\nA,B\n".encode("utf-16"))
    table = read_table(f, PROJECT.columns, PROJECT.metrics, None)
    assert isinstance(next(table.blocks(10)), csv_reader.Rows)


QUOTED = st.one_of(CELLS, st.sampled_from(['a "b"', "x,y", "line\nbreak", "cr\r\nlf", '"', "5\" screen", ""]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.one_of(st.lists(QUOTED, min_size=len(COLUMNS), max_size=len(COLUMNS)),
                               st.lists(QUOTED, max_size=len(COLUMNS) + 2), st.just([])), max_size=25),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), newline=st.sampled_from(["\n", "\r\n"]),
       encoding=st.sampled_from(["utf-8", "utf-16"]), chunk_size=st.integers(1, 7))
def test_rows_parsed_by_the_main_process_read_as_the_whole_file_does(rows, quoting, newline, encoding, chunk_size):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline, quoting=quoting)
    w.writerow(COLUMNS)
    w.writerows(rows)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "accounts.csv"
        f.write_bytes(buf.getvalue().encode(encoding, errors="replace"))
        cut = run(f, Path(d) / "rows", chunk_size)
        original = csv_reader._blocks
        csv_reader._blocks = lambda *a, **k: None  # the same run, read as one stream in the main process
        try:
            whole = run(f, Path(d) / "whole", chunk_size)
        finally:
            csv_reader._blocks = original
    assert cut == whole
