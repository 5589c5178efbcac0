"""The sample history `make demo` builds (examples/weekly/build_history.py): deterministic,
left alone when built, and with something for `kam outcomes` to say."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from store_project import dump

from cli import main

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "weekly" / "build_history.py"


def _build(store: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--store", str(store)], capture_output=True, text=True,
                          cwd=ROOT, check=True)


def test_the_sample_history_is_the_same_every_time_and_built_once(tmp_path):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _build(a)
    _build(b)
    # the runs' wall-clock times aside, the same store
    strip = lambda rows: [r for r in rows if not r.startswith('INSERT INTO "runs"')]  # noqa: E731
    assert strip(dump(a)) == strip(dump(b))
    before = dump(a)
    again = _build(a)
    assert again.stderr == "" and dump(a) == before, "built once: run twice, the store stays"
    r = CliRunner().invoke(main, ["outcomes", "--store", str(a), "--json"], catch_exceptions=False)
    report = json.loads(r.output)
    assert report["runs"] == 8 and report["all"]["opened"] > 100
    assert all(report["all"][k] > 0 for k in ("resolved", "lost", "done", "open"))
    assert report["all"]["steps"]["on_time"] > 50 and report["all"]["steps"]["late"] > 50
    assert {c["start_level"] for c in report["all"]["risk_fell"]} == {"high", "medium"}


def test_a_store_with_other_runs_is_left_alone(tmp_path):
    store = tmp_path / "state.sqlite"
    r = CliRunner().invoke(main, ["evaluate", str(ROOT / "tests" / "golden" / "accounts.csv"), "--out",
                                  str(tmp_path / "out"), "--as-of", "2026-11-02", "--store", str(store)])
    assert r.exit_code == 0, r.output
    before = dump(store)
    assert "holds runs other than the demo's" in _build(store).stderr
    assert dump(store) == before


def test_the_readme_shows_what_kam_outcomes_says_after_make_demo(tmp_path):
    """docs/plans.md's `kam outcomes` block is the output on the store `make demo` leaves."""
    store = tmp_path / "state.sqlite"
    _build(store)
    r = CliRunner().invoke(main, ["evaluate", str(ROOT / "examples" / "accounts.csv"), "--out", str(tmp_path / "demo"),
                                  "--as-of", "2026-11-23", "--store", str(store)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = CliRunner().invoke(main, ["outcomes", "--store", str(store)], catch_exceptions=False).output
    readme = (ROOT / "docs" / "plans.md").read_text("utf-8")
    block = readme.split("$ kam outcomes\n", 1)[1].split("```", 1)[0]
    assert out.replace(str(store), ".kam/state.sqlite") == block
