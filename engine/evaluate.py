"""Evaluate accounts: derived metrics -> engine -> a result record per account (contract.md)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterable

from . import expr
from .analysis import MetricRef, resolve
from .compiler import Compiled, compile_project, threshold_field
from .evidence import signal_text, winback
from .metrics import DEFAULTED, Deriver
from .model import NO_RISK, SEVERITY_RANK, Project, text_in
from .planning import Planner
from .prefilter import Unsure, atoms, compile_filter, compile_key, quiet_facts, with_constants
from .reference import Context
from .runtime import Engine, Outcome


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
        self._all_atoms = atoms([r.account_test for r in self.compiled.rules.values()
                                 if r.account_test is not None])
        self._segment_atoms: dict[Any, Callable[[dict[str, Any]], tuple] | None] = {}
        self._outcomes: dict[tuple, _Known] = {}
        self._knowns: dict[tuple, _Known] = {}
        self._quiet: _Known | None = None  # what fires when no account pattern matches
        self._thresholds: dict[Any, dict[str, Any]] = {}
        self._shapes: dict[tuple, _Shape] = {}
        self._interned: dict[Any, Any] = {}
        self._fired_entries: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._as_of_text = self.as_of.isoformat()
        self.engine_runs = 0

    def close(self) -> None:
        self.engine.close()

    @functools.cached_property
    def _signal_order(self) -> dict[str, tuple]:
        """Signals sorted by severity, then category (as declared), then id."""
        categories = list(self.project.categories)
        return {sid: (-SEVERITY_RANK[s.severity],
                      categories.index(s.category) if s.category in categories else 99, sid)
                for sid, s in self.project.signals.items()}

    @functools.cached_property
    def _playbook_entries(self) -> dict[str, tuple[str, int, tuple[dict[str, Any], ...]]]:
        """Each playbook's title, priority and steps with due dates (working days of the
        project's calendar; a recurring step's series starts there): the same for every account."""
        lang, due = self.lang, self.project.calendar.add_working_days
        return {pid: (text_in(pb.title, lang), pb.priority,
                      tuple({"id": s.id, "title": text_in(s.title, lang), "owner": s.owner,
                             "due": due(self.as_of, s.due_days).isoformat(),
                             **({"every": s.every} if s.every else {})}
                            for s in pb.steps))
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

    def evaluate(self, values: dict[str, Any], prefilter: bool = True) -> dict[str, Any]:
        """The result record of one account whose values are already normalised. The engine
        runs unless the pre-filter proves no rule reading the account can fire (then the
        result is the account-independent one of fact-only rules, computed once) or an
        account with the same truth of every atomic account test already ran it.
        prefilter=False runs the engine on every account (the differential tests' yardstick)."""
        self.deriver.apply(values)
        if not prefilter:
            self.engine_runs += 1
            return self._result(values, self._known(self.engine.run(self.account_fact(values))),
                                values.get("segment"))
        segment = values.get("segment")
        # durable-rules reads an account only through the atomic tests of its patterns: two
        # accounts on which every test comes out the same fire the same rules (known first,
        # before the pre-filter: almost every account's key has been seen)
        key: tuple | None = None
        atoms = self._atoms(segment)
        if atoms is not None:
            try:
                key = atoms(values)
            except Unsure:
                key = None
            else:
                known = self._outcomes.get(key)
                if known is not None:
                    return self._result(values, known, segment)
        if not self._filter(segment)(values):
            if self._quiet is None:
                self.engine_runs += 1
                self._quiet = self._known(self.engine.run(self.account_fact(values)))
            known = self._quiet
        else:
            self.engine_runs += 1
            known = self._known(self.engine.run(self.account_fact(values)))
        if key is not None and len(self._outcomes) < 100_000:  # ~0.5 kB each, outcomes shared
            self._outcomes[key] = known
        return self._result(values, known, segment)

    def _atoms(self, segment: Any) -> Callable[[dict[str, Any]], tuple] | None:
        """The atomic tests of every account pattern, with the segment's thresholds, as one
        function of the account's values giving their truth (None: a test is unsure)."""
        found = self._segment_atoms.get(segment, _MISSING)
        if found is _MISSING:
            found = compile_key([with_constants(a, self._constants(segment)) for a in self._all_atoms])
            if len(self._segment_atoms) < 10_000:
                self._segment_atoms[segment] = found
        return found

    def _known(self, outcome: Outcome) -> "_Known":
        """An engine outcome in the shared, immutable form results are built from."""
        fired, facts = tuple(outcome.fired), frozenset(outcome.facts)
        known = self._knowns.get((fired, facts))
        if known is None:
            known = _Known(fired, facts, frozenset(fired))
            if len(self._knowns) < 50_000:
                self._knowns[(fired, facts)] = known
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

    def _shape(self, outcome: "Outcome | _Known", segment: Any) -> "_Shape":
        """Everything in a result that depends only on which rules fired (and the segment's
        thresholds): worked out once per combination, not once per account."""
        if isinstance(outcome, _Known):
            shape = outcome.shapes.get(segment)
            if shape is None:
                shape = self._shape_of(outcome.fired_set, outcome, segment)
                if len(outcome.shapes) < 64:
                    outcome.shapes[segment] = shape
            return shape
        return self._shape_of(frozenset(outcome.fired), outcome, segment)

    def _shape_of(self, fired_set: frozenset, outcome: "Outcome | _Known", segment: Any) -> "_Shape":
        key = (fired_set, segment)  # what fired decides which facts exist
        shape = self._shapes.get(key)
        if shape is not None:
            return shape
        p, lang = self.project, self.lang
        rules = self.compiled.rules
        fired = sorted((rules[n] for n in outcome.fired), key=lambda r: (r.stratum, r.rule_id, r.name))
        facts = outcome.facts

        def reason(key: tuple[str, str]) -> tuple[tuple[str, ...], dict[str, Any], list[str]]:
            metrics: dict[str, None] = {}
            thresholds: dict[str, Any] = {}
            by: set[str] = set()
            for r in fired:
                if key in r.asserts:
                    by.add(r.rule_id)
                    metrics.update(dict.fromkeys(r.metrics))
                    for t in r.thresholds:
                        thresholds[t] = p.thresholds[t].for_segment(segment)
            parts = (tuple(sorted(metrics)), tuple(sorted(thresholds.items())), tuple(sorted(by)))
            return self._intern(parts)  # shared by every shape with them

        signals = []
        for sid in sorted((k[1] for k in facts if k[0] == "signal"), key=self._signal_order.__getitem__):
            s = p.signals[sid]
            signals.append(self._intern((s, text_in(s.title, lang), *reason(("signal", sid)))))
        risks = [k[1] for k in facts if k[0] == "risk"]
        classes = sorted(k[1] for k in facts if k[0] == "class")
        playbooks = []
        for pid in sorted((k[1] for k in facts if k[0] == "playbook"),
                          key=lambda i: (p.playbooks[i].priority, i)):
            title, priority, steps = self._playbook_entries[pid]
            playbooks.append(self._intern((pid, title, priority, *reason(("playbook", pid)), steps)))
        shape = _Shape(
            risk_level=max(risks, key=p.risk_rank) if risks else NO_RISK,
            signals=self._intern(tuple(signals)), classes=self._intern(tuple(classes)),
            playbooks=self._intern(tuple(playbooks)),
            key_account=("class", "key_account") in facts,
            fired=self._intern(tuple(self._fired_entry(r) for r in _unique_rules(fired))))
        if len(self._shapes) < 8_000:  # the commonest combinations come first; a miss costs ~50 µs
            self._shapes[key] = shape
        return shape

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

    def result(self, values: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
        """The result record (contract.md) of an account and what fired on it. Nested
        lists and dicts are fresh per account: later passes annotate them."""
        return self._result(values, self._known(outcome), values.get("segment"))

    def _result(self, values: dict[str, Any], outcome: "_Known", segment: Any) -> dict[str, Any]:
        p, lang = self.project, self.lang
        shape = self._shape(outcome, segment)
        get = values.get

        def evidence(metrics: tuple[str, ...], thresholds: tuple, rules: tuple[str, ...]) -> dict[str, Any]:
            return {"metrics": {m: _round(get(m)) for m in metrics}, "thresholds": dict(thresholds),
                    "rules": list(rules)}

        signals = []
        for s, title, metrics, thresholds, rules in shape.signals:
            ev = evidence(metrics, thresholds, rules)
            signals.append({"id": s.id, "category": s.category, "severity": s.severity, "title": title,
                            "evidence": ev, "text": signal_text(p, s, lang, ev, values)})
        playbooks = [{"id": pid, "title": title, "priority": priority,
                      "reason": evidence(metrics, thresholds, rules),
                      "steps": [dict(step) for step in steps]}
                     for pid, title, priority, metrics, thresholds, rules, steps in shape.playbooks]
        classes = list(shape.classes)
        ctx = Context(p, values, outcome.facts)
        playbooks = self.planner.shape(playbooks, ctx)
        wb = winback(p, values, classes)
        rank = self.planner.priority(values, ctx, shape.risk_level, wb)
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
            # absent from the input, a project default (default_by) standing in or not
            "missing": [m for m in self.inputs if get(m) is None or m in (get(DEFAULTED) or ())],
            "winback": wb,
            # which account comes first (rules/priority.yaml): expected loss × boosts
            "priority": rank.priority,
            "expected_loss": rank.expected_loss,
            "priority_boosts": [b for b, _ in rank.boosts],
            "fired": [{"rule": rule, "asserts": list(asserts)} for rule, asserts in shape.fired],
        }


_MISSING = object()


@dataclass(eq=False)
class _Known:
    """What fired on an account, shared by every account with the same outcome."""

    fired: tuple[str, ...]  # compiled rule names, in firing order
    facts: frozenset
    fired_set: frozenset
    shapes: dict = field(default_factory=dict)  # segment -> _Shape


@dataclass(frozen=True)
class _Shape:
    risk_level: str
    signals: tuple  # (signal, title, evidence metrics, evidence thresholds (pairs), rules)
    classes: tuple[str, ...]
    playbooks: tuple  # (id, title, priority, reason metrics, reason thresholds, rules, steps)
    key_account: bool
    fired: tuple[tuple[str, tuple[str, ...]], ...]  # (rule id, what it asserts)


def _unique_rules(fired: Iterable) -> list:
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
            stack += [r.parts[0] for r in expr.refs(m.formula)
                      if isinstance(resolve(project, r), MetricRef)]
        else:
            out.add(mid)
    # portfolio-computed metrics are not inputs a person can fill in
    return sorted(out - {"abc", "dependency"})
