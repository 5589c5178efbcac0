"""`kam outcomes` reads a bounded slice of each account's history (a plan's start run and the
`within` runs after it, the few lost runs, a count up to a resolution). Here it is checked
against the definitions read plainly, over every run of every account, on random stores
where accounts skip runs, plans open between runs, accounts are lost, runs are corrected on
the same date, and plans end every way."""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.plans.store import Store
from engine.plans.store.outcomes import BY, NONE_GROUP, _Tally, outcomes

LEVELS = ["medium", "high"]
PLAYBOOKS = ["respond", "crisis", "win_back"]


def _day(d: date, n: int) -> str:
    return (d + timedelta(days=n)).isoformat()


def _store(path: Path, seed: int) -> list[str]:
    """A random store; returns its run dates."""
    rng = random.Random(seed)
    first = date(2026, 1, 5)
    dates = [_day(first, 7 * k) for k in range(rng.randint(3, 12))]
    with Store.open(path) as store, store.transaction():
        c = store.conn
        run_id = 0
        current: dict[tuple[str, str], int] = {}  # (account, date) -> run id
        for as_of in dates:
            for _ in range(2 if rng.random() < 0.2 else 1):  # a correction on the same date
                run_id += 1
                c.execute("INSERT INTO runs (run_id, run_key, as_of, recorded, rules_digest, project, accounts) "
                          "VALUES (?, ?, ?, '2026-01-01T00:00:00Z', 'x', 'p', 0)", (run_id, f"k{run_id}", as_of))
                for a in range(25):
                    aid = f"A{a:02d}"
                    if rng.random() < 0.15:  # not in this run
                        continue
                    if (aid, as_of) in current:
                        c.execute("UPDATE account_runs SET current = 0 WHERE account_id = ? AND as_of = ?",
                                  (aid, as_of))
                    current[aid, as_of] = run_id
                    c.execute("INSERT INTO account_runs (run_id, account_id, as_of, owner, risk_level, signals, "
                              "fired, playbooks, status, segment) VALUES (?, ?, ?, ?, ?, '[]', '[]', '[]', ?, ?)",
                              (run_id, aid, as_of, rng.choice(["Ivan", "Olga", None]),
                               rng.choice(["none", "medium", "high", "odd"]),
                               rng.choice(["active"] * 6 + ["lost", None]), rng.choice(["smb", "ent", None])))
        plan_id = 0
        for a in range(25):
            for playbook in rng.sample(PLAYBOOKS, rng.randint(0, 3)):
                for live in (False, True):
                    if rng.random() < 0.4:
                        continue
                    plan_id += 1
                    opened_on = date.fromisoformat(rng.choice(dates)) + timedelta(days=rng.choice([0, 0, 0, 2]))
                    opened = opened_on.isoformat()
                    status = rng.choice(["open", "snoozed"]) if live else rng.choice(["done", "resolved"])
                    closed = _day(opened_on, rng.randint(0, 70)) if not live else None
                    c.execute("INSERT INTO plans (plan_id, account_id, playbook, owner, status, state, opened, "
                              "risk_level, done_on, resolved_on) VALUES (?, ?, ?, ?, ?, 'ongoing', ?, 'medium', ?, ?)",
                              (plan_id, f"A{a:02d}", playbook, rng.choice(["Ivan", None]), status, opened,
                               closed if status == "done" else None, closed if status == "resolved" else None))
                    for pos in range(rng.randint(0, 4)):
                        due = _day(opened_on, rng.randint(1, 40))
                        done = rng.choice([None, _day(opened_on, rng.randint(0, 50))])
                        c.execute("INSERT INTO plan_steps (plan_id, step_id, position, due, done_on) "
                                  "VALUES (?, ?, ?, ?, ?)", (plan_id, f"s{pos}", pos, due, done))
    return dates


