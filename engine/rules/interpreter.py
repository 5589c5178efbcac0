"""A plain-Python evaluation of a project, independent of the compiler and of durable-rules.

It reads the condition ASTs directly under three-valued (Kleene) logic and iterates the
rules stratum by stratum to a fixpoint. Two uses: the property test checks the engine
against it on random accounts, and `kam explain` asks it why a rule did *not* fire.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..project import expr
from ..project.checks import FactRef, MetricRef, ThresholdRef, expand_facts, resolve, strata
from ..project.model import DERIVED_KINDS, Project

Tri = bool | None  # True, False, or None (unknown: a metric is missing)
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


class Context:
    """An account's values, its segment's thresholds, and the facts derived so far."""

    def __init__(self, project: Project, values: dict[str, Any], facts: set[Any] | None = None):
        self.project = project
        self.values = values
        self.facts: set[Any] = facts if facts is not None else set()

    def holds(self, key: tuple[str, str]) -> bool:
        if key[0] in DERIVED_KINDS:
            return any(k in self.facts for k in self.project.derived_by(key))
        return key in self.facts

    def operand(self, node: expr.Node) -> Any:
        if isinstance(node, (expr.Num, expr.Str, expr.Bool)):
            return node.value
        if isinstance(node, expr.Call):  # count(...)
            return sum(1 for k in expand_facts(self.project, node) if self.holds(k))
        assert isinstance(node, expr.Ref)  # checks.check_condition: a metric, a threshold, a value or count()
        r = resolve(self.project, node)
        if isinstance(r, ThresholdRef):
            return self.project.thresholds[r.id].for_segment(self.values.get("segment"))
        return self.values.get(r.id)


def truth(node: expr.Node, ctx: Context) -> Tri:
    """Kleene three-valued truth of a condition."""
    if isinstance(node, expr.And):
        vals = [truth(i, ctx) for i in node.items]
        return False if False in vals else (None if None in vals else True)
    if isinstance(node, expr.Or):
        vals = [truth(i, ctx) for i in node.items]
        return True if True in vals else (None if None in vals else False)
    if isinstance(node, expr.Not):
        v = truth(node.item, ctx)
        return None if v is None else not v
    if isinstance(node, expr.Ref):
        r = resolve(ctx.project, node)
        if isinstance(r, FactRef):
            return ctx.holds((r.kind, r.id))
        v = ctx.values.get(r.id)
        return None if v is None else bool(v)
    if isinstance(node, expr.Call):
        if node.name == "any":
            return any(ctx.holds(k) for k in expand_facts(ctx.project, node))
        arg = node.args[0]
        assert isinstance(arg, expr.Ref)  # checks.check_condition: missing()/present() take one metric
        present = ctx.values.get(resolve(ctx.project, arg).id) is not None
        return present if node.name == "present" else not present
    if isinstance(node, expr.Compare):
        a, b = ctx.operand(node.left), ctx.operand(node.right)
        if a is None or b is None:
            return None
        return _CMP[node.op](a, b)
    if isinstance(node, expr.In):
        a = ctx.operand(node.left)
        if a is None:
            return None
        inside = a in expr.in_values(node)
        return inside != node.negated
    raise TypeError(node)


def evaluate(project: Project, values: dict[str, Any]) -> tuple[set[Any], list[str]]:
    """(derived facts, ids of rules whose condition held) for one account with derived
    metrics already computed."""
    rule_strata = strata(project)
    ctx = Context(project, values)
    fired: list[str] = []
    for level in sorted(set(rule_strata.values())):
        rules = [r for r in project.rules if rule_strata[r.id] == level]
        changed = True
        while changed:
            changed = False
            for r in rules:
                if r.id not in fired and truth(r.when, ctx) is True:
                    fired.append(r.id)
                    ctx.facts |= set(r.asserts)
                    changed = True
    return ctx.facts, sorted(fired)


def failing_part(node: expr.Node, ctx: Context) -> list[tuple[expr.Node, Tri]]:
    """The smallest parts of a condition that keep it from being true, with their truth."""
    v = truth(node, ctx)
    if v is True:
        return []
    if isinstance(node, expr.And):
        return [p for i in node.items if truth(i, ctx) is not True for p in failing_part(i, ctx)]
    if isinstance(node, expr.Or):
        return [p for i in node.items for p in failing_part(i, ctx)]
    return [(node, v)]


def operand_values(node: expr.Node, ctx: Context) -> dict[str, Any]:
    """The value each name in a condition part had, for explanations."""
    out: dict[str, Any] = {}
    for ref in expr.refs(node):
        try:
            r = resolve(ctx.project, ref)
        except expr.ExprError:
            continue
        if isinstance(r, FactRef):
            if r.id != "*":
                out[ref.text] = ctx.holds((r.kind, r.id))
        elif isinstance(r, (MetricRef, ThresholdRef)):
            out[ref.text] = ctx.operand(ref)
    if isinstance(node, expr.Compare):
        for side in (node.left, node.right):
            if isinstance(side, expr.Call):
                out[expr.to_text(side)] = ctx.operand(side)
    return out
