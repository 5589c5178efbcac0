"""Digests, the run summary and the portfolio report from aggregates (engine/render/aggregate.py)
are the views built from the list of every result (views.digest, views.summary and the
report's accounts_view: its figures from the list, report/data.py), value for value, for the
sample portfolio with and without a store; whatever the chunks the facts come in; and above
a cap a list stops at its most urgent entries and says how many more.
"""
from __future__ import annotations

import copy
import csv
import math
import pickle
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.io.writers import safe_name
from engine.plans.store import Store
from engine.project.load import load_project
from engine.project.model import NO_RISK
from engine.render import environment, views
from engine.render.aggregate import Aggregates, Bars, Facts, _Sum, account_facts
from engine.render.labels import load_labels, say
from engine.render.limits import load, render
from engine.render.report import charts
from engine.render.report.data import Account, accounts, pareto
from engine.render.report.page import TEMPLATE
from engine.render.report.view import accounts_view
from engine.render.samples import sample_results, without_store
from engine.render.views import states
from engine.run import evaluate_portfolio
from engine.run.portfolio import abc_classes, dependency_of, quadrant_of

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = ROOT / "examples" / "accounts.csv"
FIRST, LATER = date(2026, 11, 23), date(2026, 12, 14)


@pytest.fixture(scope="module")
def project():
    return load_project(ROOT)


def _evaluate(project, tmp: Path, name: str, csv_path: Path, as_of: date, lang: str,
              store: Store | None = None) -> list[dict[str, Any]]:
    """A run's final results, as the documents get them."""
    got: list[dict[str, Any]] = []

    def capture(project, results, staging, lang, progress):  # noqa: ANN001 - the renderer's signature
        got.extend(copy.deepcopy(results))

    evaluate_portfolio(project, [csv_path], tmp / name, as_of, lang, write_documents=capture, store=store)
    return got


def _a_week_later(first: list[dict[str, Any]], out: Path) -> Path:
    """The sample accounts three weeks on: every third account with a plan recovers (its plans
    close), every third medium-risk one gets worse (its plans escalate), the rest stay (their
    first steps fall overdue)."""
    with ACCOUNTS.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by_id = {r["account_id"]: r for r in first}
    healthy = next(row for row in rows if not by_id[row["account_id"]]["playbooks"]
                   and row["status"] == "active")
    # the worst: signals in the most categories (the risk level counts those), then the most signals
    worst = max((row for row in rows if row["status"] == "active"),
                key=lambda row: (len({s["category"] for s in by_id[row["account_id"]]["signals"]}),
                                 len(by_id[row["account_id"]]["signals"]), row["account_id"]))
    keep = ("account_id", "name", "owner", "segment", "revenue_current", "revenue_previous")
    for i, row in enumerate(rows):
        result = by_id[row["account_id"]]
        if result["playbooks"] and i % 3 == 0:
            row.update({k: v for k, v in healthy.items() if k not in keep})
        elif result["risk_level"] == "medium" and i % 3 == 1:
            row.update({k: v for k, v in worst.items() if k not in keep})
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


@pytest.fixture(scope="module")
def portfolios(project, tmp_path_factory) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """name -> (language, results): the sample portfolio without a store; with a fresh store
    (every plan new) and three weeks later on it (plans ongoing, escalated, overdue and closed,
    in Russian); and the made-up results `kam validate` renders, with and without plan states."""
    tmp = tmp_path_factory.mktemp("aggregates")
    out = {"no store": ("en", _evaluate(project, tmp, "plain", ACCOUNTS, FIRST, "en"))}
    with Store.open(tmp / "state.sqlite") as store:
        first = _evaluate(project, tmp, "first", ACCOUNTS, FIRST, "ru", store)
    later = _a_week_later(first, tmp / "later.csv")
    with Store.open(tmp / "state.sqlite") as store:
        out["store, first run"] = ("ru", first)
        out["store, three weeks later"] = ("ru", _evaluate(project, tmp, "later", later, LATER, "ru", store))
    samples = sample_results(project, "en")
    out["samples"] = ("en", samples)
    out["samples without store"] = ("en", without_store(samples))
    return out


def _words(project, lang: str) -> views.Words:
    return views.Words(project, lang, load_labels(project.root)[0].get(lang))


def _plan_files(results) -> dict[str, str]:
    """Plan file stems as _render_all names them."""
    files: dict[str, str] = {}
    taken: set[str] = set()
    for r in results:
        if r["playbooks"]:
            files[r["account_id"]] = safe_name(r["account_id"], taken)
    return files


