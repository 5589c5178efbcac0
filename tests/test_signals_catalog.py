"""The default project against the catalog of ../shared/docs/domain.md, item by item.

Every signal fires just past its threshold and stays silent at it (strict where the source
says "more than" / "below"; at-least thresholds fire at the value and not just below it);
every playbook is assigned exactly when its rule says; the win-back decision follows the
cost-benefit; the sample portfolio shows every signal and every playbook.
"""
from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine.project.load import load_project
from engine.rules.evaluate import Evaluator
from engine.run import evaluate_portfolio

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime.date(2026, 11, 23)
NBSP = "\u00a0"

# A healthy active account: no rule of the default project fires for it.
HEALTHY: dict[str, Any] = {
    "account_id": "T-1", "name": "Test Ltd", "owner": "Owner", "segment": "enterprise",
    "status": "active", "strategic": False,
    "revenue_current": 100.0, "revenue_previous": 100.0, "margin_pct": 20.0, "payment_overdue_days": 0,
    "restructuring_requests_90d": 0, "tenders_not_invited_90d": 0, "pricing_policy_changed": False,
    "decision_maker_changed": False, "buyer_changed": False, "excluded_from_meetings": False,
    "bypassing_contractors": False, "approval_days_current": 10.0, "approval_days_previous": 10.0,
    "key_contacts": 4, "client_contacts_current": 100, "client_contacts_previous": 100,
    "complaints_current": 1, "complaints_previous": 1, "competitor_mentions_90d": 0,
    "dissatisfaction_noted": False, "nps": 9, "days_since_qbr": 30, "dependency": "none",
    "margin_pct_previous": 20.0, "concession_requests_90d": 0, "failed_deals_90d": 0,
    "ownership_changed": False, "competitor_joint_projects": False, "competitor_mentions_prev_90d": 0,
    "days_since_client_reply": 3,
}

# domain.md §1: id, category, the value that must stay silent, the value that must fire.
# Strict thresholds ("more than", "below"): silent exactly at the threshold, firing just past it.
# At-least thresholds (">= 2 requests", ">= 30 %"): silent just below, firing at the threshold.
CATALOG: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("purchase_drop", "financial", {"revenue_current": 85.0}, {"revenue_current": 84.99}),  # > 15 %
    ("payment_delay", "financial", {"payment_overdue_days": 30}, {"payment_overdue_days": 31}),  # > 30 days
    ("restructuring_requests", "financial", {"restructuring_requests_90d": 1}, {"restructuring_requests_90d": 2}),
    ("tenders_not_invited", "financial", {"tenders_not_invited_90d": 1}, {"tenders_not_invited_90d": 2}),
    ("pricing_policy_change", "financial", {"pricing_policy_changed": False}, {"pricing_policy_changed": True}),
    ("decision_maker_change", "operational", {"decision_maker_changed": False}, {"decision_maker_changed": True}),
    ("buyer_change", "operational", {"buyer_changed": False}, {"buyer_changed": True}),
    ("excluded_from_meetings", "operational", {"excluded_from_meetings": False}, {"excluded_from_meetings": True}),
    ("approval_slowdown", "operational", {"approval_days_current": 12.99}, {"approval_days_current": 13.0}),  # >= 30 %
    ("bypassing_contractors", "operational", {"bypassing_contractors": False}, {"bypassing_contractors": True}),
    ("thin_stakeholder_coverage", "operational", {"key_contacts": 3}, {"key_contacts": 2}),  # fewer than 3
    ("contact_decline", "emotional", {"client_contacts_current": 71}, {"client_contacts_current": 70}),  # >= 30 %
    ("dissatisfaction", "emotional", {"dissatisfaction_noted": False}, {"dissatisfaction_noted": True}),
    ("complaints_rise", "emotional", {"complaints_current": 1}, {"complaints_current": 2}),  # more than before
    ("competitor_comparison", "emotional", {"competitor_mentions_90d": 1}, {"competitor_mentions_90d": 2}),
    ("low_nps", "emotional", {"nps": 7}, {"nps": 6}),  # below 7
    # issue 14: signals the sources name beyond 000's list (our default thresholds where they give none)
    ("margin_erosion", "financial", {"margin_pct": 15.01}, {"margin_pct": 15.0}),  # >= 5 points (004)
    ("concession_pressure", "financial", {"concession_requests_90d": 1}, {"concession_requests_90d": 2}),  # 004
    ("failed_deals", "financial", {"failed_deals_90d": 1}, {"failed_deals_90d": 2}),  # 003
    ("ownership_change", "operational", {"ownership_changed": False}, {"ownership_changed": True}),  # 001
    ("competitor_joint_projects", "operational", {"competitor_joint_projects": False},
     {"competitor_joint_projects": True}),  # 000 §1
    ("no_reply", "emotional", {"days_since_client_reply": 30}, {"days_since_client_reply": 31}),  # 002: > 30 days
]
# domain.md's default thresholds, as the rules read them
DEFAULT_THRESHOLDS = {"purchase_drop_pct": 15, "payment_overdue_days": 30, "restructuring_requests": 2,
                      "tenders_not_invited": 2, "approval_growth_pct": 30, "min_key_contacts": 3,
                      "contact_drop_pct": 30, "competitor_mentions": 2, "nps_min": 7, "qbr_max_days": 90,
                      "key_account_share_pct": 10, "dependency_risky_pct": 20, "dependency_mono_pct": 50,
                      "no_reply_days": 30, "margin_drop_pp": 5, "concession_requests": 2, "failed_deals": 2}
