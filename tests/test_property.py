"""On random accounts, the durable-rules engine and an independent plain-Python evaluation
of the same YAML (engine/rules/interpreter.py) derive exactly the same facts."""
from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.project.load import load_project
from engine.rules.evaluate import Evaluator
from engine.rules.interpreter import evaluate as reference_evaluate
from engine.run.portfolio import measure

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project():
    return load_project(ROOT)


@pytest.fixture(scope="module")
def evaluator(project):
    ev = Evaluator(project, datetime.date(2026, 11, 23))
    yield ev
    ev.close()


def _value(metric):
    """Values clustered around the default thresholds, so boundaries get hit often."""
    if metric.type == "boolean":
        return st.booleans()
    if metric.type == "text":
        if metric.values:
            return st.sampled_from(metric.values)
        return st.sampled_from(["enterprise", "smb", "x"])
    lo = metric.min if metric.min is not None else -50
    hi = metric.max if metric.max is not None else 200
    ints = st.integers(min_value=int(max(lo, -50)), max_value=int(min(hi, 200)))
    if metric.type == "integer":
        return ints
    return st.one_of(ints.map(float), st.floats(min_value=max(lo, -50), max_value=min(hi, 200),
                                                allow_nan=False).map(lambda v: round(v, 2)))


@st.composite
def accounts(draw, project):
    values = {"account_id": "a1"}
    for m in project.metrics.values():
        if m.derived or m.id == "account_id":
            continue
        if draw(st.booleans()):  # about half the metrics missing
            values[m.id] = draw(_value(m))
    return values


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_engine_equals_reference(project, evaluator, data):
    values = data.draw(accounts(project))
    measure(project, [values])
    result = evaluator.evaluate(dict(values))
    evaluator.deriver.apply(values)
    facts, fired = reference_evaluate(project, values)
    got = ({("signal", s["id"]) for s in result["signals"]} | {("class", c) for c in result["classes"]}
           | {("playbook", p["id"]) for p in result["playbooks"]})
    want = {k for k in facts if k[0] in ("signal", "class", "playbook")}
    assert got == want
    risks = [k[1] for k in facts if k[0] == "risk"]
    assert result["risk_level"] == (max(risks, key=project.risk_rank) if risks else "none")
    assert sorted(f["rule"] for f in result["fired"]) == fired
