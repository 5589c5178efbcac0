"""The types of engine/result.py follow the code: real results of the default project on the
sample data (examples/accounts.csv) have exactly the keys the TypedDicts declare, at every
depth: every required key, no key the types do not declare, and every optional key in some
result. Without a store a result has none of the store's fields; with one it has them all.
The same for the views templates get (engine/render/views/context.py), built from them.

The run with a store is two weekly runs of a copy of the default project with one rule given
`for_runs: 2` and one playbook `keep_open_runs: 1` (the default project has neither, so its
results would never show pending rules or a plan kept open), with a plan snoozed, a QBR plan
done (it cools down) and some accounts calm again (their plans resolve) between the runs.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import shutil
import types
from datetime import date
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from engine.plans.store import Store
from engine.plans.store.actions import mark_done, snooze
from engine.project.load import load_project
from engine.render import views
from engine.render.aggregate import Aggregates, account_facts
from engine.render.labels import load_labels
from engine.render.samples import sample_results
from engine.render.samples import without_store as samples_without_store
from engine.render.views.context import DigestView, PlanView, SummaryView
from engine.result import PlaybookEntry, Result, StepEntry
from engine.run import evaluate_portfolio

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "accounts.csv"
WEEK1, WEEK2 = date(2026, 11, 2), date(2026, 11, 9)
# the store's fields (engine/plans/store/overlay.py): in every result of a run with a store, in none without
STORE_KEYS = {Result: {"held_plans", "resolved_plans", "pending_rules"},
              PlaybookEntry: {"state", "plan_id", "opened", "kept_open", "overdue"},
              StepEntry: {"done", "overdue"}}


def _check(value: Any, tp: Any, path: str, seen: set[tuple[str, str]], problems: list[str]) -> None:
    """Compare `value` with the type `tp`: the keys of TypedDicts (recorded in `seen`), lists'
    items, and the plain types of leaves (an int may stand for a float)."""
    if tp is Any:
        return
    origin = get_origin(tp)
    if is_typeddict(tp):
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__}, not a dict ({tp.__name__})")
            return
        hints = get_type_hints(tp)
        for key in sorted(tp.__required_keys__ - value.keys()):
            problems.append(f"{path}: no '{key}' ({tp.__name__} requires it)")
        for key in sorted(value.keys() - hints.keys()):
            problems.append(f"{path}.{key}: not declared in {tp.__name__}")
        for key in value.keys() & hints.keys():
            seen.add((tp.__name__, key))
            _check(value[key], hints[key], f"{path}.{key}", seen, problems)
    elif origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return
        shaped = [a for a in args if is_typeddict(a) or get_origin(a) in (list, dict)]
        if shaped:
            _check(value, shaped[0], path, seen, problems)
        elif not any(_plain(value, a) for a in args):
            problems.append(f"{path}: {value!r} is none of {tp}")
    elif origin is list:
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: {type(value).__name__}, not a list")
            return
        for i, item in enumerate(value):
            _check(item, get_args(tp)[0], f"{path}[{i}]", seen, problems)
    elif origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{path}: {type(value).__name__}, not a dict")
    elif not _plain(value, tp):
        problems.append(f"{path}: {value!r} is not {tp.__name__}")


def _plain(value: Any, tp: Any) -> bool:
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _checked(results: list[dict[str, Any]], tp: Any = Result) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    problems: list[str] = []
    for i, r in enumerate(results):
        _check(r, tp, str(r.get("account_id", i)), seen, problems)
    assert problems[:20] == []
    return seen


def _declared(tp: Any, out: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every TypedDict reachable from `tp`, with its keys."""
    if is_typeddict(tp) and tp.__name__ not in out:
        hints = get_type_hints(tp)
        out[tp.__name__] = set(hints)
        for h in hints.values():
            _declared(h, out)
    for a in get_args(tp):
        _declared(a, out)
    return out


def _store_keys(results: list[dict[str, Any]]) -> set[str]:
    """The store's fields found anywhere in the results."""
    found = set()
    for r in results:
        found |= STORE_KEYS[Result] & r.keys()
        for p in r["playbooks"]:
            found |= STORE_KEYS[PlaybookEntry] & p.keys()
            for s in p["steps"]:
                found |= STORE_KEYS[StepEntry] & s.keys()
    return found


def _run(project_root: Path, inputs: Path, out: Path, as_of: date, store: Store | None) -> list[dict[str, Any]]:
    """The final results of a run, as the renderer gets them (not read back from JSON)."""
    got: list[dict[str, Any]] = []

    def capture(project, results, staging, lang, progress):  # noqa: ANN001 - the renderer's signature
        got.extend(results)

    evaluate_portfolio(load_project(project_root), [inputs], out, as_of, write_documents=capture, store=store)
    return got


@pytest.fixture(scope="module")
def without_store(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _run(ROOT, SAMPLE, tmp_path_factory.mktemp("no-store") / "out", WEEK1, None)


def _project(root: Path) -> Path:
    root.mkdir()
    for part in ("kam.yaml", "rules", "playbooks", "templates"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / part)
    signals = root / "rules" / "signals.yaml"
    text = signals.read_text("utf-8")
    assert "    then: {signal: payment_delay}\n" in text
    signals.write_text(text.replace("    then: {signal: payment_delay}\n",
                                    "    for_runs: 2\n    then: {signal: payment_delay}\n"), "utf-8")
    playbook = root / "playbooks" / "emotional_response.yaml"
    text = playbook.read_text("utf-8")
    assert "\npriority: " in text
    playbook.write_text(text.replace("\npriority: ", "\nkeep_open_runs: 1\npriority: ", 1), "utf-8")
    return root


def _calm(sample: Path, target: Path, ids: set[str]) -> Path:
    """The sample with the accounts `ids` healthy (examples/weekly/build_history.py's calm values)."""
    spec = importlib.util.spec_from_file_location("build_history", ROOT / "examples" / "weekly" / "build_history.py")
    assert spec is not None and spec.loader is not None
    history = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(history)
    rows = list(csv.DictReader(io.StringIO(sample.read_text("utf-8"))))
    for row in rows:
        if row["account_id"] in ids:
            row.update({k: v for k, v in history.CALM.items() if k in row})
            row.update({k: row[v] for k, v in history.SAME_AS_BEFORE.items() if k in row and v in row})
    with target.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return target


@pytest.fixture(scope="module")
def store_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("store-project") / "project")


