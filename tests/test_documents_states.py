"""Plans across runs in the documents: three weekly runs with a real state store, read the way
a manager reads them (plan states, original due dates, overdue and done steps, what closed,
what is on hold, and a digest that leads with what needs attention)."""
from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from store_project import Weekly, write_project

from engine.plans.store import Store
from engine.plans.store.actions import mark_done, snooze
from engine.render import write_documents
from engine.render.samples import without_store

ROOT = Path(__file__).resolve().parent.parent
W1, W2, W3 = "2026-01-05", "2026-01-12", "2026-01-19"
SICK = {"nps": 5}  # one category: medium risk, the Respond plan (call in 7 working days, visit in 30)
WORSE = {"nps": 5, "late_days": 45}  # two categories: high risk, Respond and Crisis
IVAN = {"owner": "Ivan"}


@pytest.fixture(scope="module")
def weeks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """W1: four accounts get plans. W2: STEADY stays, WORSE rises to high, BETTER recovers,
    WATCH's flag clears (kept open one run). Between W2 and W3 STEADY's visit is done and
    WORSE's crisis plan snoozed. W3: STEADY's call is overdue, WATCH's plan closes."""
    tmp = tmp_path_factory.mktemp("weeks")
    root = write_project(tmp / "project")
    shutil.copytree(ROOT / "templates", root / "templates")
    w = Weekly(tmp, root)
    outs = {}
    outs[W1] = run(w, W1, {"STEADY": SICK, "WORSE": SICK, "BETTER": SICK,
                           "WATCH": {"watch_flag": "yes", **IVAN}})
    outs[W2] = run(w, W2, {"STEADY": SICK, "WORSE": WORSE, "BETTER": {}, "WATCH": IVAN})
    r = results(outs[W2])
    with Store.open(w.store_path) as store:
        mark_done(store, r["STEADY"]["playbooks"][0]["plan_id"], "visit", date(2026, 1, 14))
        crisis = next(p for p in r["WORSE"]["playbooks"] if p["id"] == "crisis")
        snooze(store, crisis["plan_id"], date(2026, 2, 2), "top management on holiday", date(2026, 1, 14),
               by="Olga")
    outs[W3] = run(w, W3, {"STEADY": SICK, "WORSE": WORSE, "BETTER": {}, "WATCH": IVAN})
    outs["project"] = root
    return outs


def run(w: Weekly, day: str, accounts: dict[str, dict]) -> Path:
    w.run(day, accounts, write_documents=write_documents)
    return w.out


def results(out: Path) -> dict[str, dict]:
    lines = (out / "results.jsonl").read_text("utf-8").splitlines()
    return {r["account_id"]: r for r in map(json.loads, lines)}


def read(out: Path, rel: str) -> str:
    return (out / rel).read_text("utf-8")