def _old_views(project, words: views.Words, results) -> tuple[dict, dict, dict, dict]:
    """(digests, digest files, summary, report) as _render_all and write_report build them."""
    unassigned = words.labels["unassigned"]
    owners: dict[str, list] = {}
    closed: dict[str, list] = {}
    quiet: dict[str, int] = {}
    for r in results:
        owner = r.get("owner") or unassigned
        if r["playbooks"]:
            owners.setdefault(owner, []).append(r)
        else:
            quiet[owner] = quiet.get(owner, 0) + 1
        if r.get("resolved_plans"):
            closed.setdefault(owner, []).append(r)
    plan_files = _plan_files(results)
    tracked = states.tracked(results)
    digests, files, taken = {}, {}, set()
    for owner in sorted(owners.keys() | closed.keys()):
        files[owner] = safe_name(owner, taken)
        digests[owner] = views.digest(words, owner, owners.get(owner, []), plan_files, quiet.get(owner, 0),
                                      closed.get(owner, []), tracked)
    summary = views.summary(words, results, files, plan_files)
    report = accounts_view(project, accounts(results), words.lang, words.labels,
                      str(results[0].get("as_of", "")) if results else "")
    return digests, files, summary, report


def _aggregated(project, words: views.Words, results, chunks: int = 1, **caps: int) -> Aggregates:
    """Facts computed chunk by chunk (and sent as a worker sends them: pickled), added in order."""
    plan_files = _plan_files(results)
    agg = Aggregates(project, words.lang, words, **caps)
    size = max(1, math.ceil(len(results) / chunks))
    for start in range(0, len(results), size):
        facts = [account_facts(words, r, plan_files.get(r["account_id"], "")) for r in results[start:start + size]]
        for f in pickle.loads(pickle.dumps(facts)):
            agg.add(f)
    return agg


NAMES = ["no store", "store, first run", "store, three weeks later", "samples", "samples without store"]


@pytest.mark.parametrize("name", NAMES)
def test_aggregates_give_the_views_of_the_list(project, portfolios, name):
    lang, results = portfolios[name]
    words = _words(project, lang)
    digests, files, summary, report = _old_views(project, words, results)
    agg = _aggregated(project, words, results)
    assert agg.digest_owners() == list(digests)
    assert agg.digests() == digests
    assert agg.summary(files) == summary
    assert agg.report() == report


@pytest.mark.parametrize("name", NAMES)
def test_facts_made_from_the_plans_view_are_the_same(project, portfolios, name):
    """A worker makes an account's facts as it renders the plan, from the plan's view (its step
    rows made once): the same facts as from the result alone."""
    lang, results = portfolios[name]
    words = _words(project, lang)
    plan_files = _plan_files(results)
    with_plan = 0
    for r in results:
        stem = plan_files.get(r["account_id"], "")
        view = views.plan(words, r) if stem else None
        with_plan += view is not None
        assert account_facts(words, r, stem, view) == account_facts(words, r, stem), r["account_id"]
    assert with_plan


@pytest.mark.parametrize("lag", [0, 3])
@pytest.mark.parametrize("name", ["no store", "store, first run", "store, three weeks later"])
def test_bars_leave_out_only_what_the_lists_would_drop(project, portfolios, name, lag):
    """A worker given the capped lists' bars, as they stood `lag` chunks before its own chunk
    (chunks in flight), builds no entry or attention row the lists would drop, and the
    digests, the summary and the report are the same as without bars."""
    lang, results = portfolios[name]
    words = _words(project, lang)
    plan_files = _plan_files(results)
    caps = {"max_accounts": 2, "max_attention": 2, "max_closed": 2, "max_lost": 1, "max_warnings": 1}
    plain = _aggregated(project, words, results, 9, **caps)
    barred = Aggregates(project, lang, words, **caps)
    size = max(1, math.ceil(len(results) / 9))
    chunks = [results[i:i + size] for i in range(0, len(results), size)]
    snapshots = []
    left_out = 0
    for k, chunk in enumerate(chunks):
        snapshots.append(barred.bars(r.get("owner") for r in chunk))
        bars = snapshots[max(0, k - lag)]
        facts = [account_facts(words, r, plan_files.get(r["account_id"], ""), bars=bars) for r in chunk]
        left_out += sum((f.with_plan and f.entry is None) + len(f.skipped_attention) for f in facts)
        for f in pickle.loads(pickle.dumps(facts)):
            barred.add(f)
    assert left_out > 0
    assert barred.digest_owners() == plain.digest_owners()
    assert barred.digests() == plain.digests()
    assert barred.summary(plan_files) == plain.summary(plan_files)
    assert barred.report() == plain.report()


