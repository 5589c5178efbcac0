"""Evaluating accounts end to end: three-valued logic, strict bounds, chaining, strata."""
from __future__ import annotations

import datetime

import pytest
from conftest import DEFAULT_FILES

from engine.project.load import load_project
from engine.rules.evaluate import Evaluator

AS_OF = datetime.date(2026, 1, 1)


@pytest.fixture
def evaluator_for(make_project):
    made: list[Evaluator] = []

    def build(**kwargs) -> Evaluator:
        ev = Evaluator(load_project(make_project(**kwargs)), AS_OF)
        made.append(ev)
        return ev

    yield build
    for ev in made:
        ev.close()


@pytest.fixture
def evaluate(evaluator_for):
    ev = evaluator_for()
    return lambda **values: ev.evaluate({"account_id": "acc", **values})


def signal_ids(result) -> list[str]:
    return sorted(s["id"] for s in result["signals"])


def test_missing_metric_never_fires(evaluate):
    result = evaluate(status="active")
    assert signal_ids(result) == [] and result["risk_level"] == "none"
    assert "nps" in result["missing"]


def test_negated_comparison_with_missing_metric_does_not_fire(evaluator_for):
    ev = evaluator_for(extra_rules="  - id: not_high\n    when: not (nps >= 7)\n    then: {class: watch}\n")
    assert ev.evaluate({"account_id": "a"})["classes"] == []
    assert ev.evaluate({"account_id": "a", "nps": 6})["classes"] == ["watch"]
    assert ev.evaluate({"account_id": "a", "nps": 7})["classes"] == []


@pytest.mark.parametrize("nps, fires", [(6, True), (7, False), (8, False), (0, True)])
def test_nps_threshold_is_strict(evaluate, nps, fires):
    assert ("low_nps" in signal_ids(evaluate(nps=nps))) is fires


def test_exact_15_percent_drop_does_not_fire(evaluate):
    values = {"account_id": "a", "revenue_previous": 3, "revenue_current": 2.55}
    assert (3 - 2.55) / 3 * 100 != 15  # floating point alone would get this wrong
    result = evaluate(**values)
    assert "drop" not in signal_ids(result)
    assert "drop" in signal_ids(evaluate(revenue_previous=3, revenue_current=2.54))


def test_derived_value_is_rounded_to_exactly_15(evaluator_for):
    ev = evaluator_for()
    values = {"revenue_previous": 3, "revenue_current": 2.55}
    ev.deriver.apply(values)
    assert values["drop_pct"] == 15.0


def test_chain_metric_signal_risk_playbook(evaluate):
    result = evaluate(nps=3, revenue_previous=100, revenue_current=50, status="active")
    assert signal_ids(result) == ["drop", "low_nps"]
    assert result["risk_level"] == "high"
    assert [p["id"] for p in result["playbooks"]] == ["respond"]
    assert result["playbooks"][0]["steps"][0]["due"] == "2026-01-12"  # 7 working days from Thursday 1 January
    assert result["playbooks"][0]["reason"]["rules"] == ["respond"]


def test_chain_stops_where_a_condition_fails(evaluate):
    result = evaluate(nps=3, revenue_previous=100, revenue_current=50, status="lost")
    assert result["risk_level"] == "high" and result["playbooks"] == []
    assert evaluate(nps=3, status="active")["risk_level"] == "medium"


# "a_..." sorts first, so it is tried before the rules that assert what it negates
NEGATIONS = (
    "  - id: a_calm\n    when: strategic and not signal.low_nps\n    then: {class: watch}\n"
    "  - id: a_not_medium\n    when: strategic and not risk.medium\n    then: {playbook: respond}\n"
)


@pytest.mark.parametrize("nps, calm", [(3, False), (8, True)])
def test_negation_waits_for_the_lower_stratum(evaluator_for, nps, calm):
    ev = evaluator_for(extra_rules=NEGATIONS)
    result = ev.evaluate({"account_id": "a", "strategic": True, "nps": nps})
    assert ("watch" in result["classes"]) is calm


def test_negation_over_a_negation_two_strata_up(evaluator_for):
    ev = evaluator_for(extra_rules=NEGATIONS)
    assert ev.compiled.strata["a_not_medium"] == 2
    medium = ev.evaluate({"account_id": "a", "strategic": True, "nps": 3})
    assert medium["risk_level"] == "medium" and medium["playbooks"] == []
    high = ev.evaluate({"account_id": "a", "strategic": True, "nps": 3,
                        "revenue_previous": 100, "revenue_current": 50})
    assert high["risk_level"] == "high" and [p["id"] for p in high["playbooks"]] == ["respond"]


def test_3000_accounts_in_a_row(evaluator_for):
    ev = evaluator_for()
    risks = [ev.evaluate({"account_id": str(i), "nps": i % 10, "status": "active",
                          "revenue_previous": 100, "revenue_current": 100 - i % 40})["risk_level"]
             for i in range(3000)]
    expected = ["high" if i % 10 < 7 and i % 40 > 15 else
                "medium" if i % 10 < 7 or i % 40 > 15 else "none" for i in range(3000)]
    assert risks == expected


def test_same_account_twice_gives_the_same_result(evaluator_for):
    values = {"account_id": "a", "nps": 3, "strategic": True, "status": "active",
              "revenue_previous": 100, "revenue_current": 50}
    ev = evaluator_for()
    first = ev.evaluate(dict(values))
    assert ev.evaluate(dict(values)) == first
    assert evaluator_for().evaluate(dict(values)) == first
    assert first["classes"] == ["key"] and first["risk_level"] == "high"


def test_tiny_positive_value_is_still_above_zero(evaluator_for):
    metrics = DEFAULT_FILES["rules/metrics.yaml"] + "  - {id: share, type: number}\n"
    ev = evaluator_for(files={"rules/metrics.yaml": metrics},
                       extra_rules="  - id: any_share\n    when: share > 0\n    then: {class: watch}\n")
    assert ev.evaluate({"account_id": "a", "share": 0.00001})["classes"] == ["watch"]
    assert ev.evaluate({"account_id": "a", "share": 0.0000001})["classes"] == ["watch"]
