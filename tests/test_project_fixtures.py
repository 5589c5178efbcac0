"""Projects as files, each with the exact `kam validate` output beside it (expected.txt), like
rulefmt's *.bad.yaml: tests/projects/invalid/<fault>/ is the minimal valid project with one
fault, tests/projects/valid/<name>/ a project that must load. To add a case, copy
valid/minimal, break one thing, and write the output you want a user to read."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

PROJECTS = Path(__file__).resolve().parent / "projects"
INVALID = sorted(p for p in (PROJECTS / "invalid").iterdir() if p.is_dir())
VALID = sorted(p for p in (PROJECTS / "valid").iterdir() if p.is_dir())


def _validate(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(folder)  # the output names files relative to the project given as '.'
    r = CliRunner().invoke(main, ["validate", "--project", "."])
    return r.exit_code, r.output


@pytest.mark.parametrize("folder", INVALID, ids=[p.name for p in INVALID])
def test_an_invalid_project_gets_exactly_its_expected_errors(folder, monkeypatch):
    code, output = _validate(folder, monkeypatch)
    assert (code, output) == (1, (folder / "expected.txt").read_text("utf-8"))


@pytest.mark.parametrize("folder", VALID, ids=[p.name for p in VALID])
def test_a_valid_project_loads(folder, monkeypatch):
    code, output = _validate(folder, monkeypatch)
    assert (code, output) == (0, (folder / "expected.txt").read_text("utf-8"))


def test_each_invalid_project_differs_from_the_minimal_one_by_its_fault():
    """A fixture breaks one thing: at most two of its files differ from valid/minimal."""
    base = PROJECTS / "valid" / "minimal"
    files = {p.relative_to(base) for p in base.rglob("*.yaml")}
    for folder in INVALID:
        mine = {p.relative_to(folder) for p in folder.rglob("*.yaml")}
        changed = {f for f in files | mine
                   if not (folder / f).exists() or not (base / f).exists()
                   or (folder / f).read_bytes() != (base / f).read_bytes()}
        assert 1 <= len(changed) <= 2, (folder.name, changed)
