"""The kam commands through click's runner."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

ROOT = Path(__file__).resolve().parent.parent
HEADER = ("account_id,name,owner,status,revenue_current,revenue_previous,nps,decision_maker_changed,"
          "days_since_qbr,strategic\n")


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def accounts(tmp_path):
    f = tmp_path / "accounts.csv"
    f.write_text(HEADER
                 + "A1,Acme,Anna,active,80,100,5,yes,120,no\n"       # drop 20 %, low NPS, DM change
                 + "A2,Вектор,Ivan,active,2.55,3,9,no,10,no\n"        # exactly 15 %: no signal
                 + "A3,Bad,Ivan,active,abc,100,11,maybe,1,no\n"       # three bad fields
                 + "A1,Dup,Anna,active,1,1,9,no,1,no\n"               # duplicate id
                 + "A5,Lost Co,Olga,lost,0,50,,no,,no\n", "utf-8")
    return f


def run(runner, *args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_validate_default_project(runner):
    r = run(runner, "validate")
    assert r.exit_code == 0, r.output
    assert "valid" in r.output and "22 signals" in r.output


def test_validate_reports_every_problem_with_positions(runner, tmp_path):
    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "rules", proj / "rules")
    shutil.copytree(ROOT / "playbooks", proj / "playbooks")
    shutil.copytree(ROOT / "templates", proj / "templates")
    shutil.copy(ROOT / "kam.yaml", proj / "kam.yaml")
    (proj / "rules" / "extra.yaml").write_text(
        "kind: rules\nrules:\n  - id: typo\n    when: npss < 7\n    then: {signal: low_nps}\n"
        "  - id: low_nps\n    when: nps < 7\n    then: {signal: low_nps}\n", "utf-8")
    (proj / "templates" / "broken.md.j2").write_text("{% for x in %}\n", "utf-8")
    r = run(runner, "validate", "--project", proj)
    assert r.exit_code == 1
    err = r.output
    assert "rules/extra.yaml:4:11: rule 'typo' → when: unknown metric 'npss' (did you mean 'nps'?)" in err
    assert "duplicate rule id 'low_nps' (first declared at " in err and "rules/extra.yaml:6)" in err
    assert "templates/broken.md.j2:1:1: template syntax" in err


def test_evaluate_writes_contract_files_and_accounts_for_every_record(runner, accounts, tmp_path):
    out = tmp_path / "out"
    r = run(runner, "evaluate", accounts, "--out", out, "--as-of", "2026-11-23", "--max-rejected", 40)
    assert r.exit_code == 0, r.output
    assert "5 accounts read: 3 evaluated, 2 rejected" in r.output
    results = [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8").splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text("utf-8").splitlines()]
    assert [x["account_id"] for x in results] == ["A1", "A2", "A5"]  # input order
    a1 = results[0]
    for key in ("risk_level", "signals", "playbooks", "key_account", "dependency", "abc", "kaism", "missing"):
        assert key in a1
    assert {s["id"] for s in a1["signals"]} == {"purchase_drop", "low_nps", "decision_maker_change"}
    assert a1["risk_level"] == "high"
    drop = next(s for s in a1["signals"] if s["id"] == "purchase_drop")
    assert drop["evidence"]["metrics"] == {"purchase_drop_pct": 20.0}
    assert drop["evidence"]["thresholds"] == {"purchase_drop_pct": 15}
    step = a1["playbooks"][0]["steps"][0]
    assert set(step) >= {"id", "title", "owner", "due"}
    assert results[1]["signals"] == [] and results[1]["risk_level"] == "none"
    assert next(p["id"] for p in results[2]["playbooks"]) == "win_back"
    assert "nps" in results[2]["missing"]
    assert [(x["row"], x["account_id"]) for x in rejected] == [(4, "A3"), (5, "A1")]
    assert {e["field"] for e in rejected[0]["errors"]} == {"revenue_current", "nps", "decision_maker_changed"}
    assert "duplicate account_id 'A1'" in rejected[1]["reason"]
    assert (out / "plans" / "A1.md").exists() and (out / "plans" / "A1.html").exists()
    assert not (out / "plans" / "A2.md").exists()  # no playbook, no plan


def test_evaluate_is_deterministic(runner, accounts, tmp_path):
    for out in ("o1", "o2"):
        assert run(runner, "evaluate", accounts, "--out", tmp_path / out, "--as-of", "2026-11-23",
                   "--max-rejected", 40).exit_code == 0
    assert (tmp_path / "o1" / "results.jsonl").read_bytes() == (tmp_path / "o2" / "results.jsonl").read_bytes()


def test_invalid_project_writes_nothing(runner, accounts, tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "kam.yaml").write_text("kind: project\nname: x\nlangauge: en\n", "utf-8")
    out = tmp_path / "out"
    r = run(runner, "evaluate", accounts, "--project", proj, "--out", out)
    assert r.exit_code == 1
    assert "kam.yaml:3:11: langauge: unknown key 'langauge' (did you mean 'language'?)" in r.output
    assert not out.exists()


def test_unreadable_input_is_a_clear_error_without_traceback(runner, tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_text("", "utf-8")
    r = run(runner, "evaluate", bad, "--out", tmp_path / "o")
    assert r.exit_code == 1
    assert "empty.csv:1:1: the file is empty" in r.output
    assert "Traceback" not in r.output


def test_refuses_to_replace_a_folder_that_is_not_kam_output(runner, accounts, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.docx").write_text("mine", "utf-8")
    r = run(runner, "evaluate", accounts, "--out", precious)
    assert r.exit_code == 1 and "not a kam output folder" in r.output
    assert (precious / "thesis.docx").read_text("utf-8") == "mine"


def test_explain_shows_chain_and_rules_that_did_not_fire(runner, accounts):
    r = run(runner, "explain", "A1", accounts, "--as-of", "2026-11-23")
    assert r.exit_code == 0, r.output
    out = r.output
    assert "risk level high" in out
    assert "purchase_drop_pct = 20, thresholds.purchase_drop_pct = 15" in out
    assert "=> signal.purchase_drop" in out
    assert out.index("purchase_drop: when") < out.index("risk_high: when") < out.index("assign_anti_crisis: when")
    assert "Did not fire:" in out
    assert "payment_overdue_days > thresholds.payment_overdue_days is unknown (a value is missing)" in out
    # the risk level counts severe categories: each signal's severity and what it made severe
    assert "count(severe.*) = 3" in out
    assert "a signal of severity medium or higher makes its category severe" in out
    assert "  financial: purchase_drop (high) => severe.financial" in out
    assert "  emotional: low_nps (medium) => severe.emotional" in out


def test_explain_a_rejected_account_says_why(runner, accounts):
    r = run(runner, "explain", "A3", accounts)
    assert r.exit_code == 1 and "was rejected" in r.output and "row 4" in r.output


def test_schema_prints_every_kind(runner, tmp_path):
    r = run(runner, "schema")
    data = json.loads(r.output)
    from engine.project.schema import KINDS
    assert set(data) == set(KINDS) >= {"project", "metrics", "thresholds", "facts", "rules", "playbook"}
    r = run(runner, "schema", "--out", tmp_path / "s")
    assert r.exit_code == 0 and (tmp_path / "s" / "rules.schema.json").exists()


def test_usage_error_exits_2(runner):
    r = runner.invoke(main, ["evaluate"])
    assert r.exit_code == 2


def test_debug_shows_traceback_only_when_asked(runner, tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("", "utf-8")
    quiet = runner.invoke(main, ["evaluate", str(bad), "--out", str(tmp_path / "o")])
    loud = runner.invoke(main, ["--debug", "evaluate", str(bad), "--out", str(tmp_path / "o")])
    assert "Traceback" not in quiet.output
    assert "Traceback" in loud.output