def test_a_bar_that_would_drop_a_kept_entry_is_caught(project, portfolios):
    """The main process checks what a worker left out against its own lists: an entry left
    out that the list keeps is an error, not a digest short of an account."""
    lang, results = portfolios["store, first run"]
    words = _words(project, lang)
    agg = Aggregates(project, lang, words, max_accounts=2)
    with_plan = [r for r in results if r["playbooks"]]
    for r in with_plan[:3]:
        agg.add(account_facts(words, r))
    assert agg.bars([r.get("owner") for r in with_plan]).owners == {}  # no owner's list is full yet
    wrong = (float("-inf"),)  # a bar below every urgency key: the worker leaves the entry out
    facts = account_facts(words, with_plan[3], bars=Bars({with_plan[3].get("owner") or words.labels["unassigned"]:
                                                              (wrong, None, None)}))
    assert facts.entry is None
    with pytest.raises(AssertionError, match="left out"):
        agg.add(facts)


def test_the_portfolios_show_what_the_documents_can_show(portfolios):
    """The runs above exercise attention, closed plans, this week's steps, lost clients."""
    _, later = portfolios["store, three weeks later"]
    states_seen = {p.get("state") for r in later for p in r["playbooks"]}
    assert {"new", "ongoing", "escalated"} <= states_seen
    assert any(r.get("resolved_plans") for r in later)
    assert any(p.get("overdue") for r in later for p in r["playbooks"])
    assert any(r.get("resolved_plans") and not r["playbooks"] for r in later)
    assert any(r.get("winback") for r in later)


@pytest.mark.parametrize("chunks", [3, 7])
@pytest.mark.parametrize("name", ["no store", "store, three weeks later"])
def test_chunks_do_not_change_the_views(project, portfolios, name, chunks):
    lang, results = portfolios[name]
    words = _words(project, lang)
    caps = {"max_accounts": 3, "max_attention": 2, "max_closed": 2, "max_lost": 1, "max_warnings": 1}
    for kw in ({}, caps):
        one, many = _aggregated(project, words, results, 1, **kw), _aggregated(project, words, results, chunks, **kw)
        assert many.digests() == one.digests()
        assert many.summary({}) == one.summary({})
        assert many.report() == one.report()


def test_caps_keep_the_most_urgent_and_say_how_many_more(project, portfolios, tmp_path):
    lang, results = portfolios["store, three weeks later"]
    words = _words(project, lang)
    digests, files, summary, _ = _old_views(project, words, results)
    agg = _aggregated(project, words, results, 3, max_accounts=2, max_attention=1, max_closed=1, max_lost=1)
    L = words.labels

    def more(key: str, listed: list, cap: int) -> str:
        return say(L, key, count=len(listed) - cap) if len(listed) > cap else ""  # a number: its plural form

    capped = agg.digests()
    for owner, old in digests.items():
        new = capped[owner]
        assert new["accounts"] == old["accounts"][:2]
        assert new["attention"] == old["attention"][:1]
        assert new["closed"] == old["closed"][:1]
        assert new["more_accounts"] == more("more_accounts", old["accounts"], 2)
        assert new["more_attention"] == more("more_attention", old["attention"], 1)
        assert new["more_closed"] == more("more_closed", old["closed"], 1)
        rest = {k for k in old if not k.startswith("more_")} - {"accounts", "attention", "closed"}
        assert {k: new[k] for k in rest} == {k: old[k] for k in rest}
    new_summary = agg.summary(files)
    assert new_summary["lost"] == summary["lost"][:1]
    assert new_summary["more_lost"] == more("more_lost", summary["lost"], 1)
    assert {k: v for k, v in new_summary.items() if k not in ("lost", "more_lost")} == \
        {k: v for k, v in summary.items() if k not in ("lost", "more_lost")}
    # the sample portfolio reaches every cap: a manager has 3+ accounts with plans, ...
    owner = max(digests, key=lambda o: len(digests[o]["accounts"]))
    assert len(digests[owner]["accounts"]) > 2 and capped[owner]["more_accounts"].startswith("…и ещё")
    assert any(capped[o]["more_attention"] for o in capped) and any(capped[o]["more_closed"] for o in capped)
    assert new_summary["more_lost"]

    # the documents: the line after the list, the accounts numbered as before
    env = environment(project)
    base = {"project": {"name": project.name, "currency": project.currency}, "lang": lang, "labels": L}
    n_more = len(digests[owner]["accounts"]) - 2
    md = render(load(env, "digest.md.j2"), {**base, "ext": "md", "digest": capped[owner]})
    html = render(load(env, "digest.html.j2"), {**base, "ext": "html", "digest": capped[owner]})
    line = say(L, "more_accounts", count=n_more)
    assert f"\n{line}\n" in md and md.index("## 2. ") < md.index(line) and "## 3. " not in md
    assert f'<p class="meta">{line}</p>' in html and html.index("<h2>2. ") < html.index(line)
    text = render(load(env, "summary.md.j2"), {**base, "ext": "md", "summary": new_summary})
    assert f"\n\n{new_summary['more_lost']}\n" in text
    assert text.count("](plans/") == len(new_summary["top_accounts"]) + 1


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_below_the_caps_the_documents_are_the_same_bytes(project, portfolios, lang):
    """The templates' new lines print nothing when nothing is left off."""
    _, results = portfolios["store, three weeks later"] if lang == "ru" else portfolios["no store"]
    words = _words(project, lang)
    digests, files, summary, report = _old_views(project, words, results)
    agg = _aggregated(project, words, results, 3)
    env = environment(project)
    base = {"project": {"name": project.name, "currency": project.currency}, "lang": lang, "labels": words.labels}
    for fmt in ("md", "html"):
        for owner, old in digests.items():
            template = load(env, f"digest.{fmt}.j2")
            assert render(template, {**base, "ext": fmt, "digest": agg.digest(owner)}) == \
                render(template, {**base, "ext": fmt, "digest": old})
        template = load(env, f"summary.{fmt}.j2")
        assert render(template, {**base, "ext": fmt, "summary": agg.summary(files)}) == \
            render(template, {**base, "ext": fmt, "summary": summary})
    template = load(env, TEMPLATE)
    assert render(template, {**base, "report": agg.report()}) == render(template, {**base, "report": report})


