"""Plans across runs through the whole run: evaluate_portfolio with a state store, week after week."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest
from store_project import Weekly, dump, states, write_accounts, write_project

from engine.errors import KamError
from engine.plans.store import Store
from engine.plans.store.actions import mark_done, snooze
from engine.plans.store.schema import VERSION

W1, W2, W3, W4, W5 = "2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26", "2026-02-02"


def plans_table(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT plan_id, account_id, playbook, status, state, opened, resolved_on "
                            "FROM plans ORDER BY plan_id").fetchall()
    finally:
        conn.close()


def events(path: Path, plan_id: int) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [e for (e,) in conn.execute("SELECT event FROM plan_events WHERE plan_id = ? ORDER BY event_id",
                                           (plan_id,))]
    finally:
        conn.close()


def test_an_account_goes_from_healthy_to_medium_to_high_and_is_resolved(tmp_path):
    w = Weekly(tmp_path)
    r = w.run(W1, {"A": {}})["A"]
    assert r["playbooks"] == [] and r["resolved_plans"] == [] and r["held_plans"] == []

    r = w.run(W2, {"A": {"nps": 5}})["A"]  # one category: medium
    assert r["risk_level"] == "medium" and states(r) == {"respond": "new"}
    respond = r["playbooks"][0]
    assert respond["opened"] == W2 and respond["overdue"] is False
    assert [s["due"] for s in respond["steps"]] == ["2026-01-21", "2026-02-23"]  # 7 and 30 working days
    assert w.last.states["new"] == 1

    r = w.run(W3, {"A": {"nps": 5, "late_days": 45}})["A"]  # two categories: high
    assert r["risk_level"] == "high" and states(r) == {"crisis": "new", "respond": "escalated"}
    by_id = {p["id"]: p for p in r["playbooks"]}
    assert by_id["respond"]["plan_id"] == respond["plan_id"] and by_id["respond"]["opened"] == W2
    assert [s["due"] for s in by_id["respond"]["steps"]] == ["2026-01-21", "2026-02-23"]  # unchanged
    assert by_id["crisis"]["steps"][0]["due"] == "2026-01-22"
    # the documents were given the same results, states and all
    assert w.documents == [r]

    r = w.run(W4, {"A": {"nps": 5, "late_days": 45}})["A"]
    assert states(r) == {"crisis": "ongoing", "respond": "ongoing"}
    overdue = {p["id"]: p["overdue"] for p in r["playbooks"]}
    assert overdue == {"crisis": True, "respond": True}  # 22 and 21 January are past on the 26th

    r = w.run(W5, {"A": {}})["A"]
    assert r["risk_level"] == "none" and r["playbooks"] == []
    assert sorted((p["id"], p["opened"], p["resolved"]) for p in r["resolved_plans"]) == [
        ("crisis", W3, W5), ("respond", W2, W5)]
    table = plans_table(w.store_path)
    assert [(t[2], t[3], t[4], t[5], t[6]) for t in table] == [
        ("respond", "resolved", "resolved", W2, W5), ("crisis", "resolved", "resolved", W3, W5)]
    assert events(w.store_path, table[0][0]) == ["new", "escalated", "ongoing", "resolved"]
    conn = sqlite3.connect(w.store_path)
    risks = [x for (x,) in conn.execute("SELECT risk_level FROM account_runs WHERE account_id = 'A' ORDER BY as_of")]
    conn.close()
    assert risks == ["none", "medium", "high", "high", "none"]


def test_a_done_qbr_is_not_reopened_within_its_cooldown(tmp_path):
    w = Weekly(tmp_path)
    key = {"strategic": "yes", "days_since_qbr": 120}
    r = w.run(W1, {"K": key})["K"]
    assert states(r) == {"qbr": "new"}
    plan_id = r["playbooks"][0]["plan_id"]
    with Store.open(w.store_path) as store:
        mark_done(store, plan_id, None, date(2026, 1, 6))
    r = w.run(W2, {"K": key})["K"]  # the data still says no QBR for 120 days
    assert r["playbooks"] == []
    assert r["held_plans"] == [{"id": "qbr", "title": "QBR", "plan_id": plan_id, "state": "cooldown",
                                "until": "2026-04-06"}]
    assert w.run("2026-04-05", {"K": key})["K"]["playbooks"] == []
    r = w.run("2026-04-06", {"K": key})["K"]
    assert states(r) == {"qbr": "new"} and r["playbooks"][0]["plan_id"] != plan_id
    assert [t[3] for t in plans_table(w.store_path)] == ["done", "open"]


def test_a_snoozed_plan_comes_back_after_its_date(tmp_path):
    w = Weekly(tmp_path)
    sick = {"S": {"nps": 5}}
    r = w.run(W1, sick)["S"]
    plan_id = r["playbooks"][0]["plan_id"]
    with Store.open(w.store_path) as store:
        snooze(store, plan_id, date(2026, 1, 20), "waiting for the survey", date(2026, 1, 6))
    for week in (W2, W3):
        r = w.run(week, sick)["S"]
        assert r["playbooks"] == [] and r["held_plans"][0]["state"] == "snoozed"
        assert r["held_plans"][0]["until"] == "2026-01-20"
    r = w.run(W4, sick)["S"]
    (p,) = r["playbooks"]
    assert (p["plan_id"], p["state"], p["opened"]) == (plan_id, "ongoing", W1)
    assert p["steps"][0]["due"] == "2026-01-14" and p["overdue"] is True
    assert events(w.store_path, plan_id) == ["new", "snoozed", "snoozed", "snoozed", "unsnoozed"]


def test_a_rise_in_risk_ends_a_snooze_early(tmp_path):
    w = Weekly(tmp_path)
    plan_id = w.run(W1, {"S": {"nps": 5}})["S"]["playbooks"][0]["plan_id"]
    with Store.open(w.store_path) as store:
        snooze(store, plan_id, date(2026, 3, 1), "busy quarter", date(2026, 1, 6))
    r = w.run(W2, {"S": {"nps": 5, "late_days": 60}})["S"]
    assert states(r) == {"crisis": "new", "respond": "escalated"}


def test_for_runs_2_ignores_a_one_run_blip(tmp_path):
    w = Weekly(tmp_path)
    week1 = w.run(W1, {"BLIP": {"complaints": 5}, "STEADY": {"complaints": 5}})
    for aid in ("BLIP", "STEADY"):
        r = week1[aid]
        # the condition held, but only once: no signal, and nothing downstream of it either
        assert r["signals"] == [] and r["risk_level"] == "none" and r["playbooks"] == []
        assert "complaints" not in [f["rule"] for f in r["fired"]]
        assert r["pending_rules"] == [{"rule": "complaints", "runs": 1, "for_runs": 2,
                                       "asserts": ["signal.complaints"]}]
    week2 = w.run(W2, {"BLIP": {}, "STEADY": {"complaints": 5}})
    assert week2["BLIP"]["signals"] == [] and week2["BLIP"]["pending_rules"] == []
    steady = week2["STEADY"]
    assert [s["id"] for s in steady["signals"]] == ["complaints"] and steady["risk_level"] == "medium"
    assert states(steady) == {"respond": "new"} and steady["pending_rules"] == []
    assert w.last.pending_rules == 0
    assert [t[1] for t in plans_table(w.store_path)] == ["STEADY"]


def test_a_correction_on_the_same_date_does_not_count_as_another_run(tmp_path):
    w = Weekly(tmp_path)
    w.run(W1, {"C": {"complaints": 5}})
    again = w.run(W1, {"C": {"complaints": 6}})["C"]  # other input, same date: a correction
    assert again["pending_rules"][0]["runs"] == 1 and again["signals"] == []
    assert [s["id"] for s in w.run(W2, {"C": {"complaints": 5}})["C"]["signals"]] == ["complaints"]


def test_keep_open_runs_keeps_a_plan_open_through_a_flap(tmp_path):
    w = Weekly(tmp_path)
    seen = []
    for week, flag in zip((W1, W2, W3, W4, W5), ("yes", "no", "yes", "no", "no")):
        r = w.run(week, {"F": {"watch_flag": flag}})["F"]
        seen.append([(p["plan_id"], p["state"], p["kept_open"]) for p in r["playbooks"]]
                    + [("resolved", p["plan_id"]) for p in r["resolved_plans"]])
    pid = seen[0][0][0]
    assert seen == [[(pid, "new", False)], [(pid, "ongoing", True)], [(pid, "ongoing", False)],
                    [(pid, "ongoing", True)], [("resolved", pid)]]
    assert len(plans_table(w.store_path)) == 1


def test_the_same_input_twice_changes_nothing(tmp_path):
    w = Weekly(tmp_path)
    accounts = {"A": {"nps": 5}, "B": {"complaints": 5}, "C": {}}
    w.run(W1, accounts)
    first = w.run(W2, accounts)
    before = dump(w.store_path)
    again = w.run(W2, accounts)
    assert again == first and w.last.replayed and w.last.run_id == 2
    assert dump(w.store_path) == before
    assert (w.tmp / "out-2" / "results.jsonl").read_bytes() == (w.tmp / "out-3" / "results.jsonl").read_bytes()


def test_a_run_cannot_go_back_in_time(tmp_path):
    w = Weekly(tmp_path)
    w.run(W2, {"A": {}})
    before = dump(w.store_path)
    with pytest.raises(KamError, match="would go back in time"):
        w.run(W1, {"A": {"nps": 3}})
    assert dump(w.store_path) == before
    assert not (tmp_path / "out-2").exists()  # nothing written either


@pytest.mark.parametrize("where", ["store", "documents"])
def test_a_run_that_fails_midway_leaves_the_store_as_it_was(tmp_path, monkeypatch, where):
    w = Weekly(tmp_path)
    w.run(W1, {"A": {"nps": 5}, "B": {}})
    before = dump(w.store_path)
    from engine.plans.store.plans import PlanWriter
    calls = []
    real = PlanWriter.write

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the run, its files and a first plan are written by then
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    def broken_documents(project, results, staging, lang, progress):  # noqa: ANN001
        raise RuntimeError("renderer on fire")

    if where == "store":
        monkeypatch.setattr(PlanWriter, "write", flaky)
    with pytest.raises(RuntimeError, match="on fire"):
        w.run(W2, {"A": {"nps": 5, "late_days": 60}, "B": {"nps": 2}},
              write_documents=broken_documents if where == "documents" else None, out=tmp_path / "out-1")
    assert dump(w.store_path) == before
    assert json.loads((tmp_path / "out-1" / "results.jsonl").read_text().splitlines()[0])["as_of"] == W1
    monkeypatch.undo()
    r = w.run(W2, {"A": {"nps": 5, "late_days": 60}, "B": {"nps": 2}})  # and the run can be made again
    assert states(r["A"]) == {"crisis": "new", "respond": "escalated"}


def test_a_dry_run_shows_states_without_touching_the_store(tmp_path):
    w = Weekly(tmp_path)
    w.run(W1, {"A": {"nps": 5}})
    files = sorted(p.name for p in w.store_path.parent.iterdir())
    raw = w.store_path.read_bytes()
    r = w.run(W2, {"A": {"nps": 5, "late_days": 60}}, dry_run=True)["A"]
    assert states(r) == {"crisis": "new", "respond": "escalated"}
    by_id = {p["id"]: p["plan_id"] for p in r["playbooks"]}
    assert by_id["crisis"] is None and isinstance(by_id["respond"], int)  # a new plan has no id yet
    assert w.last.dry_run and w.last.run_id is None
    assert w.store_path.read_bytes() == raw and sorted(p.name for p in w.store_path.parent.iterdir()) == files
    # no store yet: a dry run does not create one
    other = Weekly(tmp_path / "fresh")
    other.store_path.parent.mkdir(parents=True)
    assert states(other.run(W1, {"A": {"nps": 5}}, dry_run=True)["A"]) == {"respond": "new"}
    assert not other.store_path.exists()


def test_the_store_is_created_migrated_and_checked(tmp_path):
    path = tmp_path / "s" / "state.sqlite"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version = {VERSION + 1}")
    conn.close()
    with pytest.raises(KamError, match="newer kam"):
        Store.open(path)
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all, just text " * 100)
    with pytest.raises(KamError, match="not a kam state store"):
        Store.open(junk)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id)")
    conn.close()
    with pytest.raises(KamError, match="other tables"):
        Store.open(other)
    with pytest.raises(KamError, match="no state store"):
        Store.open(tmp_path / "absent.sqlite", must_exist=True)


def test_a_run_waits_for_the_store_and_fails_clearly_when_it_stays_busy(tmp_path):
    w = Weekly(tmp_path)
    w.run(W1, {"A": {}})
    holder = sqlite3.connect(w.store_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another run holding the write lock
    try:
        from engine.run import evaluate_portfolio
        with Store.open(w.store_path, timeout=0.2) as store:
            started = time.monotonic()
            with pytest.raises(KamError, match="in use by another kam run"):
                evaluate_portfolio(w.project, [write_accounts(tmp_path / "x.csv", {"A": {}})], tmp_path / "o",
                                   date(2026, 1, 12), store=store)
            assert time.monotonic() - started >= 0.2
    finally:
        holder.rollback()
        holder.close()


CONCURRENT = textwrap.dedent("""
    import sys, time, json
    from datetime import date
    from pathlib import Path
    from engine.project.load import load_project
    from engine.run import evaluate_portfolio
    from engine.plans.store import Store
    root, accounts, out, store_path, log = sys.argv[1:6]

    def slow_documents(project, results, staging, lang, progress):  # noqa: ANN001
        time.sleep(1.0)  # holds the store's write lock meanwhile

    with Store.open(store_path) as store:
        evaluate_portfolio(load_project(Path(root)), [Path(accounts)], Path(out), date(2026, 1, 5),
                           write_documents=slow_documents, store=store)
    Path(log).write_text(json.dumps({"run": store.last_run.run_id, "end": time.time()}))
