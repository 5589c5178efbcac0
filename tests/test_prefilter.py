"""The pre-filter is sound: on random portfolios, results with it equal results without it."""
from __future__ import annotations

import datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.evaluate import Evaluator
from engine.portfolio import measure
from engine.project import load_project

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT)
EVALUATOR = Evaluator(PROJECT, datetime.date(2026, 11, 23))


def _value(m):
    if m.type == "boolean":
        return st.booleans()
    if m.type == "text":
        return st.sampled_from(list(m.values) or ["enterprise", "smb"])
    lo = m.min if m.min is not None else -50
    hi = min(m.max if m.max is not None else 150, 150)
    return st.integers(min_value=int(max(lo, -50)), max_value=int(hi))


ACCOUNT = st.fixed_dictionaries({}, optional={m.id: _value(m) for m in PROJECT.metrics.values()
                                              if not m.derived and m.id != "account_id"})


@settings(max_examples=60, deadline=None)
@given(st.lists(ACCOUNT, min_size=1, max_size=12))
def test_prefilter_gives_identical_results(portfolio):
    accounts = [dict(a, account_id=f"a{i}") for i, a in enumerate(portfolio)]
    measure(PROJECT, accounts)
    for values in accounts:
        EVALUATOR.deriver.apply(values)
        fact = EVALUATOR.account_fact(values)
        filtered = EVALUATOR.result(values, EVALUATOR.outcome(fact, prefilter=True))
        full = EVALUATOR.result(values, EVALUATOR.outcome(fact, prefilter=False))
        assert filtered == full


def test_prefilter_skips_the_engine_for_healthy_accounts():
    ev = Evaluator(PROJECT, datetime.date(2026, 11, 23))
    healthy = {"account_id": "h", "status": "active", "nps": 9, "key_contacts": 5, "strategic": False}
    sick = {"account_id": "s", "status": "active", "nps": 3}
    for _ in range(5):
        ev.evaluate(dict(healthy))
    assert ev.engine_runs == 1  # computed once, then reused
    assert ev.evaluate(dict(sick))["risk_level"] == "medium"
    assert ev.engine_runs == 2
    ev.close()
