"""What the default project's plans contain, account by account: the win-back decision shapes
the win-back plan, a default chance of success comes from the reason the client left, steps
follow the signals that fired, an account has each action (one top-management meeting) once,
small clients meet the decision maker instead of top management, key accounts come from the
criteria too. On single accounts and on the whole sample portfolio."""
from __future__ import annotations

import collections
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from test_signals_catalog import HEALTHY as CATALOG_HEALTHY

from engine.project.load import load_project
from engine.render import write_documents
from engine.render.labels import load_labels
from engine.render.views import Words, winback
from engine.rules.evaluate import Evaluator
from engine.run import evaluate_portfolio
from engine.run.portfolio import measure

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime.date(2026, 11, 23)

# An active account on which no rule fires; revenue_share_pct given so that a one-account
# portfolio pass does not make it 100 % of the revenue.
HEALTHY: dict[str, Any] = {**CATALOG_HEALTHY, "account_id": "P-1", "name": "Plan Ltd", "revenue_share_pct": 5.0}
# A lost client worth winning back: 10 M × 20 % × 0.5 = 1 M against 0.6 M + 0.2 M.
LOST: dict[str, Any] = {
    "status": "lost", "revenue_current": 0.0, "revenue_previous": 100.0, "lost_reason": "lack of attention",
    "expected_annual_revenue": 10_000_000.0, "margin_pct": 20.0, "win_probability": 0.5,
    "winback_cost": 600_000.0, "concessions_cost": 200_000.0,
}
# The steps that approach a lost client or concede something to it.
CONTACT_STEPS = {"find_reason_for_ending", "confirm_reason_for_ending", "have_honest_conversation",
                 "meet_special_requirements"}
# key-account criteria and the KAISM score (rules/portfolio.yaml), columns score_<id>
SCORES = ("purchase_frequency", "growth_plans", "profitability", "criticality", "reputation", "partnership",
          "our_attractiveness")


@pytest.fixture(scope="module")
def project():
    return load_project(ROOT)


@pytest.fixture(scope="module")
def evaluator(project):
    ev = Evaluator(project, AS_OF, "en")
    yield ev
    ev.close()


@pytest.fixture(scope="module")
def run(project, evaluator):
    """One account, through the portfolio pass (a one-account portfolio) as kam evaluate runs it.
    A one-account portfolio is all ABC class A: abc= sets the class a whole portfolio would give."""
    def evaluate(abc: str | None = None, **changes: Any) -> dict[str, Any]:
        values = {k: v for k, v in {**HEALTHY, **changes}.items() if v is not None}
        measure(project, [values])
        if abc is not None:
            values["abc"] = abc
        return evaluator.evaluate(values)
    return evaluate


@pytest.fixture(scope="module")
def sample(project, tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "out"
    evaluate_portfolio(project, [ROOT / "examples" / "accounts.csv"], out, AS_OF, "en",
                       write_documents=write_documents)
    with (out / "results.jsonl").open(encoding="utf-8") as f:
        return out, [json.loads(line) for line in f]


def steps(result: dict[str, Any], playbook: str | None = None) -> list[str]:
    return [s["id"] for p in result["playbooks"] if playbook in (None, p["id"]) for s in p["steps"]]


def merged(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m["playbook"], m["step"]) for p in result["playbooks"] for s in p["steps"] for m in s.get("merged", ())}


# ---- win-back: the decision shapes the plan ------------------------------------------------

def test_a_client_not_worth_winning_back_gets_no_contact_or_concession_step(run, project):
    r = run(**{**LOST, "winback_cost": 900_000.0})  # 1 M against 1.1 M
    assert r["winback"]["decision"] == "do_not_pursue"
    assert steps(r, "win_back") == ["record_reason_for_ending", "re_evaluate_decision"]
    due = {s["id"]: s["due"] for s in r["playbooks"][0]["steps"]}
    assert due["re_evaluate_decision"] == project.calendar.add_working_days(AS_OF, 120).isoformat()  # ~6 months


