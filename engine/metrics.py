"""Derived metrics: formulas evaluated over an account's values, rounded so that
floating-point noise never decides a strict comparison (3 -> 2.55 is a 15 % drop, exactly)."""
from __future__ import annotations

from typing import Any, Mapping

from . import expr
from .analysis import formula_order
from .model import Project


class _Undefined(Exception):
    """A formula input is missing, or the formula divides by zero: the result is missing."""


def _num(node: expr.Node, values: Mapping[str, Any]) -> float:
    if isinstance(node, expr.Num):
        return node.value
    if isinstance(node, expr.Ref):
        v = values.get(node.parts[0])
        if v is None:
            raise _Undefined
        return v
    if isinstance(node, expr.Unary):
        return -_num(node.operand, values)
    if isinstance(node, expr.Binary):
        a, b = _num(node.left, values), _num(node.right, values)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if b == 0:
            raise _Undefined
        return a / b
    if isinstance(node, expr.Call):
        args = [_num(a, values) for a in node.args]
        if node.name in ("pct_change", "pct_drop"):
            current, previous = args
            if previous == 0:
                raise _Undefined
            change = (current - previous) / previous * 100
            return change if node.name == "pct_change" else -change
        if node.name == "abs":
            return abs(args[0])
        if node.name == "min":
            return min(args)
        if node.name == "max":
            return max(args)
    raise TypeError(f"not a formula: {node!r}")


class Deriver:
    """Computes a project's derived metrics in dependency order."""

    def __init__(self, project: Project):
        self.steps = [(m, project.metrics[m].formula, project.metrics[m].decimals,
                       project.metrics[m].type == "integer")
                      for m in formula_order(project)]

    def apply(self, values: dict[str, Any]) -> dict[str, Any]:
        """Add derived values in place (a given value of a derived metric wins); returns values."""
        for mid, formula, decimals, integer in self.steps:
            if values.get(mid) is not None:
                continue
            try:
                v = _num(formula, values)
            except (_Undefined, OverflowError):
                continue
            if v != v or v in (float("inf"), float("-inf")):
                continue
            v = round(v, decimals)
            values[mid] = int(round(v)) if integer else (v + 0.0 if v != 0 else 0.0)
        return values
