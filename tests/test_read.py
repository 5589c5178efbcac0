"""engine/run/read.py, the one way input is read: `kam evaluate` and the commands that read accounts
in their own process (diff, explain, explain --run, inspect) accept and reject the same
records for the same reasons, whatever the chunk size - on exports as people make them."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from cli import main
from engine.project.load import load_project
from engine.run.portfolio import WRITTEN
from engine.run.read import Accepted, Rejected, read_accounts
from engine.tools.audit import find_account

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT)
AS_OF = "2026-11-23"
HEADER = ["account_id", "name", "status", "revenue_current", "revenue_previous", "margin_pct", "nps",
          "payment_overdue_days"]


def kam(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def messy_csv(path: Path) -> Path:
    """Title rows above the header, ';' and decimal commas, percent cells, a subtotal by its
    words and one by its sums, a duplicate id, a bad value, a row without an id, a grand total."""
    rows = [["Отчёт по клиентам, ноябрь 2026"], ["Выгружено 01.11.2026"], [], HEADER,
            ["M1", "Альфа", "active", "1 000,50", "1 200,00", "12,5%", "9", "0"],
            ["M2", "Бета", "active", "2 000,25", "1 900,00", "30 %", "3", "45"],
            ["M3", "Гамма", "active", "500", "800", "7,5", "6", "0"],
            ["", "Итого по группе", "", "3 500,75", "3 900,00", "", "", ""],
            ["M4", "Дельта", "active", "300", "300", "abc", "8", "0"],
            ["M5", "Эпсилон", "lost", "0", "600", "5", "2", "0"],
            ["M1", "Альфа ещё раз", "active", "10", "10", "1", "1", "0"],
            ["", "", "", "310", "910", "", "", ""],
            ["", "Меридиан", "active", "10", "10", "", "", ""],
            ["M6", "Жёлтый", "active", "40,5", "45", "", "11", "0"],
            ["M6", "Жёлтый", "active", "40,5", "45", "", "10", "0"],
            ["ВСЕГО:", "", "", "3 901,75", "4 910,00", "", "", ""],
            ["", "", "", "3 901,75", "4 910,00", "", "", ""]]
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f, delimiter=";").writerows(rows)
    return path


def messy_workbook(path: Path) -> Path:
    """A title and a blank row above the header, percent-formatted margins, an Excel error cell,
    an empty row among the accounts and a bold totals row."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Ключевые клиенты"])
    ws.append([])
    ws.append(HEADER)
    for row in (["X1", "Один", "active", 1500.5, 2000, 0.125, 9, 0], ["X2", "Два", "active", 800, 700, 0.3, 4, 40],
                [], ["X3", "Три", "active", "#N/A", 100, 0.05, 7, 0], ["X1", "Один", "active", 5, 5, 0.1, 5, 0],
                ["X4", "Четыре", "lost", 0, 300, -0.02, 2, 0]):
        ws.append(row)
        if row:
            ws.cell(ws.max_row, 6).number_format = "0.0%"
    ws.append(["Итого", None, None, 2305.5, 3105])
    book.save(path)
    return path


def evaluated(path: Path, out: Path) -> tuple[list[dict], list[dict]]:
    r = kam("evaluate", path, "--out", out, "--as-of", AS_OF, "--no-store", "--no-documents",
            "--max-rejected", "100")
    assert r.exit_code == 0, r.output
    results = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text("utf-8").splitlines()]
    return results, rejected


@pytest.fixture(params=["csv", "xlsx"])
def messy(request, tmp_path) -> Path:
    return messy_csv(tmp_path / "export.csv") if request.param == "csv" else messy_workbook(tmp_path / "export.xlsx")


