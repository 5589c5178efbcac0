"""load_project: every kind of problem, reported as path:line:col with a useful message."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DEFAULT_FILES, locate

from cli import main
from engine.errors import KamError
from engine.project.checks import strata
from engine.project.load import load_project

RULES = "rules/rules.yaml"
RULES_HEAD = "kind: rules\nrules:\n"


def problems_of(root: Path) -> list:
    with pytest.raises(KamError) as exc:
        load_project(root)
    return exc.value.problems


def one_problem(root: Path, rel: str, line: int, col: int, *phrases: str) -> str:
    """Assert exactly one problem, at rel:line:col, whose message has every phrase."""
    problems = problems_of(root)
    assert len(problems) == 1, "\n".join(map(str, problems))
    text = str(problems[0])
    assert text.startswith(f"{root / rel}:{line}:{col}: "), text
    for phrase in phrases:
        assert phrase in text, text
    return text


def one_rule(when: str, then: str = "{signal: low_nps}", rule_id: str = "x") -> str:
    return f"{RULES_HEAD}  - id: {rule_id}\n    when: {when}\n    then: {then}\n"


# ---- schema -----------------------------------------------------------------------------

def test_unknown_key_suggests_the_right_one(make_project):
    text = RULES_HEAD + "  - id: x\n    whne: nps < 7\n    then: {signal: low_nps}\n"
    root = make_project({RULES: text})
    problems = problems_of(root)
    line, col = locate(text, "nps < 7")  # positioned at the misspelt key's value
    expected = f"{root / RULES}:{line}:{col}: rule 'x' → whne: unknown key 'whne' (did you mean 'when'?)"
    assert expected in map(str, problems)
    assert any("'when' is required" in str(p) for p in problems)


def test_wrong_type(make_project):
    text = "kind: thresholds\nthresholds:\n  - id: nps_min\n    value: seven\n  - {id: drop, value: 15}\n"
    root = make_project({"rules/thresholds.yaml": text})
    one_problem(root, "rules/thresholds.yaml", *locate(text, "seven"), "threshold 'nps_min' → value",
                "'seven' is not of type 'number'")


def test_missing_required_key(make_project):
    text = RULES_HEAD + "  - id: x\n    when: strategic\n"
    root = make_project({RULES: text})
    line, col = locate(text, "id: x")
    one_problem(root, RULES, line, col, "rule 'x': 'then' is required")


def test_bad_id_pattern(make_project):
    text = one_rule("strategic", "{class: key}", rule_id="Key-Rule")
    root = make_project({RULES: text})
    one_problem(root, RULES, *locate(text, "Key-Rule"), "'Key-Rule' is not a valid id")


def test_wrong_kind(make_project):
    text = DEFAULT_FILES[RULES].replace("kind: rules", "kind: rule")
    root = make_project({RULES: text})
    one_problem(root, RULES, 1, 7, "kind: expected one of metrics, thresholds, facts, rules, playbook",
                "got 'rule'")


# ---- names ------------------------------------------------------------------------------

def test_unknown_metric_in_condition_with_column_inside_the_expression(make_project):
    text = one_rule("strategic and npss < 7")
    root = make_project({RULES: text})
    one_problem(root, RULES, *locate(text, "npss"),
                "rule 'x' → when: unknown metric 'npss' (did you mean 'nps'?)")


def test_unknown_threshold(make_project):
    text = one_rule("nps < thresholds.nps_mni")
    root = make_project({RULES: text})
    one_problem(root, RULES, *locate(text, "thresholds.nps_mni"),
                "unknown threshold 'nps_mni' (did you mean 'nps_min'?)")


@pytest.mark.parametrize("kind, wrong, right", [
    ("signal", "lownps", "low_nps"), ("class", "kee", "key"), ("playbook", "respnd", "respond")])
def test_unknown_fact_in_then(make_project, kind, wrong, right):
    text = one_rule("strategic", f"{{{kind}: {wrong}}}")
    root = make_project({RULES: text})
    one_problem(root, RULES, *locate(text, "id: x"),
                f"rule 'x' → then: unknown {kind} '{wrong}' (did you mean '{right}'?)")


@pytest.mark.parametrize("ref, message", [
    ("category.finance", "unknown category 'finance' (did you mean 'fin'?)"),
    ("signal.lownps", "unknown signal 'lownps' (did you mean 'low_nps'?)"),
    ("class.kee", "unknown class 'kee' (did you mean 'key'?)"),
    ("risk.hihg", "unknown risk 'hihg' (did you mean 'high'?)"),
])
def test_unknown_fact_in_condition(make_project, ref, message):
    text = one_rule(f"strategic and {ref}", "{class: watch}")
    root = make_project({RULES: text})
    one_problem(root, RULES, *locate(text, ref), message)


def test_signal_with_unknown_category(make_project):
    text = DEFAULT_FILES["rules/facts.yaml"].replace("category: fin,", "category: finn,")
    root = make_project({"rules/facts.yaml": text})
    one_problem(root, "rules/facts.yaml", *locate(text, "{id: drop"),
                "signal 'drop': unknown category 'finn' (did you mean 'fin'?)")


# ---- duplicates -------------------------------------------------------------------------

def test_duplicate_rule_id_across_files_names_the_first(make_project):
    extra = one_rule("strategic", "{class: key}", rule_id="low_nps")
    root = make_project({"rules/zz_more.yaml": extra})
    first_line, _ = locate(DEFAULT_FILES[RULES], "id: low_nps")
    one_problem(root, "rules/zz_more.yaml", *locate(extra, "id: low_nps"),
                f"duplicate rule id 'low_nps' (first declared at {root / RULES}:{first_line})")


def test_duplicate_metric_id(make_project):
    text = DEFAULT_FILES["rules/metrics.yaml"] + "  - {id: nps, type: number}\n"
    root = make_project({"rules/metrics.yaml": text})
    first_line, _ = locate(text, "{id: nps")
    one_problem(root, "rules/metrics.yaml", *locate(text, "{id: nps", 2),
                f"duplicate metric id 'nps' (first declared at {root / 'rules/metrics.yaml'}:{first_line})")


# ---- strata -----------------------------------------------------------------------------

XY_FACTS = DEFAULT_FILES["rules/facts.yaml"].replace(
    "signals:\n", "signals:\n  - {id: x, category: emo, severity: low, title: X}\n"
                  "  - {id: y, category: emo, severity: low, title: Y}\n")


def test_cycle_through_negation_is_rejected(make_project):
    text = (RULES_HEAD + "  - id: a\n    when: not signal.y\n    then: {signal: x}\n"
            "  - id: b\n    when: signal.x\n    then: {signal: y}\n")
    root = make_project({"rules/facts.yaml": XY_FACTS, RULES: text})
    message = one_problem(root, RULES, *locate(text, "id: a"), "cycle through negation")
    assert "'a'" in message and "signal.y" in message


def test_negation_of_a_lower_stratum_is_accepted(make_project):
    text = (RULES_HEAD + "  - id: a\n    when: strategic\n    then: {signal: x}\n"
            "  - id: b\n    when: not signal.x and nps < 7\n    then: {signal: y}\n")
    project = load_project(make_project({"rules/facts.yaml": XY_FACTS, RULES: text}))
    assert strata(project) == {"a": 0, "b": 1}


def test_derived_metric_formula_cycle(make_project):
    text = DEFAULT_FILES["rules/metrics.yaml"] + (
        "  - {id: m1, type: number, formula: m2 + 1}\n"
        "  - {id: m2, type: number, formula: m1 * 2}\n")
    root = make_project({"rules/metrics.yaml": text})
    one_problem(root, "rules/metrics.yaml", *locate(text, "{id: m1"),
                "metric 'm1': formulas refer to each other in a cycle: m1 → m2 → m1")


# ---- types ------------------------------------------------------------------------------

def test_arithmetic_in_condition_asks_for_a_derived_metric(make_project):
    text = one_rule("revenue_current - revenue_previous > 0")
    root = make_project({RULES: text})
    one_problem(root, RULES, *locate(text, "- revenue_previous"),
                "arithmetic is not allowed in a condition", "derived metric")


def test_comparing_text_with_a_number(make_project):
    text = one_rule("status == 3")
    root = make_project({RULES: text})
    one_problem(root, RULES, *locate(text, "=="), "cannot compare text with number")


def test_text_value_not_among_declared_values(make_project):
    text = one_rule('status == "lots"')
    root = make_project({RULES: text})
    one_problem(root, RULES, *locate(text, '"lots"'),
                "'lots' is not a value of 'status' (active, lost)", "(did you mean 'lost'?)")


# ---- default_by: an empty input's default picked by another metric ---------------------

DEFAULT_BY_METRICS = DEFAULT_FILES["rules/metrics.yaml"] + """\
  - {id: reason, type: text}
  - id: chance
    type: number
    min: 0
    max: 1
    default_by:
      metric: %s
      values: {%s}
