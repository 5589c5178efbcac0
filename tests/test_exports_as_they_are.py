"""Excel and CRM exports as people make them (issue 15): titles above the header, two-row
merged headers, percent-formatted cells, Excel dates, empty rows, totals and subtotal rows -
each with the exact results and rejections expected, as .xlsx (made with openpyxl, as Excel
would save them) and as CSV where it applies."""
from __future__ import annotations

import csv
import json
import shutil
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import pytest
import yaml
from click.testing import CliRunner
from reading import read_inputs

from cli import main
from engine.errors import KamError
from engine.io.table import plain, row_problem
from engine.io.xlsx_formats import is_percent
from engine.project.load import load_project
from engine.run.accounts import read_input

ROOT = Path(__file__).resolve().parent.parent
TITLE = "Отчёт по ключевым клиентам"
REVENUE = "Выручка, руб."
CURRENT, PREVIOUS = "текущий период", "прошлый период"
COLUMNS = {"ИД клиента": "account_id", "Клиент": "name", f"{REVENUE} / {CURRENT}": "revenue_current",
           f"{REVENUE} / {PREVIOUS}": "revenue_previous", "Доля выручки": "revenue_share_pct",
           "Последняя встреча": "lost_reason", "Менеджер": "owner"}
HEADER = ["ИД клиента", "Клиент", REVENUE, None, "Доля выручки", "Последняя встреча"]
SUB = [None, None, CURRENT, PREVIOUS, None, None]
# id, name, revenue now, revenue before, share, last meeting
ACCOUNTS = [("A1", "Альфа", 500000, 520000, 0.25, date(2026, 10, 1)),
            ("A2", "Бета", 700000, 690000, 0.35, datetime(2026, 9, 15, 0, 0)),
            ("A3", "Гамма", 300000, 310000, 0.15, None),
            ("A4", "Дельта", 250000, 300000, 0.125, datetime(2026, 8, 3, 14, 30)),
            ("A5", "Эпсилон", 250000, 240000, 0.125, None)]
# what every reader must make of them: id, revenue now and before, share in %, dependency
EXPECTED = [("A1", 500000.0, 520000.0, 25.0, "risky"), ("A2", 700000.0, 690000.0, 35.0, "risky"),
            ("A3", 300000.0, 310000.0, 15.0, "none"), ("A4", 250000.0, 300000.0, 12.5, "none"),
            ("A5", 250000.0, 240000.0, 12.5, "none")]