def test_weighing_is_asked_only_while_the_rules_could_not_decide(run):
    pursue = run(**LOST)
    decline = run(**{**LOST, "concessions_cost": 500_000.0})
    undecided = run(**{**LOST, "concessions_cost": None})
    assert [r["winback"]["decision"] for r in (pursue, decline, undecided)] == ["pursue", "do_not_pursue", "undecided"]
    assert "weigh_costs_and_benefits" not in steps(pursue) + steps(decline)
    assert "weigh_costs_and_benefits" in steps(undecided)
    assert undecided["winback"]["missing"] == ["concessions_cost"]
    # pursuing (and not yet decided) keeps the source's four steps
    assert steps(pursue) == ["confirm_reason_for_ending", "have_honest_conversation", "meet_special_requirements"]
    assert steps(undecided) == ["confirm_reason_for_ending", "weigh_costs_and_benefits", "have_honest_conversation",
                                "meet_special_requirements"]


def test_the_concessions_are_counted_in_the_decision(run):
    r = run(**LOST)
    wb = r["winback"]
    assert wb["cost"] == 800_000.0 and wb["cost_metric"] == "winback_total_cost"
    assert wb["cost_inputs"] == ["winback_cost", "concessions_cost"]
    assert wb["inputs"]["winback_cost"] == 600_000.0 and wb["inputs"]["concessions_cost"] == 200_000.0
    assert run(**{**LOST, "concessions_cost": 400_000.0})["winback"]["decision"] == "do_not_pursue"  # 1 M vs 1 M


def test_a_recorded_reason_replaces_the_checklist_of_reasons(run, project):
    unknown = run(**{**LOST, "lost_reason": None})
    known = run(**LOST)
    assert steps(unknown)[0] == "find_reason_for_ending" and "confirm_reason_for_ending" not in steps(unknown)
    assert steps(known)[0] == "confirm_reason_for_ending" and "find_reason_for_ending" not in steps(known)
    by_id = {s.id: s for s in project.playbooks["win_back"].steps}
    assert {by_id[i].action for i in ("find_reason_for_ending", "confirm_reason_for_ending",
                                      "record_reason_for_ending")} == {"find_reason_for_ending"}
    assert len(by_id["find_reason_for_ending"].checklist) > len(by_id["confirm_reason_for_ending"].checklist)


def test_the_chance_of_success_defaults_from_the_reason_and_says_so(run):
    # ownership change: our default 0.2 → 10 M × 20 % × 0.2 = 400 000 against 800 000
    r = run(**{**LOST, "lost_reason": "Ownership change", "win_probability": None})
    wb = r["winback"]
    assert wb["inputs"]["win_probability"] == 0.2 and wb["value"] == 400_000.0
    assert wb["defaulted"] == ["win_probability"] and wb["missing"] == []
    assert wb["decision"] == "do_not_pursue"
    assert "win_probability" in r["missing"]  # absent from the input all the same
    # a client lost to price pressure is more likely to come back: 0.4 → 800 000, not more than the cost
    assert run(**{**LOST, "lost_reason": "price-pressure", "win_probability": None})["winback"]["value"] == 800_000.0
    # a chance given wins over the default
    given = run(**{**LOST, "lost_reason": "ownership change", "win_probability": 0.5})["winback"]
    assert given["inputs"]["win_probability"] == 0.5 and given["defaulted"] == [] and given["decision"] == "pursue"
    # an unknown reason has no default: the estimate stays open
    other = run(**{**LOST, "lost_reason": "a merger", "win_probability": None})["winback"]
    assert other["missing"] == ["win_probability"] and other["decision"] == "undecided"


