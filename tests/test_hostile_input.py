"""Issue 17, hostile input files: a quote never closed, lines in another encoding, and the
limits every reader keeps. Each case ends evaluated, rejected with its reason (and counted),
or refused before anything is written - exit 1 and a message naming the file and line."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.accounts import load_accounts
from engine.errors import KamError
from engine.io import csv_reader
from engine.io.readers import read_table
from engine.project import load_project

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT)
AS_OF = "2026-11-23"
EXAMPLE = (ROOT / "examples" / "accounts.csv").read_text("utf-8").splitlines(keepends=True)


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def evaluate(path: Path, out: Path, *extra) -> object:
    return run("evaluate", path, "--project", ROOT, "--out", out, "--as-of", AS_OF, "--no-store", *extra)


def read_all(path: Path) -> list:
    """Every record, read as one stream (`records`) and as the workers get it (`blocks`)."""
    table = read_table(path, PROJECT.columns, PROJECT.metrics)
    return list(table.records)


def blocks(path: Path, size: int = 7) -> list:
    table = read_table(path, PROJECT.columns, PROJECT.metrics)
    return [r for b in table.blocks(size) for r in b.records()]


def both_refuse(path: Path) -> str:
    """The error of the file, the same whether read as one stream or in blocks."""
    messages = []
    for how in (read_all, blocks):
        with pytest.raises(KamError) as exc:
            how(path)
        messages.append(str(exc.value))
    assert messages[0] == messages[1]
    return messages[0]


# ---- 2: a quote that is never closed ------------------------------------------------------

UNCLOSED = ('a quote opens a cell here and is never closed, so the rest of the file (to line {last}) would '
            'read as this one cell: close the quote (a quote that is part of the text is written twice: "")')


def unclosed_export(tmp_path: Path) -> Path:
    """The 200-account example with line 6 as the review found it: ACC-0004,"АО «Амур Транс»,…"""
    lines = list(EXAMPLE)
    assert lines[5].startswith("ACC-0004,")
    lines[5] = lines[5].replace("ACC-0004,", 'ACC-0004,"АО «Амур Транс»,', 1)
    f = tmp_path / "accounts.csv"
    f.write_text("".join(lines), "utf-8")
    return f


def test_an_unclosed_quote_refuses_the_file_at_its_line(tmp_path):
    """It swallowed the rest of the file: '5 accounts read: 4 evaluated, 1 rejected', exit 0."""
    f = unclosed_export(tmp_path)
    r = evaluate(f, tmp_path / "out")
    assert (r.exit_code, r.output) == (1, f"{f}:6:10: " + UNCLOSED.format(last=201) + "\n")
    assert not (tmp_path / "out").exists()
    assert both_refuse(f) == f"{f}:6:10: " + UNCLOSED.format(last=201)


@pytest.mark.parametrize("text, line, col", [
    # the quote opens on the record's second line, after a cell with a line break
    ('account_id,name,nps\nA1,x,1\nA2,"two\nlines",2\nA3,"open,3\nA4,y,4\n', 5, 4),
    ('account_id,name,nps\nA1,"a\nb","c\r\nd\ne"\nA2,x,"open\n', 6, 6),
    ('account_id,name,nps\r\nA1,x,"open\r\n', 2, 6),
    ('account_id,name,nps\nA1,x,"open', 2, 6),  # no line feed at the end
    ('account_id,"name,nps\nA1,x,1\n', 1, 12),  # in the header
    ('account_id;name;nps\nA1;"a ""quoted"" word";"1\n', 2, 24),  # doubled quotes are text
])
def test_the_error_names_the_line_and_column_where_the_quote_opens(tmp_path, text, line, col):
    f = tmp_path / "a.csv"
    f.write_text(text, "utf-8")
    last = text.count("\n") + (0 if text.endswith("\n") else 1)
    with pytest.raises(KamError) as exc:
        read_all(f)
    assert str(exc.value) == f"{f}:{line}:{col}: " + UNCLOSED.format(last=last)


@pytest.mark.parametrize("text", [
    'account_id,name\nA1,"x"',  # the last cell quoted and closed, no line feed
    'account_id,name\nA1,x',
    'account_id,name\nA1,"x\ny"\n',
    'account_id,name\nA1,5" screen\n',  # a quote inside a cell opens nothing
    'account_id,name\nA1,"say ""hi"""\n',
])
def test_closed_quotes_read_as_before(tmp_path, text):
    import csv
    import io

    f = tmp_path / "a.csv"
    f.write_text(text, "utf-8")
    want = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert [[r.cells["account_id"], r.cells["name"]] for r in read_all(f)] == want


def test_an_unclosed_quote_in_a_large_file_stops_at_the_cell_limit(tmp_path):
    """The cell would pass 1,000,000 characters before the end of the file: then too the
    lines below are not lost into one rejected record."""
    f = tmp_path / "big.csv"
    rows = [f"A{i},Company {i:06d} with a long enough name,{i % 10}\n" for i in range(40000)]
    rows[2] = 'A2,"Company 2,2\n'
    f.write_text("account_id,name,nps\n" + "".join(rows), "utf-8")
    assert f.stat().st_size > 1_500_000
    reached = 4 + sum(1 for _ in _until(rows[3:], 1_000_000))
    assert both_refuse(f) == (
        f"{f}:4:4: a quote opens a cell here and is not closed within 1000000 characters (by line {reached}), so "
        f"the lines below would read as this one cell: close the quote (a quote that is part of the text is "
        f'written twice: ""), or shorten the cell')


def _until(rows: list[str], size: int):
    """The rows a cell opened on the row before takes in up to `size` characters."""
    total = len("Company 2,2\n")
    for r in rows:
        if total >= size:
            return
        total += len(r)
        yield r


def test_a_cell_over_the_limit_refuses_the_file(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("account_id,name\nA1,x\nA2," + "y" * 1_000_001 + "\nA3,z\n", "utf-8")
    assert both_refuse(f) == (f"{f}:3:0: a cell on this line is longer than 1000000 characters, the most a "
                              f"cell may hold: shorten it (is this an export of accounts?)")
    assert not csv_reader._plain_lines(f)  # the main process reads it, and stops at it
    r = evaluate(f, tmp_path / "out")
    assert r.exit_code == 1 and not (tmp_path / "out").exists()
