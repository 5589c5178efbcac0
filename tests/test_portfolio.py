"""The portfolio pass (source 004): shares, ABC, dependency, key accounts, criteria score, KAISM,
pinned at their boundaries; and the portfolio configuration's validation."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from conftest import DEFAULT_FILES
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import KamError
from engine.project.load import load_project
from engine.project.model import Axis, Criterion, Portfolio, Where
from engine.rules.evaluate import Evaluator
from engine.run import evaluate_portfolio
from engine.run.portfolio import (
    abc_classes,
    dependency_classes,
    key_accounts,
    measure,
    measure_columns,
    quadrants,
    shares,
    weighted,
)

ROOT = Path(__file__).resolve().parent.parent
W = Where("test")


# ---- shares -------------------------------------------------------------------------------

def test_share_is_computed_from_the_portfolio_and_a_given_share_wins():
    assert shares([10.0, 30.0, 60.0]) == [10.0, 30.0, 60.0]
    assert shares([1.0, 3.0], [None, 12.5]) == [25.0, 12.5]
    assert shares([None, 5.0]) == [None, 100.0]           # missing revenue: no share
    assert shares([0.0, 0.0]) == [None, None]             # nothing to divide by
    assert shares([1.0, 2.0]) == [33.333333, 66.666667]   # rounded: noise never decides


# ---- ABC ----------------------------------------------------------------------------------

def test_abc_boundaries_at_exactly_80_and_95_percent_cumulative():
    # cumulative share before each account: 0, 50, 80, 95
    assert abc_classes([50, 30, 15, 5], 80, 95) == ["A", "A", "B", "C"]


def test_abc_the_account_crossing_a_boundary_stays_in_the_upper_class():
    # before: 0, 50, 79, 94.999 -> the third crosses 80 % (still A), the fourth starts below 95 %
    assert abc_classes([50, 29, 15.999, 5.001], 80, 95) == ["A", "A", "A", "B"]
    assert abc_classes([90, 10], 80, 95) == ["A", "B"]  # one dominant client is A
    assert abc_classes([96, 4], 80, 95) == ["A", "C"]


def test_abc_sorts_by_revenue_ties_by_id_and_skips_missing_revenue():
    revenue = [5, None, 50, 15, 30]
    assert abc_classes(revenue, 80, 95) == ["C", None, "A", "B", "A"]
    # equal revenue: the smaller id comes first, whatever the input order
    assert abc_classes([20, 20, 60], 70, 90, ids=["b", "a", "c"]) == ["B", "A", "A"]
    assert abc_classes([20, 20, 60], 70, 90, ids=["a", "b", "c"]) == ["A", "B", "A"]
    assert abc_classes([0.0, 0.0], 80, 95) == [None, None]


def test_abc_boundaries_are_configurable():
    assert abc_classes([50, 30, 15, 5], 50, 99) == ["A", "B", "B", "B"]


# ---- dependency and key accounts ----------------------------------------------------------

def test_dependency_is_strict_at_20_and_50_percent():
    got = dependency_classes([None, 19.999999, 20.0, 20.000001, 50.0, 50.000001, 100.0], 20, 50)
    assert got == ["none", "none", "none", "risky", "risky", "mono", "mono"]


def test_key_account_share_is_strict_and_strategic_flag_counts():
    assert key_accounts([10.0, 10.0001, 9.0, None], None, 10) == [False, True, False, False]
    assert key_accounts([1.0, None, 1.0], [True, True, False], 10) == [True, True, False]


def test_computed_share_exactly_10_percent_is_not_key_and_10_0001_is():
    config = Portfolio()
    exact = measure_columns(config, [1.0, 9.0])
    assert exact.revenue_share_pct == [10.0, 90.0] and exact.key_account == [False, True]
    above = measure_columns(config, [100001.0, 899999.0])
    assert above.revenue_share_pct[0] == 10.0001 and above.key_account == [True, True]
    assert above.dependency == ["none", "mono"]


@pytest.fixture(scope="module")
def default_project():
    return load_project(ROOT)


@pytest.fixture(scope="module")
def evaluator(default_project):
    ev = Evaluator(default_project, datetime.date(2026, 11, 23))
    yield ev
    ev.close()


@pytest.mark.parametrize("revenue, strategic, key, dependency", [
    ([10.0, 90.0], False, False, "none"),             # exactly 10 %: not a key account
    ([100001.0, 899999.0], False, True, "none"),      # 10.0001 %
    ([20.0, 80.0], False, True, "none"),              # exactly 20 %: not risky
    ([200001.0, 799999.0], False, True, "risky"),     # 20.0001 %
    ([50.0, 50.0], False, True, "risky"),             # exactly 50 %: not mono
    ([500001.0, 499999.0], False, True, "mono"),      # 50.0001 %
    ([1.0, 99.0], True, True, "none"),                # strategic by hand
])
def test_default_rules_agree_with_the_portfolio_pass_at_the_boundaries(evaluator, revenue, strategic,
                                                                       key, dependency):
    accounts = [{"account_id": "a", "revenue_current": revenue[0], "strategic": strategic},
                {"account_id": "b", "revenue_current": revenue[1], "strategic": False}]
    cols = measure(evaluator.project, accounts)
    result = evaluator.evaluate(accounts[0])
    assert result["key_account"] is key is cols.key_account[0]
    assert result["dependency"] == dependency
    assert ("dependency_risk" in [p["id"] for p in result["playbooks"]]) is (dependency != "none")
    assert ("key_account" in result["classes"]) is key


def test_given_share_decides_over_the_computed_one(evaluator):
    accounts = [{"account_id": "a", "revenue_current": 1.0, "revenue_share_pct": 25.0},
                {"account_id": "b", "revenue_current": 99.0}]
    measure(evaluator.project, accounts)
    assert accounts[0]["revenue_share_pct"] == 25.0 and accounts[0]["dependency"] == "risky"
    assert accounts[1]["revenue_share_pct"] == 99.0 and accounts[1]["dependency"] == "mono"


# ---- criteria score and KAISM ------------------------------------------------------------

def test_weighted_score_with_known_weights():
    scores = {"a": [10, 1, None], "b": [4, 1, 5]}
    assert weighted(scores, {"a": 3, "b": 1}, 3) == [8.5, 1.0, None]
    assert weighted(scores, {"b": 2}, 3) == [4.0, 1.0, 5.0]
    assert weighted(scores, {}, 3) == [None, None, None]
    assert weighted({}, {"a": 1}, 2) == [None, None]  # no column at all: missing


def test_default_criteria_score(default_project):
    # weights 2, 2, 2, 1.5, 1, 1.5 (sum 10)
    row = {"purchase_frequency": 10, "growth_plans": 5, "profitability": 8, "criticality": 4,
           "reputation": 10, "partnership": 2}
    cols = measure_columns(default_project.portfolio, [1.0],
                           scores={k: [v] for k, v in row.items()} | {"our_attractiveness": [9]})
    assert cols.criteria_score == [(20 + 10 + 16 + 6 + 10 + 3) / 10]
    assert cols.kaism_value == [(10 + 5 + 8 + 10) / 4]
    assert cols.kaism_attractiveness == [(2 * 9 + 4 + 2) / 4]
    assert cols.kaism == ["key"]
    cols = measure_columns(default_project.portfolio, [1.0], scores={k: [v] for k, v in row.items()})
    assert cols.criteria_score == [6.5] and cols.kaism == [None]  # attractiveness has no score


def test_kaism_quadrants_at_the_cut_offs():
    v = [5.5, 5.5, 5.499999, 5.499999, 10, 1, None, 6]
    a = [5.5, 5.499999, 5.5, 5.499999, 1, 10, 6, None]
    assert quadrants(v, a, 5.5, 5.5) == ["key", "prospective", "maintaining", "low_priority",
                                         "prospective", "maintaining", None, None]
    assert quadrants([7], [7], 8, 5) == ["maintaining"]  # a cut-off per axis


def test_kaism_cut_off_reached_through_weights():
    config = Portfolio(criteria=(Criterion("x", {}, W), Criterion("y", {}, W)),
                       value=Axis("value", {}, {"x": 1, "y": 1}, 5.5),
                       attractiveness=Axis("attractiveness", {}, {"x": 1, "y": 2}, 6.0))
    cols = measure_columns(config, [1.0, 1.0], scores={"x": [5, 5], "y": [6, 7]})
    assert cols.kaism_value == [5.5, 6.0]
    assert cols.kaism_attractiveness == [5.666667, 6.333333]
    assert cols.kaism == ["prospective", "key"]


def test_measure_writes_metric_values(default_project):
    a = {"account_id": "x", "revenue_current": 5.0, "score_purchase_frequency": 8,
         "score_growth_plans": 8, "score_profitability": 8, "score_reputation": 8,
         "score_criticality": 3, "score_partnership": 3, "score_our_attractiveness": 3}
    measure(default_project, [a, {"account_id": "y", "revenue_current": 15.0}])
    assert a["revenue_share_pct"] == 25.0 and a["abc"] == "A" and a["dependency"] == "risky"
    assert a["criteria_score"] == 6.5 and a["kaism_value"] == 8.0 and a["kaism_attractiveness"] == 3.0
    assert a["kaism"] == "prospective"


def test_results_carry_the_portfolio_fields(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("account_id,revenue_current,strategic,score_purchase_frequency,score_growth_plans,"
                 "score_profitability,score_criticality,score_reputation,score_partnership,"
                 "score_our_attractiveness\n"
                 "A,60,no,9,9,9,9,9,9,9\nB,30,no,,,,,,,\nC,10,yes,2,2,2,2,2,2,2\n", "utf-8")
    evaluate_portfolio(load_project(ROOT), [f], tmp_path / "out", datetime.date(2026, 11, 23))
    rows = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text("utf-8").splitlines()]
    got = [(r["key_account"], r["dependency"], r["abc"], r["kaism"], r["criteria_score"]) for r in rows]
    assert got == [(True, "mono", "A", "key", 9.0), (True, "risky", "A", None, None),
                   (True, "none", "B", "low_priority", 2.0)]


# ---- configuration ------------------------------------------------------------------------

SCORES = """\
kind: metrics
metrics:
  - {id: score_reach, type: number, min: 1, max: 10}
  - {id: score_fit, type: integer, min: 1, max: 10}