def section(text: str, heading: str) -> str:
    """The Markdown section under `heading`, up to the next heading of its level."""
    start = text.index(heading + "\n")
    level = heading.split(" ", 1)[0] + " "
    end = text.find("\n" + level, start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def test_the_first_run_shows_every_plan_as_new(weeks):
    plan = read(weeks[W1], "plans/STEADY.md")
    plan_id = results(weeks[W1])["STEADY"]["playbooks"][0]["plan_id"]
    assert f"### 1. Respond (plan {plan_id})\n\n**New**\n" in plan
    # neither overdue nor done; the ids are what `kam plans done` takes
    assert f"**1.1. Call the client** — kam, due 14 January 2026 · `{plan_id} call`\n" in plan
    assert f"To record a step as done: kam plans done {plan_id} call" in plan
    digest = read(weeks[W1], "digests/Olga.md")
    attention = section(digest, "## Needs attention")
    assert digest.index("## Needs attention") < digest.index("## 1. ")
    assert "| [Company STEADY](../plans/STEADY.md) | Respond | Call the client | 14 January 2026 | New |" in attention
    assert "Closed since the last run" not in digest
    html = read(weeks[W1], "plans/STEADY.html")
    assert (f'<h3>1. Respond <span class="meta">(plan {plan_id})</span></h3>\n'
            '<p><span class="badge state-new">New</span></p>') in html


def test_the_second_run_shows_the_plan_ongoing_with_its_original_due_dates(weeks):
    first, second = results(weeks[W1])["STEADY"], results(weeks[W2])["STEADY"]
    assert [s["due"] for s in second["playbooks"][0]["steps"]] == [s["due"] for s in first["playbooks"][0]["steps"]]
    plan = read(weeks[W2], "plans/STEADY.md")
    assert "**Ongoing since 5 January 2026**" in plan and "**New**" not in plan
    assert "— kam, due 14 January 2026 · `" in plan and "— kam, due 16 February 2026 · `" in plan
    # an ongoing plan that is not late does not need attention
    assert "STEADY" not in section(read(weeks[W2], "digests/Olga.md"), "## Needs attention")


def test_an_escalation_is_marked_and_leads_the_digest(weeks):
    plan = read(weeks[W2], "plans/WORSE.md")
    assert re.search(r"### 1\. Crisis \(plan \d+\)\n\n\*\*New\*\*\n", plan)
    assert re.search(r"### 2\. Respond \(plan \d+\)\n\n\*\*Escalated: the risk has risen "
                     r"\(open since 5 January 2026\)\*\*\n", plan)
    digest = read(weeks[W2], "digests/Olga.md")
    rows = [line for line in section(digest, "## Needs attention").splitlines() if line.startswith("| [")]
    assert rows[0] == ("| [Company WORSE](../plans/WORSE.md) | Respond | Call the client | 14 January 2026 "
                       "| Escalated |")
    assert rows[1:] == ["| [Company WORSE](../plans/WORSE.md) | Crisis | Meet top management | 15 January 2026 | New |"]
    assert digest.index("## Needs attention") < digest.index("## 1. Company WORSE")
    assert "- **Plans:** Crisis — new; Respond — escalated" in digest
    html = read(weeks[W2], "digests/Olga.html")
    assert html.index("<h2>Needs attention</h2>") < html.index("<h2>1. ")
    assert '<span class="badge state-escalated">Escalated</span>' in html


def test_a_resolved_plan_is_listed_as_closed_since_the_last_run(weeks):
    assert results(weeks[W2])["BETTER"]["playbooks"] == []
    assert not (weeks[W2] / "plans" / "BETTER.md").exists()  # nothing left to do: no plan
    digest = read(weeks[W2], "digests/Olga.md")
    closed = section(digest, "## Closed since the last run")
    assert "- Company BETTER — Respond: open from 5 January 2026 to 12 January 2026" in closed
    assert digest.index("## Needs attention") < digest.index("## Closed since the last run") < digest.index("## 1. ")


def test_a_plan_kept_open_says_so_and_a_manager_whose_plans_all_closed_still_hears(weeks):
    assert "kept open for now, although its trigger has cleared" in read(weeks[W2], "plans/WATCH.md")
    ivan = read(weeks[W3], "digests/Ivan.md")
    assert "Nothing new, escalated or overdue since the last run." in ivan
    assert "- Company WATCH — Watch: open from 5 January 2026 to 19 January 2026" in ivan
    assert "## 1. " not in ivan


def test_overdue_steps_are_marked_done_steps_ticked_and_snoozed_plans_on_hold(weeks):
    plan = read(weeks[W3], "plans/STEADY.md")
    assert "**1.1. Call the client** — kam, due 14 January 2026 · **overdue** · `" in plan
    assert "**1.2. Visit the client** — kam, due 16 February 2026 · ✓ done · `" in plan
    assert "| 14 January 2026 · **overdue** | Call the client |" in plan
    digest = read(weeks[W3], "digests/Olga.md")
    attention = section(digest, "## Needs attention")
    assert ("| [Company STEADY](../plans/STEADY.md) | Respond | Call the client | 14 January 2026, **overdue** "
            "| Ongoing |") in attention
    steady = section(digest, "## 2. Company STEADY")
    assert "Visit the client" not in steady  # done: not among the next steps
    worse = read(weeks[W3], "plans/WORSE.md")
    crisis = next(h for h in results(weeks[W3])["WORSE"]["held_plans"] if h["id"] == "crisis")
    # the snooze's reason and who set it, and the plan id to reopen it with
    assert (f"## On hold\n\n- **Crisis** (plan {crisis['plan_id']}) — snoozed until 2 February 2026 by Olga: "
            "top management on holiday\n") in worse
    assert "### 1. Crisis" not in worse


def test_the_summary_counts_plans_by_state(weeks):
    def counts(out: Path) -> list[str]:
        return [line for line in section(read(out, "summary.md"), "## Plans by state").splitlines()
                if line.startswith("| ") and not line.startswith("| State")]
    assert counts(weeks[W1]) == ["| New | 4 |", "| Ongoing | 0 |", "| Escalated (the risk has risen) | 0 |",
                                 "| Closed since the last run | 0 |", "| On hold (snoozed or recently done) | 0 |",
                                 "| Open plans with an overdue step | 0 |"]
    # W2: crisis new; STEADY and WATCH ongoing (WATCH's look is due on 12 January, the run's day:
    # not overdue yet); WORSE's respond escalated; BETTER's closed
    assert [c.rsplit("|", 2)[1].strip() for c in counts(weeks[W2])] == ["1", "2", "1", "1", "0", "0"]
    # W3: STEADY's and WORSE's respond ongoing, both calls late; WATCH closed; WORSE's crisis snoozed
    assert [c.rsplit("|", 2)[1].strip() for c in counts(weeks[W3])] == ["0", "2", "0", "1", "1", "2"]


def test_the_states_read_in_russian(weeks, tmp_path):
    from engine.project.load import load_project
    out = tmp_path / "ru"
    out.mkdir()
    write_documents(load_project(weeks["project"]), list(results(weeks[W3]).values()), out, "ru")
    plan = read(out, "plans/STEADY.md")
    assert "**В работе с 5 января 2026**" in plan
    assert "срок 14 января 2026 · **просрочен**" in plan and "срок 16 февраля 2026 · ✓ выполнен" in plan
    assert re.search(r"## Отложено\n\n- \*\*Crisis\*\* \(план \d+\) — отложен до 2 февраля 2026, Olga: "
                     r"top management on holiday\n", read(out, "plans/WORSE.md"))
    digest = read(out, "digests/Olga.md")
    assert digest.index("## Требует внимания") < digest.index("## 1. ")
    assert "14 января 2026, **просрочен** | В работе |" in digest
    assert "был открыт с 5 января 2026 по 19 января 2026" in read(out, "digests/Ivan.md")


def test_results_without_a_store_render_as_before(weeks, tmp_path):
    from engine.project.load import load_project
    out = tmp_path / "plain"
    out.mkdir()
    bare = without_store(results(weeks[W3]).values())
    write_documents(load_project(weeks["project"]), bare, out, "en")
    plan, digest = read(out, "plans/STEADY.md"), read(out, "digests/Olga.md")
    assert "Ongoing" not in plan and "overdue" not in plan and "done" not in plan
    assert "Needs attention" not in digest and "Closed since" not in digest
    assert "Plans by state" not in read(out, "summary.md")
    assert not (out / "digests" / "Ivan.md").exists()  # no plan, nothing closed that we know of
