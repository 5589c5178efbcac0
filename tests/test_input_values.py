"""Values as exports write them (issue 15): percent text in a percent metric, the declared
fraction rule, kam.yaml's values: map; each read by both normalisers, which must agree."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import DEFAULT_FILES

from cli import main
from engine.io.batch import normalize_many
from engine.io.readers import read_table
from engine.io.records import normalize
from engine.project.load import load_project
from engine.project.model import Project

METRICS = DEFAULT_FILES["rules/metrics.yaml"] + """\
  - {id: margin_pct, type: number, unit: "%", min: -1000, max: 100}
  - {id: share_pct, type: number, unit: "%", min: 0, max: 100, percent: {fractions: true}}
  - {id: growth_pct, type: integer, unit: "%", percent: {fractions: true}}
"""


VALUES = """\
kind: project
name: test
values:
  status: {Активный: active, Ушёл: lost, Клиент  в работе: active, "2": lost}
  strategic: {Стратегический: true, Обычный: false}
  nps: {высокий: 9}
  share_pct: {половина: 0.5}
"""


@pytest.fixture
def project(make_project) -> Project:
    return load_project(make_project({"rules/metrics.yaml": METRICS, "kam.yaml": VALUES}))


def read(project: Project, rows: list[dict[str, Any]], decimal_comma: bool = True
         ) -> list[tuple[dict[str, Any], list[str]]]:
    """Each row's values and 'field: reason' errors, the same by record and by column."""
    by_column = normalize_many(project, rows, decimal_comma)
    out = []
    for row, (values, errors) in zip(rows, by_column):
        assert (values, errors) == normalize(project, row, decimal_comma), row
        out.append((values, [f"{e.field}: {e.reason}" for e in errors]))
    return out


def one(project: Project, metric: str, cell: Any, decimal_comma: bool = True) -> Any:
    (values, errors), = read(project, [{"account_id": "A1", metric: cell}], decimal_comma)
    return errors[0] if errors else values[metric]


@pytest.mark.parametrize("cell, expected", [
    ("15%", 15), ("15 %", 15), ("15,5 %", 15.5), ("15.5%", 15.5), ("15\u00a0%", 15), (" 7 % ", 7),
    ("-3,5 %", -3.5), ("0,5 %", 0.5), ("0,15", 0.15), (0.15, 0.15), ("12", 12),
])
def test_a_percent_metric_reads_percent_text_and_bare_numbers_as_percent(project, cell, expected):
    assert one(project, "margin_pct", cell) == expected


@pytest.mark.parametrize("cell, expected", [
    ("0,15", 15), ("0.15", 15), (0.15, 15), ("0,155", 15.5), (1, 100), ("0", 0),
    ("15 %", 15), ("0,5 %", 0.5), ("100%", 100),  # text with a % sign is always percent
])
def test_declared_fractions_are_read_times_a_hundred_exactly(project, cell, expected):
    value = one(project, "share_pct", cell)
    assert value == expected and type(value) is float


@pytest.mark.parametrize("metric, cell, reason", [
    ("share_pct", "15", "share_pct: 1500 is above the maximum 100 (15 is read as a fraction of 1, ×100; "
                        "write '15 %' for 15 %)"),
    ("share_pct", 2.5, "share_pct: 250 is above the maximum 100 (2.5 is read as a fraction of 1, ×100; "
                       "write '2.5 %' for 2.5 %)"),
    ("growth_pct", "0,155", "growth_pct: expected a whole number, got '0,155' (0,155 is read as a fraction "
                            "of 1, ×100; write '0,155 %' for 0,155 %)"),
    ("margin_pct", "15%%", "margin_pct: expected a number, got '15%%'"),
    ("margin_pct", "abc %", "margin_pct: expected a number, got 'abc %'"),
    ("margin_pct", "%", "margin_pct: expected a number, got '%'"),
    ("margin_pct", "150 %", "margin_pct: 150 is above the maximum 100"),
    ("revenue_current", "15%", "revenue_current: expected a number, got '15%'"),  # not a percent metric
])
def test_what_a_percent_metric_rejects(project, metric, cell, reason):
    assert one(project, metric, cell) == reason


def test_an_integer_percent_with_fractions(project):
    assert [one(project, "growth_pct", c) for c in ("0,25", -0.2, "-7 %")] == [25, -20, -7]


