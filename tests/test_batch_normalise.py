"""engine/io/batch.py takes shortcuts only: normalize_many gives, record by record, the values
and errors records.normalize gives, whatever the cells are and whatever kam.yaml maps them to."""
from __future__ import annotations

import math
import shutil
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.io.batch import normalize_many
from engine.io.records import normalize
from engine.project.load import default_project_dir, load_project

# The default project with kam.yaml values: maps (issue 15) and a percent metric whose bare
# numbers are fractions: both normalisers map and scale alike.
VALUES = """
values:
  status: {Активный: active, Ушёл: lost, "1": lost}
  segment: {Крупный: enterprise, Малый  бизнес: smb, "2": smb}
  strategic: {Стратегический: true, Обычный: false}
  nps: {высокий: 9, "н/д": 0}
  revenue_share_pct: {половина: 0.5}
  margin_pct: {высокая: 40}
"""


@pytest.fixture(scope="module", params=["default", "mapped"])
def project(request, tmp_path_factory):
    if request.param == "default":
        return load_project(default_project_dir())
    root = tmp_path_factory.mktemp("mapped")
    for part in ("rules", "playbooks", "templates"):
        shutil.copytree(default_project_dir() / part, root / part)
    metrics = root / "rules" / "metrics.yaml"
    text = metrics.read_text("utf-8").replace("{id: revenue_share_pct, type: number,",
                                              "{id: revenue_share_pct, type: number, percent: {fractions: true},")
    metrics.write_text(text, "utf-8")
    (root / "kam.yaml").write_text((default_project_dir() / "kam.yaml").read_text("utf-8") + VALUES, "utf-8")
    mapped = load_project(root)
    assert mapped.metrics["revenue_share_pct"].fractions and mapped.values
    return mapped


TRICKY = ["", " ", "0", "-0", "7", "007", "12.5", "12,5", "1 234,5", "1.234.567", "1,234.5", "1e3", "+4",
          ".5", "5.", "-3.25", " 12 ", "1000000000000000", "999999999999999", "99999999999999.99",
          "1" * 16, "nan", "inf", "-", "abc", "yes", "no", "YES", "Yes", "да", "Нет", " y ", "истина",
          "true", "False", "1\n2", "\x00", "a\x00b", "active", "Active", "LOST", "lost", "smb", "mid_market",
          "enterprise", "Enterprise ", "\u00a0", "12\u00a0000", "−5", "0.00001", "3.14159265358979323",
          # issue 15: percent text, fractions, values as a Russian CRM writes them
          "15%", "15 %", "15,5 %", "-3,5%", "0,15", "0.155", "1", "2", "%", "15%%", "Активный", " активный ",
          "УШЁЛ", "Стратегический", "обычный", "Крупный", "малый   бизнес", "половина", "высокий", "высокая",
          "н/д"]
CELL = st.one_of(st.sampled_from(TRICKY), st.none(), st.text(max_size=12),
                 st.integers(-10**16, 10**16), st.floats(allow_nan=True, allow_infinity=True),
                 st.booleans(), st.just(Decimal("2.5")), st.lists(st.integers(), max_size=2))


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN and -0.0 told from 0.0 (as a JSON writer tells them)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


def _check(project, rows, decimal_comma):
    batch = normalize_many(project, rows, decimal_comma)
    assert len(batch) == len(rows)
    for row, (values, errors) in zip(rows, batch):
        want_values, want_errors = normalize(project, row, decimal_comma)
        assert list(values) == list(want_values), row  # same keys, in the same order
        assert all(_same(values[k], want_values[k]) for k in values), row
        assert errors == want_errors, row


@settings(max_examples=300, deadline=None)
@given(data=st.data(), decimal_comma=st.booleans())
def test_random_cells_give_the_values_and_errors_of_normalize(project, data, decimal_comma):
    names = list(project.metrics)
    # columns of one kind of cell (the fast column path) and of mixed cells (the slow one)
    uniform = data.draw(st.sampled_from(TRICKY))
    rows = data.draw(st.lists(st.dictionaries(st.sampled_from(names), st.one_of(CELL, st.just(uniform)),
                                              max_size=len(names)), min_size=1, max_size=12))
    _check(project, rows, decimal_comma)


@settings(max_examples=100, deadline=None)
@given(column=st.sampled_from(["revenue_current", "nps", "strategic", "segment", "status", "name",
                               "margin_pct", "revenue_share_pct"]),
       cells=st.lists(st.sampled_from(TRICKY), min_size=1, max_size=30), decimal_comma=st.booleans())
def test_whole_columns_of_plain_cells_take_the_fast_path_to_the_same_values(project, column, cells, decimal_comma):
    rows = [{"account_id": f"A{i}", column: c} for i, c in enumerate(cells)]
    _check(project, rows, decimal_comma)


def test_ranges_defaults_and_required_values_as_normalize_has_them(make_project):
    root = make_project({"rules/metrics.yaml": """\
kind: metrics
metrics:
  - {id: account_id, type: text, required: true}
  - {id: nps, type: integer, min: 0, max: 10}
  - {id: strategic, type: boolean}
  - {id: status, type: text, values: [active, lost], default: active}
  - {id: revenue_current, type: number, min: 0}
  - {id: revenue_previous, type: number, min: 0, max: 100}
  - {id: drop_pct, type: number, formula: "pct_drop(revenue_current, revenue_previous)"}
"""})
    project = load_project(root)
    rows = [{"account_id": "a", "nps": "3", "revenue_previous": "99.5", "status": "lost"},
            {"account_id": "b", "nps": "11", "revenue_previous": "", "status": "Lost"},
            {"account_id": "", "nps": "-1", "revenue_previous": "100.5", "status": "gone"},
            {"nps": "4.0", "revenue_previous": " ", "status": None, "strategic": "Да"}]
    _check(project, rows, False)
    values, errors = normalize_many(project, rows)[1]
    assert values["status"] == "lost" and "revenue_previous" not in values
    assert [e.field for e in errors] == ["nps"]
    values, errors = normalize_many(project, rows)[3]
    assert values == {"nps": 4, "strategic": True, "status": "active"}
    assert [e.field for e in errors] == ["account_id"]
