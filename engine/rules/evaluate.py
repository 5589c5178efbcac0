"""Evaluate accounts: derived metrics -> engine -> a result record per account (contract.md)."""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any, Final

from ..project import expr
from ..project.checks import MetricRef, resolve
from ..project.model import NO_RISK, SEVERITY_RANK, Project, Step, text_in
from ..result import PlaybookEntry, Result, SignalHit, StepEntry
from .compile import Compiled, compile_project, threshold_field
from .durable import Engine, Fired
from .evidence import render_pieces, signal_pieces, winback
from .metrics import DEFAULTED, Deriver
from .planning import Planner
from .prefilter import (
    Unsure,
    atoms,
    compile_filter,
    compile_key,
    compile_patterns,
    informative,
    quiet_facts,
    with_constants,
)


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) else v


@dataclass
class Evaluator:
    """Compiled rules and a live engine, reused for every account of a run."""

    project: Project
    as_of: date
    lang: str = "en"
    compiled: Compiled = field(init=False)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.compiled = compile_project(self.project)
        self.engine = Engine(self.compiled)
        self.deriver = Deriver(self.project)
        self.planner = Planner(self.project)
        self.inputs = _input_metrics(self.project, self.compiled.metrics)
        # the account fact carries only what some rule reads: less JSON per account
        self.fields = [m for m in self.compiled.metrics]
        # an account rule can fire first only if the facts it needs exist without any
        # account rule having fired, i.e. among the facts fact-only rules derive alone
        quiet = quiet_facts(self.compiled)
        self._account_tests = [r.account_test for r in self.compiled.rules.values()
                               if r.account_test is not None and set(r.required_facts) <= quiet]
        self._filters: dict[Any, Callable[[dict[str, Any]], bool]] = {}
        # outcomes by the truth of every atomic account test (see evaluate)
        self._all_atoms = informative(atoms([r.account_test for r in self.compiled.rules.values()
                                             if r.account_test is not None]))
        self._segment_atoms: dict[Any, Callable[[dict[str, Any]], tuple[Any, ...]] | None] = {}
        self._outcomes: dict[tuple[Any, ...], _Known] = {}
        # every account pattern, and known outcomes by which of them match
        self._patterns_tests = [r.account_test for r in self.compiled.rules.values() if r.account_test is not None]
        self._segment_patterns: dict[Any, Callable[[dict[str, Any]], tuple[Any, ...]] | None] = {}
        self._by_patterns: dict[tuple[Any, ...], _Known] = {}
        self._knowns: dict[tuple[Any, ...], _Known] = {}
        self._quiet: _Known | None = None  # what fires when no account pattern matches
        self._thresholds: dict[Any, dict[str, Any]] = {}
        self._shapes: dict[tuple[Any, ...], _Shape] = {}
        self._interned: dict[Any, Any] = {}
        self._fired_entries: dict[str, tuple[str, tuple[str, ...]]] = {}
        # compiled rules in the order results list them: stratum, project rule, conjunct
        self._rule_order = {n: (r.stratum, r.rule_id, r.name) for n, r in self.compiled.rules.items()}
        self._entries: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # signal and playbook parts of shapes
        self._plans: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        # _playbooks_of (Evaluator._plan) by the playbooks and their step conditions
        self._playbook_tuples: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._segment_classes: dict[Any, tuple[int, Any]] = {}
        self._classes_by_values: dict[tuple[Any, ...], tuple[int, Any]] = {}
        self._as_of_text = self.as_of.isoformat()
        self.engine_runs = 0

    def close(self) -> None:
        self.engine.close()

    @functools.cached_property
    def _signal_order(self) -> dict[str, tuple[Any, ...]]:
        """Signals sorted by severity, then category (as declared), then id."""
        categories = list(self.project.categories)
        return {sid: (-SEVERITY_RANK[s.severity],
                      categories.index(s.category) if s.category in categories else 99, sid)
                for sid, s in self.project.signals.items()}

    @functools.cached_property
    def _playbook_entries(self) -> dict[str, tuple[str, int, tuple[StepEntry, ...]]]:
        """Each playbook's title, priority and steps with due dates (working days of the
        project's calendar; a recurring step's series starts there): the same for every account."""
        lang, due = self.lang, self.project.calendar.add_working_days

        def entry(s: Step) -> StepEntry:
            step: StepEntry = {"id": s.id, "title": text_in(s.title, lang), "owner": s.owner,
                               "due": due(self.as_of, s.due_days).isoformat()}
            if s.every:
                step["every"] = s.every
            return step

        return {pid: (text_in(pb.title, lang), pb.priority, tuple(entry(s) for s in pb.steps))
                for pid, pb in self.project.playbooks.items()}

    def account_fact(self, values: dict[str, Any]) -> dict[str, Any]:
        get = values.get
        fact = {m: v for m in self.fields if (v := get(m)) is not None}
        segment = get("segment")
        thresholds = self._thresholds.get(segment)
        if thresholds is None:  # the thresholds of a segment, resolved once per segment
            thresholds = {threshold_field(tid): self.project.thresholds[tid].for_segment(segment)
                          for tid in self.compiled.thresholds}
            if len(self._thresholds) < 10_000:
                self._thresholds[segment] = thresholds
        fact.update(thresholds)
        return fact

    def evaluate(self, values: dict[str, Any], prefilter: bool = True) -> Result:
        """The result record (engine/result.py) of one account whose values are already
        normalised. The engine
        runs unless the pre-filter proves no rule reading the account can fire (then the
        result is the account-independent one of fact-only rules, computed once) or an
        account with the same truth of every atomic account test already ran it.
        prefilter=False runs the engine on every account (the differential tests' yardstick)."""
        self.deriver.apply(values)
        if not prefilter:
            self.engine_runs += 1
            return self._result(values, self._known(self.engine.fire(self.account_fact(values))),
                                values.get("segment"))
        segment = values.get("segment")
        # durable-rules reads an account only through the atomic tests of its patterns: two
        # accounts on which every test comes out the same fire the same rules (known first,
        # before the pre-filter: almost every account's key has been seen)
        key: tuple[Any, ...] | None = None
        missing: list[str] | None = None  # the inputs without a value, read with the key
        atoms = self._atoms(segment)
        if atoms is not None:
            try:
                key, missing = atoms(values)
            except Unsure:
                key = None
            else:
                known = self._outcomes.get(key)
                if known is not None:
                    return self._result(values, known, segment, missing)
        # a new key: the rules whose account patterns match decide the outcome too; accounts
        # that differ in tests of no consequence (which of two alternatives holds, how far
        # from a threshold a value lies that other tests already decide) share it
        matched: tuple[Any, ...] | None = None
        patterns = self._patterns(segment)
        if patterns is not None:
            try:
                matched = patterns(values)
            except Unsure:
                matched = None
            if matched is not None and None in matched:
                matched = None
        known = self._by_patterns.get(matched) if matched is not None else None
        if known is None:
            if not self._filter(segment)(values):
                if self._quiet is None:
                    self.engine_runs += 1
                    self._quiet = self._known(self.engine.fire(self.account_fact(values)))
                known = self._quiet
            else:
                self.engine_runs += 1
                known = self._known(self.engine.fire(self.account_fact(values)))
            if matched is not None and len(self._by_patterns) < 100_000:
                self._by_patterns[matched] = known
        if key is not None and len(self._outcomes) < 100_000:  # ~0.5 kB each, outcomes shared
            self._outcomes[key] = known
        return self._result(values, known, segment, missing)

    def _atoms(self, segment: Any) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
        """The atomic tests of every account pattern, with the segment's thresholds, as one
        function of the account's values giving (their truth, the inputs without a value);
        None: a test is unsure."""
        found = self._segment_atoms.get(segment, _MISSING)
        if found is _MISSING:
            found = compile_key([with_constants(a, self._constants(segment)) for a in self._all_atoms],
                                missing=tuple(self.inputs))
            if len(self._segment_atoms) < 10_000:
                self._segment_atoms[segment] = found
        return found

    def _patterns(self, segment: Any) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
        """Whether each account pattern matches (prefilter.compile_patterns), with the
        segment's thresholds."""
        found = self._segment_patterns.get(segment, _MISSING)
        if found is _MISSING:
            constants = self._constants(segment)
            found = compile_patterns([with_constants(t, constants) for t in self._patterns_tests])
            if len(self._segment_patterns) < 10_000:
                self._segment_patterns[segment] = found
        return found

    def _known(self, outcome: Fired) -> _Known:
        """An engine outcome in the shared, immutable form results are built from."""
        fired, facts = tuple(outcome.fired), frozenset(outcome.facts)
        known = self._knowns.get(fired)  # the facts follow from what fired
        if known is None:
            known = _Known(fired, facts)
            if len(self._knowns) < 50_000:
                self._knowns[fired] = known
        return known

    def _constants(self, segment: Any) -> dict[str, Any]:
        return {threshold_field(tid): value for tid in self.compiled.thresholds
                if (value := self.project.thresholds[tid].for_segment(segment)) is not None}

    def _filter(self, segment: Any) -> Callable[[dict[str, Any]], bool]:
        """The pre-filter of a segment, reading the account's values directly: the account
        fact is the values of the metrics rules read plus the segment's thresholds, which
        are constants here (one filter per segment, like the thresholds)."""
        found = self._filters.get(segment)
        if found is None:
            constants = self._constants(segment)
            found = compile_filter([with_constants(t, constants) for t in self._account_tests])
            if len(self._filters) < 10_000:
                self._filters[segment] = found
        return found

    def _shape(self, outcome: Fired | _Known, segment: Any) -> _Shape:
        """Everything in a result that depends only on which rules fired (and the segment's
        thresholds): worked out once per combination, not once per account."""
        shape = self._shape_of(outcome.fired, outcome, segment)
        if isinstance(outcome, _Known) and outcome.shape is None:  # kept for its first segment class
            outcome.shape, outcome.shape_class = shape, self._segment_class(segment)[0]
        return shape

    def _segment_class(self, segment: Any) -> tuple[int, Any]:
        """(a number for the segment's values of every threshold, the first segment seen with
        them): all a shape takes from the segment, so segments without overrides share their
        shapes."""
        found = self._segment_classes.get(segment)
        if found is None:
            values = tuple(t.for_segment(segment) for t in self.project.thresholds.values())
            found = self._classes_by_values.setdefault(values, (len(self._classes_by_values), segment))
            if len(self._segment_classes) < 10_000:
                self._segment_classes[segment] = found
        return found

    def _shape_of(self, fired: Iterable[str], outcome: Fired | _Known, segment: Any) -> _Shape:
        # what fired decides which facts exist; the thresholds of the segment, what they say
        thresholds_key, segment = self._segment_class(segment)
        key = (tuple(sorted(set(fired))), thresholds_key)  # no set inside: the collector skips the key
        shape = self._shapes.get(key)
        if shape is not None:
            return shape
        p, lang = self.project, self.lang
        rules = self.compiled.rules
        fired_rules = [rules[n] for n in sorted(set(outcome.fired), key=self._rule_order.__getitem__)]
        facts = outcome.facts
        by_fact: dict[tuple[str, str], list[str]] = {}
        for r in fired_rules:
            for asserted in r.asserts:
                by_fact.setdefault(asserted, []).append(r.name)

        def entry(key: tuple[str, str]) -> tuple[Any, ...]:
            """A signal's or playbook's part of the shape: it depends on which rules asserted it
            and the segment only, so it is worked out once for all shapes that share it."""
            memo = (key, tuple(by_fact.get(key, ())), thresholds_key)
            found = self._entries.get(memo)
            if found is not None:
                return found
            metrics: dict[str, None] = {}
            thresholds: dict[str, Any] = {}
            by: set[str] = set()
            for name in memo[1]:
                r = rules[name]
                by.add(r.rule_id)
                metrics.update(dict.fromkeys(r.metrics))
                for t in r.thresholds:
                    thresholds[t] = p.thresholds[t].for_segment(segment)
            reason = self._intern((tuple(sorted(metrics)), tuple(sorted(thresholds.items())), tuple(sorted(by))))
            if key[0] == "signal":
                s = p.signals[key[1]]
                pieces = signal_pieces(p, s, lang, reason[0], dict(reason[1]), segment)
                found = self._intern((s.id, s.category, s.severity, text_in(s.title, lang), *reason, pieces))
            else:
                title, priority, steps = self._playbook_entries[key[1]]
                found = (key[1], title, priority, *reason, steps)
            if len(self._entries) < 20_000:
                self._entries[memo] = found
            return found

        signals = tuple(entry(("signal", sid)) for sid in sorted((k[1] for k in facts if k[0] == "signal"),
                                                                   key=self._signal_order.__getitem__))
        risks = [k[1] for k in facts if k[0] == "risk"]
        classes = sorted(k[1] for k in facts if k[0] == "class")
        pids = tuple(sorted((k[1] for k in facts if k[0] == "playbook"), key=lambda i: (p.playbooks[i].priority, i)))
        on_values, on_facts = self.planner.step_tests(pids)
        shape = _Shape(
            risk_level=max(risks, key=p.risk_rank) if risks else NO_RISK,
            signals=self._intern(signals), classes=self._intern(tuple(classes)),
            playbooks=self._playbooks_of(tuple(entry(("playbook", pid)) for pid in pids)),
            key_account=("class", "key_account") in facts,
            fired=self._intern(tuple(self._fired_entry(r) for r in _unique_rules(fired_rules))),
            step_tests=on_values,
            plan_key=(pids, tuple(t(_NO_VALUES, facts) is not False for t in on_facts)),
            boosts=self._intern(self.planner.boosts_for(facts)))
        if len(self._shapes) < 8_000:  # the commonest combinations come first; a miss costs ~50 µs
            self._shapes[key] = shape
        return shape

    def _playbooks_of(self, entries: tuple[Any, ...]) -> tuple[Any, ...]:
        """One shared tuple for the same playbook entries (which hold dicts: not hashable)."""
        key = tuple(map(id, entries))  # entries live as long as self._entries holds them
        found = self._playbook_tuples.get(key)
        if found is None:
            found = entries
            if len(self._playbook_tuples) < 20_000 and len(self._entries) < 20_000:
                self._playbook_tuples[key] = found
        return found

    def _intern(self, item: Any) -> Any:
        """One shared copy of equal (immutable) pieces of shapes: memory per shape stays small."""
        if len(self._interned) > 50_000:
            return item
        try:
            return self._interned.setdefault(item, item)
        except TypeError:  # holds something unhashable (a playbook's step dicts): not shared
            return item

    def _fired_entry(self, rule: Any) -> tuple[str, tuple[str, ...]]:
        entry = self._fired_entries.get(rule.rule_id)
        if entry is None:
            entry = self._fired_entries[rule.rule_id] = (rule.rule_id, tuple(f"{k}.{i}" for k, i in rule.asserts))
        return entry

    def result(self, values: dict[str, Any], outcome: Fired) -> Result:
        """The result record (contract.md) of an account and what fired on it. Nested
        lists and dicts are fresh per account: later passes annotate them."""
        return self._result(values, self._known(outcome), values.get("segment"))

    def _result(self, values: dict[str, Any], outcome: _Known, segment: Any,
                missing: list[str] | None = None) -> Result:
        p, lang = self.project, self.lang
        seen = self._segment_classes.get(segment)
        if seen is not None and seen[0] == outcome.shape_class:
            shape = outcome.shape
            assert shape is not None  # set together with shape_class
        else:
            shape = self._shape(outcome, segment)
        get: Callable[..., Any] = values.get  # a value's type is its metric's (the project's)
        facts = outcome.facts

        signals: list[SignalHit] = []
        for sid, category, severity, title, metrics, thresholds, rules, pieces in shape.signals:
            shown = {m: _round(get(m)) for m in metrics}
            signals.append({"id": sid, "category": category, "severity": severity, "title": title,
                            "evidence": {"metrics": shown, "thresholds": dict(thresholds), "rules": list(rules)},
                            "text": render_pieces(pieces, lang, shown, values)})
        # the steps that apply and their merging depend only on how each step condition comes out
        tests = shape.step_tests
        truths = tuple([t(values, facts) is not False for t in tests]) if tests else ()
        plan = shape.plan if not truths else shape.plans.get(truths) if shape.plans is not None else None
        if plan is None:  # shapes with the same playbooks and conditions share their plans
            plan = self._plans.get((shape.plan_key, truths))
            if plan is None:
                plan = self._plan(shape, values, facts)
                if len(self._plans) < 20_000:
                    self._plans[(shape.plan_key, truths)] = plan
            if not truths:
                shape.plan = plan
            else:
                if shape.plans is None:
                    shape.plans = {}
                if len(shape.plans) < 64:
                    shape.plans[truths] = plan
        playbooks: list[PlaybookEntry] = []
        for (pid, title, priority, metrics, thresholds, rules, templates), steps in zip(shape.playbooks, plan):
            fresh: list[StepEntry] = []
            for step in steps:
                if step.__class__ is int:
                    fresh.append(templates[step].copy())
                else:  # a step others were merged into: (its index, its due date, the others)
                    index, due, merged = step
                    carrier: StepEntry = templates[index].copy()
                    carrier["due"] = due
                    carrier["merged"] = [{"playbook": a, "step": b, "title": c, "owner": d} for a, b, c, d in merged]
                    fresh.append(carrier)
            playbooks.append({"id": pid, "title": title, "priority": priority,
                              "reason": {"metrics": {m: _round(get(m)) for m in metrics},
                                         "thresholds": dict(thresholds), "rules": list(rules)},
                              "steps": fresh})
        classes = list(shape.classes)
        wb = winback(p, values, classes) if get("status") == "lost" else None
        _, _, _, _, expected_loss, boosts, priority_ = self.planner.rank(values, facts, shape.risk_level, wb,
                                                                          shape.boosts)
        defaulted = get(DEFAULTED)
        fired = shape.fired
        return {
            "account_id": get("account_id"),
            "name": get("name"),
            "owner": get("owner"),
            "segment": segment,
            "status": get("status"),
            "as_of": self._as_of_text,
            "risk_level": shape.risk_level,
            "signals": signals,
            "classes": classes,
            "playbooks": playbooks,
            "key_account": shape.key_account,
            "dependency": get("dependency", "none"),
            "abc": get("abc"),
            "kaism": get("kaism"),
            "criteria_score": _round(get("criteria_score")),
            # the KAISM axes and the inputs of the portfolio report's retention metrics
            "kaism_value": _round(get("kaism_value")),
            "kaism_attractiveness": _round(get("kaism_attractiveness")),
            "nps": get("nps"),
            "days_since_qbr": get("days_since_qbr"),
            "revenue_previous": _round(get("revenue_previous")),
            "revenue_share_pct": _round(get("revenue_share_pct")),
            "revenue_current": _round(get("revenue_current")),
            # the account manager's KPIs (source 003) in the summary and the report
            "orders_current": get("orders_current"),
            "repeat_orders_current": get("repeat_orders_current"),
            "deals_current": get("deals_current"),
            # absent from the input, a project default (default_by) standing in or not
            "missing": ([m for m in self.inputs if get(m) is None or m in defaulted] if defaulted
                        else missing if missing is not None else [m for m in self.inputs if get(m) is None]),
            "winback": wb,
            # which account comes first (rules/priority.yaml): expected loss × boosts
            "priority": priority_,
            "expected_loss": expected_loss,
            "priority_boosts": [b for b, _ in boosts] if boosts else [],
            "fired": [{"rule": rule, "asserts": list(asserts)} for rule, asserts in fired] if fired else [],
        }

    def _plan(self, shape: _Shape, values: dict[str, Any], facts: frozenset[Any]) -> tuple[Any, ...]:
        """The steps of each playbook of the shape once the planner kept and merged them
        (Planner.plan: indices, due dates and merged entries, numbers and texts only, so the
        garbage collector never walks the cached plans), built for every account from them."""
        return self.planner.plan([(e[0], e[-1]) for e in shape.playbooks], values, facts)