"""


def _problems(make_project, portfolio: str, **files) -> list[str]:
    root = make_project({"rules/portfolio.yaml": portfolio, "rules/scores.yaml": SCORES, **files})
    with pytest.raises(KamError) as err:
        load_project(root, Path("p"))
    return [str(p) for p in err.value.problems]


def test_a_valid_portfolio_file(make_project):
    root = make_project({"rules/scores.yaml": SCORES, "rules/portfolio.yaml": """\
kind: portfolio
boundaries: {key_account_share_pct: 15, abc_a_pct: 70}
criteria:
  - {id: reach, title: Reach, weight: 2}
kaism:
  scores: [{id: fit, title: Fit}]
  value: {weights: {reach: 1}, cutoff: 6}
  attractiveness: {weights: {fit: 1}}
"""})
    p = load_project(root).portfolio
    assert p.boundary("key_account_share_pct") == 15 and p.boundary("abc_a_pct") == 70
    assert p.boundary("abc_b_pct") == 95  # unset boundaries keep their defaults
    assert [c.id for c in p.criteria] == ["reach"] and p.value.cutoff == 6
    assert p.attractiveness.cutoff == 5.5
    assert load_project(root).thresholds["key_account_share_pct"].value == 15  # rules see it


def test_no_portfolio_file_gives_the_defaults(make_project):
    p = load_project(make_project()).portfolio
    assert p.boundary("key_account_share_pct") == 10 and p.criteria == ()
    assert measure_columns(p, [1.0]).kaism == [None]


def test_unknown_criterion_in_an_axis_names_file_and_line(make_project):
    problems = _problems(make_project, """\