PLAYBOOKS = {"financial_response", "operational_response", "emotional_response", "anti_crisis", "qbr",
             "win_back", "dependency_risk"}


@pytest.fixture(scope="module")
def project():
    return load_project(ROOT)


@pytest.fixture(scope="module")
def evaluators(project):
    made = {lang: Evaluator(project, AS_OF, lang) for lang in ("en", "ru")}
    yield made
    for ev in made.values():
        ev.close()


@pytest.fixture(scope="module")
def run(evaluators):
    def evaluate(lang: str = "en", **changes: Any) -> dict[str, Any]:
        values = {**HEALTHY, **changes}
        return evaluators[lang].evaluate({k: v for k, v in values.items() if v is not None})
    return evaluate


def signal_ids(result: dict[str, Any]) -> set[str]:
    return {s["id"] for s in result["signals"]}


def playbook_ids(result: dict[str, Any]) -> set[str]:
    return {p["id"] for p in result["playbooks"]}


def test_the_catalog_covers_every_signal_of_the_project(project):
    assert {c[0] for c in CATALOG} == set(project.signals)
    assert {sid: project.signals[sid].category for sid, *_ in CATALOG} == {c[0]: c[1] for c in CATALOG}
    assert set(project.playbooks) == PLAYBOOKS


def test_default_thresholds_are_the_documented_ones(project):
    assert {t: project.thresholds[t].value for t in DEFAULT_THRESHOLDS} == DEFAULT_THRESHOLDS


def test_the_healthy_account_is_quiet(run):
    r = run()
    assert (r["signals"], r["playbooks"], r["risk_level"]) == ([], [], "none")


@pytest.mark.parametrize("sid,category,silent,firing", CATALOG, ids=[c[0] for c in CATALOG])
def test_signal_threshold(run, sid, category, silent, firing):
    assert sid not in signal_ids(run(**silent))
    fired = run(**firing)
    assert signal_ids(fired) == {sid}
    s = fired["signals"][0]
    assert s["category"] == category and s["text"]
    assert fired["risk_level"] == "medium"  # one category


@pytest.mark.parametrize("sid,category,silent,firing", CATALOG, ids=[c[0] for c in CATALOG])
def test_a_missing_value_never_fires(run, sid, category, silent, firing):
    missing = {k: None for k in firing}
    r = run(**missing)
    assert sid not in signal_ids(r)
    assert set(firing) <= set(r["missing"])


# ---- evidence in words --------------------------------------------------------------------

