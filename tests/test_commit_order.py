"""Issue 17: the output folder and the store commit together. A run is killed at every step
boundary of its commit sequence (sync, store commit, the two renames, sync, removing the
previous output); what it leaves, once the next run's sweep has finished it, is the old
output with the old store or the new output with the new store, never a mix, and the next
run works."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.io.writers import AtomicDir
from engine.plans.store.runs import run_recorded

ROOT = Path(__file__).resolve().parent.parent
W1, W2 = "2026-11-23", "2026-11-30"
STEPS = ["sync", "commit", "rename", "rename", "sync", "remove"]

RUN = textwrap.dedent("""
    import json, os, shutil, sys
    from datetime import date
    from pathlib import Path
    import engine.io.writers as writers
    from engine.project.load import load_project
    from engine.run import evaluate_portfolio
    from engine.plans.store.db import Store
    root, accounts, out, store_path, day, kill_at = sys.argv[1:7]
    kill_at = int(kill_at)
    events = []

    def step(name):
        events.append(name)
        if len(events) - 1 == kill_at:
            os._exit(9)  # as kill -9: no finally, no cleanup

    real_sync, real_replace, real_rmtree, real_commit = writers._sync, os.replace, shutil.rmtree, Store.commit
    writers._sync = lambda: (step("sync"), real_sync())[1]

    def replace(a, b):
        if ".staging-" in str(a) or ".old-" in str(b):
            step("rename")
        real_replace(a, b)

    def rmtree(path, *args, **kwargs):
        if ".old-" in str(path):
            step("remove")
        real_rmtree(path, *args, **kwargs)

    def commit(self):
        if self.conn.in_transaction:
            step("commit")
        real_commit(self)

    os.replace, shutil.rmtree, Store.commit = replace, rmtree, commit
    with Store.open(store_path) as store:
        evaluate_portfolio(load_project(Path(root)), [Path(accounts)], Path(out), date.fromisoformat(day), store=store)
    print(json.dumps(events))
""")


def _run(tmp: Path, day: str, kill_at: int = -1) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN, str(ROOT), str(ROOT / "examples" / "accounts.csv"),
                           str(tmp / "out"), str(tmp / "state.sqlite"), day, str(kill_at)],
                          capture_output=True, text=True, cwd=ROOT)


def _pair(tmp: Path) -> tuple[str, str]:
    """(the output's as_of, the store's latest run's as_of)."""
    first = json.loads((tmp / "out" / "results.jsonl").read_text("utf-8").splitlines()[0])
    conn = sqlite3.connect(tmp / "state.sqlite")
    try:
        latest = conn.execute("SELECT max(as_of) FROM runs").fetchone()[0]
    finally:
        conn.close()
    return first["as_of"], latest


def test_a_whole_run_takes_the_steps_in_this_order(tmp_path):
    assert _run(tmp_path, W1).returncode == 0
    done = _run(tmp_path, W2)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == STEPS
    assert _pair(tmp_path) == (W2, W2)


@pytest.mark.parametrize("kill_at", range(len(STEPS)), ids=[f"before-{i}-{s}" for i, s in enumerate(STEPS)])
def test_a_kill_at_any_step_leaves_the_old_pair_or_the_new_one(tmp_path, kill_at):
    assert _run(tmp_path, W1).returncode == 0
    killed = _run(tmp_path, W2, kill_at)
    assert killed.returncode == 9, killed.stderr
    AtomicDir(tmp_path / "out", committed=run_recorded).recover()  # what the next run does first
    expected = W1 if kill_at <= STEPS.index("commit") else W2  # the store's commit decides
    assert _pair(tmp_path) == (expected, expected)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []
    again = _run(tmp_path, W2)  # and the run can be made (again)
    assert again.returncode == 0, again.stderr
    assert _pair(tmp_path) == (W2, W2)


def _kam(*args: str, cwd: Path, default_store: bool = False) -> subprocess.CompletedProcess:
    import os
    env = {k: v for k, v in os.environ.items() if not (default_store and k == "KAM_STORE")}
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=cwd,
                          env=env)


