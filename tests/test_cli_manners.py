"""CLI manners: a closed pipe ends kam quietly, `kam --help` shows every summary whole, a
wrong plan id says what one looks like, `kam init` keeps what runs write out of git."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_project import write_accounts, write_project

from cli import EXIT_PIPE, main

ROOT = Path(__file__).resolve().parent.parent


def kam(*args: object, **extra: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **extra)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A small project, its accounts (A at risk: plans) and a store with a run of them."""
    tmp = tmp_path_factory.mktemp("manners")
    root = write_project(tmp / "project")
    accounts = write_accounts(tmp / "a.csv", {"A": {"nps": 5, "late_days": 40}, "B": {}})
    store = tmp / "state.sqlite"
    r = kam("evaluate", accounts, "--project", root, "--store", store, "--out", tmp / "out", "--no-documents")
    assert r.exit_code == 0, r.output
    return root, accounts, store


@pytest.mark.parametrize("args", [
    ["schema"],
    ["plans", "--store", "{store}"],
    ["explain", "A", "{accounts}", "--project", "{root}"],
    ["history", "A", "--store", "{store}"],
])
def test_a_reader_that_went_away_ends_kam_quietly(small, args):
    root, accounts, store = small
    argv = [a.format(root=root, accounts=accounts, store=store) for a in args]
    read, write = os.pipe()
    os.close(read)  # `| head -1` that has already exited: kam's first write finds the pipe closed
    try:
        done = subprocess.run([sys.executable, str(ROOT / "cli.py"), *argv], stdout=write, stderr=subprocess.PIPE,
                              cwd=ROOT, timeout=120)
    finally:
        os.close(write)
    assert done.stderr.decode() == ""  # no "internal error", no traceback, no "Exception ignored"
    assert done.returncode == EXIT_PIPE == 141


def first_sentence(help_text: str) -> str:
    paragraph = " ".join(help_text.split("\n\n")[0].split())
    return re.split(r"(?<=\.) (?=[^a-z])", paragraph)[0]


@pytest.mark.parametrize("width", [80, 50])  # click cuts at 66 and 36 characters
@pytest.mark.parametrize("group", [main, main.commands["plans"]])
def test_help_shows_every_command_summary_whole(group, width):
    args = ["--help"] if group is main else [group.name, "--help"]
    listing = kam(*args, terminal_width=width).output.split("Commands:")[1]
    assert "..." not in listing
    flowing = " ".join(listing.split())  # a narrow terminal wraps a summary: whole all the same
    for name, cmd in group.commands.items():
        assert f"{name} {first_sentence(cmd.help)}" in flowing


def test_a_wrong_plan_id_says_what_a_plan_id_looks_like(small):
    _, _, store = small
    r = kam("plans", "done", 99999, "x", "--store", store)
    assert r.exit_code == 1
    first = r.output.splitlines()[0]
    assert first.startswith(f"kam: no plan 99999 in {store}, which has plans 1 to ")
    assert "the N of 'plan N' beside each playbook's title in the plan documents" in first
    assert "`kam plans` lists the open plans with their ids first" in first
    r = kam("plans", "snooze", "A", "--until", "2030-01-01", "--reason", "x", "--store", store)
    assert r.exit_code == 2 and "'A' is not a plan id. A plan id is the N of 'plan N'" in r.output


def test_init_writes_a_gitignore_for_what_runs_write(tmp_path, monkeypatch):
    from engine.plans.store import default_store_path
    target = tmp_path / "p"
    assert kam("init", target).exit_code == 0
    ignored = (target / ".gitignore").read_text("utf-8").splitlines()
    monkeypatch.delenv("KAM_STORE")  # the test suite's own store: back to the default
    store = default_store_path(target)
    out = next(p.default for p in main.commands["evaluate"].params if p.name == "out_dir")
    assert f"{store.parent.relative_to(target)}/" in ignored and f"{out}/" in ignored


def test_a_full_disk_names_the_file_and_leaves_the_previous_output(tmp_path, monkeypatch):
    """No traceback and no 'internal error' for a disk that filled up while the plans were
    written (os.write names no file; FolderFiles says which): the output folder, what to do,
    exit 1; the previous output and the store stay as they were."""
    import errno
    import types

    from engine.io import writers
    root, accounts = ROOT, ROOT / "examples" / "accounts.csv"
    out, store = tmp_path / "out", tmp_path / "state.sqlite"
    r = kam("evaluate", accounts, "--project", root, "--store", store, "--out", out, "--as-of", "2026-11-23")
    assert r.exit_code == 0, r.output
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    plan = sorted((out / "plans").glob("*.md"))[0]
    plan_before = plan.read_bytes()
    store_before = store.read_bytes()

    def full(fd: int, data: object) -> int:  # as os.write raises it: no file name
        raise OSError(errno.ENOSPC, "No space left on device")

    # the plan writer's os, with a disk that is full
    monkeypatch.setattr(writers, "os", types.SimpleNamespace(**{**vars(os), "write": full}))
    r = kam("evaluate", accounts, "--project", root, "--store", store, "--out", out, "--as-of", "2026-11-30")
    monkeypatch.undo()
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    assert f"{out}: cannot write the output folder (No space left on device): free some space" in r.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert plan.read_bytes() == plan_before
    assert store.read_bytes() == store_before