kind: portfolio
criteria:
  - {id: reach, title: Reach, weight: 1}
kaism:
  value: {weights: {reach: 1}}
  attractiveness: {weights: {rech: 1}}
""")
    assert problems == ["p/rules/portfolio.yaml:6:36: kaism → attractiveness → weights: "
                        "unknown criterion 'rech' (did you mean 'reach'?)"]


def test_weights_must_be_positive(make_project):
    problems = _problems(make_project, """\
kind: portfolio
criteria:
  - {id: reach, title: Reach, weight: 0}
kaism:
  value: {weights: {reach: -1}}
  attractiveness: {weights: {reach: 1}}
""")
    assert len(problems) == 2
    assert problems[0].startswith("p/rules/portfolio.yaml:3:39: ") and "weight" in problems[0]
    assert problems[1].startswith("p/rules/portfolio.yaml:5:28: ") and "reach" in problems[1]
    assert all("less than or equal to the minimum of 0" in p for p in problems)


def test_boundaries_in_order_and_score_metrics_declared(make_project):
    problems = _problems(make_project, """\
kind: portfolio
boundaries:
  abc_a_pct: 95
  abc_b_pct: 80
criteria:
  - {id: reach, title: Reach, weight: 1}
  - {id: depth, title: Depth, weight: 1}
