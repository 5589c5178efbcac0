"""Issue 17, hostile input files: a quote never closed, lines in another encoding, and the
limits every reader keeps. Each case ends evaluated, rejected with its reason (and counted),
or refused before anything is written - exit 1 and a message naming the file and line."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from reading import read_inputs

from cli import main
from engine.errors import KamError
from engine.io import csv_text, xlsx_check
from engine.io.readers import read_table
from engine.project.load import load_project

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
    assert not csv_text.scan(f, f.read_bytes()[:100], str(f)).plain  # read by the main process, which stops
    r = evaluate(f, tmp_path / "out")
    assert r.exit_code == 1 and not (tmp_path / "out").exists()


# ---- 6: lines in another encoding -----------------------------------------------------------

def russian_export(n: int = 200) -> list[str]:
    """The example accounts with Cyrillic names (ИП Иванов: И is D0 98 in UTF-8, and 0x98 is
    no Windows-1251 byte - the line the old reader blamed)."""
    lines = [EXAMPLE[0]]
    for i, line in enumerate(EXAMPLE[1:n + 1]):
        aid, _, rest = line.split(",", 2)
        lines.append(f"{aid},ООО «Ромашка-{i}» ИП Иванов,{rest}")
    return lines


def write(path: Path, lines: list[str], encodings: dict[int, str], default: str = "utf-8") -> Path:
    """Lines encoded each as `encodings` says (line number -> codec), the others in `default`
    ('utf-8-sig': UTF-8 after a BOM)."""
    bom = b"\xef\xbb\xbf" if default == "utf-8-sig" else b""
    path.write_bytes(bom + b"".join(x.encode(encodings.get(i, default.replace("-sig", "")))
                                    for i, x in enumerate(lines, start=1)))
    return path


NOT_UTF8 = ("line {line} is not UTF-8 text like the rest of the file (byte 0xCE at column {column}; "
            "Windows-1251?): save the file in one encoding")


def test_one_windows_1251_line_in_a_utf8_file_is_rejected_and_the_rest_reads_right(tmp_path):
    """The whole file was decoded as Windows-1251: every name garbled, exit 0."""
    f = write(tmp_path / "accounts.csv", russian_export(), {51: "cp1251"})
    r = evaluate(f, tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "200 accounts read: 199 evaluated, 1 rejected" in r.output
    rejected = [json.loads(x) for x in (tmp_path / "out" / "rejected.jsonl").read_text("utf-8").splitlines()]
    assert rejected == [{"source": str(f), "row": 51, "account_id": "ACC-0049",
                         "reason": NOT_UTF8.format(line=51, column=10),
                         "errors": [{"field": None, "reason": NOT_UTF8.format(line=51, column=10)}]}]
    results = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text("utf-8").splitlines()]
    names = {x["account_id"]: x["name"] for x in results}
    assert len(names) == 199 and names["ACC-0050"] == "ООО «Ромашка-50» ИП Иванов"


def test_a_bad_line_far_down_is_rejected_at_its_own_line(tmp_path):
    """It was reported at line 31, the first UTF-8 line with a byte Windows-1251 lacks."""
    lines = russian_export()
    lines = lines[:1] + [lines[1 + i % 200].replace("ACC-", f"R{i}-") for i in range(2000)]
    f = write(tmp_path / "accounts.csv", lines, {1501: "cp1251"})
    for records in (read_all(f), blocks(f, 128)):
        assert [(r.row, r.problem) for r in records if r.problem] == [(1501, NOT_UTF8.format(line=1501, column=12))]
        assert len(records) == 2000 and records[29].cells["name"] == "ООО «Ромашка-29» ИП Иванов"


@pytest.mark.parametrize("encodings, default, problems", [
    # a Windows-1251 file with a UTF-8 line: read as Windows-1251 the line would be garbled
    ({4: "utf-8"}, "cp1251", [(4, "line 4 is UTF-8 text in a Windows-1251 file (read as Windows-1251 it would be "
                                  "garbled): save the file in one encoding")]),
    # the first lines do not outvote the file
    ({2: "utf-8", 3: "utf-8"}, "cp1251", [(2, "line 2 is UTF-8 text in a Windows-1251 file (read as Windows-1251 "
                                              "it would be garbled): save the file in one encoding"),
                                          (3, "line 3 is UTF-8 text in a Windows-1251 file (read as Windows-1251 "
                                              "it would be garbled): save the file in one encoding")]),
    ({7: "cp1251"}, "utf-8-sig", [(7, NOT_UTF8.format(line=7, column=10))]),
])
def test_the_majority_of_lines_decides_the_encoding(tmp_path, encodings, default, problems):
    lines = russian_export(8)
    f = write(tmp_path / "a.csv", lines, encodings, default)
    for records in (read_all(f), blocks(f, 3)):
        assert [(r.row, r.problem) for r in records if r.problem] == problems
        good = [r for r in records if not r.problem]
        assert all(r.cells["name"].startswith("ООО «Ромашка-") for r in good) and len(good) == 8 - len(problems)
        assert [r.cells["account_id"] for r in records] == [f"ACC-{i:04d}" for i in range(8)]


def test_a_multi_line_record_with_a_line_in_another_encoding_is_rejected(tmp_path):
    lines = ['account_id,name,nps\n', 'A1,"Альфа\n', 'вторая строка",5\n', 'A2,Бета,6\n']
    f = write(tmp_path / "a.csv", lines, {3: "cp1251"})
    records = read_all(f)
    assert [(r.row, r.cells["account_id"], r.problem) for r in records] == [
        (2, "A1", "line 3 is not UTF-8 text like the rest of the file (byte 0xE2 at column 1; Windows-1251?): "
                  "save the file in one encoding"),
        (4, "A2", None)]


def test_a_header_in_another_encoding_is_the_file_error(tmp_path):
    lines = ["ИД,name\n", "A1,Альфа\n", "A2,Бета\n", "A3,Гамма\n"]
    f = write(tmp_path / "a.csv", lines, {1: "cp1251"})
    with pytest.raises(KamError) as exc:
        read_table(f, {"ИД": "account_id"}, PROJECT.metrics)
    assert str(exc.value) == (f"{f}:1:0: the header: line 1 is not UTF-8 text like the rest of the file (byte 0xC8 "
                              f"at column 1; Windows-1251?): save the file in one encoding")


# ---- 8: limits for every reader ---------------------------------------------------------------

def test_json_lines_over_the_limits_are_rejected_lines(tmp_path):
    f = tmp_path / "a.jsonl"
    wide = {f"k{i}": i for i in range(16_385)}
    with f.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"account_id": "A1", "name": "x" * 1_000_001}) + "\n")
        out.write(json.dumps({"account_id": "A2", "name": "y" * 16_000_000}) + "\n")  # a line of 16,000,036 bytes
        out.write(json.dumps(dict(wide, account_id="A3")) + "\n")
        out.write(json.dumps({"account_id": "A4", "name": "Альфа"}) + "\n")
    assert [(r.row, r.problem) for r in read_all(f)] == [
        (1, "the cell of 'name' is 1000001 characters long; a cell holds at most 1000000"),
        (2, "the line is longer than 16000000 bytes, the most a line may be"),
        (3, "the object has 16386 keys; a record has at most 16384"),
        (4, None)]


def test_csv_lines_and_headers_over_the_limits_refuse_the_file(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("account_id," + ",".join(f"c{i}" for i in range(16_384)) + "\nA1\n", "utf-8")
    with pytest.raises(KamError) as exc:
        read_all(wide)
    assert str(exc.value) == f"{wide}:1:16385: the header has 16385 columns; kam reads at most 16384"
    long = tmp_path / "long.csv"
    long.write_bytes(b"account_id,name\nA1,x\nA2," + b"y" * 16_000_001 + b"\nA3,z\n")
    with pytest.raises(KamError) as exc:
        read_all(long)
    assert str(exc.value) == (f"{long}:3:0: the line is longer than 16000000 bytes, the most a line may be: is this "
                              f"an export of accounts?")

def test_an_account_id_over_256_characters_is_rejected(tmp_path):
    """In the records path and in the workers' column path alike."""
    f = tmp_path / "a.csv"
    f.write_text("account_id,name\n" + "A" * 256 + ",x\n" + "B" * 257 + ",y\n" + "C" * 100000 + ",z\n", "utf-8")
    want = [(3, "account_id: 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB…' is 257 characters long; an account id has at "
                "most 256"),
            (4, "account_id: 'CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC…' is 100000 characters long; an account id has "
                "at most 256")]
    assert [(r["row"], r["reason"]) for r in read_inputs(PROJECT, [f]).rejected] == want
    r = evaluate(f, tmp_path / "out", "--max-rejected", "100")
    assert r.exit_code == 0, r.output
    rejected = [json.loads(x) for x in (tmp_path / "out" / "rejected.jsonl").read_text("utf-8").splitlines()]
    assert [(x["row"], x["reason"]) for x in rejected] == want