class _Missing(Enum):
    MISSING = 0


_MISSING: Final = _Missing.MISSING
_NO_VALUES: dict[str, Any] = {}  # conditions on facts alone read no values


@dataclass(eq=False, slots=True)
class _Known:
    """What fired on an account, shared by every account with the same outcome."""

    fired: tuple[str, ...]  # compiled rule names, in firing order
    facts: frozenset[Any]
    shape: _Shape | None = None  # its shape in the first segment class it met (most projects have one)
    shape_class: int = -1


@dataclass(eq=False, slots=True)
class _Shape:
    risk_level: str
    # (id, category, severity, title, evidence metrics, evidence thresholds (pairs), rules,
    # the evidence sentence's pieces)
    signals: tuple[Any, ...]
    classes: tuple[str, ...]
    playbooks: tuple[Any, ...]  # (id, title, priority, reason metrics, reason thresholds, rules, steps)
    key_account: bool
    fired: tuple[tuple[str, tuple[str, ...]], ...]  # (rule id, what it asserts)
    # the step conditions on values its plan depends on (Planner.step_tests); the playbooks
    # and how the conditions on facts came out: with their outcomes, the key of its plan
    step_tests: tuple[Any, ...] = ()
    plan_key: tuple[Any, ...] = ()
    boosts: tuple[Any, ...] | None = None  # Planner.boosts_for its facts
    plan: tuple[Any, ...] | None = None  # its plan when no step condition reads values
    plans: dict[tuple[bool, ...], Any] | None = None  # else how they came out -> plan


def _unique_rules(fired: Iterable[Any]) -> list[Any]:
    out, seen = [], set()
    for r in fired:
        if r.rule_id not in seen:
            seen.add(r.rule_id)
            out.append(r)
    return out


def _input_metrics(project: Project, used: Iterable[str]) -> list[str]:
    """Raw (non-derived) metrics the rules depend on, directly or through formulas."""
    out: set[str] = set()
    stack = list(used)
    while stack:
        mid = stack.pop()
        m = project.metrics.get(mid)
        if m is None or mid in out:
            continue
        if m.derived:
            assert m.formula is not None  # derived
            stack += [r.parts[0] for r in expr.refs(m.formula)
                      if isinstance(resolve(project, r), MetricRef)]
        else:
            out.add(mid)
    # portfolio-computed metrics are not inputs a person can fill in
    return sorted(out - {"abc", "dependency"})