@pytest.fixture(scope="module")
def with_store(tmp_path_factory: pytest.TempPathFactory, store_project: Path
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("store")
    root = store_project
    path = tmp / "state.sqlite"
    with Store.open(path) as store:
        first = _run(root, SAMPLE, tmp / "out1", WEEK1, store)
    with_plans = [r for r in first if r["playbooks"] and r.get("status") != "lost"]
    qbr = next(p for r in first for p in r["playbooks"] if p["id"] == "qbr")
    snoozed = next(p for r in with_plans for p in r["playbooks"] if p["id"] != "qbr")
    calm = {r["account_id"] for r in with_plans[-20:]}
    with Store.open(path) as store:
        snooze(store, snoozed["plan_id"], date(2026, 12, 1), "the client's director is away", WEEK1, by="Olga")
        mark_done(store, qbr["plan_id"], None, WEEK1)
    with Store.open(path) as store:
        second = _run(root, _calm(SAMPLE, tmp / "calm.csv", calm), tmp / "out2", WEEK2, store)
    return first, second


def test_a_result_without_a_store_has_exactly_the_declared_keys(without_store):
    assert len(without_store) > 150
    _checked(without_store)
    assert _store_keys(without_store) == set()


def test_a_result_with_a_store_has_exactly_the_declared_keys(with_store):
    first, second = with_store
    for results in (first, second):
        _checked(results)
        # every result has the store's fields, every playbook entry and step too
        for r in results:
            assert STORE_KEYS[Result] <= r.keys()
            for p in r["playbooks"]:
                assert STORE_KEYS[PlaybookEntry] <= p.keys(), (r["account_id"], p["id"])
                for s in p["steps"]:
                    assert STORE_KEYS[StepEntry] <= s.keys(), (r["account_id"], p["id"], s["id"])


def test_every_declared_key_occurs_in_some_result(without_store, with_store):
    """No key declared that the code never writes: the runs above give every one of them
    (a merged and a queued step, a recurring one, a lost client, a snoozed plan with its
    reason, one cooling down, resolved plans, a plan kept open, pending rules)."""
    first, second = with_store
    seen = _checked(without_store) | _checked(first) | _checked(second)
    declared = {(name, key) for name, keys in _declared(Result, {}).items() for key in keys}
    assert sorted(declared - seen) == []
    held = [h for r in second for h in r["held_plans"]]
    assert {h["state"] for h in held} == {"snoozed", "cooldown"}
    assert any(p.get("kept_open") for r in second for p in r["playbooks"])


def test_the_sample_results_have_the_declared_keys():
    """engine/render/samples.py: the made-up results `kam validate` renders every template with."""
    samples = sample_results(load_project(ROOT), "en")
    _checked(samples)
    assert _store_keys(samples) == STORE_KEYS[Result] | STORE_KEYS[PlaybookEntry] | STORE_KEYS[StepEntry]
    _checked(samples_without_store(samples))
    assert _store_keys(samples_without_store(samples)) == set()


def _views(root: Path, results: list[dict[str, Any]]) -> tuple[list[Any], list[Any], list[Any]]:
    """(plan views, digest views, summary views) of a run's results, as the documents get them:
    from views.plan / views.digest / views.summary, and the digests and summary from Aggregates."""
    project = load_project(root)
    w = views.Words(project, "en", load_labels(project.root)[0].get("en"))
    files = {r["account_id"]: r["account_id"] for r in results if r["playbooks"]}
    tracked = views.states.tracked(results)
    owners: dict[str, list[Any]] = {}
    closed: dict[str, list[Any]] = {}
    for r in results:
        if r["playbooks"]:
            owners.setdefault(r["owner"], []).append(r)
        if r.get("resolved_plans"):
            closed.setdefault(r["owner"], []).append(r)
    agg = Aggregates(project, "en", w)
    for r in results:
        agg.add(account_facts(w, r, files.get(r["account_id"], "")))
    digests = [views.digest(w, o, owners.get(o, []), files, 1, closed.get(o, []), tracked)
               for o in sorted(owners.keys() | closed.keys())]
    return ([views.plan(w, r) for r in results if r["playbooks"]],
            digests + [agg.digest(o) for o in agg.digest_owners()],
            [views.summary(w, results, {}, files), agg.summary({})])


def test_the_views_templates_get_have_exactly_the_declared_keys(without_store, with_store, store_project):
    """Every field of engine/render/views/context.py is in every view, and nothing else, at
    every depth; every declared field (a nested view's too: negotiation, win-back, workload)
    occurs in the views of the sample."""
    seen: set[tuple[str, str]] = set()
    for root, results in ((ROOT, without_store), (store_project, with_store[1])):
        plans, digests, summaries = _views(root, results)
        assert plans and digests and summaries
        seen |= _checked(plans, PlanView) | _checked(digests, DigestView) | _checked(summaries, SummaryView)
    declared = {(name, key) for tp in (PlanView, DigestView, SummaryView)
                for name, keys in _declared(tp, {}).items() for key in keys}
    assert sorted(declared - seen) == []
