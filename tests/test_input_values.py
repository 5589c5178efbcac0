"""Values as exports write them (issue 15): percent text in a percent metric and the declared
fraction rule; each read by both normalisers, which must agree."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from conftest import DEFAULT_FILES
from engine.io.batch import normalize_many
from engine.io.readers import read_table
from engine.io.records import normalize
from engine.model import Project
from engine.project import load_project

METRICS = DEFAULT_FILES["rules/metrics.yaml"] + """\
  - {id: margin_pct, type: number, unit: "%", min: -1000, max: 100}
  - {id: share_pct, type: number, unit: "%", min: 0, max: 100, percent: {fractions: true}}
  - {id: growth_pct, type: integer, unit: "%", percent: {fractions: true}}
"""


@pytest.fixture
def project(make_project) -> Project:
    return load_project(make_project({"rules/metrics.yaml": METRICS}))


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