def test_evidence_sentence_in_both_languages(run):
    drop = {"revenue_previous": 4_000_000.0, "revenue_current": 3_100_000.0}
    en = run("en", **drop)["signals"][0]
    ru = run("ru", **drop)["signals"][0]
    assert en["text"] == ("purchases are down 22.5 % on the previous period "
                          "(4,000,000 → 3,100,000); we act on a fall of more than 15 %")
    assert ru["text"] == (f"закупки упали на 22,5 % к аналогичному предыдущему периоду "
                          f"(4{NBSP}000{NBSP}000 → 3{NBSP}100{NBSP}000); реагируем на падение больше 15 %")
    assert en["evidence"]["metrics"] == {"purchase_drop_pct": 22.5}
    assert en["evidence"]["thresholds"] == {"purchase_drop_pct": 15}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_signal_has_a_sentence_without_placeholders(run, lang):
    for sid, _, _, firing in CATALOG:
        text = run(lang, **firing)["signals"][0]["text"]
        assert text and "{" not in text and "}" not in text, (sid, text)


# ---- risk levels (domain.md §2) -------------------------------------------------------------

def test_risk_levels(run):
    assert run()["risk_level"] == "none"
    assert run(payment_overdue_days=45, tenders_not_invited_90d=3)["risk_level"] == "medium"  # one category
    assert run(payment_overdue_days=45, nps=3)["risk_level"] == "high"  # two categories
    assert run(payment_overdue_days=45, buyer_changed=True, nps=3)["risk_level"] == "high"
    # severity counts: a low-severity slowdown of approvals is no second category for "high"
    slow = run(payment_overdue_days=45, approval_days_current=13.0)
    assert signal_ids(slow) == {"payment_delay", "approval_slowdown"}
    assert slow["risk_level"] == "medium" and "anti_crisis" not in playbook_ids(slow)
    assert run(approval_days_current=13.0)["risk_level"] == "medium"


# ---- playbooks (domain.md §4) ---------------------------------------------------------------

PLAYBOOK_CASES = [
    # (playbook, account changes, assigned?)
    ("financial_response", {"payment_overdue_days": 31}, True),
    ("financial_response", {"nps": 5}, False),  # an emotional signal only
    ("financial_response", {"payment_overdue_days": 31, "status": "lost"}, False),  # lost: win-back only
    ("operational_response", {"buyer_changed": True}, True),
    ("operational_response", {"payment_overdue_days": 31}, False),
    ("operational_response", {"buyer_changed": True, "status": "lost"}, False),
    ("emotional_response", {"nps": 5}, True),
    ("emotional_response", {"buyer_changed": True}, False),
    ("emotional_response", {"nps": 5, "status": "lost"}, False),
    ("anti_crisis", {"payment_overdue_days": 31, "nps": 5}, True),  # risk high
    ("anti_crisis", {"payment_overdue_days": 31, "tenders_not_invited_90d": 2}, False),  # medium only
    ("anti_crisis", {"payment_overdue_days": 31, "nps": 5, "status": "lost"}, False),
    ("qbr", {"strategic": True, "days_since_qbr": 91}, True),
    ("qbr", {"strategic": True, "days_since_qbr": 90}, False),  # more than a quarter
    ("qbr", {"revenue_share_pct": 10.5, "days_since_qbr": 91}, True),  # key account by revenue share
    ("qbr", {"revenue_share_pct": 10.0, "days_since_qbr": 91}, False),  # share more than 10 %
    ("qbr", {"days_since_qbr": 200}, False),  # not a key account
    ("qbr", {"strategic": True, "days_since_qbr": 91, "status": "lost"}, False),
    ("qbr", {"strategic": True, "days_since_qbr": None}, False),  # unknown: no QBR plan on a guess
    ("win_back", {"status": "lost"}, True),
    ("win_back", {"status": "active"}, False),
    ("dependency_risk", {"dependency": "risky"}, True),
    ("dependency_risk", {"dependency": "mono"}, True),
    ("dependency_risk", {"dependency": "none"}, False),
]


@pytest.mark.parametrize("pid,changes,assigned", PLAYBOOK_CASES,
                         ids=[f"{c[0]}-{'yes' if c[2] else 'no'}-{i}" for i, c in enumerate(PLAYBOOK_CASES)])
def test_playbook_assignment(run, pid, changes, assigned):
    assert (pid in playbook_ids(run(**changes))) is assigned