def peak_mib(path: Path) -> tuple[str, int]:
    """What reading `path` says, and the reading process's peak memory in MiB (a process of
    its own: calamine and Arrow allocate outside Python, where tracemalloc does not see)."""
    code = ("import resource, sys\nfrom pathlib import Path\nfrom engine.errors import KamError\n"
            "from engine.io.readers import read_table\nfrom engine.project.load import load_project\n"
            f"p = load_project(Path({str(ROOT)!r}))\n"
            "try:\n    said = str(sum(1 for _ in read_table(Path(sys.argv[1]), p.columns, p.metrics).records))\n"
            "except KamError as exc:\n    said = str(exc)\n"
            "status = Path('/proc/self/status')\n"  # VmHWM: this process's own peak (ru_maxrss counts the parent's)
            "hwm = [int(x.split()[1]) for x in status.read_text().splitlines() if x.startswith('VmHWM')] "
            "if status.exists() else [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]\n"
            "print(said)\nprint(hwm[0] // 1024)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    said, peak = done.stdout.rsplit("\n", 2)[:2]
    return said, int(peak)


def dictionary_bomb(path: Path) -> Path:
    """The review's 7 KB file: one 1,000,000-character dictionary value referenced by 3,000 rows."""
    big = pa.DictionaryArray.from_arrays(pa.array([0] * 3000, pa.int32()), pa.array(["x" * 1_000_000]))
    pq.write_table(pa.table({"account_id": [f"A{i}" for i in range(3000)], "name": big}), path, compression="zstd")
    return path


def test_a_parquet_dictionary_bomb_is_refused_before_it_is_read(tmp_path):
    """It took 12.4 GB of memory and wrote 3.1 GB."""
    f = dictionary_bomb(tmp_path / "bomb.parquet")
    assert f.stat().st_size < 10_000
    message = (f"{f}:1001:0: the file's data would take more than 1000000000 bytes as read by this record: kam "
               f"reads at most 1000000000 bytes of a file (a long text repeated by many rows?)")
    r = evaluate(f, tmp_path / "out")
    assert (r.exit_code, r.output) == (1, message + "\n")
    assert not (tmp_path / "out").exists()
    said, peak = peak_mib(f)
    assert said == message and peak < 400, peak


def test_a_parquet_text_over_the_cell_limit_is_its_records_rejection(tmp_path):
    names = pa.array(["Альфа", "y" * 1_000_001, "Бета", "y" * 1_000_001]).dictionary_encode()
    f = tmp_path / "p.parquet"
    pq.write_table(pa.table({"account_id": ["A1", "A2", "A3", "A4"], "name": names}), f)
    loaded = read_inputs(PROJECT, [f])
    assert [v["name"] for v in loaded.values] == ["Альфа", "Бета"]
    reason = "the cell of 'name' is 1000001 characters long; a cell holds at most 1000000"
    assert [(r["row"], r["account_id"], r["reason"]) for r in loaded.rejected] == [(3, "A2", reason), (5, "A4", reason)]


def test_parquet_rows_of_a_repeated_value_count_against_the_limit(tmp_path, monkeypatch):
    """Millions of rows of one value take a few bytes of Parquet: each row counts as read."""
    from engine.io import parquet_reader

    monkeypatch.setattr(parquet_reader, "MAX_UNPACKED", 50_000)
    f = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"account_id": ["A"] * 10_000, "nps": [5] * 10_000}), f)
    with pytest.raises(KamError) as exc:
        read_all(f)
    # a row: 'A' (1 byte) and a number (8 bytes) - the limit passes on row 5,556 + 1
    assert str(exc.value) == (f"{f}:5557:0: the file's data would take more than 50000 bytes as read by this record: "
                              f"kam reads at most 50000 bytes of a file (a long text repeated by many rows?)")