"""


def test_default_by_names_a_known_text_metric(make_project):
    text = DEFAULT_BY_METRICS % ("reasn", "price_pressure: 0.4")
    root = make_project({"rules/metrics.yaml": text})
    one_problem(root, "rules/metrics.yaml", *locate(text, "reasn"),
                "metric 'chance' → default_by: unknown metric 'reasn' (did you mean 'reason'?)")
    text = DEFAULT_BY_METRICS % ("nps", "price_pressure: 0.4")
    root = make_project({"rules/metrics.yaml": text})
    one_problem(root, "rules/metrics.yaml", *locate(text, "nps\n"), "'nps' must be a text input")


@pytest.mark.parametrize("values, needle, phrase", [
    ("price_pressure: 1.4", "1.4", "'price_pressure': 1.4 is above the metric's max 1"),
    ("price_pressure: -1", "-1", "'price_pressure': -1 is below the metric's min 0"),
    ("price_pressure: high", "high", "'price_pressure': 'high' is not a number"),
    ("Price pressure: 0.4", "0.4", "'Price pressure': write it lower case with underscores ('price_pressure')"),
])
def test_default_by_values_fit_the_metric(make_project, values, needle, phrase):
    text = DEFAULT_BY_METRICS % ("reason", values)
    root = make_project({"rules/metrics.yaml": text})
    one_problem(root, "rules/metrics.yaml", *locate(text, needle, text.count(needle)), phrase)


def test_default_by_keys_are_values_of_the_other_metric_when_it_declares_them(make_project):
    text = DEFAULT_BY_METRICS % ("status", "lots: 0.4")
    root = make_project({"rules/metrics.yaml": text})
    one_problem(root, "rules/metrics.yaml", *locate(text, "0.4"),
                "'lots' is not a value of 'status' (active, lost) (did you mean 'lost'?)")


def test_negotiation_meetings_are_steps_of_the_playbook(make_project):
    text = DEFAULT_FILES["playbooks/respond.yaml"] + "negotiation:\n  meetings: [cal]\n  mistakes: [Pressure]\n"
    root = make_project({"playbooks/respond.yaml": text})
    one_problem(root, "playbooks/respond.yaml", *locate(text, "[cal]"),
                "playbook 'respond' → negotiation → meetings: unknown step 'cal' (did you mean 'call'?)")


# ---- the whole project ------------------------------------------------------------------

def test_all_problems_of_all_files_are_reported_together(make_project):
    rules = (RULES_HEAD + "  - id: a\n    when: npss < 7\n    then: {signal: low_nps}\n"
             "  - id: b\n    when: strategic\n    then: {class: kee}\n")
    playbook = DEFAULT_FILES["playbooks/respond.yaml"] + "  - {id: call, title: Again, owner: kam, due_days: 1}\n"
    root = make_project({
        "kam.yaml": "kind: project\nname: test\nlangauge: en\n",
        RULES: rules + DEFAULT_FILES[RULES].split("rules:\n", 1)[1],
        "rules/broken.yaml": "kind: rules\nrules: [\n",
        "playbooks/respond.yaml": playbook,
    })
    problems = problems_of(root)
    assert len(problems) == 5, "\n".join(map(str, problems))
    assert {Path(p.path).relative_to(root).as_posix() for p in problems} == {
        "kam.yaml", RULES, "rules/broken.yaml", "playbooks/respond.yaml"}
    messages = "\n".join(map(str, problems))
    for phrase in ("did you mean 'language'", "unknown metric 'npss'", "unknown class 'kee'",
                   "YAML syntax", "duplicate step id 'call'"):
        assert phrase in messages
    # the file that does not parse first; it declares no names, so the checks across files ran
    assert Path(problems[0].path).name == "broken.yaml" and problems[1:] == sorted(problems[1:])


def test_default_project_loads_without_problems(default_root):
    project = load_project(default_root)
    assert project.rules and project.metrics and project.playbooks
    assert {r.id for r in project.rules} >= {"low_nps", "risk_high", "assign_anti_crisis"}


# ---- percent: (issue 15) ------------------------------------------------------------------

def exactly(root: Path, rel: str, text: str, needle: str, message: str, occurrence: int = 1) -> None:
    """One problem: `message` at the position of `needle` in rel's text."""
    problems = problems_of(root)
    line, col = locate(text, needle, occurrence)
    assert list(map(str, problems)) == [f"{root / rel}:{line}:{col}: {message}"]


