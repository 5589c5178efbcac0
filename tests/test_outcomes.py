"""`kam outcomes` on a small store walked through six weekly runs, against counts made by hand."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_project import FILES, Weekly, write_project

from cli import main
from engine.plans.store import Store
from engine.plans.store.actions import mark_done, snooze
from engine.plans.store.outcomes import median, wilson

W = ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30", "2026-12-07"]
LATE, HIGH = {"late_days": 45}, {"late_days": 45, "nps": 3}  # one category: medium; two: high


def kam(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _accounts(week: int) -> dict[str, dict]:
    """The portfolio at week 0..5 (see the story in `store`)."""
    seg = {"A": "smb", "B": "smb", "C": "enterprise", "D": "enterprise", "E": "", "F": "smb", "G": "enterprise"}
    acc = {
        "A": LATE if week < 2 else {},
        "B": HIGH,
        "C": {**LATE, "status": "lost" if week >= 2 else "active"},
        "D": {} if week == 0 else HIGH if week == 1 else LATE if week == 2 else {},
        "E": LATE,
        "F": LATE if week >= 4 else {},
        "G": LATE,
    }
    return {a: {**v, "segment": seg[a], **({"owner": "Ivan"} if a == "D" else {})} for a, v in acc.items()}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Six Mondays. Due dates count working days (Mon-Fri): a respond plan opened on Nov 2 has
    its call due Nov 11 and its visit Dec 14; opened Nov 9: call Nov 18, crisis meeting Nov 12.

    A  medium from W0; calls on Nov 10 (on time); recovers at W2: resolved after 2 runs, 14 days
    B  high throughout: respond and crisis stay open, nothing done
    C  medium from W0; calls on Nov 13 (late); the account is lost at W2 while its plan is open
    D  high at W1 (respond + crisis); meeting Nov 11 (the crisis plan's one step: the plan is
       done), call Nov 18 (on time); medium at W2, healthy at W3 (respond resolved: 2 runs, 14 days)
    E  medium from W0; the plan is snoozed on Nov 3
    F  medium from W4: its plan has too few runs after it to compare
    G  medium from W0; the whole plan is marked done on Nov 20 (the call late, the visit early);
       its trigger still holds, so a new plan opens at W3
    """
    tmp = tmp_path_factory.mktemp("outcomes")
    metrics = FILES["rules/metrics.yaml"] + "  - {id: segment, type: text}\n"
    w = Weekly(tmp, write_project(tmp / "project", {"rules/metrics.yaml": metrics}))
    ids: dict[tuple[str, str], int] = {}

    def plans() -> None:
        for aid, r in w.run(W[len(done_runs)], _accounts(len(done_runs))).items():
            for p in r["playbooks"]:
                ids.setdefault((aid, p["id"]), p["plan_id"])
        done_runs.append(1)

    done_runs: list[int] = []
    plans()  # W0
    with Store.open(w.store_path) as s:
        snooze(s, ids["E", "respond"], date(2027, 1, 1), "client's year-end freeze", date(2026, 11, 3), "Olga")
        mark_done(s, ids["A", "respond"], "call", date(2026, 11, 10))
    plans()  # W1
    with Store.open(w.store_path) as s:
        mark_done(s, ids["D", "crisis"], "meet", date(2026, 11, 11))
        mark_done(s, ids["C", "respond"], "call", date(2026, 11, 13))
    plans()  # W2
    with Store.open(w.store_path) as s:
        mark_done(s, ids["D", "respond"], "call", date(2026, 11, 18))
        mark_done(s, ids["G", "respond"], None, date(2026, 11, 20))
    for _ in W[3:]:
        plans()
    w.ids = ids
    return w.store_path, w