def _plainly(store: Store, by: str, since: str | None, within: int) -> dict[str, Any]:
    """The module's definitions, over every run of every account."""
    rank = {lv: i + 1 for i, lv in enumerate(LEVELS)}
    runs: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in store.conn.execute("SELECT account_id, as_of, risk_level, status, segment FROM account_runs "
                                  "WHERE current = 1 ORDER BY as_of"):
        runs[row[0]].append(tuple(row[1:]))
    groups: dict[str, _Tally] = {}
    whole = _Tally()
    for pid, aid, playbook, owner, status, opened, done_on, resolved_on in store.conn.execute(
            "SELECT plan_id, account_id, playbook, owner, status, opened, done_on, resolved_on FROM plans"):
        if since and opened < since:
            continue
        steps = store.conn.execute("SELECT due, done_on FROM plan_steps WHERE plan_id = ?", (pid,)).fetchall()
        before = [r for r in runs[aid] if r[0] <= opened]
        start = before[-1] if before else None
        later = [r for r in runs[aid] if r[0] > opened]
        closed = resolved_on or done_on
        lost = (start is not None and start[2] != "lost"
                and any(r[2] == "lost" and (closed is None or r[0] <= closed) for r in later))
        end = "lost" if lost else status
        key = {"playbook": playbook, "owner": owner or NONE_GROUP,
               "segment": (start[3] if start else None) or NONE_GROUP}[by]
        for t in (groups.setdefault(key, _Tally()), whole):
            t.ends[end] += 1
            if end == "resolved":
                t.runs[sum(1 for r in later if r[0] <= resolved_on)] += 1
                t.days[(date.fromisoformat(resolved_on) - date.fromisoformat(opened)).days] += 1
            for due, done in steps:
                t.steps["pending" if done is None and end in ("open", "snoozed") else "never" if done is None
                        else "on_time" if done <= due else "late"] += 1
            start_rank = rank.get(start[1], 0) if start else 0
            if not start_rank:
                t.not_compared["no_starting_risk"] += 1
                continue
            if len(later) < within:
                t.not_compared["window_incomplete"] += 1
                continue
            window = later[:within]
            due_steps = [(d, done) for d, done in steps
                         if d <= window[-1][0] and (done is not None or not closed or d <= closed)]
            if not due_steps:
                t.not_compared["no_step_due"] += 1
                continue
            on_time = all(done is not None and done <= d for d, done in due_steps)
            cell = t.fell.setdefault((start[1], on_time), [0, 0])
            cell[0] += 1
            cell[1] += any(rank.get(r[1], 0) < start_rank for r in window)
    return {"groups": [{"group": k, **groups[k].view(LEVELS)} for k in sorted(groups)],
            "all": whole.view(LEVELS)}


@pytest.mark.parametrize("seed", range(12))
def test_outcomes_equal_the_definitions_read_over_the_whole_history(tmp_path, seed):
    path = tmp_path / "state.sqlite"
    dates = _store(path, seed)
    with Store.open(path) as store:
        assert store.one("SELECT count(*) AS n FROM plans")["n"], "the store has plans"
        for by in BY:
            for since in (None, dates[len(dates) // 2], _day(date.fromisoformat(dates[-1]), 1)):
                for within in (1, 2, 4, 6):
                    got = outcomes(store, LEVELS, by, date.fromisoformat(since) if since else None, within)
                    assert {k: got[k] for k in ("groups", "all")} == _plainly(store, by, since, within), \
                        (by, since, within)


def test_the_random_stores_reach_every_case(tmp_path):
    """The stores above hold what the bounded reading has to get right."""
    ends, compared = set(), set()
    for seed in range(12):
        path = tmp_path / f"{seed}.sqlite"
        _store(path, seed)
        with Store.open(path) as store:
            report = outcomes(store, LEVELS, within=2)["all"]
            ends |= {e for e in ("resolved", "lost", "done", "open", "snoozed") if report[e]}
            compared |= {k for k, v in report["not_compared"].items() if v}
            compared |= {"compared"} if report["risk_fell"] else set()
            compared |= {"corrected"} if store.one("SELECT count(*) AS n FROM account_runs WHERE current = 0")["n"] \
                else set()
    assert ends == {"resolved", "lost", "done", "open", "snoozed"}
    assert compared == {"window_incomplete", "no_step_due", "no_starting_risk", "compared", "corrected"}
