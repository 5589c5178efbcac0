"""engine.project.loader: YAML with positions, strict about duplicates, dates and alias bombs."""
from __future__ import annotations

import time

import pytest
from conftest import locate

from engine.errors import KamError
from engine.project.load import load_project
from engine.project.loader import load_text


def only_problem(exc: pytest.ExceptionInfo) -> object:
    assert len(exc.value.problems) == 1, exc.value.problems
    return exc.value.problems[0]


def test_syntax_error_names_line_and_column():
    text = "kind: rules\nrules:\n  - id: a\n    when: x: y\n"
    with pytest.raises(KamError) as exc:
        load_text(text, "r.yaml")
    p = only_problem(exc)
    line, col = locate(text, "x: y")
    assert (p.path, p.line, p.col) == ("r.yaml", line, col + 1)  # at the second ':'
    assert str(p).startswith(f"r.yaml:{line}:{col + 1}: YAML syntax:")
    assert "mapping values are not allowed" in p.message


def test_duplicate_key_is_an_error_at_its_line():
    text = "kind: rules\nrules: []\nkind: facts\n"
    with pytest.raises(KamError) as exc:
        load_text(text, "d.yaml")
    p = only_problem(exc)
    assert (p.line, p.col) == (3, 1)
    assert p.message == "duplicate key 'kind'"


def test_duplicate_key_in_nested_mapping():
    text = "rules:\n  - id: a\n    when: x\n    id: b\n"
    with pytest.raises(KamError) as exc:
        load_text(text, "d.yaml")
    assert str(only_problem(exc)) == "d.yaml:4:5: duplicate key 'id'"


def test_timestamps_stay_strings():
    doc = load_text("day: 2026-01-01\nat: 2026-01-01 10:00:00\n", "t.yaml")
    assert doc.data == {"day": "2026-01-01", "at": "2026-01-01 10:00:00"}


def test_positions_point_at_values():
    doc = load_text("kind: rules\nrules:\n  - id: a\n    when: x\n", "p.yaml")
    assert doc.where(("rules", 0, "when")) == (4, 11)
    assert doc.where(("rules", 0)) == (3, 5)
    assert doc.where(("rules", 0, "no_such_key")) == (3, 5)  # nearest enclosing node


def test_alias_bomb_is_refused_quickly():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    text = "\n".join(lines) + "\n"  # 9**10 ≈ 3.5 billion strings once expanded
    start = time.monotonic()
    with pytest.raises(KamError) as exc:
        load_text(text, "bomb.yaml")
    assert time.monotonic() - start < 5
    p = only_problem(exc)
    assert p.path == "bomb.yaml"
    assert "alias bomb" in p.message


def test_empty_file_loads_as_none():
    doc = load_text("", "e.yaml")
    assert doc.data is None
    doc = load_text("# only a comment\n", "e.yaml")
    assert doc.data is None


def test_empty_rules_file_in_project_is_reported(make_project):
    root = make_project({"rules/empty.yaml": ""})
    with pytest.raises(KamError) as exc:
        load_project(root)
    p = only_problem(exc)
    assert p.path == str(root / "rules/empty.yaml")
    assert "kind: expected one of" in p.message and "got None" in p.message
