"""Editor support: every YAML file kam reads from the default project starts with a
`# yaml-language-server: $schema=...` modeline that points at the schema of its kind."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.project.load import project_files
from engine.project.loader import load_file
from engine.project.schema import KINDS
from engine.tools.rule_tests import find_test_files

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "engine" / "project" / "schemas"
MODELINE = "# yaml-language-server: $schema="


def modeline_target(f: Path) -> Path:
    first = f.read_text("utf-8").splitlines()[0]
    assert first.startswith(MODELINE), f"{f.relative_to(ROOT)}: the first line is not a schema modeline"
    return (f.parent / first[len(MODELINE):].strip()).resolve()


def kind_of(f: Path, root: Path) -> str:
    data = load_file(f).data
    return "project" if f == root / "kam.yaml" else data["kind"]


def yaml_files(root: Path) -> list[Path]:
    return project_files(root) + find_test_files(root)


def test_the_default_project_has_rule_tests_and_yaml_files():
    files = yaml_files(ROOT)
    assert len(find_test_files(ROOT)) >= 4
    assert {kind_of(f, ROOT) for f in files} >= {"project", "metrics", "thresholds", "facts", "rules",
                                                 "playbook", "tests"}


@pytest.mark.parametrize("f", yaml_files(ROOT), ids=lambda f: str(f.relative_to(ROOT)))
def test_every_default_yaml_file_points_at_the_schema_of_its_kind(f: Path):
    target = modeline_target(f)
    kind = kind_of(f, ROOT)
    assert kind in KINDS
    assert target.is_file(), f"{f.relative_to(ROOT)}: modeline points at a missing file {target}"
    assert target == (SCHEMAS / f"{kind}.schema.json").resolve()