""")
    assert problems == [
        "p/rules/portfolio.yaml:3:14: boundaries: abc_a_pct (95) must be below abc_b_pct (80)",
        "p/rules/portfolio.yaml:7:5: criterion 'depth': no metric 'score_depth' is declared "
        "(add it to a metrics file such as rules/scores.yaml: type number, min 1, max 10)"]


def test_a_boundary_declared_twice_is_an_error(make_project):
    thresholds = DEFAULT_FILES["rules/thresholds.yaml"] + "  - {id: key_account_share_pct, value: 12}\n"
    problems = _problems(make_project, "kind: portfolio\nboundaries: {key_account_share_pct: 10}\n",
                         **{"rules/thresholds.yaml": thresholds})
    assert problems == ["p/rules/thresholds.yaml:5:5: duplicate threshold id 'key_account_share_pct' "
                        "(first declared at p/rules/portfolio.yaml:2)"]


def test_an_old_project_keeps_its_boundary_thresholds(make_project):
    thresholds = DEFAULT_FILES["rules/thresholds.yaml"] + "  - {id: dependency_risky_pct, value: 30}\n"
    p = load_project(make_project({"rules/thresholds.yaml": thresholds})).portfolio
    assert p.boundary("dependency_risky_pct") == 30 and p.boundary("dependency_mono_pct") == 50


# ---- the portfolio report's numbers and safety -------------------------------------------

def _result(i: int, **kw) -> dict:
    base = {"account_id": f"A{i}", "name": f"Co {i}", "owner": "Anna", "status": "active",
            "risk_level": "none", "signals": [], "key_account": False, "dependency": "none",
            "abc": "A", "kaism": None, "criteria_score": None, "revenue_current": 10.0,
            "revenue_share_pct": 10.0, "kaism_value": None, "kaism_attractiveness": None,
            "nps": None, "days_since_qbr": None, "revenue_previous": None}
    return base | kw


def test_retention_metrics_against_targets(default_project):
    from engine.render.report.data import accounts, retention

    rows = accounts([_result(1, nps=10, key_account=True, days_since_qbr=90, revenue_previous=8.0),
                     _result(2, nps=9, key_account=True, days_since_qbr=91),
                     _result(3, nps=6, key_account=True),  # no QBR data: not counted either way
                     _result(4, nps=7, status="lost", revenue_current=0.0, revenue_previous=5.0),
                     _result(5)])
    got = {m.id: (m.value, m.count, m.met) for m in retention(rows, default_project.portfolio)}
    assert got["portfolio_nps"] == (pytest.approx(25.0), 4, False)  # (2 promoters - 1 detractor) / 4
    assert got["key_qbr_coverage_pct"] == (50.0, 2, False)  # days_since_qbr <= 90 counts
    assert got["retention_rate_pct"] == (80.0, 5, True)     # target: at least 80
    assert got["terminations_pct"] == (20.0, 5, False)      # target: at most 5
    assert got["revenue_growth_pct"] == (pytest.approx((10 - 13) / 13 * 100), 2, False)
    assert {m.id: m.value for m in retention([], default_project.portfolio)}["portfolio_nps"] is None


def test_report_figures(default_project):
    from engine.render.report.data import accounts, at_risk_by_category, at_risk_by_owner, pareto, risk_totals

    rows = accounts([
        _result(1, risk_level="high", revenue_current=50.0, abc="A", owner="Ivan",
                signals=[{"category": "financial"}, {"category": "emotional"}]),
        _result(2, risk_level="medium", revenue_current=30.0, abc="A", signals=[{"category": "financial"}]),
        _result(3, revenue_current=20.0, abc="B"), _result(4, revenue_current=None, abc=None)])
    assert risk_totals(rows, ["none", "medium", "high"]) == {"none": (2, 20.0), "medium": (1, 30.0),
                                                             "high": (1, 50.0)}
    assert at_risk_by_category(rows, ["financial", "operational", "emotional"]) == [
        ("financial", 80.0, 2), ("operational", 0.0, 0), ("emotional", 50.0, 1)]
    assert at_risk_by_owner(rows) == [("Ivan", 50.0, {"high": 50.0}), ("Anna", 50.0, {"medium": 30.0})]
    assert pareto(rows) == [(50.0, "A"), (80.0, "A"), (100.0, "B")]


def test_report_escapes_account_data(tmp_path):
    from engine.render import write_documents

    f = tmp_path / "a.csv"
    f.write_text("account_id,name,owner,revenue_current,score_purchase_frequency,score_growth_plans,"
                 "score_profitability,score_criticality,score_reputation,score_partnership,"
                 "score_our_attractiveness,strategic\n"
                 '"</title><script>x</script>","<img src=x onerror=alert(1)>""&\'","<b>Boss</b>",90,'
                 "9,9,9,9,9,9,9,yes\nB2,Plain,Anna,10,2,2,2,2,2,2,2,no\n", "utf-8")
    out = tmp_path / "out"
    evaluate_portfolio(load_project(ROOT), [f], out, datetime.date(2026, 11, 23), "en",
                       write_documents=write_documents)
    page = (out / "portfolio.html").read_text("utf-8")
    assert "<img" not in page and "<script" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&#34;&amp;&#39;" in page  # in text and in <title>
    assert "&lt;/title&gt;&lt;script&gt;x&lt;/script&gt;" in page
    assert page.count("<title>") == page.count("</title>")


def test_no_report_without_its_template(make_project, tmp_path):
    from engine.render.report.page import write_report

    project = load_project(make_project())
    assert write_report(project, [_result(1)], tmp_path, "en") is None
    assert not (tmp_path / "portfolio.html").exists()


# ---- exactness: ABC and totals do not depend on float summation order ------------------------

def _abc_by_fractions(revenue, a_pct, b_pct, ids):
    """The definition, written plainly with exact fractions."""
    from fractions import Fraction
    known = [i for i, r in enumerate(revenue) if r is not None]
    total = sum((Fraction(max(revenue[i], 0.0)) for i in known), Fraction(0))
    out = [None] * len(revenue)
    if total <= 0:
        return out
    before = Fraction(0)
    for i in sorted(known, key=lambda i: (-max(revenue[i], 0.0), str(ids[i]), i)):
        share = before / total * 100
        out[i] = "A" if share < Fraction(str(a_pct)) else ("B" if share < Fraction(str(b_pct)) else "C")
        before += Fraction(max(revenue[i], 0.0))
    return out


@settings(max_examples=300, deadline=None)
@given(revenue=st.lists(st.one_of(st.none(), st.sampled_from([0.0, 1.0, 5.0, 10.0, 0.1, 0.2, 0.3, -4.0]),
                                  st.floats(-1e3, 1e15, allow_nan=False)), max_size=40),
       a_pct=st.sampled_from([50, 80, 33.3, 70.5]), b_pct=st.sampled_from([90, 95, 99.9, 100]),
       seed=st.randoms(use_true_random=False))
def test_abc_matches_the_exact_definition_and_ignores_input_order(revenue, a_pct, b_pct, seed):
    ids = [f"id{i:03d}" for i in range(len(revenue))]
    want = _abc_by_fractions(revenue, a_pct, b_pct, ids)
    assert abc_classes(revenue, a_pct, b_pct, ids) == want
    perm = list(range(len(revenue)))
    seed.shuffle(perm)
    shuffled = abc_classes([revenue[i] for i in perm], a_pct, b_pct, [ids[i] for i in perm])
    assert shuffled == [want[i] for i in perm]


def test_shares_divide_by_the_exact_total_so_order_never_changes_a_share():
    revenue = [0.1] * 10 + [1e15, 0.3, 0.2]
    forward, backward = shares(revenue), shares(revenue[::-1])[::-1]
    assert forward == backward


SCORE = st.one_of(st.none(), st.integers(1, 10).map(float))


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({
    "revenue_current": st.one_of(st.none(), st.sampled_from([0.0, 5.0, 10.0, 250.5]), st.floats(0, 1e9)),
    "revenue_share_pct": st.one_of(st.none(), st.floats(0, 100)),
    "strategic": st.booleans(),
    **{c: SCORE for c in ("score_purchase_frequency", "score_growth_plans", "score_profitability",
                          "score_criticality", "score_reputation", "score_partnership", "score_our_attractiveness")},
}), max_size=25))
def test_the_chunked_pass_writes_what_measure_writes(rows):
    """The pipeline splits the pass: the whole-portfolio part (total, ABC) in one place and
    RowPass per account. Together they write what `measure` writes."""
    from engine.run.portfolio import RowPass, abc_codes, revenue_total
    project = load_project(ROOT)
    whole = [dict(r, account_id=f"A{i:02d}") for i, r in enumerate(rows)]
    measure(project, whole)
    config = project.portfolio
    revenue = [r["revenue_current"] for r in rows]
    codes = abc_codes(revenue, config.boundary("abc_a_pct"), config.boundary("abc_b_pct"),
                      [f"A{i:02d}" for i in range(len(rows))]).decode()
    total = float(revenue_total(revenue))
    row_pass = RowPass(config)
    for i, r in enumerate(rows):
        values = dict(r, account_id=f"A{i:02d}")
        row_pass.apply(values, total, None if codes[i] == " " else codes[i])
        assert values == whole[i]