def test_percent_cells_of_a_workbook(project, tmp_path: Path):
    """Excel keeps a percent-formatted cell as its fraction (0.15 shows as 15%); a cell typed
    as text keeps its '%'. Both read as 15 where the metric declares fractions."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["account_id", "share_pct", "margin_pct"])
    sheet.append(["A1", 0.15, "15 %"])
    sheet.append(["A2", "15%", 15])
    sheet["B2"].number_format = "0%"
    path = tmp_path / "accounts.xlsx"
    book.save(path)
    table = read_table(path, known=project.metrics)
    rows = [r.cells for r in table.records]
    assert [(v["share_pct"], v["margin_pct"], e) for v, e in read(project, rows, table.decimal_comma)] == [
        (15, 15, []), (15, 15, [])]


@pytest.mark.parametrize("metric, cell, expected", [
    ("status", "Активный", "active"), ("status", "  АКТИВНЫЙ ", "active"), ("status", "ушёл", "lost"),
    ("status", "клиент в   работе", "active"),  # case and runs of spaces are ignored, as in columns:
    ("status", "lost", "lost"), ("status", "Active", "active"),  # not in the map: read as written
    ("status", "2", "lost"), ("status", 2, "lost"), ("status", 2.0, "lost"),  # a sheet's number as a CSV has it
    ("strategic", "Стратегический", True), ("strategic", "обычный", False), ("strategic", "да", True),
    ("nps", "Высокий", 9), ("nps", "7", 7),
    ("share_pct", "Половина", 50.0),  # a mapped value is read as if the file had it
])
def test_values_are_mapped_before_they_are_typed(project, metric, cell, expected):
    value = one(project, metric, cell)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("metric, cell, reason", [
    ("status", "Приостановлен", "status: 'Приостановлен' is not one of active, lost"),
    ("status", "Активный клиент", "status: 'Активный клиент' is not one of active, lost"),
    ("strategic", "Стратег", "strategic: expected yes/no (true/false, 1/0, да/нет), got 'Стратег'"),
    ("nps", "низкий", "nps: expected a number, got 'низкий'"),
    ("revenue_current", "высокий", "revenue_current: expected a number, got 'высокий'"),  # nps's map only
])
def test_a_value_not_in_the_map_is_rejected_as_before(project, metric, cell, reason):
    assert one(project, metric, cell) == reason


# ---- a Russian CRM export, end to end ---------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"account_id": "ИД клиента", "status": "Статус", "segment": "Сегмент",
           "strategic": "Стратегический клиент", "margin_pct": "Маржа, %"}
RUSSIAN = {"status": {"active": "Активный", "lost": "Ушёл"},
           "segment": {"enterprise": "Крупный", "mid_market": "Средний", "smb": "Малый"},
           "strategic": {"yes": "Стратегический", "no": "Обычный"}}
CRM_YAML = """
columns:
  ИД клиента: account_id
  Статус: status
  Сегмент: segment
  Стратегический клиент: strategic
  Маржа, %: margin_pct
values:
  status: {Активный: active, Ушёл: lost}
  segment: {Крупный: enterprise, Средний: mid_market, Малый: smb}
  strategic: {Стратегический: true, Обычный: false}
"""


def crm_project(folder: Path) -> Path:
    for part in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / part, folder / part)
    (folder / "kam.yaml").write_text((ROOT / "kam.yaml").read_text("utf-8") + CRM_YAML, "utf-8")
    return folder


def crm_cell(column: str, text: str, i: int, typed: bool) -> Any:
    """A cell as the CRM writes it: Russian words in any case, '34,6 %', decimal commas
    (or, in a workbook, numbers as numbers and some percents as text)."""
    if column in RUSSIAN and text:
        word = RUSSIAN[column][text]
        return (word.upper(), f"  {word.lower()} ", word)[i % 3]
    if column == "margin_pct" and text:
        return float(text) if typed and i % 2 else (text.replace(".", ",") + " %" if i % 2 else f"{text}%")
    if typed:
        try:
            return float(text)
        except ValueError:
            return text or None
    return text.replace(".", ",") if text.replace(".", "").replace("-", "").isdigit() else \
        {"yes": "да", "no": "нет"}.get(text, text)


def evaluate(path: Path, out: Path, project: Path):
    return CliRunner().invoke(main, ["evaluate", str(path), "--out", str(out), "--as-of", "2026-11-23",
                                     "--project", str(project), "--no-documents", "--no-store"], catch_exceptions=False)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_russian_crm_export_reads_as_the_plain_file(tmp_path: Path, fmt: str):
    project = crm_project(tmp_path / "project")
    with (ROOT / "examples" / "accounts.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        cols = next(reader)
        rows = [r for _, r in zip(range(40), reader)]
    plain = tmp_path / "plain.csv"
    with plain.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([cols] + rows)
    head = [HEADERS.get(c, c) for c in cols]
    crm = [[crm_cell(c, x, i, fmt == "xlsx") for c, x in zip(cols, r)] for i, r in enumerate(rows)]
    paused = ["ACC-X"] + [None] * (len(cols) - 1)
    paused[cols.index("status")] = "Приостановлен"  # in no map: rejected, as before
    if fmt == "csv":
        export = tmp_path / "выгрузка.csv"
        with export.open("w", encoding="utf-8-sig", newline="") as f:
            csv.writer(f, delimiter=";").writerows([head] + crm + [[x or "" for x in paused]])
        assert "Стратегический;" in export.read_text("utf-8-sig") and " %;" in export.read_text("utf-8-sig")
    else:
        book = openpyxl.Workbook()
        for r in [head] + crm + [paused]:
            book.active.append(r)
        export = tmp_path / "выгрузка.xlsx"
        book.save(export)
    got = evaluate(export, tmp_path / "o1", project)
    want = evaluate(plain, tmp_path / "o2", project)
    assert got.exit_code == 0 and want.exit_code == 0, got.output
    assert "41 accounts read: 40 evaluated, 1 rejected" in got.output, got.output
    results = (tmp_path / "o1" / "results.jsonl").read_text("utf-8")
    assert results == (tmp_path / "o2" / "results.jsonl").read_text("utf-8")
    assert {json.loads(line)["risk_level"] for line in results.splitlines()} == {"none", "medium", "high"}
    rejected = [json.loads(line) for line in (tmp_path / "o1" / "rejected.jsonl").read_text("utf-8").splitlines()]
    assert [(r["account_id"], r["row"], r["reason"]) for r in rejected] == [
        ("ACC-X", 42, "status: 'Приостановлен' is not one of active, lost")]