def test_every_playbook_has_a_case_both_ways():
    assert {(c[0], c[2]) for c in PLAYBOOK_CASES} == {(p, a) for p in PLAYBOOKS for a in (True, False)}


def test_playbooks_come_by_priority_with_due_dates(run, project):
    r = run(payment_overdue_days=31, buyer_changed=True, nps=3, strategic=True, days_since_qbr=120)
    ids = [p["id"] for p in r["playbooks"]]
    assert ids[0] == "anti_crisis"
    assert [project.playbooks[i].priority for i in ids] == sorted(project.playbooks[i].priority for i in ids)
    step = r["playbooks"][0]["steps"][0]
    assert step["due"] == (AS_OF + datetime.timedelta(days=project.playbooks["anti_crisis"].steps[0].due_days)
                           ).isoformat()


# ---- win-back cost-benefit (domain.md §5) ----------------------------------------------------

LOST = {"status": "lost", "revenue_current": 0.0, "expected_annual_revenue": 10_000_000.0,
        "margin_pct": 20.0, "win_probability": 0.5, "lost_reason": "price pressure",
        "concessions_cost": 200_000.0}


def test_winback_pursue_when_the_benefit_exceeds_the_cost(run):
    r = run(**LOST, winback_cost=799_999.99)  # benefit 10 M × 20 % × 0.5 = 1 M; cost 0.8 M + 0.2 M
    assert r["winback"]["decision"] == "pursue" and "winback_pursue" in r["classes"]
    assert r["winback"]["value"] == 1_000_000.0 and r["winback"]["missing"] == []
    assert r["winback"]["cost"] == 999_999.99 and r["winback"]["defaulted"] == []


def test_winback_not_pursued_when_the_benefit_only_equals_the_cost(run):
    r = run(**LOST, winback_cost=800_000.0)
    assert r["winback"]["decision"] == "do_not_pursue" and "winback_decline" in r["classes"]
    assert "winback_pursue" not in r["classes"]


def test_winback_undecided_names_the_missing_input(run):
    # the chance of success would default from the reason: without one it stays missing
    r = run(**{**LOST, "win_probability": None, "lost_reason": None}, winback_cost=100.0)
    assert r["winback"]["decision"] == "undecided"
    assert r["winback"]["missing"] == ["win_probability"]
    assert not {"winback_pursue", "winback_decline"} & set(r["classes"])


def test_no_winback_for_an_active_account(run):
    assert run()["winback"] is None


# ---- the sample portfolio ------------------------------------------------------------------

def test_the_sample_portfolio_shows_every_signal_and_playbook(project, tmp_path):
    report = evaluate_portfolio(project, [ROOT / "examples" / "accounts.csv"], tmp_path / "out", AS_OF)
    assert report.rejected == 0 and 150 <= report.evaluated <= 250
    assert set(report.by_signal) == set(project.signals)
    assert set(report.by_playbook) == PLAYBOOKS
    with (tmp_path / "out" / "results.jsonl").open(encoding="utf-8") as f:
        results = [json.loads(line) for line in f]
    assert {r["winback"]["decision"] for r in results if r["winback"]} == {"pursue", "do_not_pursue", "undecided"}
    assert any(r["dependency"] in ("risky", "mono") for r in results)
    names = [r["name"] for r in results]
    assert len(set(names)) == len(names)
    assert any(re.search("[а-яА-Я]", n) for n in names) and any(re.match("[A-Za-z]", n) for n in names)


def test_the_russian_sample_is_the_same_portfolio_in_cyrillic(project, tmp_path):
    """examples/accounts_ru.csv (generate.py --lang ru): the same accounts and numbers, every
    company and manager named in Cyrillic, so the Russian demo reads as a Russian portfolio."""
    import csv
    with (ROOT / "examples" / "accounts.csv").open(encoding="utf-8") as f:
        en = list(csv.DictReader(f))
    with (ROOT / "examples" / "accounts_ru.csv").open(encoding="utf-8") as f:
        ru = list(csv.DictReader(f))
    assert [{k: v for k, v in r.items() if k not in ("name", "owner")} for r in ru] == \
        [{k: v for k, v in r.items() if k not in ("name", "owner")} for r in en]
    for r in ru:
        assert re.fullmatch(r"(ООО|АО|ПАО) «[А-ЯЁа-яё -]+»( \d+)?", r["name"]), r["name"]
        assert re.fullmatch(r"[А-ЯЁ][а-яё]+ [А-ЯЁ][а-яё]+", r["owner"]), r["owner"]
    assert len({r["name"] for r in ru}) == len(ru)
    report = evaluate_portfolio(project, [ROOT / "examples" / "accounts_ru.csv"], tmp_path / "out", AS_OF, "ru")
    assert report.rejected == 0 and set(report.by_signal) == set(project.signals)