# ---- the report over many accounts: ties, the Pareto curve's steps, the KAISM sample --------

def _made_up_accounts(n: int, seed: int, spread: float) -> list[Account]:
    """Accounts whose revenues, shares and scores repeat (ties everywhere: with no `spread`,
    runs of equal revenues cross the ABC boundaries), classified by the portfolio pass's
    own functions."""
    rnd = random.Random(seed)
    revenue = [rnd.choice([0.0, 1000.0, 2500.5, 10_000.0, 33_333.33]) if rnd.random() >= spread
               else round(rnd.lognormvariate(12, 2), 2) for _ in range(n)]
    ids = [f"A-{rnd.randrange(10 * n):07d}-{i}" for i in range(n)]
    abc = abc_classes(revenue, 80, 95, ids)
    rows = []
    for i in range(n):
        share = rnd.choice([None, 0.5, 25.0, 60.0, round(rnd.uniform(0, 70), 6)])
        value = rnd.choice([None, 5.0, round(rnd.uniform(1, 10), 6)])
        attractiveness = rnd.choice([None, 5.0, round(rnd.uniform(1, 10), 6)])
        rows.append(Account(
            ids[i], f"Client {i}", rnd.choice(["Anna", "Ivan", None, ""]), rnd.choice(["active", "lost", None]),
            rnd.choice([NO_RISK, "medium", "high"]),
            frozenset(rnd.sample(["financial", "operational", "emotional", "elsewhere"], rnd.randint(0, 2))),
            rnd.random() < 0.2, dependency_of(share, 20, 50), abc[i], quadrant_of(value, attractiveness, 5, 5),
            rnd.choice([None, 6.5]), revenue[i], share, value, attractiveness, rnd.choice([None, 3, 7, 9, 10]),
            rnd.choice([None, 30, 200]), rnd.choice([None, 0.0, 5000.25, round(rnd.lognormvariate(12, 2), 2)])))
    return rows


def _facts_of(a: Account) -> Facts:
    return Facts(a.owner or "x", "2026-11-23", a.risk, False, (0.0, 0, 0.0, a.id), 0, 0.0, (), (),
                 False, False, None, (), None, (), (), (), None, None, a)