@pytest.mark.parametrize("chunk_size", [5000, 2])
def test_the_reader_accepts_and_rejects_what_evaluate_does(tmp_path, messy, chunk_size):
    results, rejected = evaluated(messy, tmp_path / "out")
    with read_accounts(PROJECT, [messy], chunk_size=chunk_size) as stream:
        chunks = list(stream.chunks())
        read = stream.read
    accepted = [a for c in chunks for a in c.accepted]
    assert read == len(results) + len(rejected) == sum(c.read for c in chunks)
    # the same rejections, reasons and totals rows, in the same order, as rejected.jsonl has them
    assert [r.as_dict() for c in chunks for r in c.rejected] == rejected
    assert any(r["reason"].startswith("totals row") for r in rejected)
    assert any("duplicate account_id" in r["reason"] for r in rejected)
    # the same accounts, with the portfolio pass's values evaluate gave them (shares, ABC, ...)
    assert [a.account_id for a in accepted] == [r["account_id"] for r in results]
    for a, r in zip(accepted, results):
        assert {k: a.values[k] for k in WRITTEN} == {k: r[k] for k in WRITTEN}
        assert [a.values[k] for k in ("revenue_current", "revenue_previous", "nps")] == [
            r[k] for k in ("revenue_current", "revenue_previous", "nps")]
    # percent cells read as % (results do not carry margin_pct): "12,5%" and a 0.125 formatted 0.0%
    assert [a.values.get("margin_pct") for a in accepted] == (
        [12.5, 30.0, 7.5, 5.0, None] if messy.suffix == ".csv" else [12.5, 30.0, -2.0])


def test_diff_and_explain_see_the_records_evaluate_sees(tmp_path, messy):
    results, rejected = evaluated(messy, tmp_path / "out")
    report = json.loads(kam("diff", messy, "--project", ROOT, "--base", ROOT, "--as-of", AS_OF, "--json").output)
    assert (report["accounts_read"], report["accounts_compared"]) == (len(results) + len(rejected), len(results))
    assert report["evaluated_by_base_only"] == report["evaluated_by_current_only"] == []
    for r in results:
        out = kam("explain", r["account_id"], messy, "--project", ROOT, "--as-of", AS_OF)
        assert out.exit_code == 0 and out.output.startswith(f"Account {r['account_id']} (")
        assert f"risk level {r['risk_level']}" in out.output.splitlines()[0]
    evaluated_ids = {r["account_id"] for r in results}
    for r in rejected:
        if r["account_id"] is None or r["account_id"] in evaluated_ids:
            continue  # no id to ask for, or a duplicate: explain shows the account evaluated
        first = next(x for x in rejected if x["account_id"] == r["account_id"])
        out = kam("explain", r["account_id"], messy, "--project", ROOT, "--as-of", AS_OF)
        assert out.exit_code == 1
        assert out.output == (f"kam: account '{r['account_id']}' was rejected: {first['source']} row "
                              f"{first['row']}: {first['reason']}\n")


def test_explain_takes_a_later_row_that_is_accepted_over_an_earlier_rejected_one(tmp_path):
    f = messy_csv(tmp_path / "export.csv")  # M6: nps 11 on row 14, then 10 on row 15
    found = find_account(PROJECT, [f], "M6")
    assert isinstance(found, Accepted) and (found.row, found.values["nps"]) == (15, 10)
    found = find_account(PROJECT, [f], "M4")
    assert isinstance(found, Rejected) and (found.row, found.reason) == (9, "margin_pct: expected a number, got 'abc'")
    assert [(e.field, e.reason) for e in found.errors] == [("margin_pct", "expected a number, got 'abc'")]
    assert find_account(PROJECT, [f], "M9") is None


def test_a_stream_stopped_early_leaves_no_spill(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    f = messy_csv(tmp_path / "export.csv")
    with read_accounts(PROJECT, [f], chunk_size=2) as stream:
        first = next(iter(stream))
        assert list((tmp_path / "tmp").iterdir())  # the other chunks wait on disk
    assert first.row == 5 and isinstance(first, Accepted)
    assert list((tmp_path / "tmp").iterdir()) == []