def test_a_store_inside_the_output_folder_is_refused_before_anything_is_written(tmp_path):
    r = _kam("evaluate", str(ROOT / "examples" / "accounts.csv"), "--out", "out", "--store", "out/state.sqlite",
             cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == ("out/state.sqlite: the state store is inside the output folder out, which every run "
                                "replaces whole: the plan history would go with it. Keep the store outside "
                                "(--store PATH, e.g. .kam/state.sqlite beside the project) or choose another --out")
    assert list(tmp_path.iterdir()) == []
    # the default store (./.kam/state.sqlite) of a run started inside the output folder
    (tmp_path / "out").mkdir()
    r = _kam("evaluate", str(ROOT / "examples" / "accounts.csv"), "--out", "../out", cwd=tmp_path / "out",
             default_store=True)
    assert r.returncode == 1 and r.stderr.startswith(f"{tmp_path / 'out' / '.kam' / 'state.sqlite'}: the state "
                                                     "store is inside the output folder ../out")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_empty_or_missing_store_that_held_the_history_is_an_error_until_new_store(tmp_path):
    csv = str(ROOT / "examples" / "accounts.csv")
    assert _kam("evaluate", csv, "--out", "out", "--store", "s.sqlite", "--as-of", W1, cwd=tmp_path).returncode == 0
    (tmp_path / "s.sqlite").write_bytes(b"")
    r = _kam("evaluate", csv, "--out", "out", "--store", "s.sqlite", "--as-of", W2, cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == (
        "s.sqlite: the state store is empty (0 bytes): the plan history it held is gone (an interrupted copy, a "
        "full disk?). Restore it from a backup; or, to start a new plan history on purpose, run with --new-store")
    (tmp_path / "s.sqlite").unlink()
    r = _kam("evaluate", csv, "--out", "out", "--store", "s.sqlite", "--as-of", W2, cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == (
        "s.sqlite: the state store is missing, but the output folder out was written by run 1 recorded in it: the "
        "plan history is gone. Restore the file from a backup; or, to start a new plan history on purpose, run "
        "with --new-store")
    assert json.loads((tmp_path / "out" / "results.jsonl").read_text("utf-8").splitlines()[0])["as_of"] == W1
    r = _kam("evaluate", csv, "--out", "out", "--store", "s.sqlite", "--as-of", W2, "--new-store", cwd=tmp_path)
    assert r.returncode == 0 and "173 new (run 1 recorded in s.sqlite)" in r.stdout
    r = _kam("evaluate", csv, "--out", "out", "--store", "s.sqlite", "--as-of", W2, "--new-store", cwd=tmp_path)
    assert r.returncode == 1 and "--new-store starts a new plan history, but this state store exists" in r.stderr


def test_a_full_disk_at_the_store_commit_leaves_the_previous_output(tmp_path, monkeypatch):
    from datetime import date

    from engine.errors import KamError, Problem
    from engine.plans.store.db import Store
    from engine.project.load import load_project
    from engine.run import evaluate_portfolio
    project, csv = load_project(ROOT), ROOT / "examples" / "accounts.csv"
    with Store.open(tmp_path / "state.sqlite") as store:
        evaluate_portfolio(project, [csv], tmp_path / "out", date.fromisoformat(W1), store=store)

    def full(self):  # noqa: ANN001
        raise KamError(Problem(str(self.path), 0, 0, "the disk holding the state store is full"))

    monkeypatch.setattr(Store, "commit", full)
    with pytest.raises(KamError, match="disk holding the state store is full"), \
            Store.open(tmp_path / "state.sqlite") as store:
        evaluate_portfolio(project, [csv], tmp_path / "out", date.fromisoformat(W2), store=store)
    monkeypatch.undo()
    assert _pair(tmp_path) == (W1, W1)  # exit 1 writes nothing
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []  # nothing left beside it