def test_the_plan_marks_a_default_and_shows_every_cost(run, project):
    r = run(**{**LOST, "lost_reason": "ownership change", "win_probability": None})
    labels, problems = load_labels(ROOT)
    assert labels is not None and not problems
    view = winback(Words(project, "en", labels.get("en")), r)
    rows = {row["label"]: row["value"] for row in view["inputs"] + view["costs"]}
    assert rows["Chance of winning the client back"].startswith("20")
    assert "our default for “a change of ownership at the client”" in rows["Chance of winning the client back"]
    assert [row["label"] for row in view["costs"]] == ["Cost of the win-back effort",
                                                      "Cost of meeting the client's special requirements"]
    assert view["cost"] == "RUB\u00a0800,000"  # the locale places the sign (Babel)


# ---- steps by signal -----------------------------------------------------------------------

def test_a_payment_delay_gets_credit_control_and_no_turnover_tracking(run):
    r = run(payment_overdue_days=45)
    assert "credit_control" in steps(r, "financial_response")
    assert "track_turnover_monthly" not in steps(r)
    for other in ({"revenue_current": 70.0}, {"pricing_policy_changed": True}, {"tenders_not_invited_90d": 3}):
        assert "credit_control" not in steps(run(**other)), other
    assert "track_turnover_monthly" in steps(run(revenue_current=70.0))


@pytest.mark.parametrize("changes, step", [
    ({"pricing_policy_changed": True}, "compare_prices_with_market"),
    ({"tenders_not_invited_90d": 2}, "ask_to_be_invited_to_tenders"),
    ({"decision_maker_changed": True}, "meet_new_decision_maker"),
    ({"buyer_changed": True}, "meet_new_buyer"),
    ({"excluded_from_meetings": True}, "regain_place_at_meetings"),
    ({"bypassing_contractors": True}, "assess_new_contractors"),
    ({"approval_days_current": 20.0}, "speed_up_approvals"),
    ({"key_contacts": 1}, "build_relationships_with_key_people"),
    ({"complaints_current": 4}, "review_complaints"),
    ({"dissatisfaction_noted": True}, "hold_satisfaction_interview"),
    ({"client_contacts_current": 40}, "restore_regular_contact"),
    ({"competitor_mentions_90d": 3}, "answer_competitor_comparison"),
])
def test_each_signal_brings_its_own_step_and_only_it_does(run, changes, step):
    assert step in steps(run(**changes))
    quiet_in_category = {"pricing_policy_changed": {"payment_overdue_days": 40},
                         "tenders_not_invited_90d": {"payment_overdue_days": 40},
                         "decision_maker_changed": {"excluded_from_meetings": True},
                         "buyer_changed": {"excluded_from_meetings": True},
                         "excluded_from_meetings": {"buyer_changed": True},
                         "bypassing_contractors": {"buyer_changed": True},
                         "approval_days_current": {"buyer_changed": True},
                         "key_contacts": {"buyer_changed": True},
                         "complaints_current": {"dissatisfaction_noted": True},
                         "dissatisfaction_noted": {"complaints_current": 4},
                         "client_contacts_current": {"complaints_current": 4},
                         "competitor_mentions_90d": {"complaints_current": 4}}
    other = quiet_in_category[next(iter(changes))]  # the same playbook, another signal
    assert step not in steps(run(**other))


def test_the_nps_survey_only_when_the_score_is_missing_or_low(run):
    assert "run_nps_survey" in steps(run(complaints_current=4, nps=None))
    assert "run_nps_survey" in steps(run(nps=4))
    assert "run_nps_survey" not in steps(run(complaints_current=4, nps=9))


# ---- one meeting per account; small clients ------------------------------------------------