def test_a_parquet_column_of_lists_that_could_unpack_too_far_is_refused(tmp_path, monkeypatch):
    from engine.io import parquet_reader

    f = tmp_path / "lists.parquet"
    pq.write_table(pa.table({"account_id": ["A1", "A2"], "nps": [[1, 2], [3]]}), f)
    assert [r.cells["nps"] for r in read_all(f)] == [[1, 2], [3]]  # within the limit: rejected by the records
    monkeypatch.setattr(parquet_reader, "MAX_UNPACKED", 10)
    with pytest.raises(KamError) as exc:
        read_all(f)
    assert str(exc.value).startswith(f"{f}: column 'nps' holds list<element: int64> values that may unpack to ")
    assert str(exc.value).endswith(" bytes; kam reads at most 10 bytes of a file (and a metric is one value per row)")


# .xlsx: workbooks written by hand, to say what calamine is given

def workbook(path: Path, rows: str, shared: list[str] = (), raw_shared: bytes | None = None) -> Path:
    """A one-sheet workbook ('S') whose sheetData is `rows` (XML) and whose shared texts are
    `shared` (or the sharedStrings part `raw_shared`, written in pieces)."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                   'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override '
                   'PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
                   '"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName='
                   '"/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
                   'sharedStrings+xml"/></Types>')
        z.writestr("_rels/.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
                   f'Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<?xml version="1.0"?><workbook {ns} xmlns:r="{rel}"><sheets><sheet name="S" '
                   f'sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.'
                   f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
                   f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/sharedStrings" '
                   f'Target="sharedStrings.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet {ns}><sheetData>{rows}</sheetData>'
                   f'</worksheet>')
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            if raw_shared is not None:
                out.write(raw_shared)
            else:
                out.write(f'<?xml version="1.0"?><sst {ns}>'.encode())
                for text in shared:
                    out.write(f"<si><t>{text}</t></si>".encode())
                out.write(b"</sst>")
    return path


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


HEAD = f'<row r="1">{inline("A1", "account_id")}{inline("B1", "name")}</row>'


def test_an_xlsx_cell_of_400_mb_in_412_kb_is_refused_unread(tmp_path):
    """It took 1.28 GB and accepted a 400 MB account id."""
    f = tmp_path / "bomb.xlsx"
    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    with zipfile.ZipFile(workbook(tmp_path / "base.xlsx", HEAD + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>',
                                  ["x"])) as base, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        for item in base.infolist():
            if item.filename != "xl/sharedStrings.xml":
                z.writestr(item.filename, base.read(item.filename))
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(b'<?xml version="1.0"?><sst ' + ns + b"><si><t>")
            for _ in range(400):
                out.write(b"x" * 1_000_000)
            out.write(b"</t></si></sst>")
    info = zipfile.ZipFile(f).getinfo("xl/sharedStrings.xml")
    assert f.stat().st_size < 450_000 and info.file_size > 400_000_000
    message = (f"{f}: the workbook's part xl/sharedStrings.xml unpacks to {info.file_size} bytes from "
               f"{info.compress_size} ({info.file_size // info.compress_size} times): kam reads parts that unpack to "
               f"at most 100 times their size (a zip bomb?)")
    said, peak = peak_mib(f)
    assert said == message and peak < 200, peak


def test_a_cell_far_out_is_refused_before_calamine_aborts(tmp_path):
    """A 5 KB workbook with one cell at XFD1048576: calamine asked for 512 GiB and aborted
    the process. Written in the common way, or otherwise (lowercase, quotes, no reference)."""
    for name, far in [("common", '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'),
                      ("lower", "<row r='1048576'><c r='xfd1048576'><v>1</v></c></row>"),
                      ("unreferenced", '<row r="999999">' + "<c><v>1</v></c>" * 100 + "</row>")]:
        f = workbook(tmp_path / f"{name}.xlsx", HEAD + f'<row r="2">{inline("A2", "A1")}</row>' + far)
        cell, span, cells = {"common": ("XFD1048576", "A1:XFD1048576", 17179869184),
                             "lower": ("XFD1048576", "A1:XFD1048576", 17179869184),
                             "unreferenced": ("BI999999", "A1:BI999999", 60999939)}[name]  # the 61st passes
        row, col = int(cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), csv_column(cell)
        said, peak = peak_mib(f)
        assert said == (f"{f}[S]:{row}:{col}: the sheet's cells span {span}, {cells} cells; "
                        f"kam reads sheets of at most 60000000 cells (is this cell, {cell}, a stray one?)"), said
        assert peak < 200


def csv_column(ref: str) -> int:
    n = 0
    for ch in ref:
        if not ch.isalpha():
            break
        n = n * 26 + ord(ch) - 64
    return n


def test_a_long_shared_text_shown_by_many_cells_is_refused(tmp_path):
    """A 1,000,000-character text shown by 1,100 cells: calamine makes a copy for each cell."""
    import random

    text = "".join(random.Random(7).choices("abcdefghijklmnopqrstuvwxyz", k=1_000_000))  # no zip bomb
    rows = HEAD + "".join(f'<row r="{i}">{inline(f"A{i}", f"A{i}")}<c r="B{i}" t="s"><v>0</v></c></row>'
                          for i in range(2, 1102))
    f = workbook(tmp_path / "shared.xlsx", rows, [text])
    said, peak = peak_mib(f)
    assert said == (f"{f}[S]:1001:2: the sheet's cells repeat its shared texts to more than 1000000000 bytes by this "
                    f"cell, B1001; kam reads at most 1000000000 (one long text shown by many cells?)")
    assert peak < 200


def test_xlsx_cells_over_the_limits_are_their_records_rejection(tmp_path):
    import random

    text = "".join(random.Random(7).choices("abcdefghijklmnopqrstuvwxyz", k=1_000_001))
    rows = (HEAD + f'<row r="2">{inline("A2", "A1")}{inline("B2", text)}</row>'
            f'<row r="3">{inline("A3", "Z" * 257)}{inline("B3", "Альфа")}</row>'
            f'<row r="4">{inline("A4", "A4")}{inline("B4", "Бета")}</row>')
    f = workbook(tmp_path / "long.xlsx", rows)
    loaded = read_inputs(PROJECT, [f])
    assert [(r["row"], r["reason"]) for r in loaded.rejected] == [
        (2, "the cell of 'name' is 1000001 characters long; a cell holds at most 1000000"),
        (3, "account_id: 'ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ…' is 257 characters long; an account id has "
            "at most 256")]
    assert [v["account_id"] for v in loaded.values] == ["A4"]


def test_a_workbook_that_unpacks_past_the_limit_is_refused(tmp_path, monkeypatch):
    from engine.io import xlsx_check

    f = workbook(tmp_path / "a.xlsx", HEAD + f'<row r="2">{inline("A2", "A1")}</row>')
    monkeypatch.setattr(xlsx_check, "MAX_UNPACKED", 1000)
    total = sum(i.file_size for i in zipfile.ZipFile(f).infolist())
    with pytest.raises(KamError) as exc:
        read_all(f)
    assert str(exc.value) == f"{f}: the workbook unpacks to {total} bytes; kam reads at most 1000 (a zip bomb?)"


def test_the_readme_lists_the_limits_the_readers_keep():
    from engine.io import limits

    readme = (ROOT / "docs" / "limits.md").read_text("utf-8")
    section = readme[readme.index("**Input files**"):]
    section = section.split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| limit")}
    assert rows == {
        "a cell": f"{limits.MAX_FIELD:,} characters",
        "an account id": f"{limits.MAX_ID:,} characters",
        "a line": f"{limits.MAX_LINE:,} bytes",
        "columns": f"{limits.MAX_COLUMNS:,} (Excel's own)",
        "unpacked size": f"{limits.MAX_UNPACKED:,} bytes",
        "packing": f"{limits.MAX_RATIO} times",
        "a sheet's used range": f"{limits.MAX_SHEET_CELLS:,} cells",
    }
    assert f"over {xlsx_check.GRACE // (1 << 20)} MB" in section