# the Excel date cells, as text (the model has no date type; results do not carry lost_reason)
MEETINGS = ["2026-10-01", "2026-09-15", None, "2026-08-03T14:30:00", None]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The default project, with kam.yaml mapping the export's columns."""
    proj = tmp_path / "proj"
    for part in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / part, proj / part)
    config = yaml.safe_load((ROOT / "kam.yaml").read_text("utf-8"))
    config["columns"] = COLUMNS
    (proj / "kam.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return proj


def with_config(project: Path, **settings) -> Path:
    config = yaml.safe_load((project / "kam.yaml").read_text("utf-8"))
    config.update(settings)
    (project / "kam.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return project


def evaluate(path: Path, out: Path, project: Path, *extra: str):
    r = CliRunner().invoke(main, ["evaluate", str(path), "--out", str(out), "--as-of", "2026-11-23",
                                  "--project", str(project), "--no-store", "--no-documents", *extra],
                           catch_exceptions=False)
    results = [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8").splitlines()] \
        if r.exit_code == 0 else []
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text("utf-8").splitlines()] \
        if r.exit_code == 0 else []
    return r, results, rejected


def shown(results: list[dict]) -> list[tuple]:
    return [(x["account_id"], x["revenue_current"], x["revenue_previous"], x["revenue_share_pct"],
             x["dependency"]) for x in results]


def sales_ops_workbook(path: Path) -> Path:
    """Titles, an export date and a blank row above a two-row merged header; shares formatted
    as percent; an empty row among the accounts; a bold totals row at the bottom."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Клиенты"
    ws.append([TITLE])
    ws.merge_cells("A1:F1")
    ws.append(["Выгружено 01.11.2026"])
    ws.append([])
    ws.append(HEADER)
    ws.append(SUB)
    for col in "ABEF":
        ws.merge_cells(f"{col}4:{col}5")
    ws.merge_cells("C4:D4")
    for i, account in enumerate(ACCOUNTS):
        if i == 3:
            ws.append([])  # an empty row between accounts is no record
        ws.append(list(account))
        ws.cell(ws.max_row, 5).number_format = "0%" if i % 2 else "0.0%"  # built-in and custom
        ws.cell(ws.max_row, 6).number_format = "dd.mm.yyyy"
    ws.append(["Итого", None, 2000000, 2060000, 1])
    ws.cell(ws.max_row, 5).number_format = "0%"
    for cell in ws[ws.max_row]:
        cell.font = openpyxl.styles.Font(bold=True)
    book.save(path)
    return path


def test_a_sales_ops_workbook_reads_as_people_see_it(tmp_path, project):
    xlsx = sales_ops_workbook(tmp_path / "report.xlsx")
    r, results, rejected = evaluate(xlsx, tmp_path / "out", project)
    assert r.exit_code == 0, r.output
    assert "6 accounts read: 5 evaluated, 1 rejected, 1 of them a totals row (see" in r.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    # a totals row is no sign of a broken export: the data-quality gate leaves it out
    assert (summary["totals_rows"], summary["quality_gate"]["rejected_pct"]) == (1, 0.0)
    assert shown(results) == EXPECTED  # shares in %, the totals row no account, dates as dates
    assert [x["account_id"] for x in results if x["key_account"]] == ["A1", "A2", "A3", "A4", "A5"]
    assert [(x["row"], x["account_id"], x["reason"]) for x in rejected] == [
        (12, "Итого", "totals row ('Итого' in account_id)")]
    table = read_input(load_project(project), xlsx)
    assert (table.sheet, table.header_row, table.header) == ("Клиенты", 4, [
        "ИД клиента", "Клиент", f"{REVENUE} / {CURRENT}", f"{REVENUE} / {PREVIOUS}", "Доля выручки",
        "Последняя встреча"])
    records = list(table.records)
    assert [r.row for r in records] == [6, 7, 8, 10, 11, 12]
    assert [r.cells.get("lost_reason") for r in records[:5]] == MEETINGS


def test_the_same_report_as_csv_gives_the_same_results(tmp_path, project):
    """Saved as CSV: the title and date rows, the group name followed by an empty cell over
    its two sub-header cells, the totals row; shares as numbers in % (no formats in CSV)."""
    xlsx = sales_ops_workbook(tmp_path / "report.xlsx")
    export = tmp_path / "report.csv"
    with export.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerows([[TITLE, "", "", "", "", ""], ["Выгружено 01.11.2026"], [],
                     [c or "" for c in HEADER], [c or "" for c in SUB]])
        for i, (aid, name, now, before, share, met) in enumerate(ACCOUNTS):
            if i == 3:
                w.writerow([])
            met = plain(met)
            w.writerow([aid, name, now, before, str(share * 100).replace(".", ","), met or ""])
        w.writerow(["Итого", "", 2000000, 2060000, 100, ""])
    _, from_xlsx, rejected_xlsx = evaluate(xlsx, tmp_path / "o1", project)
    r, from_csv, rejected_csv = evaluate(export, tmp_path / "o2", project)
    assert r.exit_code == 0, r.output
    assert shown(from_csv) == EXPECTED and from_csv == from_xlsx
    assert [(x["row"], x["reason"]) for x in rejected_csv] == [(x["row"], x["reason"]) for x in rejected_xlsx]


def subtotals_rows() -> list[list]:
    """Accounts grouped by manager, each group with a subtotal; a grand total at the bottom."""
    return [["ИД клиента", "Клиент", "Менеджер", "Выручка", "Выручка ранее"],
            ["B1", "Total Logistics LLC", "Анна", 100.5, 90],  # a company name, not a totals word
            ["B2", "Орион", "Анна", 200, 210],
            [None, "Итого по Анне", None, 300.5, 300],  # by its words, in the name
            ["B3", "Вектор", "Иван", 50, 60],
            ["B4", "Гранит", "Иван", 25, None],
            [None, None, None, 75, 60],  # by its sums: a subtotal without words
            [None, "Меридиан", "Иван", 10, 10],  # an account without an id: rejected, not a total
            ["ВСЕГО:", None, None, 385.5, 370],  # by its words, in the id
            [None, None, None, 385.5, 370]]  # by its sums: every row above


SUBTOTALS_REJECTED = [
    (4, None, "totals row ('Итого по Анне' in name, no account_id)"),
    (7, None, "totals row (no account_id; revenue_current, revenue_previous are the sums of rows 5-6)"),
    (8, None, "account_id: required value is missing"),
    (9, "ВСЕГО:", "totals row ('ВСЕГО:' in account_id)"),
    (10, None, "totals row (no account_id; revenue_current, revenue_previous are the sums of all the rows "
               "above (2-8))")]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_subtotals_and_grand_totals_are_rejected_as_totals_rows(tmp_path, project, fmt):
    with_config(project, columns={"ИД клиента": "account_id", "Клиент": "name", "Менеджер": "owner",
                                  "Выручка": "revenue_current", "Выручка ранее": "revenue_previous"})
    path = tmp_path / f"by_manager.{fmt}"
    if fmt == "xlsx":
        book = openpyxl.Workbook()
        for row in subtotals_rows():
            book.active.append(row)
        book.save(path)
    else:
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([["" if c is None else c for c in row] for row in subtotals_rows()])
    r, results, rejected = evaluate(path, tmp_path / "out", project, "--max-rejected", "50")
    assert r.exit_code == 0, r.output
    assert "9 accounts read: 4 evaluated, 5 rejected, 4 of them totals rows (see" in r.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert (summary["accounts_read"], summary["rejected"], summary["totals_rows"]) == (9, 5, 4)
    assert summary["quality_gate"]["rejected_pct"] == 20.0  # Меридиан, 1 of the 5 rows that are no totals
    # shares of 375.5, the accounts' revenue: the totals rows count nowhere
    assert [(x["account_id"], x["revenue_current"], x["revenue_share_pct"], x["dependency"]) for x in results] == [
        ("B1", 100.5, 26.764314, "risky"), ("B2", 200.0, 53.262317, "mono"), ("B3", 50.0, 13.315579, "none"),
        ("B4", 25.0, 6.65779, "none")]
    assert [(x["row"], x["account_id"], x["reason"]) for x in rejected] == SUBTOTALS_REJECTED


def test_a_row_that_only_looks_like_a_total_is_an_account(tmp_path, project):
    path = tmp_path / "a.csv"
    path.write_text("account_id,name,revenue_current\n"
                    "TOTAL-7,Acme,10\n"  # an id that starts with a totals word but is none
                    "Total Logistics,Total Logistics LLC,20\n"  # a name as id, the file has names
                    ",,30\n"  # no id, and 30 is the sum of the rows above: a total
                    "C4,Totally Fine,5\n"
                    ",,5\n"  # the sum of the one row since the last total
                    ",,0\n", "utf-8")  # no id, nothing to sum: a rejected row, no total
    r, results, rejected = evaluate(path, tmp_path / "out", project, "--max-rejected", "50")
    assert r.exit_code == 0, r.output
    assert [x["account_id"] for x in results] == ["TOTAL-7", "Total Logistics", "C4"]
    assert [(x["row"], x["reason"]) for x in rejected] == [
        (4, "totals row (no account_id; revenue_current is the sum of rows 2-3)"),
        (6, "totals row (no account_id; revenue_current is the sum of rows 5-5)"),
        (7, "account_id: required value is missing")]


def test_percent_formats_are_read_per_column_and_mixed_ones_are_an_error(tmp_path, project):
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["account_id", "margin_pct", "win_probability", "revenue_share_pct"])
    ws.append(["P1", 0.153, 0.4, 0.07])
    ws.append(["P2", -0.05, 0.25, 0.3])
    for row in ws.iter_rows(min_row=2):
        for cell in row[1:]:
            cell.number_format = "0.0%"  # win_probability is a 0-1 metric: its % format changes nothing
    book.save(tmp_path / "p.xlsx")
    loaded = [r.cells for r in read_input(load_project(project), tmp_path / "p.xlsx").records]
    assert loaded == [{"account_id": "P1", "margin_pct": 15.3, "win_probability": 0.4, "revenue_share_pct": 7.0},
                      {"account_id": "P2", "margin_pct": -5.0, "win_probability": 0.25, "revenue_share_pct": 30.0}]
    ws["D3"].number_format = "General"  # 0.3 shown as 0.3 below 7 % shown as 7 %
    book.save(tmp_path / "mixed.xlsx")
    with pytest.raises(KamError) as exc:
        read_input(load_project(project), tmp_path / "mixed.xlsx")
    assert str(exc.value) == (f"{tmp_path / 'mixed.xlsx'}[Sheet]:3:4: column 'revenue_share_pct' "
                              "(revenue_share_pct) has percent-formatted numbers (row 2) and plain ones "
                              "(row 3): format the whole column one way")


def test_a_metric_that_declares_fractions_is_not_multiplied_twice(tmp_path, project):
    metrics = project / "rules" / "metrics.yaml"
    line = '{id: margin_pct, type: number, min: -1000, max: 100, unit: "%",'
    assert line in metrics.read_text("utf-8")
    metrics.write_text(metrics.read_text("utf-8").replace(line, line + " percent: {fractions: true},"), "utf-8")
    book = openpyxl.Workbook()
    book.active.append(["account_id", "margin_pct"])
    book.active.append(["F1", 0.153])
    book.active.append(["F2", 0.2])
    book.active["B2"].number_format = "0.0%"  # the declaration reads both x100, formatted or not
    book.save(tmp_path / "f.xlsx")
    loaded = read_inputs(load_project(project), [tmp_path / "f.xlsx"])
    assert [(v["account_id"], v["margin_pct"]) for v in loaded.values] == [("F1", 15.3), ("F2", 20.0)]


@pytest.mark.parametrize("code, percent", [
    ("0%", True), ("0.00%", True), ("0.0%;[Red]-0.0%", True), ('#,##0" %"', False), ("0\\%", False),
    ("[$%-419]0", False), ("General", False), ("0.00", False)])
def test_a_percent_format_shows_a_percent_sign_of_its_own(code, percent):
    assert is_percent(code) is percent


def test_header_row_in_kam_yaml(tmp_path, project):
    path = tmp_path / "a.csv"
    path.write_text("Клиенты\naccount_id;nps\nA1;7\n", "utf-8")
    r, results, _ = evaluate(path, tmp_path / "o1", with_config(project, header_row=2))
    assert r.exit_code == 0 and [(x["account_id"], x["nps"]) for x in results] == [("A1", 7)]
    r, _, _ = evaluate(path, tmp_path / "o2", with_config(project, header_row=9))
    assert r.exit_code == 1 and r.output.strip() == (
        f"{path}:9:0: header_row: 9 (kam.yaml) is beyond the end of the file")
    r, _, _ = evaluate(path, tmp_path / "o3", with_config(project, header_row=1))  # the title
    assert r.exit_code == 1 and "1:0: no column for the required metric 'account_id'" in r.output


def test_a_title_row_does_not_make_a_csv_delimiter_or_a_header(tmp_path, project):
    """A title with a comma above a ';' header: the header's columns decide the delimiter."""
    path = tmp_path / "a.csv"
    path.write_text("Клиенты, ноябрь 2026\n\naccount_id;name;nps\nA1;Acme, Inc;7\nA2;Beta;8,0\n", "utf-8")
    table = read_input(load_project(project), path)
    assert (table.header_row, table.header) == (3, ["account_id", "name", "nps"])
    assert [(r.row, r.cells) for r in table.records] == [
        (4, {"account_id": "A1", "name": "Acme, Inc", "nps": "7"}),
        (5, {"account_id": "A2", "name": "Beta", "nps": "8,0"})]
    assert table.decimal_comma  # voted by the rows below the header


def openpyxl_records(path: Path, names: list[str | None]) -> list[tuple]:
    """The records as the reader made them with openpyxl alone, before calamine."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    ws = book.worksheets[0]
    ws.reset_dimensions()
    out, width = [], len(names)
    for row, cells in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        values = {n: plain(c) for n, c in zip(names, cells) if n}
        if any(c is not None and not (isinstance(c, str) and not c.strip()) for c in cells[width:]):
            last = max(i for i, c in enumerate(cells, start=1) if c is not None)
            out.append((row, values, row_problem(last, width) + " (cells right of the header)"))
        else:
            out.append((row, values, None))
    book.close()
    return out


def test_calamine_reads_the_same_records_as_openpyxl(tmp_path):
    """A workbook with none of the features above: the values calamine reads are the ones
    openpyxl read, type for type (integral numbers int, dates as ISO text)."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.append([None, "account_id", "name", "nps", "strategic", "revenue_current", "lost_reason", "owner",
               "margin_pct", "note"])
    values = [[None, 1001, " Acme ", 7, True, 1234.5, date(2026, 3, 1), datetime(2026, 3, 2, 10, 30), 0.1, "x"],
              [None, "A2", "Бета", "8", "да", -0.0, datetime(2026, 3, 2), time(9, 15), 1e20, None],
              [None, "A3", None, 7.5, False, 123456789012345, None, "a\nb", -12.25, 3],
              [None, None, None, None, None, None, None, None, None, None],
              [None, "A4", "Gamma", 10, 1, 2.5e-7, date(1900, 1, 15), None, 1 / 3, None, None, "stray"]]
    for row in values:
        ws.append(row)
    book.save(tmp_path / "plain.xlsx")
    table = read_input(load_project(ROOT), tmp_path / "plain.xlsx")
    names = [None, "account_id", "name", "nps", "strategic", "revenue_current", "lost_reason", "owner",
             "margin_pct", None]
    got = [(r.row, r.cells, r.problem) for r in table.records]
    assert got == openpyxl_records(tmp_path / "plain.xlsx", names)
    assert [type(c) for c in got[0][1].values()] == [int, str, int, bool, float, str, str, float]
