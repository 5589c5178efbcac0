"""engine.rules.compile: a deterministic, JSON-only ruleset that respects the engine's limits."""
from __future__ import annotations

import json

import pytest
import yaml
from conftest import DEFAULT_FILES, locate

from engine.errors import EngineLimitError
from engine.project.load import load_project
from engine.rules.compile import MAX_JOINED, compile_project, threshold_field
from engine.rules.durable import Engine, dumps

RULES = "rules/rules.yaml"
THRESHOLDS = {threshold_field("nps_min"): 7, threshold_field("drop"): 15}


def compiled_of(root):
    return compile_project(load_project(root))


def run(compiled, **account):
    engine = Engine(compiled)
    try:
        return engine.fire({**THRESHOLDS, **account}).facts
    finally:
        engine.close()


def test_definition_is_json(make_project):
    definition = compiled_of(make_project()).definition
    assert json.loads(json.dumps(definition)) == definition
    assert json.loads(dumps(definition)) == definition


def test_rule_order_in_files_does_not_change_the_definition(make_project, tmp_path_factory):
    data = yaml.safe_load(DEFAULT_FILES[RULES])
    data["rules"].reverse()
    a = compiled_of(make_project())
    other = tmp_path_factory.mktemp("reversed")
    for rel, text in DEFAULT_FILES.items():
        (other / rel).parent.mkdir(parents=True, exist_ok=True)
        (other / rel).write_text(yaml.safe_dump(data) if rel == RULES else text, encoding="utf-8")
    b = compiled_of(other)
    assert json.dumps(a.definition) == json.dumps(b.definition)  # same keys, same order
    assert a.phases == b.phases and a.strata == b.strata


def test_count_of_categories_expands_to_pairs(make_project):
    facts = DEFAULT_FILES["rules/facts.yaml"].replace(
        "  - {id: emo, title: Emotional}\n",
        "  - {id: emo, title: Emotional}\n  - {id: ops, title: Operational}\n")
    compiled = compiled_of(make_project({"rules/facts.yaml": facts}))
    pairs = {r.required_facts for r in compiled.rules.values() if r.rule_id == "risk_high"}
    cats = [("category", c) for c in ("emo", "fin", "ops")]
    assert pairs == {(cats[0], cats[1]), (cats[0], cats[2]), (cats[1], cats[2])}


def test_count_of_categories_fires_with_two_not_one(make_project):
    compiled = compiled_of(make_project())
    two = run(compiled, nps=3, drop_pct=20.0, status="active")
    assert {("signal", "low_nps"), ("signal", "drop"), ("risk", "high")} <= two
    assert ("risk", "medium") not in two
    one = run(compiled, nps=3, drop_pct=10.0, status="active")
    assert ("risk", "high") not in one and ("risk", "medium") in one


def test_negated_fact_goes_through_a_phase_gate(make_project):
    extra = "  - id: calm\n    when: strategic and not signal.low_nps\n    then: {class: watch}\n"
    compiled = compiled_of(make_project(extra_rules=extra))
    (name, rule), = [(n, r) for n, r in compiled.rules.items() if r.rule_id == "calm"]
    assert rule.stratum == 1 and compiled.strata["calm"] == 1
    assert rule.negated_facts == (("signal", "low_nps"),)
    (phase,) = [p for p in compiled.phases if p.stratum == 1]
    flag = dict((key, f) for f, key in phase.flags)[("signal", "low_nps")]
    gates = [p["p"] for p in compiled.definition[name]["all"] if "p" in p]
    assert gates == [{"$and": [{"t": "phase"}, {"n": 1}, {flag: 0}]}]


def signals_project(make_project, n: int, extra_when: str = ""):
    ids = [f"s{i}" for i in range(1, n + 1)]
    facts = DEFAULT_FILES["rules/facts.yaml"].replace("signals:\n", "signals:\n" + "".join(
        f"  - {{id: {s}, category: fin, severity: low, title: {s}}}\n" for s in ids))
    rules = "".join(f"  - id: make_{s}\n    when: nps >= 0\n    then: {{signal: {s}}}\n" for s in ids)
    when = " and ".join(f"signal.{s}" for s in ids) + extra_when
    rules += f"  - id: all_of_them\n    when: {when}\n    then: {{class: watch}}\n"
    return make_project({"rules/facts.yaml": facts}, extra_rules=rules)


def test_more_than_16_joined_facts_is_an_engine_limit_error(make_project):
    root = signals_project(make_project, MAX_JOINED + 1)
    with pytest.raises(EngineLimitError) as exc:
        compiled_of(root)
    (problem,) = exc.value.problems
    text = (root / RULES).read_text()
    assert (problem.path, problem.line, problem.col) == (str(root / RULES), *locate(text, "id: all_of_them"))
    assert problem.message == "rule 'all_of_them' joins 17 facts in one alternative; the engine allows 16"


def test_16_joined_facts_compile_and_fire(make_project):
    compiled = compiled_of(signals_project(make_project, MAX_JOINED))
    assert ("class", "watch") in run(compiled, nps=5)
    assert ("class", "watch") not in run(compiled)


@pytest.mark.parametrize("value", [1e-05, 1e16, 123456789012.5, -2.5e-05, 0.1, 1.5e-06, 1e-07, 1.234e-08])
def test_dumps_never_writes_an_exponent_and_round_trips(value):
    text = dumps(value)
    assert "e" not in text.lower()
    assert json.loads(text) == value
    assert json.loads(dumps({"v": [value]})) == {"v": [value]}
