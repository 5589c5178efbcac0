"""Issue 17, hostile projects and environments: each case ends evaluated correctly, rejected
with its reason, or refused before anything is written - exit 1 and a message naming the
file (and line) and what to do. The limits are listed in the README's Limits section."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.errors import KamError
from engine.project import load_project

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-23"
LINKED_OUT = ("a link to {real}, outside the project: kam reads only files inside the project folder "
              "(copy the file in instead of linking it)")


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def copy_project(dest: Path) -> Path:
    for part in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / part, dest / part)
    shutil.copy(ROOT / "kam.yaml", dest / "kam.yaml")
    return dest


def accounts(tmp_path: Path, n: int = 40) -> Path:
    lines = (ROOT / "examples" / "accounts.csv").read_text("utf-8").splitlines(keepends=True)
    f = tmp_path / "a.csv"
    f.write_text("".join(lines[:n + 1]), "utf-8")
    return f


# ---- 3: files linked out of the project --------------------------------------------------------

@pytest.fixture
def secret(tmp_path: Path) -> Path:
    f = tmp_path / "secret.txt"
    f.write_text("root:x:0:0:the secret\n", "utf-8")
    return f


@pytest.mark.parametrize("link", ["templates/leak.md.j2", "templates/labels.yaml", "rules/extra.yaml",
                                  "playbooks/qbr.yaml", "kam.yaml", "templates"])
def test_a_project_file_linked_out_of_the_project_is_refused(tmp_path, monkeypatch, secret, link):
    monkeypatch.chdir(tmp_path)
    proj = copy_project(tmp_path / "proj")
    target = proj / link
    real = secret if link != "templates" else proj.parent / "elsewhere"
    if link == "templates":
        shutil.move(str(proj / "templates"), real)
    target.unlink(missing_ok=True)
    target.symlink_to(real)
    expected = f"proj/{link}: " + LINKED_OUT.format(real=real.resolve())
    r = run("validate", "--project", "proj")
    assert r.exit_code == 1 and expected in r.output.splitlines(), r.output
    r = run("evaluate", accounts(tmp_path), "--project", "proj", "--out", "out", "--as-of", AS_OF)
    assert r.exit_code == 1 and expected in r.output.splitlines(), r.output
    assert not (tmp_path / "out").exists() and "the secret" not in r.output


def test_a_link_inside_the_project_is_read(tmp_path):
    proj = copy_project(tmp_path / "proj")
    (proj / "templates" / "shared").mkdir()
    shutil.move(str(proj / "templates" / "plan.md.j2"), proj / "templates" / "shared" / "plan.md.j2")
    (proj / "templates" / "plan.md.j2").symlink_to(Path("shared") / "plan.md.j2")
    r = run("validate", "--project", proj)
    assert r.exit_code == 0, r.output


def test_an_include_through_a_link_made_after_loading_is_refused(tmp_path, secret):
    import engine.render

    proj = copy_project(tmp_path / "proj")
    plan = proj / "templates" / "plan.md.j2"
    plan.write_text(plan.read_text("utf-8") + "{% include 'sub/secret.txt' %}\n", "utf-8")
    (proj / "templates" / "sub").mkdir()
    project = load_project(proj)
    (proj / "templates" / "sub").rmdir()
    (proj / "templates" / "sub").symlink_to(secret.parent)  # a folder linked out, after the check
    with pytest.raises(KamError) as exc:
        engine.render.check_templates(project)
    line = plan.read_text("utf-8").count("\n")
    assert [str(p) for p in exc.value.problems] == [
        f"{proj}/templates/plan.md.j2:{line}:1: template: 'sub/secret.txt' is a link to "
        f"{secret.resolve()}, outside the project: copy the file into templates/ instead of linking it "
        f"(rendering sample data, {lang})" for lang in ("en", "ru")]
