"""The pre-filter is sound: on random portfolios, results with it equal results without it."""
from __future__ import annotations

import datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.project.load import load_project
from engine.rules.evaluate import Evaluator
from engine.rules.prefilter import (
    Unsure,
    atoms,
    compile_atom,
    compile_key,
    compile_patterns,
    compile_test,
    informative,
    with_constants,
)
from engine.run.portfolio import measure

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT)
EVALUATOR = Evaluator(PROJECT, datetime.date(2026, 11, 23))


def _value(m):
    if m.type == "boolean":
        return st.booleans()
    if m.type == "text":
        return st.sampled_from(list(m.values) or ["enterprise", "smb"])
    lo = m.min if m.min is not None else -50
    hi = min(m.max if m.max is not None else 150, 150)
    return st.integers(min_value=int(max(lo, -50)), max_value=int(hi))


ACCOUNT = st.fixed_dictionaries({}, optional={m.id: _value(m) for m in PROJECT.metrics.values()
                                              if not m.derived and m.id != "account_id"})


@settings(max_examples=60, deadline=None)
@given(st.lists(ACCOUNT, min_size=1, max_size=12))
def test_prefilter_gives_identical_results(portfolio):
    accounts = [dict(a, account_id=f"a{i}") for i, a in enumerate(portfolio)]
    measure(PROJECT, accounts)
    for values in accounts:
        filtered = EVALUATOR.evaluate(dict(values))
        full = EVALUATOR.evaluate(dict(values), prefilter=False)
        assert filtered == full


def test_prefilter_skips_the_engine_for_healthy_accounts():
    ev = Evaluator(PROJECT, datetime.date(2026, 11, 23))
    healthy = {"account_id": "h", "status": "active", "nps": 9, "key_contacts": 5, "strategic": False}
    sick = {"account_id": "s", "status": "active", "nps": 3}
    for _ in range(5):
        ev.evaluate(dict(healthy))
    assert ev.engine_runs == 1  # computed once, then reused
    assert ev.evaluate(dict(sick))["risk_level"] == "medium"
    assert ev.engine_runs == 2
    ev.close()


def _narrow(m):
    """Few distinct values near the thresholds: many accounts share the truth of every test
    while their values differ - what the outcome memo keys on."""
    if m.type == "boolean":
        return st.booleans()
    if m.type == "text":
        return st.sampled_from(list(m.values) or ["enterprise", "smb"])
    return st.sampled_from([0, 1, 2, 3, 5, 7, 10, 15, 16, 25, 40])


NARROW = st.fixed_dictionaries({}, optional={m.id: _narrow(m) for m in PROJECT.metrics.values()
                                             if not m.derived and m.id != "account_id"})


INPUTS = [m for m in PROJECT.metrics.values() if not m.derived and m.id != "account_id"]


@settings(max_examples=60, deadline=None)
@given(base=NARROW, changes=st.lists(st.tuples(st.sampled_from(INPUTS), st.data()), min_size=1, max_size=12),
       data=st.data())
def test_outcomes_reused_by_the_truth_of_every_test_equal_the_engine_run(base, changes, data):
    """Accounts on which every atomic account test comes out the same share one engine run.
    Variants of one account that differ in a single value - the same truth everywhere
    else - must each still get the result of their own engine run."""
    ev = Evaluator(PROJECT, datetime.date(2026, 11, 23))
    accounts = [dict(base, account_id="base")]
    for i, (metric, _) in enumerate(changes):
        value = data.draw(st.one_of(st.none(), _narrow(metric)))
        variant = {k: v for k, v in base.items() if k != metric}
        if value is not None:
            variant[metric.id] = value
        accounts.append(dict(variant, account_id=f"v{i}"))
    accounts = accounts * 2  # the second time round, every outcome is known
    for values in accounts:
        alone = [dict(values)]
        measure(PROJECT, alone)  # each account's own pass: variants differ only where changed
        assert ev.evaluate(dict(alone[0])) == EVALUATOR.evaluate(dict(alone[0]), prefilter=False)
    assert ev.engine_runs <= len(accounts) // 2 + 1
    ev.close()


