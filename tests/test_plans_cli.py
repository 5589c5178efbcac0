"""`kam plans`, `kam history`, `kam explain --run` and the store options of `kam evaluate`."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_project import dump, write_accounts, write_project

from cli import main

ROOT = Path(__file__).resolve().parent.parent
W1, W2, W3 = "2026-01-05", "2026-01-12", "2026-01-19"


def kam(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def week(tmp_path):
    """week(day, accounts) runs `kam evaluate` on the small project with its own store."""
    root = write_project(tmp_path / "project")
    store = tmp_path / "state.sqlite"
    n = []

    def run(day: str, accounts: dict, *extra: str):
        n.append(1)
        csv_path = write_accounts(tmp_path / f"in{len(n)}.csv", accounts)
        r = kam("evaluate", csv_path, "--project", root, "--store", store, "--out", tmp_path / f"out{len(n)}",
                "--as-of", day, "--no-documents", *extra)
        assert r.exit_code == 0, r.output
        return r

    run.root, run.store, run.tmp = root, store, tmp_path  # type: ignore[attr-defined]
    return run


def plan_ids(store: Path) -> dict[tuple[str, str], int]:
    conn = sqlite3.connect(store)
    try:
        return {(a, p): i for i, a, p in conn.execute("SELECT plan_id, account_id, playbook FROM plans")}
    finally:
        conn.close()


def test_evaluate_reports_what_the_store_did(week):
    r = week(W1, {"A": {"nps": 5}, "B": {}})
    assert "plans: 1 new (run 1 recorded in " in r.output
    r = week(W1, {"A": {"nps": 5}, "B": {}})
    assert "plans: 1 new (same rules, date and input as run 1: nothing recorded" in r.output
    before = dump(week.store)
    r = week(W2, {"A": {"nps": 5, "late_days": 40}, "B": {}}, "--dry-run", "--json")
    summary = json.loads(r.stdout)
    assert summary["plans"]["dry_run"] is True and summary["plans"]["states"]["escalated"] == 1
    assert summary["plans"]["states"]["new"] == 1 and dump(week.store) == before


def test_plans_lists_open_plans_by_owner_status_and_overdue(week):
    week(W1, {"A": {"nps": 5, "owner": "Anna"}, "B": {"nps": 5, "late_days": 40, "owner": "Ivan"}})
    r = kam("plans", "--store", week.store)
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert len(lines) == 3 and all("new" in line and "opened 2026-01-05" in line for line in lines)
    anna = json.loads(kam("plans", "--store", week.store, "--owner", "Anna", "--json").output)
    assert [(p["account_id"], p["playbook"], p["state"], p["next_due"]) for p in anna] == [
        ("A", "respond", "new", "2026-01-14")]
    # crisis is due on the 8th, respond on the 14th (3 and 7 working days)
    overdue = json.loads(kam("plans", "--store", week.store, "--status", "overdue", "--as-of", "2026-01-10",
                             "--json").output)
    assert [(p["account_id"], p["playbook"]) for p in overdue] == [("B", "crisis")]
    assert "OVERDUE" in kam("plans", "--store", week.store, "--status", "overdue", "--as-of", "2026-01-10").output
    week(W2, {"A": {"nps": 5, "owner": "Anna"}, "B": {"nps": 5, "owner": "Ivan"}})
    escalated = json.loads(kam("plans", "--store", week.store, "--status", "ongoing", "--json").output)
    assert sorted((p["account_id"], p["playbook"]) for p in escalated) == [("A", "respond"), ("B", "respond")]
    resolved = json.loads(kam("plans", "--store", week.store, "--status", "resolved", "--json").output)
    assert [(p["account_id"], p["playbook"], p["resolved_on"]) for p in resolved] == [("B", "crisis", W2)]
    assert kam("plans", "--store", week.store, "--status", "escalated").output == "no escalated plans\n"


def test_done_snooze_and_reopen(week):
    week(W1, {"A": {"nps": 5, "late_days": 40}})
    ids = plan_ids(week.store)
    crisis, respond = ids[("A", "crisis")], ids[("A", "respond")]
    r = kam("plans", "done", respond, "call", "--store", week.store, "--on", "2026-01-07")
    assert r.exit_code == 0 and "1 step(s) left" in r.output
    r = kam("plans", "done", respond, "cal", "--store", week.store)
    assert r.exit_code == 1 and "has no step 'cal' (did you mean 'call'?)" in r.output
    assert kam("plans", "done", respond, "--store", week.store, "--on", "2026-01-08").exit_code == 0
    r = kam("plans", "done", respond, "--store", week.store)
    assert r.exit_code == 1 and "is done" in r.output
    done = json.loads(kam("plans", "--store", week.store, "--status", "done", "--json").output)
    assert [(p["plan_id"], p["done_on"]) for p in done] == [(respond, "2026-01-08")]
    assert [s["done_on"] for s in done[0]["steps"]] == ["2026-01-07", "2026-01-08"]

    r = kam("plans", "snooze", crisis, "--until", "2099-01-01", "--store", week.store)
    assert r.exit_code == 2 and "--reason" in r.output  # a reason is required
    r = kam("plans", "snooze", crisis, "--until", "2099-01-01", "--reason", "  ", "--store", week.store)
    assert r.exit_code == 1 and "needs a reason" in r.output
    r = kam("plans", "snooze", crisis, "--until", "2099-01-01", "--reason", "CFO on leave", "--store", week.store)
    assert r.exit_code == 0 and "snoozed until 2099-01-01" in r.output
    assert kam("plans", "--store", week.store).output == "no open plans\n"
    snoozed = kam("plans", "--store", week.store, "--status", "snoozed").output
    assert "snoozed until 2099-01-01: CFO on leave" in snoozed

    assert kam("plans", "reopen", crisis, "--store", week.store).exit_code == 0
    r = kam("plans", "reopen", crisis, "--store", week.store)
    assert r.exit_code == 1 and "already open" in r.output
    assert kam("plans", "--store", week.store, "reopen", respond).exit_code == 0  # group-level --store
    reopened = json.loads(kam("plans", "--store", week.store, "--json").output)
    assert sorted(p["playbook"] for p in reopened) == ["crisis", "respond"]
    assert all(s["done_on"] is None for p in reopened for s in p["steps"])  # a done plan starts over
    r = kam("plans", "done", 999, "--store", week.store)
    assert r.exit_code == 1 and "no plan 999" in r.output


def test_history_shows_risk_and_signals_over_runs(week):
    week(W1, {"A": {}})
    week(W2, {"A": {"nps": 5}})
    week(W3, {"A": {"nps": 5, "late_days": 40}})
    r = kam("history", "A", "--store", week.store)
    assert r.exit_code == 0
    out = r.output
    assert "2026-01-05  run 1    risk none" in out and "2026-01-12  run 2    risk medium   signals: low_nps" in out
    assert "risk high     signals: late, low_nps" in out
    assert "new (run 2)" in out and "escalated (run 3)" in out
    data = json.loads(kam("history", "A", "--store", week.store, "--json").output)
    assert [x["risk_level"] for x in data["runs"]] == ["none", "medium", "high"]
    assert [(p["playbook"], p["state"]) for p in data["plans"]] == [("respond", "escalated"), ("crisis", "new")]
    r = kam("history", "NOPE", "--store", week.store)
    assert r.exit_code == 1 and "no account 'NOPE'" in r.output


def test_explain_a_past_run_with_the_rules_it_used(week):
    week(W1, {"A": {"nps": 6}})
    # sales ops lower the NPS threshold: NPS 6 no longer fires
    (week.root / "rules" / "thresholds.yaml").write_text("kind: thresholds\nthresholds:\n  - {id: nps_min, value: 5}\n")
    week(W2, {"A": {"nps": 6}})
    old = kam("explain", "A", "--run", "1", "--store", week.store)
    assert old.exit_code == 0, old.output
    assert "Run 1 as of 2026-01-05" in old.output and "risk level medium" in old.output
    assert "nps = 6, thresholds.nps_min = 7" in old.output and "plan 1 respond: new" in old.output
    new = kam("explain", "A", "--run", "latest", "--store", week.store)
    assert "risk level none" in new.output and "thresholds.nps_min = 5" in new.output
    assert "plan 1 respond: resolved" in new.output
    # the explain of an input file still works, with today's rules
    direct = kam("explain", "A", week.tmp / "in2.csv", "--project", week.root, "--as-of", W2)
    assert direct.exit_code == 0 and "risk level none" in direct.output
    r = kam("explain", "A", week.tmp / "in2.csv", "--run", "1", "--store", week.store)
    assert r.exit_code == 2 and "give no INPUT" in r.output
    r = kam("explain", "A")
    assert r.exit_code == 2 and "--run RUN_ID" in r.output
    r = kam("explain", "A", "--run", "7", "--store", week.store)
    assert r.exit_code == 1 and "no run 7" in r.output
    r = kam("explain", "ZZ", "--run", "1", "--store", week.store)
    assert r.exit_code == 1 and "was not evaluated in run 1" in r.output


def test_explain_a_past_run_shows_rules_held_back_by_for_runs(week):
    week(W1, {"A": {"complaints": 9}})
    r = kam("explain", "A", "--run", "1", "--store", week.store)
    assert "Held back by for_runs: complaints held 1 of 2 runs" in r.output
    assert "risk level none" in r.output


def test_the_default_store_lives_in_the_project(tmp_path, monkeypatch):
    monkeypatch.delenv("KAM_STORE")
    root = write_project(tmp_path / "project")
    csv_path = write_accounts(tmp_path / "in.csv", {"A": {"nps": 5}})
    r = kam("evaluate", csv_path, "--project", root, "--out", tmp_path / "o", "--as-of", W1, "--no-documents")
    assert r.exit_code == 0, r.output
    assert (root / ".kam" / "state.sqlite").is_file()
    assert "respond" in kam("plans", "--project", root).output


def test_the_bundled_project_keeps_its_store_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("KAM_STORE")
    monkeypatch.chdir(tmp_path)
    r = kam("evaluate", ROOT / "examples" / "accounts.csv", "--out", "o", "--as-of", "2026-11-23", "--no-documents")
    assert r.exit_code == 0, r.output
    assert (tmp_path / ".kam" / "state.sqlite").is_file() and not any((ROOT / "engine").rglob(".kam"))
    results = [json.loads(line) for line in (tmp_path / "o" / "results.jsonl").read_text("utf-8").splitlines()]
    planned = [r for r in results if r["playbooks"]]
    assert planned and all(p["state"] == "new" and isinstance(p["plan_id"], int)
                           for r in planned for p in r["playbooks"])
    assert all(r["resolved_plans"] == [] for r in results)


def test_plans_without_a_store_is_a_clear_error(tmp_path):
    r = kam("plans", "--store", tmp_path / "none.sqlite")
    assert r.exit_code == 1 and "no state store here" in r.output


def test_the_readme_commands_of_plans_across_runs_exist():
    readme = (ROOT / "docs" / "plans.md").read_text("utf-8")
    section = readme.split("\n## Plans across runs\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh synopsis\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].split() for line in block.strip().splitlines()]
    assert len(lines) >= 7
    for words in lines:
        assert words[0] == "kam"
        command = []
        for w in words[1:]:
            if not w.isalpha() or not w.islower():
                break
            command.append(w)
        help_text = CliRunner().invoke(main, [*command, "--help"], prog_name="kam").output
        assert "Usage: kam " + " ".join(command) in help_text, words
        for option in (w.strip("[]") for w in words if w.strip("[]").startswith("--")):
            assert option in help_text, (words, option)
    for state in ("new", "ongoing", "escalated", "resolved"):
        assert f"| `{state}` |" in section


def test_documents_render_from_results_with_plan_states(tmp_path):
    """The bundled templates take results that carry plan states (a second week: ongoing plans)."""
    store = tmp_path / "state.sqlite"
    for day in ("2026-11-23", "2026-11-30"):
        r = kam("evaluate", ROOT / "examples" / "accounts.csv", "--out", tmp_path / day, "--as-of", day,
                "--store", store)
        assert r.exit_code == 0, r.output
    results = [json.loads(line) for line in (tmp_path / "2026-11-30" / "results.jsonl").read_text("utf-8").splitlines()]
    planned = [r for r in results if r["playbooks"]]
    assert planned and {p["state"] for r in planned for p in r["playbooks"]} == {"ongoing"}
    assert all(p["opened"] == "2026-11-23" for r in planned for p in r["playbooks"])
    plans = sorted((tmp_path / "2026-11-30" / "plans").glob("*.md"))
    assert len(plans) == len(planned)
