"""The data-quality gate of `kam evaluate`: a run that rejects more than max_rejected % of
its records exits 1 after writing rejected.jsonl, with no documents and nothing recorded."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from cli import main

ROOT = Path(__file__).resolve().parent.parent
HEADER = "account_id,name,owner,status,revenue_current,revenue_previous,nps\n"


def accounts(path: Path, good: int, broken: int, broken_ids: str = "B") -> Path:
    """`good` accounts A0.. with purchases down 20 % and a low NPS (each gets plans), then
    `broken` ones with the export's own status value, which the project does not know."""
    rows = [f"A{i},Acme {i},Anna,active,80,100,5\n" for i in range(good)]
    rows += [f"{broken_ids}{i},Вектор {i},Anna,Активный,80,100,5\n" for i in range(good, good + broken)]
    path.write_text(HEADER + "".join(rows), "utf-8")
    return path


def kam(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def evaluate(path: Path, out: Path, store: Path, *extra: object):
    return kam("evaluate", path, "--project", ROOT, "--out", out, "--store", store, "--as-of", "2026-11-23",
               *extra)


def runs(store: Path) -> int:
    conn = sqlite3.connect(store)
    try:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()


def test_one_good_and_five_bad_rows_exit_1_with_rejected_jsonl_and_nothing_recorded(tmp_path):
    out, store = tmp_path / "out", tmp_path / "state.sqlite"
    r = evaluate(accounts(tmp_path / "a.csv", 1, 5), out, store)
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        f"6 accounts read: 1 evaluated, 5 rejected (see {out / 'rejected.jsonl'})",
        "5 of 6 records rejected (83 %) — most common: status: 'Активный' is not one of active, lost (5)",
    ]
    *phases, stopped = r.stderr.splitlines()
    assert [re.sub(r" in \d+\.\d s$", "", line) for line in phases] == [
        "read: 6 records", "portfolio: 1 account", "rules: 1 account", "output: 4 files"]  # no store, no documents
    assert stopped == (
        "stopped: more than 5 % of the records rejected (max_rejected): no documents written, nothing "
        "recorded in the store. Fix the export, or allow more with --max-rejected PCT or kam.yaml "
        "settings.max_rejected.")
    rejected = (out / "rejected.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["account_id"] for line in rejected] == [f"B{i}" for i in range(1, 6)]
    assert len((out / "results.jsonl").read_text("utf-8").splitlines()) == 1
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "rejected.jsonl", "results.jsonl", "summary.json"]  # no plans, digests or report
    gate = json.loads((out / "summary.json").read_text("utf-8"))["quality_gate"]
    assert gate == {"rejected_pct": 83.33, "max_rejected_pct": 5.0, "passed": False,
                    "most_common": {"reason": "status: 'Активный' is not one of active, lost", "count": 5}}
    assert runs(store) == 0


def test_under_the_limit_the_run_completes(tmp_path):
    out, store = tmp_path / "out", tmp_path / "state.sqlite"
    r = evaluate(accounts(tmp_path / "a.csv", 20, 1), out, store)  # 4.8 %
    assert r.exit_code == 0, r.output
    assert "1 of 21 records rejected (4.76 %) — most common: status: 'Активный' is not one of active, " \
           "lost (1)" in r.stdout
    assert (out / "plans" / "A0.md").exists() and runs(store) == 1


def test_max_rejected_option_and_setting(tmp_path):
    broken = accounts(tmp_path / "a.csv", 1, 5)
    r = evaluate(broken, tmp_path / "o1", tmp_path / "s1.sqlite", "--max-rejected", 90)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o1" / "plans" / "A0.md").exists() and runs(tmp_path / "s1.sqlite") == 1
    r = evaluate(accounts(tmp_path / "b.csv", 20, 1), tmp_path / "o2", tmp_path / "s2.sqlite", "--max-rejected", 0)
    assert r.exit_code == 1 and "more than 0 % of the records rejected" in r.stderr

    project = tmp_path / "project"
    for name in ("rules", "playbooks"):
        shutil.copytree(ROOT / name, project / name)
    kam_yaml = (ROOT / "kam.yaml").read_text("utf-8")
    assert "  max_rejected: 5\n" in kam_yaml
    (project / "kam.yaml").write_text(kam_yaml.replace("  max_rejected: 5\n", "  max_rejected: 90\n"), "utf-8")
    args = ("evaluate", broken, "--project", project, "--as-of", "2026-11-23", "--no-documents", "--no-store")
    assert kam(*args, "--out", tmp_path / "o3").exit_code == 0
    r = kam(*args, "--out", tmp_path / "o4", "--max-rejected", 50, "--json")  # the option wins
    assert r.exit_code == 1
    assert json.loads(r.stdout)["quality_gate"]["max_rejected_pct"] == 50


def test_a_broken_export_leaves_the_plans_of_the_last_good_run(tmp_path):
    """Recorded, the broken run would resolve the plan of every account it rejected."""
    store = tmp_path / "state.sqlite"
    assert evaluate(accounts(tmp_path / "good.csv", 6, 0), tmp_path / "o1", store).exit_code == 0
    before = kam("plans", "--store", store, "--json").stdout
    assert {p["account_id"] for p in json.loads(before)} == {f"A{i}" for i in range(6)}
    bad = accounts(tmp_path / "bad.csv", 1, 5, broken_ids="A")  # A1..A5 now rejected
    assert evaluate(bad, tmp_path / "o2", store).exit_code == 1
    assert runs(store) == 1 and kam("plans", "--store", store, "--json").stdout == before
