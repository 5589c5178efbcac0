"""Readers: the same portfolio in every format gives the same results; sniffing, mapping,
row numbers, rejections and whole-file errors."""
from __future__ import annotations

import csv
import json
import shutil
import tracemalloc
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from reading import read_inputs

from cli import main
from engine.errors import KamError
from engine.io.readers import read_table
from engine.io.records import parse_number
from engine.project.load import load_project

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT)
NBSP = "\u00a0"


def portfolio(n: int = 30) -> tuple[list[str], list[dict[str, str]]]:
    with (ROOT / "examples" / "accounts.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = [r for _, r in zip(range(n), reader)]
    return list(rows[0]), rows


def kind(column: str) -> str:
    m = PROJECT.metrics.get(column)
    return m.type if m is not None else "text"


def typed(column: str, text: str):
    if text == "":
        return None
    t = kind(column)
    if t == "number":
        return float(text)
    if t == "integer":
        return int(text)
    if t == "boolean":
        return text.lower() in ("yes", "true", "1")
    return text


def russian(column: str, text: str) -> str:
    """How a Russian-locale spreadsheet exports a cell: да/нет, 1 234 567,89."""
    t = kind(column)
    if text == "" or t == "text":
        return text
    if t == "boolean":
        return "да" if text.lower() in ("yes", "true", "1") else "нет"
    if "e" in text.lower():
        return text.replace(".", ",")
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, frac = digits.partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return sign + NBSP.join([whole] + groups) + ("," + frac if frac else "")


def write_formats(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """The same 30 accounts in every supported shape -> {label: (file, extra CLI args)}."""
    cols, rows = portfolio()
    values = [{c: typed(c, r[c]) for c in cols} for r in rows]
    out: dict[str, tuple[Path, list[str]]] = {}

    plain = folder / "plain.csv"
    with plain.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows([r[c] for c in cols] for r in rows)
    out["csv"] = (plain, [])

    tsv = folder / "tabs.tsv"
    with tsv.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL)  # quoted headers too
        w.writerow(cols)
        w.writerows([r[c] for c in cols] for r in rows)
    out["tsv quoted"] = (tsv, [])

    for enc, name in (("utf-8-sig", "ru_bom.csv"), ("cp1251", "ru_1251.csv")):
        path = folder / name
        with path.open("w", encoding=enc, newline="") as f:
            w = csv.writer(f, delimiter=";", lineterminator="\r\n")
            w.writerow(cols)
            w.writerows([russian(c, r[c]) for c in cols] for r in rows)
        out[f"russian {enc}"] = (path, [])

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active["A1"] = "exported from CRM"  # the accounts are on the second sheet
    sheet = book.create_sheet("Accounts")
    sheet.append(cols)
    for v in values:
        sheet.append([v[c] for c in cols])
    xlsx = folder / "book.xlsx"
    book.save(xlsx)
    out["xlsx"] = (xlsx, ["--sheet", "Accounts"])

    jsonl = folder / "accounts.jsonl"
    with jsonl.open("w", encoding="utf-8") as f:
        for v in values:
            f.write(json.dumps({k: x for k, x in v.items() if x is not None}, ensure_ascii=False) + "\n")
    out["jsonl"] = (jsonl, [])

    arrow = {"number": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(), "text": pa.string()}
    table = pa.table({c: pa.array([v[c] for v in values], type=arrow[kind(c)]) for c in cols})
    parquet = folder / "accounts.parquet"
    pq.write_table(table, parquet)
    out["parquet"] = (parquet, [])
    return out


def evaluate(path: Path, out: Path, *args: str, project: Path | None = None):
    argv = ["evaluate", str(path), "--out", str(out), "--as-of", "2026-11-23", *args]
    if project is not None:
        argv += ["--project", str(project)]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def test_the_same_portfolio_in_every_format_gives_identical_results(tmp_path):
    formats = write_formats(tmp_path)
    texts = {}
    for label, (path, args) in formats.items():
        r = evaluate(path, tmp_path / f"out-{path.stem}", *args)
        assert r.exit_code == 0, (label, r.output)
        assert "30 accounts read: 30 evaluated, 0 rejected" in r.output, (label, r.output)
        texts[label] = (tmp_path / f"out-{path.stem}" / "results.jsonl").read_text("utf-8")
    reference = texts["csv"]
    results = [json.loads(line) for line in reference.splitlines()]
    assert len(results) == 30 and len({r["risk_level"] for r in results}) > 1  # not a trivial portfolio
    for label, text in texts.items():
        assert text == reference, f"{label} differs from the plain CSV"
    # the Russian export really is one: decimal commas, no-break spaces, да/нет
    ru = formats["russian cp1251"][0].read_bytes()
    assert "да".encode("cp1251") in ru and f"{NBSP}".encode("cp1251") in ru


def test_a_crm_export_is_read_as_it_is_through_the_column_mapping(tmp_path):
    proj = tmp_path / "proj"
    for part in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / part, proj / part)
    renames = {"account_id": "ИД клиента", "name": "Наименование", "revenue_current": "Выручка, руб.",
               "strategic": "Стратегический", "nps": "NPS"}  # NPS: headers match metric ids in any case
    config = yaml.safe_load((ROOT / "kam.yaml").read_text("utf-8"))
    config["columns"] = {v: k for k, v in renames.items() if k != "nps"}
    (proj / "kam.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    cols, rows = portfolio()
    export = tmp_path / "crm.csv"
    with export.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow([renames.get(c, c) for c in cols] + ["Комментарий"])
        w.writerows([russian(c, r[c]) for c in cols] + ["звонить после обеда"] for r in rows)
    plain = tmp_path / "plain.csv"
    with plain.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerows([r[c] for c in cols] for r in rows)
    mapped = evaluate(export, tmp_path / "o1", project=proj)
    direct = evaluate(plain, tmp_path / "o2", project=proj)
    assert mapped.exit_code == 0 and direct.exit_code == 0, mapped.output
    assert ((tmp_path / "o1" / "results.jsonl").read_text("utf-8")
            == (tmp_path / "o2" / "results.jsonl").read_text("utf-8"))
    assert "ignored unknown columns: Комментарий" in mapped.output
    summary = json.loads((tmp_path / "o1" / "summary.json").read_text("utf-8"))
    assert summary["ignored_columns"] == {str(export): ["Комментарий"]}


def rows_of(path: Path, **kw) -> list[tuple[int, dict, str | None]]:
    table = read_table(path, known=kw.pop("known", PROJECT.metrics), **kw)
    return [(r.row, r.cells, r.problem) for r in table.records]


@pytest.mark.parametrize("text, decimal_comma, expected", [
    ("1 234,5", True, 1234.5), (f"1{NBSP}234,5", True, 1234.5), ("1.234,5", True, 1234.5),
    ("1,234.5", False, 1234.5), ("1,234.5", True, 1234.5), ("1,234", False, 1234.0), ("1,234", True, 1.234),
    ("12,5", False, 12.5), ("1.234.567", True, 1234567.0), ("1,234,567", True, 1234567.0),
    ("-1 000", False, -1000.0), ("\u22125", False, -5.0), ("1e3", False, 1000.0), ("1'234.5", False, 1234.5),
])
def test_numbers_as_spreadsheets_write_them(text, decimal_comma, expected):
    assert parse_number(text, decimal_comma) == expected


@pytest.mark.parametrize("text", ["1.2.3", "1,2,3", "1.23,4", "12.345,678.9", "", "abc", "1 2x", "--1"])
def test_malformed_numbers_are_not_guessed(text):
    with pytest.raises(ValueError):
        parse_number(text, True)


@pytest.mark.parametrize("content, expected", [
    ('"account_id","name, full","nps"\nA1,"Acme, Inc",7\n', {"account_id": "A1", "nps": "7"}),
    ('"account_id";"name, full";"nps"\nA1;"Acme, Inc";7\n', {"account_id": "A1", "nps": "7"}),
    ("account_id|nps|owner\nA1|7|Ann; Bob\n", {"account_id": "A1", "nps": "7", "owner": "Ann; Bob"}),
    ("sep=;\naccount_id;nps,x\nA1;7,x\n", {"account_id": "A1"}),  # Excel's delimiter line
    ("account_id\nA1\n", {"account_id": "A1"}),  # one column: no delimiter at all
])
def test_delimiter_is_sniffed_with_quotes_respected(tmp_path, content, expected):
    f = tmp_path / "a.csv"
    f.write_text(content, "utf-8")
    [(row, cells, problem)] = rows_of(f)
    assert problem is None and row == (3 if content.startswith("sep=") else 2)
    assert {k: v for k, v in cells.items() if k in expected} == expected


def test_decimal_mark_is_voted_by_the_data(tmp_path):
    dot = tmp_path / "dot.csv"
    dot.write_text("account_id;revenue_current;margin_pct\nA1;1234.5;12.5\nA2;10.25;1\n", "utf-8")
    comma = tmp_path / "comma.tsv"
    comma.write_text("account_id\trevenue_current\nB1\t1,5\nB2\t2,25\n", "utf-8")
    assert read_table(dot, known=PROJECT.metrics).decimal_comma is False  # ';' but dot decimals
    assert read_table(comma, known=PROJECT.metrics).decimal_comma is True  # tabs, decimal commas
    loaded = read_inputs(PROJECT, [dot, comma])
    assert [v["revenue_current"] for v in loaded.values] == [1234.5, 10.25, 1.5, 2.25]


def test_windows_1251_is_found_even_after_a_long_ascii_start(tmp_path):
    f = tmp_path / "late.csv"
    lines = ["account_id,name"] + [f"A{i},Acme" for i in range(20000)] + ["Z1,ООО «Ромашка»"]
    f.write_bytes(("\n".join(lines) + "\n").encode("cp1251"))
    assert f.stat().st_size > 65536
    last = list(read_table(f, known=PROJECT.metrics).records)[-1]
    assert last.cells == {"account_id": "Z1", "name": "ООО «Ромашка»"} and last.row == 20002


def test_an_undecodable_line_is_a_rejected_record_naming_the_line(tmp_path):
    """It was the file's error; lines in another encoding are now rejected one by one
    (tests/test_hostile_input.py)."""
    f = tmp_path / "bad.csv"
    f.write_bytes(b"account_id,name\nA1,x\nA2,\x98\n")  # 0x98: invalid in UTF-8 and Windows-1251
    assert [(r.row, r.cells, r.problem) for r in read_table(f, known=PROJECT.metrics).records] == [
        (2, {"account_id": "A1", "name": "x"}, None),
        (3, {"account_id": "A2", "name": "\ufffd"}, "line 3 has the byte 0x98 (column 4), which is no "
                                                    "Windows-1251 character: save the file in one encoding")]


def test_csv_rows_are_file_lines_and_ragged_rows_are_rejected(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text('account_id,name,nps,\n'            # a trailing delimiter on every line is fine
                 'A1,"two\nlines",7,\n'
                 '\n'
                 'A2,Beta,8,\n'
                 'A3,Gamma\n'                          # short row
                 'A4,Delta,9,,extra\n', "utf-8")     # a cell right of the header
    got = rows_of(f)
    assert [(row, problem) for row, _, problem in got] == [
        (2, None), (5, None), (6, "the row has 2 cells but the header has 3"),
        (7, "the row has 5 cells but the header has 3")]
    assert got[0][1] == {"account_id": "A1", "name": "two\nlines", "nps": "7"}


def test_duplicate_and_clashing_headers_are_file_errors(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("account_id,nps,name,nps\nA1,1,x,2\n", "utf-8")
    with pytest.raises(KamError) as exc:
        read_table(dup, known=PROJECT.metrics)
    assert str(exc.value) == f"{dup}:1:4: column 'nps' appears twice (columns 2 and 4)"
    clash = tmp_path / "clash.csv"
    clash.write_text("account_id,Client,name\nA1,x,y\n", "utf-8")
    with pytest.raises(KamError) as exc:
        read_table(clash, {"Client": "name"}, PROJECT.metrics)
    assert str(exc.value) == (f"{clash}:1:3: columns 'Client' (column 2) and 'name' (column 3) "
                              "both give metric 'name'")
    # the same unknown column twice does no harm: it is ignored either way
    notes = tmp_path / "notes.csv"
    notes.write_text("account_id,note,note\nA1,a,b\n", "utf-8")
    table = read_table(notes, known=PROJECT.metrics)
    assert table.unknown == ["note", "note"] and [r.cells for r in table.records] == [{"account_id": "A1"}]


def test_a_missing_required_column_is_one_clear_error(tmp_path):
    f = tmp_path / "ids.csv"
    f.write_text("Account ID,nps\nA1,7\n", "utf-8")
    with pytest.raises(KamError) as exc:
        read_inputs(PROJECT, [f])
    assert str(exc.value) == (f"{f}:1:0: no column for the required metric 'account_id' (is it "
                              "'Account ID'? map a column onto it with `columns:` in kam.yaml)")


@pytest.mark.parametrize("name, content", [
    ("e.csv", b""), ("w.csv", b" \r\n\n"), ("bom.csv", b"\xef\xbb\xbf\n"), ("e.jsonl", b"\n\n"),
    ("e.xlsx", b""), ("e.parquet", b""),
])
def test_empty_files_are_clear_errors(tmp_path, name, content):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(KamError) as exc:
        read_inputs(PROJECT, [f])
    assert str(exc.value).startswith(f"{f}:1:1: the file is empty")


def test_an_empty_sheet_and_a_header_only_file(tmp_path):
    book = openpyxl.Workbook()
    book.save(tmp_path / "blank.xlsx")
    with pytest.raises(KamError, match="sheet 'Sheet' is empty"):
        read_inputs(PROJECT, [tmp_path / "blank.xlsx"])
    (tmp_path / "h.csv").write_text("account_id,nps\n", "utf-8")
    loaded = read_inputs(PROJECT, [tmp_path / "h.csv"])
    assert (loaded.read, loaded.accepted, loaded.rejected) == (0, [], [])


@pytest.mark.parametrize("name, content, message", [
    ("x.xls", b"whatever", "unsupported file type '.xls' (save it as .xlsx)"),
    ("x.xlsx", b"PK\x03\x04 not really a zip", "not a readable .xlsx workbook"),
    ("x.parquet", b"PAR1 nonsense PAR1", "not a readable Parquet file"),
    ("x.csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "this is not a text (CSV) file"),
])
def test_unreadable_files_are_clear_errors_naming_the_file(tmp_path, name, content, message):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(KamError) as exc:
        read_inputs(PROJECT, [f])
    assert str(exc.value).startswith(f"{f}") and message in str(exc.value)


def test_xlsx_cells_keep_their_types_and_rows_are_sheet_rows(tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.append([None])                                    # row 1 empty: the header is row 2
    ws.append(["account_id", "NPS", "strategic", "revenue_current", "lost_reason", "owner"])
    ws.append([1001, 7, True, 1234.5, datetime(2026, 3, 1), "Anna"])
    ws.append([None])                                    # an empty row is no record
    ws.append(["A2", "8", "да", "1 234,5", date(2026, 3, 2), datetime(2026, 3, 2, 10, 30)])
    ws.append(["A3", 7.5, "maybe", -1, None, None, "stray"])  # a cell right of the header
    ws.append(["A4", 11, 1, "#N/A"])
    book.save(tmp_path / "t.xlsx")
    loaded = read_inputs(PROJECT, [tmp_path / "t.xlsx"])
    assert [(a.source, a.row) for a in loaded.accepted] == [(str(tmp_path / "t.xlsx"), 3),
                                                            (str(tmp_path / "t.xlsx"), 5)]
    a1, a2 = loaded.values
    assert (a1["account_id"], a1["nps"], a1["strategic"], a1["revenue_current"], a1["lost_reason"]) == (
        "1001", 7, True, 1234.5, "2026-03-01")
    assert (a2["nps"], a2["strategic"], a2["revenue_current"], a2["lost_reason"], a2["owner"]) == (
        8, True, 1234.5, "2026-03-02", "2026-03-02T10:30:00")
    rejected = {r["row"]: r for r in loaded.rejected}
    assert rejected[6]["errors"] == [{"field": None, "reason": "the row has 7 cells but the header has 6 "
                                                               "(cells right of the header)"}]
    assert {e["field"]: e["reason"] for e in rejected[7]["errors"]} == {
        "nps": "11 is above the maximum 10", "revenue_current": "expected a number, got '#N/A'"}


def test_sheet_option(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "First"
    book.active.append(["account_id"])
    book.active.append(["F1"])
    second = book.create_sheet("Second")
    second.append(["account_id"])
    second.append(["S1"])
    book.save(tmp_path / "b.xlsx")
    first = read_inputs(PROJECT, [tmp_path / "b.xlsx"])
    chosen = read_inputs(PROJECT, [tmp_path / "b.xlsx"], sheet="Second")
    assert [v["account_id"] for v in first.values] == ["F1"]
    assert [v["account_id"] for v in chosen.values] == ["S1"]
    with pytest.raises(KamError) as exc:
        read_inputs(PROJECT, [tmp_path / "b.xlsx"], sheet="Third")
    assert str(exc.value) == f"{tmp_path / 'b.xlsx'}: no sheet 'Third' (sheets: 'First', 'Second')"
    (tmp_path / "a.csv").write_text("account_id\nA\n", "utf-8")
    r = evaluate(tmp_path / "a.csv", tmp_path / "o", "--sheet", "Second")
    assert r.exit_code == 1 and f"{tmp_path / 'a.csv'}: --sheet Second: only .xlsx files have sheets" in r.output


def test_jsonl_bad_lines_are_rejected_records_and_the_run_goes_on(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(b'\xef\xbb\xbf{"account_id": "A1", "nps": 7, "extra": 1}\n'
                  b'\n'
                  b'[1, 2]\n'
                  b'{"account_id": "A3", "nps": \n'
                  b'{"account_id": "A4", "nps": 1, "nps": 2}\n'
                  b'{"account_id": "A5", "nps": NaN, "strategic": "\xd0\xb4\xd0\xb0"}\n'
                  b'{"account_id": "A6", "name": {"a": 1}}\n'
                  b'{"account_id": "A7", "\xff": 1}\n'
                  b'{"ACCOUNT_ID": "A8", "Strategic": "\xd0\xbd\xd0\xb5\xd1\x82"}\n')
    loaded = read_inputs(PROJECT, [f])
    assert loaded.read == 8 == len(loaded.accepted) + len(loaded.rejected)
    assert [(a.row, a.values["account_id"]) for a in loaded.accepted] == [(1, "A1"), (9, "A8")]
    assert loaded.values[1]["strategic"] is False
    reasons = {r["row"]: r["reason"] for r in loaded.rejected}
    assert reasons[3] == "expected a JSON object, got a list"
    assert reasons[4].startswith("not valid JSON:")
    assert reasons[5] == "not a valid record: key 'nps' appears twice"
    assert reasons[6] == "nps: expected a number, got nan"
    assert reasons[7] == "name: expected a single value, got an object"
    assert reasons[8].startswith("the line is not UTF-8 text")
    assert loaded.ignored_columns == {str(f): ["extra"]}


def test_parquet_rows_count_from_two_and_types_are_checked(tmp_path):
    table = pa.table({"account_id": ["P1", "P2", None], "nps": [5, 12, 3],
                      "revenue_current": pa.array([1.5, float("nan"), 2.0]),
                      "lost_reason": pa.array([date(2026, 1, 1), None, None], type=pa.date32()),
                      "unknown_col": [1, 2, 3]})
    pq.write_table(table, tmp_path / "p.parquet")
    loaded = read_inputs(PROJECT, [tmp_path / "p.parquet"])
    assert [(a.row, a.values["account_id"], a.values["lost_reason"]) for a in loaded.accepted] == [
        (2, "P1", "2026-01-01")]
    assert {r["row"]: r["reason"] for r in loaded.rejected} == {
        3: "revenue_current: expected a number, got nan; nps: 12 is above the maximum 10",
        4: "account_id: required value is missing"}
    assert loaded.ignored_columns == {str(tmp_path / "p.parquet"): ["unknown_col"]}


def test_rejected_jsonl_names_file_row_field_and_reason_and_counts_add_up(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("account_id,nps,strategic\nA1,7,yes\nA2,eleven,no\nA1,5,no\n,3,no\nA5,1\n", "utf-8")
    r = evaluate(f, tmp_path / "out", "--max-rejected", "100")
    assert r.exit_code == 0, r.output
    assert "5 accounts read: 1 evaluated, 4 rejected" in r.output
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text("utf-8").splitlines()]
    assert [(x["source"], x["row"], x["account_id"], x["errors"]) for x in rejected] == [
        (str(f), 3, "A2", [{"field": "nps", "reason": "expected a number, got 'eleven'"}]),
        (str(f), 4, "A1", [{"field": "account_id", "reason": f"duplicate account_id 'A1' (first at {f} row 2)"}]),
        (str(f), 5, None, [{"field": "account_id", "reason": "required value is missing"}]),
        (str(f), 6, "A5", [{"field": None, "reason": "the row has 2 cells but the header has 3"}]),
    ]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert (summary["accounts_read"], summary["evaluated"], summary["rejected"]) == (5, 1, 4)


def test_readers_stream_instead_of_loading_the_whole_file(tmp_path):
    n = 40000
    csv_file = tmp_path / "big.csv"
    with csv_file.open("w", encoding="utf-8", newline="") as f:
        f.write("account_id,name,nps,revenue_current\n")
        f.writelines(f"A{i},Company number {i} with a long name,{i % 11},{i * 10.5}\n" for i in range(n))
    jsonl_file = tmp_path / "big.jsonl"
    with jsonl_file.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps({"account_id": f"A{i}", "name": f"Company number {i} with a long name",
                                 "nps": i % 11}) + "\n" for i in range(n))
    pq.write_table(pa.table({"account_id": [f"A{i}" for i in range(n)], "nps": [i % 11 for i in range(n)]}),
                   tmp_path / "big.parquet")
    for path in (csv_file, jsonl_file, tmp_path / "big.parquet"):
        assert path.stat().st_size > 1_000_000 or path.suffix == ".parquet"
        tracemalloc.start()
        try:
            count = sum(1 for _ in read_table(path, known=PROJECT.metrics).records)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == n
        assert peak < 4_000_000, f"{path.name}: {peak} bytes at peak"  # the whole file is ~3 MB+ of objects


def test_file_errors_have_no_traceback_unless_debug(tmp_path):
    f = tmp_path / "dup.csv"
    f.write_text("account_id,nps,NPS\nA1,1,2\n", "utf-8")
    plain = evaluate(f, tmp_path / "out")
    assert plain.exit_code == 1 and "Traceback" not in plain.output
    assert plain.output.strip() == f"{f}:1:3: column 'NPS' appears twice (columns 2 and 3)"
    debug = CliRunner().invoke(main, ["--debug", "evaluate", str(f), "--out", str(tmp_path / "out")],
                               catch_exceptions=False)
    assert debug.exit_code == 1 and "Traceback" in debug.output and "appears twice" in debug.output
    assert not (tmp_path / "out").exists()


def test_a_mapping_onto_no_metric_is_reported_with_the_column(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("account_id,Оценка\nA1,7\n", "utf-8")
    table = read_table(f, {"Оценка": "npss"}, PROJECT.metrics)  # a typo in kam.yaml's columns:
    assert [r.cells for r in table.records] == [{"account_id": "A1"}]
    assert table.unknown == ["Оценка (mapped to 'npss', which is not a metric)"]