def _atoms_and_key():
    tests = atoms([r.account_test for r in EVALUATOR.compiled.rules.values() if r.account_test is not None])
    tests = [with_constants(t, EVALUATOR._constants(None)) for t in tests]
    tests += [{"$nex": {"nps": 1}}, {"$lt": {"nps": {"$m": "key_contacts"}}}, {"status": "lost"}]
    return [compile_atom(t) for t in tests], compile_key(tests), compile_key(tests, missing=tuple(EVALUATOR.inputs))


SINGLES, KEY, KEY_AND_MISSING = _atoms_and_key()


@settings(max_examples=200, deadline=None)
@given(st.one_of(NARROW, ACCOUNT), st.sampled_from([None, "text", 1.5]))
def test_the_generated_key_is_the_truth_of_every_atom(values, odd):
    """compile_key (one generated function) gives the tuple compile_atom's closures give, and
    is unsure where they are (a text where a number is compared)."""
    values = dict(values)
    EVALUATOR.deriver.apply(values)
    if odd is not None:
        values["nps"] = odd
    try:
        expected = tuple(a(values) for a in SINGLES)
    except Unsure:
        expected = Unsure
    try:
        got = KEY(values)
    except Unsure:
        got = Unsure
    assert got == expected
    if expected is not Unsure:  # the inputs without a value come with it
        assert KEY_AND_MISSING(values) == (expected, [m for m in EVALUATOR.inputs if values.get(m) is None])


def test_a_test_unsure_by_its_shape_means_no_key():
    assert compile_key([{"$ex": {"nps": 1}}, {"$gt": {"nps": {"$m": "_thr_nps_min"}}}]) is None
    assert compile_key([{"$ex": {"nps": 1}}])({"nps": 3}) == (True,)


PATTERNS = [r.account_test for r in EVALUATOR.compiled.rules.values() if r.account_test is not None]


@settings(max_examples=200, deadline=None)
@given(st.one_of(NARROW, ACCOUNT))
def test_which_account_patterns_match_is_decided_as_the_filter_reads_them(values):
    """compile_patterns says a pattern matches exactly where the pre-filter's predicate for
    it does (which, unguarded by doubt, is durable-rules' reading), and leaves none
    undecided: every test of a missing value is behind an existence guard."""
    values = dict(values)
    EVALUATOR.deriver.apply(values)
    constants = EVALUATOR._constants(values.get("segment"))
    tests = [with_constants(t, constants) for t in PATTERNS]
    matched = compile_patterns(tests)(values)
    assert None not in matched
    assert list(matched) == [compile_test(t)(values) for t in tests]


ALL_ATOMS = atoms([r.account_test for r in EVALUATOR.compiled.rules.values() if r.account_test is not None])
FULL_KEY = compile_key([with_constants(t, EVALUATOR._constants(None)) for t in ALL_ATOMS])
SHORT_KEY = compile_key([with_constants(t, EVALUATOR._constants(None)) for t in informative(ALL_ATOMS)])


@settings(max_examples=300, deadline=None)
@given(NARROW, st.sampled_from(INPUTS), st.data())
def test_the_presence_tests_left_out_of_the_key_change_no_grouping(a, metric, data):
    """Accounts share the shorter key exactly when they share the key of every atomic test
    (an account and a variant of it with one value changed or removed)."""
    value = data.draw(st.one_of(st.none(), _narrow(metric)))
    b = {k: v for k, v in a.items() if k != metric.id}
    if value is not None:
        b[metric.id] = value
    a, b = dict(a), dict(b)
    EVALUATOR.deriver.apply(a)
    EVALUATOR.deriver.apply(b)
    assert (FULL_KEY(a) == FULL_KEY(b)) == (SHORT_KEY(a) == SHORT_KEY(b))
    assert len(informative(ALL_ATOMS)) < len(ALL_ATOMS)
