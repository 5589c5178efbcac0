"""`kam init DIR`: a new project that validates and passes its rule tests as made, with
modelines pointing at schemas inside it; never overwrites anything."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli import main
from engine.project.load import load_project, project_files
from engine.project.loader import load_file
from engine.project.schema import KINDS, schema
from engine.tools.init import MODELINE, set_modeline
from engine.tools.rule_tests import find_test_files

ROOT = Path(__file__).resolve().parent.parent


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_init_makes_a_project_that_validates_and_passes_its_tests(tmp_path):
    target = tmp_path / "acme-rules"
    r = run("init", target)
    assert r.exit_code == 0, r.output
    assert f"created {target}:" in r.output
    for name in ("kam.yaml", "rules", "playbooks", "templates", "tests", "schemas"):
        assert (target / name).exists(), name
    project = load_project(target)
    default = load_project(ROOT)
    assert project.name == "acme-rules"
    assert sorted(r.id for r in project.rules) == sorted(r.id for r in default.rules)
    assert sorted(project.playbooks) == sorted(default.playbooks)
    assert sorted(p.name for p in (target / "templates").iterdir()) == \
        sorted(p.name for p in (ROOT / "templates").iterdir() if p.is_file())
    # only rule tests are copied: the repository's tests/ holds Python tests too
    tests = find_test_files(target)
    assert [t.relative_to(target) for t in tests] == [t.relative_to(ROOT) for t in find_test_files(ROOT)]
    assert not list((target / "tests").rglob("*.py"))
    v = run("validate", "--project", target)
    assert v.exit_code == 0, v.output
    t = run("test", "--project", target)
    assert t.exit_code == 0, t.output
    assert t.output.strip().endswith(" cases, 0 failed")


def test_modelines_point_at_schemas_inside_the_new_project(tmp_path):
    target = tmp_path / "p"
    assert run("init", target).exit_code == 0
    for kind in KINDS:
        written = json.loads((target / "schemas" / f"{kind}.schema.json").read_text("utf-8"))
        assert written == schema(kind)
    files = project_files(target) + find_test_files(target)
    assert len(files) > 10
    for f in files:
        first = f.read_text("utf-8").splitlines()[0]
        assert first.startswith(MODELINE), f
        pointed = (f.parent / first[len(MODELINE):]).resolve()
        kind = "project" if f == target / "kam.yaml" else load_file(f).data["kind"]
        assert pointed == (target / "schemas" / f"{kind}.schema.json").resolve(), f
        assert pointed.is_relative_to(target.resolve())


def test_init_refuses_an_existing_project(tmp_path):
    target = tmp_path / "p"
    assert run("init", target).exit_code == 0
    rules = (target / "rules" / "signals.yaml")
    rules.write_text(rules.read_text("utf-8") + "# my edit\n", "utf-8")
    r = run("init", target)
    assert r.exit_code == 1
    assert f"{target}: already a kam project (kam.yaml exists); `kam init` never overwrites one" in r.output
    assert rules.read_text("utf-8").endswith("# my edit\n")


def test_init_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("mine", "utf-8")
    r = run("init", tmp_path)
    assert r.exit_code == 1
    assert "the folder is not empty" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_init_refuses_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x", "utf-8")
    r = run("init", f)
    assert r.exit_code == 1 and "exists and is not a folder" in r.output


def test_init_fills_an_empty_folder_and_makes_missing_parents(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("init", empty).exit_code == 0
    assert (empty / "kam.yaml").is_file()
    nested = tmp_path / "a" / "b" / "c"
    assert run("init", nested).exit_code == 0
    assert load_project(nested).name == "c"
    assert not [p for p in tmp_path.rglob(".*kam-init*")], "no staging folder left behind"


def test_the_project_name_is_quoted_safely(tmp_path):
    target = tmp_path / 'rules "north": 2026'
    assert run("init", target).exit_code == 0
    assert load_project(target).name == 'rules "north": 2026'


def test_set_modeline_replaces_or_adds_the_first_line():
    assert set_modeline("# yaml-language-server: $schema=old.json\nkind: rules\n", "new.json") == \
        "# yaml-language-server: $schema=new.json\nkind: rules\n"
    assert set_modeline("kind: rules\n", "new.json") == "# yaml-language-server: $schema=new.json\nkind: rules\n"