""")


def test_two_runs_at_once_are_serialised_and_leave_a_sound_store(tmp_path):
    root = write_project(tmp_path / "project")
    store_path = tmp_path / "state.sqlite"
    Store.open(store_path).close()
    script = tmp_path / "run.py"
    script.write_text(CONCURRENT)
    procs = []
    for i, accounts in enumerate(({"A": {"nps": 5}, "B": {}}, {"A": {"nps": 5, "late_days": 40}, "B": {"nps": 1}})):
        csv_path = write_accounts(tmp_path / f"in{i}.csv", accounts)
        procs.append(subprocess.Popen([sys.executable, str(script), str(root), str(csv_path), str(tmp_path / f"o{i}"),
                                       str(store_path), str(tmp_path / f"log{i}.json")],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    logs = [json.loads((tmp_path / f"log{i}.json").read_text()) for i in range(2)]
    assert sorted(x["run"] for x in logs) == [1, 2]
    conn = sqlite3.connect(store_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM account_runs").fetchone()[0] == 4
        assert conn.execute("SELECT count(*) FROM account_runs WHERE current = 1").fetchone()[0] == 2
        # one live plan per account and playbook, whatever the order the runs took
        live = conn.execute("SELECT account_id, playbook, count(*) FROM plans WHERE status = 'open' "
                            "GROUP BY account_id, playbook").fetchall()
        assert all(n == 1 for *_, n in live)
    finally:
        conn.close()


def test_a_runs_input_is_stored_whole_and_a_file_changed_midway_is_refused(tmp_path, monkeypatch):
    """Inputs are compressed in a thread while the run goes on (blobs.PendingFile): the stored
    content is the file's, and a file rewritten after the run hashed it fails the run."""
    from engine.plans.store import blobs
    w = Weekly(tmp_path)
    monkeypatch.setattr(blobs, "PIECE", 64)  # several pieces, in order
    w.run(W1, {f"A{i}": {"nps": 5} for i in range(30)})
    conn = sqlite3.connect(w.store_path)
    try:
        (sha, name), = conn.execute("SELECT sha256, name FROM run_inputs").fetchall()
        pieces = conn.execute("SELECT count(*) FROM blob_chunks WHERE sha256 = ?", (sha,)).fetchone()[0]
    finally:
        conn.close()
    with Store.open(w.store_path) as store:
        assert blobs.get_blob(store, sha) == (tmp_path / name).read_bytes()
        assert store.one("SELECT size FROM blobs WHERE sha256 = ?", (sha,))["size"] == (tmp_path / name).stat().st_size
    assert pieces > 3

    before = dump(w.store_path)
    real = blobs.PendingFile._compress

    def rewritten(self):  # noqa: ANN001 - the export is rewritten after the run hashed it
        self.path.write_text(self.path.read_text("utf-8") + "\n", "utf-8")  # a blank line more
        real(self)

    monkeypatch.setattr(blobs.PendingFile, "_compress", rewritten)
    with pytest.raises(KamError, match="changed while the run read it"):
        w.run(W2, {"A1": {"nps": 5}})
    assert dump(w.store_path) == before
