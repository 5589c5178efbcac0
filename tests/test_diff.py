"""`kam diff`: the same accounts under two versions of the rules (a folder or a git revision)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

ROOT = Path(__file__).resolve().parent.parent
HEADER = "account_id,name,status,revenue_current,revenue_previous,revenue_share_pct,nps,payment_overdue_days\n"
ACCOUNTS = (HEADER
            + "A1,Drop twelve,active,88,100,5,9,0\n"     # 12 %: fires only with a threshold below 12
            + "A2,Drop twenty,active,80,100,5,9,0\n"     # 20 %: fires under both
            + "A3,Drop five,active,95,100,5,9,0\n"       # 5 %: fires under neither
            + "A4,Two categories,active,88,100,5,3,0\n")  # 12 % and low NPS: medium -> high


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def copy_project(dest: Path) -> Path:
    for name in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copy(ROOT / "kam.yaml", dest / "kam.yaml")
    return dest


def set_threshold(root: Path, tid: str, value: int) -> None:
    f = root / "rules" / "thresholds.yaml"
    text = f.read_text("utf-8")
    start = text.index(f"{{id: {tid}, value: ")
    end = text.index(",", start + len(f"{{id: {tid}, value: "))
    f.write_text(text[:start] + f"{{id: {tid}, value: {value}" + text[end:], "utf-8")


@pytest.fixture
def accounts(tmp_path: Path) -> Path:
    f = tmp_path / "accounts.csv"
    f.write_text(ACCOUNTS, "utf-8")
    return f


def test_identical_rules_report_no_change(tmp_path, accounts):
    proj = copy_project(tmp_path / "proj")
    r = run("diff", accounts, "--project", proj, "--base", proj, "--as-of", "2026-01-01")
    assert r.exit_code == 0, r.output
    assert "4 accounts compared, as of 2026-01-01; the rules are identical" in r.output
    assert "no change: every account gets the same signals, risk level, classes and playbooks" in r.output
    j = json.loads(run("diff", accounts, "--project", proj, "--base", proj, "--json").output)
    assert j["accounts_changed"] == 0 and j["changes"] == [] and j["identical_rules"] is True
    assert sum(sum(row.values()) for row in j["risk_transitions"].values()) == 4


def test_lowering_a_threshold_gains_the_signal_and_what_follows(tmp_path, accounts):
    base = copy_project(tmp_path / "base")
    new = copy_project(tmp_path / "new")
    set_threshold(new, "purchase_drop_pct", 10)
    r = run("diff", accounts, "--project", new, "--base", base, "--json", "--as-of", "2026-01-01")
    assert r.exit_code == 0, r.output
    j = json.loads(r.output)
    assert j["identical_rules"] is False
    assert (j["accounts_compared"], j["accounts_changed"]) == (4, 2)
    assert [c["account_id"] for c in j["changes"]] == ["A1", "A4"]
    a1, a4 = j["changes"]
    assert a1["signals"] == {"gained": ["purchase_drop"], "lost": []}
    assert a1["risk_level"] == {"base": "none", "current": "medium"}
    assert a1["playbooks"] == {"gained": ["financial_response"], "lost": []}
    assert a4["risk_level"] == {"base": "medium", "current": "high"}
    assert a4["playbooks"] == {"gained": ["anti_crisis", "financial_response"], "lost": []}
    assert j["totals"]["signals"] == {"purchase_drop": {"gained": 2, "lost": 0}}
    assert j["totals"]["playbooks"]["financial_response"] == {"gained": 2, "lost": 0}
    assert j["risk_transitions"]["none"]["medium"] == 1
    assert j["risk_transitions"]["medium"]["high"] == 1
    assert j["risk_transitions"]["medium"]["medium"] == 1  # A2 fires under both

    # the other way round, the same accounts lose what they gained
    back = json.loads(run("diff", accounts, "--project", base, "--base", new, "--json").output)
    assert back["totals"]["signals"] == {"purchase_drop": {"gained": 0, "lost": 2}}
    assert back["risk_transitions"]["high"]["medium"] == 1

    text = run("diff", accounts, "--project", new, "--base", base, "--as-of", "2026-01-01").output
    assert "2 of 4 accounts change" in text
    assert text.index("  A1 (Drop twelve): risk none → medium; signals +purchase_drop; "
                      "playbooks +financial_response") < text.index("  A4 (Two categories): risk medium → high")
    assert "purchase_drop" in text and "+2" in text
    assert text == run("diff", accounts, "--project", new, "--base", base, "--as-of", "2026-01-01").output


def test_an_account_one_version_rejects_is_listed(tmp_path, accounts):
    base = copy_project(tmp_path / "base")
    new = copy_project(tmp_path / "new")
    m = new / "rules" / "metrics.yaml"
    m.write_text(m.read_text("utf-8").replace("{id: nps, type: integer, min: 0, max: 10,",
                                              "{id: nps, type: integer, min: 5, max: 10,"), "utf-8")
    assert "min: 5" in m.read_text("utf-8")
    j = json.loads(run("diff", accounts, "--project", new, "--base", base, "--json").output)
    assert j["accounts_compared"] == 3
    assert j["evaluated_by_base_only"] == [{"account_id": "A4",
                                            "rejected_by_other": "nps: 3 is below the minimum 5"}]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def test_diff_against_a_git_revision_of_a_project_in_a_subfolder(tmp_path, accounts):
    repo = tmp_path / "repo"
    proj = copy_project(repo / "sales" / "kam")
    (repo / "README").write_text("other things\n", "utf-8")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "rules as they are")
    set_threshold(proj, "purchase_drop_pct", 10)
    git(repo, "commit", "-q", "-am", "lower the purchase drop threshold")

    r = run("diff", accounts, "--project", proj, "--base", "HEAD~1", "--json")
    assert r.exit_code == 0, r.output
    j = json.loads(r.output)
    assert j["base"]["version"].startswith("HEAD~1 (")
    assert j["totals"]["signals"] == {"purchase_drop": {"gained": 2, "lost": 0}}
    same = json.loads(run("diff", accounts, "--project", proj, "--base", "HEAD", "--json").output)
    assert same["accounts_changed"] == 0 and same["identical_rules"] is True

    # an uncommitted edit is compared with HEAD (the working tree is the current version)
    set_threshold(proj, "purchase_drop_pct", 25)
    j = json.loads(run("diff", accounts, "--project", proj, "--base", "HEAD", "--json").output)
    assert j["totals"]["signals"] == {"purchase_drop": {"gained": 0, "lost": 3}}


def test_errors_in_the_base_version_name_the_revision(tmp_path, accounts):
    repo = tmp_path / "repo"
    proj = copy_project(repo)
    git(repo, "init", "-q")
    t = proj / "rules" / "thresholds.yaml"
    good = t.read_text("utf-8")
    t.write_text(good.replace("{id: nps_min, value: 7,", "{id: nps_min, value: seven,"), "utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "broken")
    t.write_text(good, "utf-8")
    r = run("diff", accounts, "--project", proj, "--base", "HEAD")
    assert r.exit_code == 1
    assert "HEAD:/rules/thresholds.yaml:" in r.output and "'seven'" in r.output


@pytest.mark.parametrize("base, message", [
    ("no-such-rev", "'no-such-rev' is not a folder, and the project"),
    ("--oops", "is neither a folder nor a git revision"),
])
def test_a_bad_base_is_an_error(tmp_path, accounts, base, message):
    proj = copy_project(tmp_path / "proj")  # not in a git repository
    r = run("diff", accounts, "--project", proj, f"--base={base}")
    assert r.exit_code == 1
    assert message in r.output


def test_a_base_folder_without_a_project(tmp_path, accounts):
    proj = copy_project(tmp_path / "proj")
    (tmp_path / "empty").mkdir()
    r = run("diff", accounts, "--project", proj, "--base", tmp_path / "empty")
    assert r.exit_code == 1 and "not a kam project" in r.output


def test_a_revision_without_the_project(tmp_path, accounts):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README").write_text("x\n", "utf-8")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "before the project")
    proj = copy_project(repo / "kam")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "the project")
    r = run("diff", accounts, "--project", proj, "--base", "HEAD~1")
    assert r.exit_code == 1
    assert "the project has no kam/kam.yaml at HEAD~1" in r.output
    r = run("diff", accounts, "--project", proj, "--base", "nope")
    assert r.exit_code == 1
    assert "'nope' is neither a folder nor a git revision of" in r.output
