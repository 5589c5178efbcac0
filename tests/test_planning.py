"""One account, one plan: step conditions, merging by action, priority and capacity scheduling."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from store_project import FILES, Weekly, write_project

from engine.errors import KamError
from engine.project.load import load_project
from engine.project.workdays import WorkCalendar
from engine.run import schedule

CRISIS = """\
kind: playbook
id: crisis
title: Crisis
priority: 1
steps:
  - {id: meet, title: Meet top management, owner: director, due_days: 3, action: contact,
     when: "revenue_current > 50"}
  - {id: meet_manager, title: Meet the decision maker, owner: kam, due_days: 5, action: contact,
     when: "revenue_current <= 50"}
  - {id: fix, title: Fix the terms, owner: kam, due_days: 20}
"""
RESPOND = """\
kind: playbook
id: respond
title: Respond
priority: 2
steps:
  - {id: call, title: Call the client, owner: kam, due_days: 1, action: contact}
  - {id: visit, title: Visit the client, owner: kam, due_days: 30, when: "signal.late"}
"""
PRIORITY = """\
kind: priority
at_stake: revenue_current
margin: margin_pct
default_margin_pct: 50
risk_weights: {none: 0.1, medium: 0.2, high: 0.5}
boosts:
  - {id: key, when: class.key, factor: 3, title: {en: key account, ru: ключевой клиент}}