def test_one_top_management_meeting_for_a_high_risk_key_account(run):
    r = run(strategic=True, days_since_qbr=120, payment_overdue_days=45, decision_maker_changed=True, nps=3)
    assert {p["id"] for p in r["playbooks"]} >= {"anti_crisis", "financial_response", "operational_response",
                                                 "emotional_response", "qbr"}
    assert "meet_top_management" in steps(r, "anti_crisis")
    gone = {"initiate_qbr", "involve_company_head", "initiate_deviation_meeting", "meet_new_decision_maker",
            "hold_qbr", "ask_reasons_for_dissatisfaction"}
    assert not gone & set(steps(r))
    assert {s for _, s in merged(r)} == gone | {"analyse_client_satisfaction"}
    # the QBR's agenda and the satisfaction analysis are on the earlier steps
    assert ("qbr", "hold_qbr") in merged(r) and ("qbr", "analyse_client_satisfaction") in merged(r)


def test_a_small_client_meets_its_decision_maker_not_top_management(run):
    small = run(abc="C", decision_maker_changed=True, nps=3)
    assert small["risk_level"] == "high" and not small["key_account"]
    assert "meet_client_decision_maker" in steps(small, "anti_crisis")
    everyone = steps(small) + [s for _, s in merged(small)]
    for step in ("meet_top_management", "ask_reasons_for_dissatisfaction", "initiate_qbr",
                 "involve_company_head", "assign_project_curator"):
        assert step not in everyone
    owners = {s["owner"] for p in small["playbooks"] for s in p["steps"]}
    assert not owners & {"sales_director", "ceo"}
    # the same client as a key account (strategic) gets top management again
    key = run(abc="C", strategic=True, decision_maker_changed=True, nps=3)
    assert "meet_top_management" in steps(key) and "meet_client_decision_maker" not in steps(key)
    # class B keeps top management
    assert "meet_top_management" in steps(run(abc="B", decision_maker_changed=True, nps=3))


# ---- key accounts from the criteria (source 004) -------------------------------------------

def test_the_kaism_key_quadrant_makes_a_key_account(run):
    scored = {f"score_{c}": 6 for c in SCORES}  # value 6 and attractiveness 6: both high
    r = run(**scored)
    assert r["kaism"] == "key" and r["key_account"] and "key_account" in r["classes"]
    weak = run(**{**scored, "score_our_attractiveness": 2, "score_criticality": 3, "score_partnership": 3})
    assert weak["kaism"] == "prospective" and not weak["key_account"]
    assert "qbr" in {p["id"] for p in run(**scored, days_since_qbr=95)["playbooks"]}


# ---- the whole sample ----------------------------------------------------------------------

def test_the_sample_has_each_action_once_per_account(sample, project):
    _, results = sample
    action = {(pid, s.id): s.action for pid, pb in project.playbooks.items() for s in pb.steps}
    meetings = 0
    for r in results:
        seen = collections.Counter(action[(p["id"], s["id"])] for p in r["playbooks"] for s in p["steps"]
                                   if action[(p["id"], s["id"])])
        assert all(n == 1 for n in seen.values()), (r["account_id"], seen)
        meetings += seen["top_management_meeting"]
    assert meetings > 30  # every account at high risk has one


def test_the_sample_declines_have_no_contact_and_no_negotiation(sample):
    out, results = sample
    decisions = collections.Counter(r["winback"]["decision"] for r in results if r["winback"])
    assert set(decisions) == {"pursue", "do_not_pursue", "undecided"}
    for r in results:
        if r["winback"] and r["winback"]["decision"] == "do_not_pursue":
            assert not CONTACT_STEPS & set(steps(r)), r["account_id"]
            assert set(steps(r)) == {"record_reason_for_ending", "re_evaluate_decision"}
            text = (out / "plans" / f"{r['account_id']}.md").read_text("utf-8")
            assert "## Negotiation preparation" not in text


def test_the_sample_payment_delays_get_credit_control(sample):
    _, results = sample
    delayed = [r for r in results if any(s["id"] == "payment_delay" for s in r["signals"])]
    assert delayed
    for r in results:
        assert ("credit_control" in steps(r)) == (r in delayed), r["account_id"]