def test_percent_is_declared_only_for_percent_inputs(make_project):
    metrics = DEFAULT_FILES["rules/metrics.yaml"] + (
        "  - {id: share, type: number, percent: {fractions: true}}\n"
        "  - {id: margin, type: number, unit: \"%\", percent: {fraction: true}}\n")
    root = make_project({"rules/metrics.yaml": metrics})
    exactly(root, "rules/metrics.yaml", metrics, "true}}", "metric 'margin' → percent → fraction: "
            "unknown key 'fraction' (did you mean 'fractions'?)", occurrence=2)
    metrics = metrics.replace("{fraction: true}", "{fractions: true}")
    root = make_project({"rules/metrics.yaml": metrics})
    exactly(root, "rules/metrics.yaml", metrics, "{id: share",
            "metric 'share' → percent: only for a number metric with unit \"%\" that input files give "
            "(not a formula)")


# ---- kam.yaml columns: and values: (issue 15) -------------------------------------------

KAM = "kind: project\nname: test\n"


def test_a_column_mapped_onto_no_metric_is_an_error_with_a_hint(make_project):
    text = KAM + "columns:\n  ИД клиента: account_id\n  Выручка: revenue_curent\n"
    root = make_project({"kam.yaml": text})
    exactly(root, "kam.yaml", text, "revenue_curent",
            "columns → 'Выручка': unknown metric 'revenue_curent' (did you mean 'revenue_current'?)")


