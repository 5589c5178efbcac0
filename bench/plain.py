"""Plain-Python evaluations of a project, one account at a time, without any rule engine.

- ReferenceEvaluator: engine/rules/interpreter.py, the independent AST interpreter the property
  tests use (derived metrics by engine/rules/metrics.py).
- CompiledEvaluator: the fair "plain Python" speed. Every formula and condition AST is
  turned once into nested closures; per account the closures run in the order of
  bench.logic.schedule. Conditions are three-valued (True, False, None = unknown because
  a value is missing) and a rule fires only on True.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from engine.project import expr
from engine.project.checks import FactRef, ThresholdRef, expand_facts, formula_order, resolve
from engine.project.model import Project, value_key
from engine.rules.interpreter import evaluate as reference_evaluate
from engine.rules.metrics import Deriver

from .logic import Codec, Outcome, risk_level, schedule

Values = dict[str, Any]
Facts = set
Condition = Callable[[Values, Facts], bool | None]
Operand = Callable[[Values, Facts], Any]
Formula = Callable[[Values], float]

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


class ReferenceEvaluator:
    """engine/rules/interpreter.py per account."""

    name = "plain Python, AST interpreter (engine/rules/interpreter.py)"

    def __init__(self, project: Project):
        self.project = project
        self.codec = Codec.of(project)
        self.deriver = Deriver(project)

    def evaluate(self, values: Values) -> Outcome:
        v = self.deriver.apply(dict(values))
        facts, _ = reference_evaluate(self.project, v)
        return risk_level(self.project, facts), self.codec.encode(facts)

    def evaluate_all(self, accounts: Iterable[Values]) -> list[Outcome]:
        return [self.evaluate(v) for v in accounts]


class _Missing(Exception):
    """A formula input is missing or a divisor is zero: the derived value is missing."""


class Derive:
    """Derived metrics by formulas compiled to closures, with engine/rules/metrics.py's rules:
    missing when an input is missing or a divisor is zero, rounded to `decimals`."""

    def __init__(self, project: Project):
        self.defaults = Deriver(project).defaults  # default_by: (metric, picked by, map)
        self.steps = [(mid, _formula(project.metrics[mid].formula), project.metrics[mid].decimals,
                       project.metrics[mid].type == "integer") for mid in formula_order(project)]

    def __call__(self, v: Values) -> Values:
        """Add the derived values to v, in place (a given value wins); returns v. An empty
        input with a default_by takes its default first, as engine/rules/metrics.py does."""
        for mid, by, table in self.defaults:
            if v.get(mid) is None and (key := v.get(by)) is not None:
                found = table.get(value_key(key))
                if found is not None:
                    v[mid] = found
        for mid, formula, decimals, integer in self.steps:
            if v.get(mid) is not None:
                continue
            try:
                x = formula(v)
            except (_Missing, OverflowError):
                continue
            if not math.isfinite(x):
                continue
            x = round(x, decimals)
            v[mid] = int(round(x)) if integer else x  # noqa: RUF046 - as engine/rules/metrics.py
        return v


class CompiledEvaluator:
    """Conditions and formulas compiled to closures once; a plain loop per account."""

    name = "plain Python, compiled closures"

    def __init__(self, project: Project):
        self.project = project
        self.codec = Codec.of(project)
        self.bits = self.codec.bits
        self.ranks = {("risk", r.id): project.risk_rank(r.id) for r in project.risk_levels}
        self.derive = Derive(project)
        # consecutive groups of one rule each run as one flat list
        self.groups: list[tuple[bool, list]] = []
        for g in schedule(project):
            rules = [(_condition(project, r.when), r.asserts) for r in g.rules]
            if not g.fixpoint and self.groups and not self.groups[-1][0]:
                self.groups[-1][1].extend(rules)
            else:
                self.groups.append((g.fixpoint, rules))

    def facts(self, v: Values) -> Facts:
        facts: Facts = set()
        for fixpoint, rules in self.groups:
            if not fixpoint:
                for cond, asserts in rules:
                    if cond(v, facts) is True:
                        facts.update(asserts)
                continue
            size = -1
            while size != len(facts):  # positive feedback inside the group: to a fixpoint
                size = len(facts)
                for cond, asserts in rules:
                    if cond(v, facts) is True:
                        facts.update(asserts)
        return facts

    def evaluate(self, values: Values) -> Outcome:
        facts = self.facts(self.derive(dict(values)))
        bits, ranks = self.bits, self.ranks
        risk, rank, code = "none", 0, 0
        for key in facts:
            if key in bits:
                code |= bits[key]
            elif ranks.get(key, 0) > rank:
                risk, rank = key[1], ranks[key]
        return risk, code

    def evaluate_all(self, accounts: Iterable[Values]) -> list[Outcome]:
        return [self.evaluate(v) for v in accounts]


# ---- formulas ----------------------------------------------------------------------------

def _formula(node: expr.Node) -> Formula:
    if isinstance(node, expr.Num):
        value = node.value
        return lambda v: value
    if isinstance(node, expr.Ref):
        name = node.parts[0]

        def ref(v: Values) -> float:
            x = v.get(name)
            if x is None:
                raise _Missing
            return x
        return ref
    if isinstance(node, expr.Unary):
        inner = _formula(node.operand)
        return lambda v: -inner(v)
    if isinstance(node, expr.Binary):
        a, b = _formula(node.left), _formula(node.right)
        if node.op == "+":
            return lambda v: a(v) + b(v)
        if node.op == "-":
            return lambda v: a(v) - b(v)
        if node.op == "*":
            return lambda v: a(v) * b(v)

        def divide(v: Values) -> float:
            x, y = a(v), b(v)
            if y == 0:
                raise _Missing
            return x / y
        return divide
    if isinstance(node, expr.Call):
        args = [_formula(a) for a in node.args]
        if node.name in ("pct_change", "pct_drop"):
            cur, prev = args
            sign = 1 if node.name == "pct_change" else -1

            def pct(v: Values) -> float:
                c, p = cur(v), prev(v)
                if p == 0:
                    raise _Missing
                change = (c - p) / p * 100
                return change if sign == 1 else -change
            return pct
        if node.name == "abs":
            return lambda v: abs(args[0](v))
        if node.name in ("min", "max"):
            pick = min if node.name == "min" else max
            return lambda v: pick(f(v) for f in args)
    raise TypeError(f"not a formula: {node!r}")


# ---- conditions --------------------------------------------------------------------------

def _holds(project: Project, key: tuple[str, str]) -> Callable[[Facts], bool]:
    if key[0] in ("category", "severe"):  # a category (severe: its signals severe enough) holds with one of them
        signals = project.derived_by(key)
        return lambda facts: any(k in facts for k in signals)
    return lambda facts: key in facts


def _operand(project: Project, node: expr.Node) -> Operand:
    if isinstance(node, (expr.Num, expr.Str, expr.Bool)):
        value = node.value
        return lambda v, f: value
    if isinstance(node, expr.Call):  # count(...)
        tests = [_holds(project, k) for k in expand_facts(project, node)]
        return lambda v, f: sum(1 for t in tests if t(f))
    r = resolve(project, node)
    if isinstance(r, ThresholdRef):
        t = project.thresholds[r.id]
        if not t.segments:
            value = t.value
            return lambda v, f: value
        return lambda v, f: t.for_segment(v.get("segment"))
    name = r.id
    return lambda v, f: v.get(name)


def _condition(project: Project, node: expr.Node) -> Condition:
    """A condition as a closure giving True, False or None (Kleene logic)."""
    if isinstance(node, expr.And):
        parts = [_condition(project, i) for i in node.items]

        def and_(v: Values, f: Facts) -> bool | None:
            unknown = False
            for p in parts:
                t = p(v, f)
                if t is False:
                    return False
                if t is None:
                    unknown = True
            return None if unknown else True
        return and_
    if isinstance(node, expr.Or):
        parts = [_condition(project, i) for i in node.items]

        def or_(v: Values, f: Facts) -> bool | None:
            unknown = False
            for p in parts:
                t = p(v, f)
                if t is True:
                    return True
                if t is None:
                    unknown = True
            return None if unknown else False
        return or_
    if isinstance(node, expr.Not):
        inner = _condition(project, node.item)

        def not_(v: Values, f: Facts) -> bool | None:
            t = inner(v, f)
            return None if t is None else not t
        return not_
    if isinstance(node, expr.Ref):
        r = resolve(project, node)
        if isinstance(r, FactRef):
            holds = _holds(project, (r.kind, r.id))
            return lambda v, f: holds(f)
        name = r.id

        def flag(v: Values, f: Facts) -> bool | None:
            x = v.get(name)
            return None if x is None else bool(x)
        return flag
    if isinstance(node, expr.Call):
        if node.name == "any":
            tests = [_holds(project, k) for k in expand_facts(project, node)]
            return lambda v, f: any(t(f) for t in tests)
        name = resolve(project, node.args[0]).id
        if node.name == "present":
            return lambda v, f: v.get(name) is not None
        return lambda v, f: v.get(name) is None
    if isinstance(node, expr.Compare):
        a, b, op = _operand(project, node.left), _operand(project, node.right), _CMP[node.op]

        def compare(v: Values, f: Facts) -> bool | None:
            x, y = a(v, f), b(v, f)
            if x is None or y is None:
                return None
            return op(x, y)
        return compare
    if isinstance(node, expr.In):
        left = _operand(project, node.left)
        items = frozenset(i.value for i in node.items)
        negated = node.negated

        def in_(v: Values, f: Facts) -> bool | None:
            x = left(v, f)
            return None if x is None else (x in items) != negated
        return in_
    raise TypeError(f"not a condition: {node!r}")