# ---- issue 14: the steps of the later signals and of sources 003/004 ---------------------------

NEW_STEPS = [
    # (account changes, playbook, step): the step is in the plan (kept, or merged into another)
    ({"margin_pct": 10.0}, "financial_response", "hold_the_margin"),  # 004
    ({"concession_requests_90d": 3}, "financial_response", "hold_the_margin"),  # 004
    ({"failed_deals_90d": 2}, "financial_response", "review_failed_deals"),  # 003
    ({"ownership_changed": True}, "operational_response", "meet_new_owners"),  # 001
    ({"competitor_joint_projects": True}, "operational_response", "answer_joint_projects_offer"),  # 000 §1
    ({"days_since_client_reply": 45}, "emotional_response", "reach_silent_client"),  # 002
    ({"nps": 4}, "emotional_response", "feed_back_to_team"),  # 003
    ({"nps": 4}, "emotional_response", "hold_satisfaction_interview"),  # 003: hidden dissatisfaction
    ({"strategic": True, "days_since_qbr": 120}, "qbr", "prepare_account_dossier"),  # 004
]


def _steps(result: dict[str, Any]) -> set[tuple[str, str]]:
    kept = {(p["id"], s["id"]) for p in result["playbooks"] for s in p["steps"]}
    merged = {(m["playbook"], m["step"]) for p in result["playbooks"] for s in p["steps"]
              for m in s.get("merged") or ()}
    return kept | merged


@pytest.mark.parametrize("changes,pid,step", NEW_STEPS, ids=[f"{c[2]}-{i}" for i, c in enumerate(NEW_STEPS)])
def test_a_new_step_comes_with_its_signal_and_not_without(run, changes, pid, step):
    assert (pid, step) in _steps(run(**changes))
    quiet = run(payment_overdue_days=45, buyer_changed=True, client_contacts_current=50, strategic=True,
                days_since_qbr=120 if pid == "qbr" else 30)
    if pid != "qbr":
        assert (pid, step) not in _steps(quiet), "the step shows although its signal did not fire"


def test_every_signal_is_in_the_readme_catalog(project):
    readme = (ROOT / "docs" / "rules.md").read_text("utf-8")
    table = readme[readme.index("| signal | category | fires when (default) | threshold |"):]
    table = table[:table.index("\n\n")]
    listed = re.findall(r"^\| `([a-z_]+)` \| (\w+) \|", table, re.M)
    assert dict(listed) == {sid: s.category for sid, s in project.signals.items()}


def test_negotiation_advice_follows_the_signals(project):
    """Mirroring for a client that went quiet, objection handling for one pushing for discounts;
    neither for a client whose signals call for neither (issue 14, source 002)."""
    from engine.render import plan_renderer
    ev = Evaluator(project, AS_OF, "en")
    try:
        render = plan_renderer(project, "en")
        base = {**HEALTHY, "payment_overdue_days": 45}
        silent = dict(render.render(ev.evaluate({**base, "days_since_client_reply": 60})))["md"]
        pushing = dict(render.render(ev.evaluate({**base, "concession_requests_90d": 3, "nps": 4})))["md"]
    finally:
        ev.close()
    assert "Active listening and mirroring" in silent and "No trust: the client has not answered" in silent
    assert "Handling objections" not in silent and "The client thinks we are too expensive" not in silent
    assert "Handling objections" in pushing and "The client thinks we are too expensive" in pushing
    assert "Active listening and mirroring" in pushing  # low NPS: the client must feel heard
    assert "No trust: the client has not answered" not in pushing