def _report(store_path: Path, *args: str) -> dict:
    r = kam("outcomes", "--store", store_path, "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _fell(on: tuple[int, int], off: tuple[int, int]) -> dict:
    def side(n: int, k: int) -> dict:
        ci = wilson(k, n)
        return {"plans": n, "fell": k, "share": round(k / n, 4) if n else None,
                "ci95": [round(ci[0], 4), round(ci[1], 4)] if ci else None}
    return {"on_time": side(*on), "not_on_time": side(*off)}


def test_the_store_walked_through_six_runs_has_the_plans_of_the_story(store):
    _path, w = store
    assert sorted(w.ids) == [("A", "respond"), ("B", "crisis"), ("B", "respond"), ("C", "respond"),
                             ("D", "crisis"), ("D", "respond"), ("E", "respond"), ("F", "respond"),
                             ("G", "respond")]


def test_outcomes_by_playbook_equal_the_hand_count(store):
    path, _ = store
    rep = _report(path)
    assert (rep["runs"], rep["first_run"], rep["last_run"], rep["within_runs"]) == (6, W[0], W[-1], 4)
    groups = {g["group"]: g for g in rep["groups"]}
    assert sorted(groups) == ["crisis", "respond"]
    respond, crisis = groups["respond"], groups["crisis"]
    # respond: A, B, C, D, E, F, G and G's second plan
    assert {k: respond[k] for k in ("opened", "resolved", "lost", "done", "open", "snoozed")} == \
        {"opened": 8, "resolved": 2, "lost": 1, "done": 1, "open": 3, "snoozed": 1}
    assert (respond["median_runs_to_resolution"], respond["median_days_to_resolution"]) == (2, 14)
    # on time: A call, D call, G visit; late: C call, G call; never: the visits of A, C (lost), D;
    # not yet: B, E, F, G2 (two steps each)
    assert respond["steps"] == {"on_time": 3, "late": 2, "never": 3, "pending": 8}
    # from medium: A on time and fell; C, E, G not on time and did not; from high: D on time and
    # fell, B not and did not; F and G2 have fewer than 4 runs after opening
    assert respond["risk_fell"] == [{"start_level": "high", **_fell((1, 1), (1, 0))},
                                    {"start_level": "medium", **_fell((1, 1), (3, 0))}]
    assert respond["not_compared"] == {"window_incomplete": 2, "no_step_due": 0, "no_starting_risk": 0}
    assert {k: crisis[k] for k in ("opened", "resolved", "lost", "done", "open", "snoozed")} == \
        {"opened": 2, "resolved": 0, "lost": 0, "done": 1, "open": 1, "snoozed": 0}
    assert (crisis["median_runs_to_resolution"], crisis["median_days_to_resolution"]) == (None, None)
    assert crisis["steps"] == {"on_time": 1, "late": 0, "never": 0, "pending": 1}
    assert crisis["risk_fell"] == [{"start_level": "high", **_fell((1, 1), (1, 0))}]
    everything = rep["all"]
    assert everything["opened"] == 10 and everything["resolved"] == 2 and everything["done"] == 2
    assert everything["median_runs_to_resolution"] == 2 and everything["median_days_to_resolution"] == 14
    assert everything["risk_fell"] == [{"start_level": "high", **_fell((2, 2), (2, 0))},
                                       {"start_level": "medium", **_fell((1, 1), (3, 0))}]


def test_outcomes_by_segment_and_owner_and_since(store):
    path, _ = store
    seg = {g["group"]: g for g in _report(path, "--by", "segment")["groups"]}
    assert {k: (g["opened"], g["resolved"], g["lost"], g["done"], g["open"], g["snoozed"]) for k, g in seg.items()} == {
        "smb": (4, 1, 0, 0, 3, 0), "enterprise": (5, 1, 1, 2, 1, 0), "-": (1, 0, 0, 0, 0, 1)}
    own = {g["group"]: g["opened"] for g in _report(path, "--by", "owner")["groups"]}
    assert own == {"Ivan": 2, "Olga": 8}
    since = {g["group"]: g for g in _report(path, "--since", "2026-11-09")["groups"]}
    # D's two plans, F's and G's second
    assert {k: (g["opened"], g["resolved"], g["done"], g["open"]) for k, g in since.items()} == {
        "crisis": (1, 0, 1, 0), "respond": (3, 1, 0, 2)}
    # within 1 run: A (medium) did not fall by W1; D's plans fell at W2; B, C, E, G did not; F and G2 have runs
    one = {g["group"]: g for g in _report(path, "--within", "1")["groups"]}
    assert one["crisis"]["risk_fell"] == [{"start_level": "high", **_fell((1, 1), (1, 0))}]


def test_the_text_report_says_it_is_an_observation(store):
    path, _ = store
    r = kam("outcomes", "--store", path)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"Plan outcomes from {path}: 6 runs, 2026-11-02 to 2026-12-07, by playbook"
    assert [line.split() for line in lines[2:6]] == [
        ["playbook", "opened", "resolved", "lost", "done", "open", "snoozed", "to", "resolution", "steps", "on",
         "time", "late", "never", "not", "yet"],
        ["crisis", "2", "0", "0", "1", "1", "0", "-", "1", "0", "0", "1"],
        ["respond", "8", "2", "1", "1", "3", "1", "2", "runs,", "14", "days", "3", "2", "3", "8"],
        ["--------", "------", "--------", "----", "----", "----", "-------", "---------------", "-------------",
         "----", "-----", "-------"],
    ]
    assert "not a cause" in r.output
    assert "    from medium: on time: fell in 1 of 1 (100 %, 95 % CI 21-100 %); not on time: fell in 0 of 3 " \
           "(0 %, 95 % CI 0-56 %)" in lines


def test_wilson_and_median():
    assert wilson(0, 0) is None
    lo, hi = wilson(0, 3)
    assert lo == 0 and hi == pytest.approx(1.96 ** 2 / (3 + 1.96 ** 2), abs=1e-3)
    lo, hi = wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)  # the textbook value
    assert median(Counter({2: 1, 14: 1})) == 8 and median(Counter({1: 2, 5: 1})) == 1 and median(Counter()) is None


def test_the_portfolio_report_gets_an_outcomes_section_once_the_store_has_history(tmp_path):
    root = Path(__file__).resolve().parent.parent
    store = tmp_path / "state.sqlite"
    pages = []
    for i, day in enumerate(("2026-11-23", "2026-11-30")):
        out = tmp_path / f"out{i}"
        r = kam("evaluate", root / "examples" / "accounts.csv", "--out", out, "--as-of", day, "--store", store)
        assert r.exit_code == 0, r.output
        pages.append((out / "portfolio.html").read_text("utf-8"))
    assert 'id="outcomes"' not in pages[0], "one run is no history"
    page = pages[1]
    section = page[page.index('id="outcomes"'):]
    section = section[:section.index("</section>")]
    assert "Outcomes of the plans" in section and "(2 runs, 2026-11-23 to 2026-11-30)" in section
    assert section.count("<svg") == 1, "one chart"
    # the bar of the anti-crisis plans: all opened in the first run, still open
    report = _report(store)
    anti = next(g for g in report["groups"] if g["group"] == "anti_crisis")
    assert f"Anti-crisis plan: Still open {anti['open']}" in section
    assert "Did the risk fall within 4 runs after a plan opened?" in section and "not a cause" in section
