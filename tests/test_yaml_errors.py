"""Errors a person can follow: a YAML file that does not parse is reported first and alone
(not as the many unknown names its absence causes elsewhere), indentation errors say
which line to look at, and a problem of a playbook step points at the step."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DEFAULT_FILES, locate

from cli import main
from engine.errors import KamError
from engine.project.load import load_project

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    """The default project, copied to be broken."""
    proj = tmp_path / "proj"
    for name in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / name, proj / name)
    shutil.copy(ROOT / "kam.yaml", proj / "kam.yaml")
    return proj


def validate(proj: Path):
    return CliRunner().invoke(main, ["validate", "--project", str(proj)], catch_exceptions=False)


def test_a_tab_is_exactly_its_parse_error_with_the_indentation_hint(copied):
    path = copied / "rules" / "thresholds.yaml"
    text = path.read_text("utf-8")
    line, _ = locate(text, "  - {id: payment_overdue_days")
    path.write_text(text.replace("  - {id: payment_overdue_days", "\t- {id: payment_overdue_days"), "utf-8")
    r = validate(copied)
    assert r.exit_code == 1
    assert r.output.splitlines() == [
        f"{path}:{line}:1: YAML syntax: found character '\\t' that cannot start any token; YAML indents "
        f"with spaces, not tabs: check the indentation of line {line}"]


def test_a_key_out_of_line_says_which_line_to_check(copied):
    path = copied / "playbooks" / "qbr.yaml"
    text = path.read_text("utf-8")
    line, col = locate(text, "owner: customer_success")
    path.write_text(text.replace("    owner: customer_success", "   owner: customer_success", 1), "utf-8")
    r = validate(copied)
    assert r.exit_code == 1
    assert r.output.splitlines() == [
        f"{path}:{line}:{col - 1}: YAML syntax: expected <block end>, but found '<block mapping start>'; "
        f"check the indentation of line {line}"]


def test_the_parse_error_comes_first_and_its_missing_names_are_not_reported(make_project):
    root = make_project({"kam.yaml": "kind: project\nname: test\nlangauge: en\n",
                         "rules/thresholds.yaml": DEFAULT_FILES["rules/thresholds.yaml"].replace("  - ", "\t- ", 1)})
    with pytest.raises(KamError) as exc:
        load_project(root)
    assert [str(p) for p in exc.value.problems] == [  # the rules' thresholds.* would all be unknown
        f"{root / 'rules/thresholds.yaml'}:3:1: YAML syntax: found character '\\t' that cannot start any "
        "token; YAML indents with spaces, not tabs: check the indentation of line 3",
        f"{root / 'kam.yaml'}:3:11: langauge: unknown key 'langauge' (did you mean 'language'?)"]


def test_a_problem_of_a_step_points_at_the_step(copied):
    path = copied / "playbooks" / "qbr.yaml"
    text = path.read_text("utf-8")
    line, col = locate(text, "id: analyse_client_satisfaction")
    path.write_text(text.replace("owner: customer_success", "owner: customer_succes", 1), "utf-8")
    r = validate(copied)
    assert r.exit_code == 1
    assert r.output.splitlines() == [
        f"{path}:{line}:{col}: playbook 'qbr' → step 'analyse_client_satisfaction': owner 'customer_succes' "
        f"has no name in {copied / 'templates/labels.yaml'} ({lang} → roles)" for lang in ("en", "ru")]