@pytest.mark.parametrize("values, needle, message", [
    ("statuss:\n    Активный: active", "Активный",
     "values: unknown metric 'statuss' (did you mean 'status'?)"),
    ("status: {Активный: actve, Ушёл: lost}", "actve",
     "values → status → 'Активный': 'actve' is not a value of 'status' (active, lost) (did you mean 'active'?)"),
    ("strategic: {Стратегический: да}", "да",
     "values → strategic → 'Стратегический': 'да' is not true or false"),
    ("nps: {высокий: 11}", "11", "values → nps → 'высокий': 11 is above the metric's max 10"),
    ("nps: {высокий: 9.5}", "9.5", "values → nps → 'высокий': 9.5 is not a whole number"),
    ("status: {Ушёл: 0}", "0", "values → status → 'Ушёл': 0 is not text"),
    ("status: {Ушёл: ' '}", "' '",
     "values → status → 'Ушёл': maps to empty text (leave the value out to read it as written)"),
    ("status: {Ушёл: lost, ' ушёл ': lost}", "lost}",
     "values → status → ' ушёл ': the same as 'Ушёл' (values match ignoring case and spaces)"),
    ("status: {1: active}", "active",
     "values → status → 1: YAML reads this name as a number: write it in quotes, as the file has it"),
])
def test_values_name_a_metric_and_map_to_a_value_it_takes(make_project, values, needle, message):
    text = KAM + "values:\n  " + values + "\n"
    root = make_project({"kam.yaml": text})
    exactly(root, "kam.yaml", text, needle, message)


def test_a_mistyped_column_stops_validate_and_evaluate(make_project, tmp_path):
    """Issue 15: the run went on and one account silently lost its purchase-drop signal."""
    root = make_project({"kam.yaml": KAM + "columns:\n  Выручка: revenue_curent\n"})
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,Выручка,revenue_previous\nA1,10,100\n", "utf-8")
    for args in (["validate"], ["evaluate", str(accounts), "--out", str(tmp_path / "out")]):
        r = CliRunner().invoke(main, [*args, "--project", str(root)], catch_exceptions=False)
        assert r.exit_code == 1 and "columns → 'Выручка': unknown metric 'revenue_curent'" in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_columns_named_twice_and_names_yaml_does_not_keep_as_text(make_project):
    text = KAM + "columns:\n  Выручка: revenue_current\n  ' выручка': revenue_previous\n  yes: strategic\n"
    root = make_project({"kam.yaml": text})
    problems = problems_of(root)
    at = {needle: f"{root / 'kam.yaml'}:{':'.join(map(str, locate(text, needle)))}"
          for needle in ("revenue_previous", "strategic")}
    assert list(map(str, problems)) == [
        f"{at['revenue_previous']}: columns → ' выручка': the same column as 'Выручка' "
        "(names match ignoring case and spaces)",
        f"{at['strategic']}: columns → True: YAML reads this name as true/false: write it in quotes, "
        "as the file has it"]


def test_a_valid_mapping_loads(make_project):
    text = KAM + ("columns:\n  Статус: status\n  Дата среза: snapshot_date\n  Дата ухода: lost_date\n"
                  "values:\n  status: {Активный: active, Ушёл: lost}\n"
                  "  strategic: {Стратегический: true, Обычный: false}\n  nps: {'н/д': 0}\n")
    project = load_project(make_project({"kam.yaml": text}))
    assert project.columns == {"Статус": "status", "Дата среза": "snapshot_date", "Дата ухода": "lost_date"}
    assert dict(project.values["strategic"].values) == {"Стратегический": True, "Обычный": False}