@pytest.mark.parametrize("seed, spread", [(1, 0.0), (2, 0.4)])
def test_the_report_over_many_accounts(project, seed, spread):
    """12,000 accounts: the Pareto curve drawn every 15th point, the KAISM matrix's 5,000
    largest, more than 300 dependency warnings and 100 key accounts, equal revenues across
    ABC boundaries; in 5 chunks. The curve's points and the key accounts' revenue are the
    same floats, not only once rounded for the page."""
    rows = _made_up_accounts(12_000, seed, spread)
    words = _words(project, "en")
    old = accounts_view(project, rows, "en", words.labels, "2026-11-23")
    assert old["more_warnings"] and old["more_keys"] and old["not_drawn"]
    agg = Aggregates(project, "en", words)
    for start in range(0, len(rows), 2400):
        for f in pickle.loads(pickle.dumps([_facts_of(a) for a in rows[start:start + 2400]])):
            agg.add(f)
    assert agg.report("2026-11-23") == old
    points, spans, key_revenue = agg._pareto()
    assert list(points) == pareto(rows)
    assert spans == charts.class_spans(pareto(rows))
    assert key_revenue == sum(a.revenue for a in sorted((a for a in rows if a.key), key=lambda a: (-a.revenue, a.id)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False), st.floats(-1e9, 1e9), st.integers(-10**6, 10**6),
                          st.sampled_from([0, 0.0, -0.0, 1e16, -1e16, 0.1, 2**53 + 1])), max_size=40))
def test_sums_add_like_sum(values):
    """_Sum is builtin sum() on this Python (compensated from 3.12), value by value."""
    s = _Sum()
    for v in values:
        s.add(v)
    expected = sum(values)
    got = s.result()
    assert type(got) is type(expected)
    assert got == expected or (math.isnan(got) and math.isnan(expected))
    if isinstance(got, float) and got == 0:
        assert math.copysign(1, got) == math.copysign(1, expected)


def test_manager_kpis_of_source_003():
    """Active clients, share of repeat orders, deals per client and churn, per manager and for
    all (issue 14): whole-number sums, so chunking cannot move them."""
    from engine.render.report.data import Account, kpi_rows, manager_kpis

    def acc(owner, status, orders, repeat, deals):
        return Account("x", "x", owner, status, "none", frozenset(), False, "none", None, None, None, 0.0,
                       None, None, None, None, None, None, orders, repeat, deals)

    rows = [acc("Анна", "active", 10, 7, 4), acc("Анна", "active", 10, 3, 2), acc("Анна", "lost", 0, 0, 0),
            acc(None, "active", None, None, None), acc("Иван", "active", 0, 0, None)]
    by = manager_kpis(rows, "Без ответственного")
    labels = {"kpi_all": "Все"}
    out = kpi_rows(by, labels, lambda v, d: f"{v:.{d}f}")
    assert [(r["owner"], r["active"], r["repeat_share"], r["deals_per_client"], r["churn"]) for r in out] == [
        ("Анна", 2, "50", "3.0", "33.3"),  # 10 of 20 orders repeat; 6 deals over 2 active clients; 1 of 3 lost
        ("Без ответственного", 1, "—", "—", "0.0"),
        ("Иван", 1, "—", "—", "0.0"),  # no orders: no share
        ("Все", 4, "50", "3.0", "20.0"),
    ]


@pytest.mark.parametrize("name", ["ООО «Южный Агрокомплекс»", "M" * 30, "i" * 40])
def test_a_chart_label_is_cut_to_its_width_not_a_character_count(name):
    from engine.render.report import svg
    cut = svg.fit(name, 164)
    assert sum(map(svg._em, cut)) <= 164 / 12.5
    assert cut.endswith("…") and name.startswith(cut[:-1].rstrip())
    assert svg.fit("ООО «Юг»", 164) == "ООО «Юг»"  # a name that fits stays whole
    # wide capitals are cut sooner than narrow letters
    assert len(svg.fit("M" * 40, 164)) < len(svg.fit("i" * 40, 164))


def test_the_plans_step_line_names_the_first_step_still_to_do(project, portfolios):
    """A step done last week heads the plan's table; "N steps; the first is due …" names the
    first one still to do."""
    lang, results = portfolios["store, three weeks later"]
    words = _words(project, lang)
    r = copy.deepcopy(next(r for r in results if len(r["playbooks"]) > 1))
    step = r["playbooks"][0]["steps"][0]
    step["due"], step["done"] = "2026-11-02", True  # done three weeks ago, before every other step
    view = views.plan(words, r)
    rows = view["next_steps"]
    assert rows[0]["done"] and rows[0]["due"] == words.date("2026-11-02")
    to_do = next(row for row in rows if not row["done"])
    assert view["steps_line"].endswith(f"{to_do['due']}."), view["steps_line"]