"""
METRICS = FILES["rules/metrics.yaml"] + "  - {id: margin_pct, type: number, min: -100, max: 100}\n"
WEEKDAYS = WorkCalendar()  # weekends only
LATE = {"late_days": 40, "nps": 3}  # two categories: high risk, respond and crisis


def shaped(tmp_path, **changes):
    root = write_project(tmp_path / "project", {"playbooks/crisis.yaml": CRISIS, "playbooks/respond.yaml": RESPOND,
                                                "rules/priority.yaml": PRIORITY, "rules/metrics.yaml": METRICS,
                                                **changes})
    return Weekly(tmp_path, root)


def steps(result):
    return {(p["id"], s["id"]): s for p in result["playbooks"] for s in p["steps"]}


def test_a_false_condition_drops_a_step_and_an_unknown_one_keeps_it(tmp_path):
    out = shaped(tmp_path).run("2026-11-23", {"BIG": {**LATE, "revenue_current": 100},
                                              "SMALL": {**LATE, "revenue_current": 10},
                                              "UNKNOWN": {**LATE, "revenue_current": ""}})
    big, small, unknown = (steps(out[a]) for a in ("BIG", "SMALL", "UNKNOWN"))
    assert ("crisis", "meet") in big and ("crisis", "meet_manager") not in big
    assert ("crisis", "meet_manager") in small and ("crisis", "meet") not in small
    # both variants hold "unknown" without a revenue: kept, then merged into one by their action
    assert ("crisis", "meet") in unknown and ("crisis", "meet_manager") not in unknown
    assert [m["step"] for m in unknown[("crisis", "meet")]["merged"]] == ["meet_manager", "call"]
    # a condition on a signal: `visit` only where the late signal fired
    assert ("respond", "visit") in big
    nps_only = shaped(tmp_path / "b").run("2026-11-23", {"A": {"nps": 3, "revenue_current": 100}})["A"]
    assert nps_only["playbooks"] and ("respond", "visit") not in steps(nps_only)


def test_steps_with_one_action_become_one_step_due_at_the_earliest_date(tmp_path):
    out = shaped(tmp_path).run("2026-11-23", {"BIG": {**LATE, "revenue_current": 100}})["BIG"]
    s = steps(out)
    meet = s[("crisis", "meet")]  # crisis is the more urgent playbook: it carries the step
    assert ("respond", "call") not in s
    assert meet["merged"] == [{"playbook": "respond", "step": "call", "title": "Call the client", "owner": "kam"}]
    assert meet["due"] == min(meet["due"], s[("crisis", "fix")]["due"])
    # respond's call (1 day) was earlier than crisis' meet (3 days): the merged step takes it
    assert date.fromisoformat(meet["due"]) < date(2026, 11, 23) + timedelta(days=3)
    actions = [x for p in out["playbooks"] for x in p["steps"]]
    assert len(actions) == len({(x["id"]) for x in actions})


def test_priority_is_expected_loss_times_the_boosts_that_hold(tmp_path):
    out = shaped(tmp_path).run("2026-11-23", {
        "KNOWN": {**LATE, "revenue_current": 1000, "margin_pct": 20},
        "DEFAULT_MARGIN": {**LATE, "revenue_current": 1000, "margin_pct": ""},
        "KEY": {**LATE, "revenue_current": 1000, "margin_pct": 20, "strategic": "yes"},
        "QUIET": {"revenue_current": 1000, "margin_pct": 20}})
    assert out["KNOWN"]["expected_loss"] == 1000 * 0.20 * 0.5 == out["KNOWN"]["priority"]
    assert out["DEFAULT_MARGIN"]["expected_loss"] == 1000 * 0.50 * 0.5
    assert out["KEY"]["priority"] == 1000 * 0.20 * 0.5 * 3 and out["KEY"]["priority_boosts"] == ["key"]
    assert out["QUIET"]["priority"] == 1000 * 0.20 * 0.1 and out["QUIET"]["playbooks"] == []


def test_priority_problems_are_validation_errors(tmp_path):
    bad = PRIORITY.replace("high: 0.5", "hihg: 0.5").replace("class.key", "class.kee")
    root = write_project(tmp_path / "p", {"rules/priority.yaml": bad, "rules/metrics.yaml": METRICS})
    with pytest.raises(KamError) as exc:
        load_project(root)
    text = str(exc.value)
    assert "unknown risk level 'hihg' (did you mean 'high'?)" in text
    assert "boost 'key' → when: unknown class 'kee'" in text


def test_a_capacity_for_a_role_no_step_has_is_an_error_with_a_hint(tmp_path):
    root = write_project(tmp_path / "p", {"kam.yaml": "kind: project\nname: x\ncapacity:\n  directr: 2\n"})
    with pytest.raises(KamError) as exc:
        load_project(root)
    assert "capacity: no step is owned by role 'directr' (did you mean 'director'?)" in str(exc.value)


# ---- capacity -----------------------------------------------------------------------------

def _demand(priority: float, account: str, due: str = "2026-11-26") -> tuple[float, str, str, str, str, str]:
    return (priority, account, "crisis", "meet", due, "director")


def _plan(demands, capacity, as_of, booked=(), chunks=1):
    """schedule.plan over (priority, account, playbook, step, due, role) tuples cut into
    `chunks` chunks, as the moved steps the chunks' finish would get."""
    owners = {(d[2], d[3]): d[5] for d in demands} | {(k[1], k[2]): role for k, _, role in booked}
    steps = schedule.CapacitySteps(owners, capacity)
    cols = [schedule.Demands() for _ in range(chunks)]
    for i, (priority, account, playbook, step, due, _role) in enumerate(demands):
        c = cols[i * chunks // max(1, len(demands))]
        c.add({"account_id": account, "priority": priority,
               "playbooks": [{"id": playbook, "steps": [{"id": step, "due": due}]}]}, steps)
    shifts = schedule.plan(cols, steps, as_of, booked)
    moved = {}
    for c, shift in zip(cols, shifts):
        moved |= schedule.moved_of(c, shift, steps, WEEKDAYS.next_working_day)
    return moved


def test_a_full_week_queues_the_lower_priorities_to_the_next_week_with_room():
    demands = [_demand(p, f"A{p}") for p in (5, 4, 3, 2, 1)]
    moved = _plan(demands, {"director": 2}, date(2026, 11, 23))
    assert set(moved) == {("A3", "crisis", "meet"), ("A2", "crisis", "meet"), ("A1", "crisis", "meet")}
    assert moved[("A3", "crisis", "meet")].due == "2026-12-03"  # the same weekday, a week later
    assert moved[("A1", "crisis", "meet")].due == "2026-12-10"
    assert moved[("A1", "crisis", "meet")].week == "2026-12-07"
    shuffled = demands[:]
    random.Random(7).shuffle(shuffled)  # input order never changes who waits
    assert _plan(shuffled, {"director": 2}, date(2026, 11, 23), chunks=3) == moved


def _walked(demands, capacity, as_of, booked):
    """The schedule by its definition: each step, in order, to the first week with room at or
    after its own, walking the weeks one by one (what schedule.plan computes with links)."""
    load = {}
    held = set()
    for key, due, role in booked:
        held.add(key)
        w = max(schedule.week_start(date.fromisoformat(due)), schedule.week_start(as_of))
        load[(role, w)] = load.get((role, w), 0) + 1
    out = {}
    for d in sorted((d for d in demands if (d[1], d[2], d[3]) not in held),
                    key=lambda d: (d[5], -d[0], d[4], d[1], d[2], d[3])):
        start = week = schedule.week_start(date.fromisoformat(d[4]))
        while load.get((d[5], week), 0) >= capacity[d[5]]:
            week += timedelta(days=7)
        load[(d[5], week)] = load.get((d[5], week), 0) + 1
        if week != start:
            out[(d[1], d[2], d[3])] = week.isoformat()
    return out


@pytest.mark.parametrize("seed", range(25))
def test_long_queues_land_where_walking_the_weeks_puts_them(seed):
    """Random demands, booked steps and capacities: every moved step is in the week a walk
    over the full weeks finds (the links of _Weeks skip them, they must not skip a free one)."""
    rnd = random.Random(seed)
    as_of = date(2026, 11, 23)
    capacity = {"director": rnd.randint(1, 4), "ceo": rnd.randint(1, 2)}
    roles = {("crisis", "meet"): "director", ("crisis", "fix"): "ceo", ("retain", "call"): "director",
             ("retain", "visit"): "ceo"}  # a step's role is the playbook's, as in a project
    n = rnd.randint(0, 300)
    demands = [(float(rnd.randint(0, 5)), f"A{k}", *pair, (as_of + timedelta(days=rnd.randint(0, 60))).isoformat(),
                roles[pair]) for k in range(n) for pair in rnd.sample(sorted(roles), rnd.randint(1, 2))]
    # the store's open steps: some of other accounts, some the same steps as this run's demands
    booked_keys = {(f"{rnd.choice('AB')}{rnd.randint(0, n + 20)}", *rnd.choice(sorted(roles)))
                   for _ in range(rnd.randint(0, 40))}
    booked = [(key, (as_of + timedelta(days=rnd.randint(-20, 40))).isoformat(), roles[key[1:]])
              for key in sorted(booked_keys)]
    moved = _plan(demands, capacity, as_of, booked, chunks=rnd.randint(1, 5))
    assert {k: m.week for k, m in moved.items()} == _walked(demands, capacity, as_of, booked)


def test_booked_steps_fill_their_weeks_first_and_keep_their_dates():
    booked = [(("OLD", "crisis", "meet"), "2026-11-20", "director")]  # overdue: this week's work
    moved = _plan([_demand(9, "NEW"), _demand(8, "OLD")], {"director": 1}, date(2026, 11, 23), booked)
    assert ("OLD", "crisis", "meet") not in moved
    assert moved[("NEW", "crisis", "meet")].week == "2026-11-30"


def test_no_role_has_more_steps_in_a_week_than_its_capacity_across_runs(tmp_path):
    weekly = shaped(tmp_path, **{"kam.yaml": "kind: project\nname: cap\ncapacity:\n  director: 2\n"})
    accounts = {f"A{i}": {**LATE, "revenue_current": 100 + i} for i in range(7)}
    first = weekly.run("2026-11-23", accounts)
    second = weekly.run("2026-11-30", {**accounts, **{f"B{i}": {**LATE, "revenue_current": 500 + i}
                                                      for i in range(3)}})
    for out in (first, second):
        per_week: dict[date, int] = {}
        for r in out.values():
            for s in steps(r).values():
                if s["owner"] == "director":
                    d = date.fromisoformat(s["due"])
                    week = d - timedelta(days=d.weekday())
                    per_week[week] = per_week.get(week, 0) + 1
        assert per_week and max(per_week.values()) <= 2
    # the highest priority keeps its date; the lowest waits, and says so
    meet = {a: steps(first[a])[("crisis", "meet")] for a in accounts}
    assert "queued" not in meet["A6"] and meet["A0"]["queued"]["from"] < meet["A0"]["due"]
    # a step the store holds keeps its date on the next run, even behind new higher priorities
    assert steps(second["A6"])[("crisis", "meet")]["due"] == meet["A6"]["due"]


# ---- the default project on the bundled sample ----------------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    import json

    from engine.project.load import default_project_dir
    from engine.render import write_documents
    from engine.run import evaluate_portfolio
    root = default_project_dir()
    project = load_project(root)
    out = tmp_path_factory.mktemp("sample") / "out"
    evaluate_portfolio(project, [root / "examples" / "accounts.csv"], out, date(2026, 11, 23),
                       write_documents=write_documents)
    results = [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8").splitlines()]
    return project, out, results


def test_every_account_with_a_plan_has_a_priority_and_key_accounts_outrank_small_ones(sample):
    _, _, results = sample
    assert all(isinstance(r["priority"], float) for r in results if r["playbooks"])
    high = [r for r in results if r["risk_level"] == "high" and r["status"] == "active"]
    key = [r["priority"] for r in high if r["key_account"]]
    small = [r["priority"] for r in high if r["abc"] == "C" and not r["key_account"]]
    assert key and small and min(key) > max(small)


def test_the_sample_plans_hold_what_the_issue_asks(sample):
    project, _, results = sample
    cal, capacity = project.calendar, project.capacity
    load: dict[tuple[str, date], int] = {}
    for r in results:
        for p in r["playbooks"]:
            for s in p["steps"]:
                due = date.fromisoformat(s["due"])
                assert cal.is_working(due), (r["account_id"], s["id"], s["due"])
                if s["owner"] in capacity:
                    week = (s["owner"], due - timedelta(days=due.weekday()))
                    load[week] = load.get(week, 0) + 1
        meetings = [s for p in r["playbooks"] for s in p["steps"]
                    if project.playbooks[p["id"]].steps and any(
                        m.id == s["id"] and m.action == "top_management_meeting"
                        for m in project.playbooks[p["id"]].steps)]
        assert len(meetings) <= 1, r["account_id"]
    assert capacity and load and all(n <= capacity[role] for (role, _), n in load.items())


def test_digests_list_accounts_in_priority_order(sample):
    _, out, results = sample
    import re
    for owner in {r["owner"] for r in results if r["playbooks"]}:
        priority = {f"../plans/{r['account_id']}.md": r["priority"] for r in results if r["owner"] == owner}
        digest = (out / "digests" / f"{owner.replace(' ', '_')}.md").read_text("utf-8")
        # each account's section ends with the link to its plan, in the digest's order
        links = re.findall(r"^\[open the plan\]\((\.\./plans/[^)]+)\)$", digest, re.M)
        assert len(links) == sum(1 for r in results if r["owner"] == owner and r["playbooks"])
        shown = [priority[link] for link in links]
        assert shown == sorted(shown, reverse=True)


def test_an_identical_rerun_shows_the_same_queued_steps(tmp_path):
    weekly = shaped(tmp_path, **{"kam.yaml": "kind: project\nname: cap\ncapacity:\n  director: 1\n"})
    accounts = {f"A{i}": {**LATE, "revenue_current": 100 + i} for i in range(3)}
    first = weekly.run("2026-11-23", accounts)
    again = weekly.run("2026-11-23", accounts)  # same rules, date and input: the recorded run replayed
    assert weekly.last.replayed
    assert any("queued" in s for r in first.values() for s in steps(r).values())
    assert again == first


def test_compiled_conditions_decide_as_the_reference_interpreter():
    """Step conditions and boosts are compiled once (engine.rules.planning.compile_condition); on
    random values and facts they give exactly engine.rules.interpreter.truth's True, False or None,
    for every condition of the default project and for every construct of the language."""
    from engine.project import expr
    from engine.project.load import default_project_dir
    from engine.rules.interpreter import Context, truth
    from engine.rules.planning import compile_condition

    project = load_project(default_project_dir())
    conditions = [r.when for r in project.rules]
    conditions += [s.when for pb in project.playbooks.values() for s in pb.steps if s.when is not None]
    conditions += [b.when for b in project.priority.boosts]
    conditions += [expr.parse(text) for text in (
        'not (nps >= 9) and segment in ["smb", "mid"]', 'status not in ["lost"] or missing(nps)',
        "count(category.*) == 0 and not class.key_account", "any(signal.low_nps, risk.high) or present(abc)",
        "count(signal.low_nps, category.financial) != 1", "not (strategic or revenue_share_pct > thresholds.nps_min)",
        "complaints_current > complaints_previous and not signal.complaints_rise")]
    facts = [k for kind in ("signal", "class", "risk", "playbook") for k in ((kind, i) for i in project.fact_ids(kind))]
    rng = random.Random(8)
    choices = {"nps": [None, 3, 7, 9, 10], "segment": [None, "smb", "mid", "enterprise"],
               "status": [None, "active", "lost"], "abc": [None, "A", "C"], "strategic": [None, True, False],
               "revenue_share_pct": [None, 0.5, 7.0, 12.5], "complaints_current": [None, 0, 2],
               "complaints_previous": [None, 0, 2], "kaism": [None, "key", "other"], "days_since_qbr": [None, 30, 120],
               "dependency": [None, "none", "mono"], "winback_value": [None, 5.0],
               "winback_total_cost": [None, 1.0, 9.0]}
    tests = [(c, compile_condition(project, c)) for c in conditions]
    for _ in range(400):
        values = {k: rng.choice(v) for k, v in choices.items()}
        held = {k for k in facts if rng.random() < 0.2}
        held |= {("category", project.signals[i].category) for kind, i in held if kind == "signal"}
        ctx = Context(project, values, held)
        for condition, test in tests:
            assert test(values, held) is truth(condition, ctx), expr.to_text(condition)


def test_the_plan_by_indices_is_what_shape_leaves():
    """Planner.plan (what the Evaluator caches) keeps and merges the same steps as shape()
    on copies of the step entries, for random playbooks, values and facts."""
    import datetime

    from engine.project.load import default_project_dir
    from engine.rules.evaluate import Evaluator
    from engine.rules.interpreter import Context
    from engine.rules.planning import Planner

    project = load_project(default_project_dir())
    ev = Evaluator(project, datetime.date(2026, 11, 23))
    planner = Planner(project)
    entries = ev._playbook_entries
    facts_pool = [k for kind in ("signal", "class", "risk") for k in ((kind, i) for i in project.fact_ids(kind))]
    rng = random.Random(3)
    for _ in range(500):
        pids = sorted(rng.sample(list(project.playbooks), rng.randint(1, len(project.playbooks))),
                      key=lambda i: (project.playbooks[i].priority, i))
        values = {"abc": rng.choice([None, "A", "C"]), "key_contacts": rng.choice([None, 1, 5]),
                  "lost_reason": rng.choice([None, "price_pressure"])}
        facts = frozenset(k for k in facts_pool if rng.random() < 0.3)
        playbooks = [{"id": pid, "steps": [dict(s) for s in entries[pid][2]]} for pid in pids]
        index = {id(s): i for pb in playbooks for i, s in enumerate(pb["steps"])}
        planner.shape(playbooks, Context(project, values, facts))
        expected = tuple(tuple((index[id(s)], s["due"], tuple((m["playbook"], m["step"], m["title"], m["owner"])
                                                               for m in s["merged"])) if "merged" in s
                               else index[id(s)] for s in pb["steps"]) for pb in playbooks)
        assert planner.plan([(pid, entries[pid][2]) for pid in pids], values, facts) == expected
    ev.close()
