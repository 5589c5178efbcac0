"""The default job (a store and documents) gives the same bytes however it is cut: one chunk,
three chunks, two worker processes or a Dask cluster write the same results, plans, digests,
summary, portfolio report, tasks.csv and calendars, and leave the same store, on a first run
and on the run a week later on that store."""
from __future__ import annotations

import datetime
import json
import sqlite3
from pathlib import Path

import pytest

from engine.plans.store import Store
from engine.project.load import load_project
from engine.render import write_documents
from engine.run import evaluate_portfolio

ROOT = Path(__file__).resolve().parent.parent
WEEKS = (datetime.date(2026, 11, 23), datetime.date(2026, 11, 30))
TABLES = ("plans", "plan_steps", "plan_events", "account_runs", "run_inputs")


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory) -> Path:
    """The sample with a bad value and two duplicates: 203 records, a chunk of 67 cuts it in 3."""
    lines = (ROOT / "examples" / "accounts.csv").read_text("utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    bad = rows[5].split(",")
    bad[header.split(",").index("nps")] = "eleven"
    f = tmp_path_factory.mktemp("same") / "accounts.csv"
    f.write_text("\n".join([header] + rows + [",".join(bad).replace(bad[0], "BAD-1", 1), rows[3], rows[150]])
                 + "\n", "utf-8")
    return f


def _files(out: Path) -> dict[str, bytes]:
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != ".kam-output":  # the marker names the store's path
            data = p.read_bytes()
            if p.name == "summary.json":  # its timings differ from run to run
                data = json.dumps({k: v for k, v in json.loads(data).items() if k != "timings"}).encode()
            files[str(p.relative_to(out))] = data
    return files


def _store(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    try:
        out = {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES}
        out["runs"] = conn.execute("SELECT run_id, run_key, as_of, rules_digest, accounts FROM runs").fetchall()
    finally:
        conn.close()
    return out


def _job(folder: Path, portfolio: Path, **kw) -> list[tuple[dict, dict]]:
    """Two weekly runs of the default job on one store: each run's files and the store after it."""
    project = load_project(ROOT)
    seen = []
    for i, day in enumerate(WEEKS):
        out = folder / f"out{i}"
        with Store.open(folder / "state.sqlite") as store:
            evaluate_portfolio(project, [portfolio], out, day, "en", None, write_documents, store=store, **kw)
        seen.append((_files(out), _store(folder / "state.sqlite")))
    return seen


@pytest.fixture(scope="module")
def one_chunk(portfolio, tmp_path_factory):
    seen = _job(tmp_path_factory.mktemp("one"), portfolio)
    files, store = seen[1]
    assert len([f for f in files if f.startswith("plans/")]) > 100 and "portfolio.html" in files
    # the steps where people work (issue 19): a calendar per manager and tasks.csv
    assert len([f for f in files if f.startswith("calendar/") and f.endswith(".ics")]) == 5
    assert files["tasks.csv"].count(b"\r\n") > 300 and b"SEQUENCE:2" in files["calendar/Anna_Petrova.ics"]
    assert {r[0] for r in store["plan_events"]} and any("ongoing" in str(r) for r in store["plan_events"])
    return seen


def _same(a: list, b: list) -> None:
    for (files_a, store_a), (files_b, store_b) in zip(a, b):
        assert sorted(files_a) == sorted(files_b)
        assert [f for f in files_a if files_a[f] != files_b[f]] == []
        assert store_a == store_b


def test_three_chunks_give_the_bytes_of_one(portfolio, one_chunk, tmp_path):
    _same(one_chunk, _job(tmp_path, portfolio, chunk_size=67))


def test_worker_processes_give_the_bytes_of_one(portfolio, one_chunk, tmp_path):
    _same(one_chunk, _job(tmp_path, portfolio, chunk_size=67, workers=2))


def test_a_dask_cluster_gives_the_bytes_of_one(portfolio, one_chunk, tmp_path):
    pytest.importorskip("distributed")
    _same(one_chunk, _job(tmp_path, portfolio, chunk_size=67, dask="local"))


def test_without_a_store_three_chunks_give_the_bytes_of_one(portfolio, tmp_path):
    project = load_project(ROOT)
    runs = []
    for name, kw in (("one", {}), ("three", {"chunk_size": 67, "workers": 2})):
        evaluate_portfolio(project, [portfolio], tmp_path / name, WEEKS[0], "en", None, write_documents, **kw)
        runs.append(_files(tmp_path / name))
    assert runs[0] == runs[1] and any(f.startswith("digests/") for f in runs[0])
    assert "tasks.csv" in runs[0] and any(f.startswith("calendar/") for f in runs[0])
