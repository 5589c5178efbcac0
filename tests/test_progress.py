"""Progress you can trust: the engine reports every phase of a run with what it counts, and
`kam evaluate` shows them: a line per phase on a log, a bar on a terminal."""
from __future__ import annotations

import itertools
import json
import re
from datetime import date
from pathlib import Path

from click.testing import CliRunner

import cli
from engine.project.load import load_project
from engine.run import evaluate_portfolio
from engine.run.progress import Phase

ROOT = Path(__file__).resolve().parent.parent
HEADER = "account_id,name,owner,status,revenue_current,revenue_previous,nps\n"


def accounts(path: Path, n: int) -> Path:
    path.write_text(HEADER + "".join(f"A{i},Acme {i},Anna,active,{80 + i},100,{i % 11}\n" for i in range(n)),
                    "utf-8")
    return path


def test_a_run_off_a_terminal_logs_one_line_per_phase_with_counts(tmp_path):
    f = accounts(tmp_path / "a.csv", 20)
    with f.open("a", encoding="utf-8") as more:
        more.write("A0,Again,Anna,active,1,1,1\n")  # a duplicate: read, but not evaluated
    r = CliRunner().invoke(cli.main, ["evaluate", str(f), "--out", str(tmp_path / "out"), "--as-of",
                                      "2026-11-23"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    counts = [re.fullmatch(r"(\w+): ([\d,]+) (\w+) in \d+\.\d s", line).groups() for line in lines]
    documents = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))["documents"]
    files = sum(1 for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert counts == [("read", "21", "records"), ("portfolio", "20", "accounts"), ("rules", "20", "accounts"),
                      ("plans", "20", "accounts"), ("documents", str(documents), "files"),
                      ("output", str(files), "files")]
    assert documents > 20  # a plan for every account with a playbook, digests, summary, report


def test_phases_without_a_store_or_documents_are_not_shown(tmp_path):
    r = CliRunner().invoke(cli.main, ["evaluate", str(accounts(tmp_path / "a.csv", 3)), "--out",
                                      str(tmp_path / "out"), "--no-store", "--no-documents"],
                           catch_exceptions=False)
    assert [line.split(":")[0] for line in r.stderr.splitlines()] == ["read", "portfolio", "rules", "output"]


def test_the_engine_counts_accounts_chunk_by_chunk_in_every_phase(tmp_path):
    from engine.render import write_documents
    seen: list[Phase] = []
    evaluate_portfolio(load_project(ROOT), [accounts(tmp_path / "a.csv", 10)], tmp_path / "out",
                       date(2026, 11, 23), "en", seen.append, write_documents, chunk_size=3)
    by_phase: dict[str, list[Phase]] = {}
    for p in seen:
        by_phase.setdefault(p.name, []).append(p)
    assert list(by_phase) == ["read", "portfolio", "rules", "plans", "documents", "output"]  # no store given
    rules = by_phase["rules"]
    assert [(p.done, p.total) for p in rules] == [(0, 10), (3, 10), (6, 10), (9, 10), (10, 10), (10, 10)]
    assert [p.finished for p in rules] == [False] * 5 + [True]
    assert [p.done for p in by_phase["read"]] == [0, 3, 6, 9, 10, 10] and by_phase["read"][0].total is None
    documents = by_phase["documents"]
    assert documents[-1].finished and documents[-2].done == documents[-2].total  # every file counted
    assert all(a.seconds <= b.seconds for a, b in itertools.pairwise(rules))


def test_on_a_terminal_a_bar_counts_accounts_and_gives_way_to_the_phase_line(capsys, monkeypatch):
    clock = itertools.count(100)  # a second between calls: every update is drawn
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    monkeypatch.setenv("COLUMNS", "200")
    phases = cli._Phases()
    phases.live = True
    phases(Phase("rules", "accounts", 0, 50_000, 0.0))
    phases(Phase("rules", "accounts", 25_000, 50_000, 10.0))
    phases(Phase("rules", "accounts", 50_000, 50_000, 20.4, finished=True))
    assert capsys.readouterr().err == (
        "\rrules…\x1b[K"
        "\rrules [############------------]  50% 25,000/50,000 accounts, 10 s left\x1b[K"
        "\r\x1b[Krules: 50,000 accounts in 20.4 s\n")
