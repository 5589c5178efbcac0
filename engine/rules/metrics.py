"""Derived metrics: formulas evaluated over an account's values, rounded so that
floating-point noise never decides a strict comparison (3 -> 2.55 is a 15 % drop, exactly)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..project import expr
from ..project.checks import formula_order
from ..project.model import Metric, Project, value_key

# The key under which Deriver.apply records which inputs took a default (default_by): not a
# metric id (those start with a letter), so it never meets a rule or a column.
DEFAULTED = "_defaulted"


class _Undefined(Exception):
    """A formula input is missing, or the formula divides by zero: the result is missing."""


def _formula(metric: Metric) -> expr.Node:
    """A derived metric's formula (formula_order gives derived metrics only)."""
    assert metric.formula is not None
    return metric.formula


def _compile(node: expr.Node) -> Callable[[Mapping[str, Any]], float]:
    """A formula as nested closures, built once: no tree walk per account."""
    if isinstance(node, expr.Num):
        const = node.value
        return lambda values: const
    if isinstance(node, expr.Ref):
        name = node.parts[0]

        def ref(values: Mapping[str, Any]) -> float:
            v: float | None = values.get(name)
            if v is None:
                raise _Undefined
            return v
        return ref
    if isinstance(node, expr.Unary):
        inner = _compile(node.operand)
        return lambda values: -inner(values)
    if isinstance(node, expr.Binary):
        a, b = _compile(node.left), _compile(node.right)
        if node.op == "+":
            return lambda values: a(values) + b(values)
        if node.op == "-":
            return lambda values: a(values) - b(values)
        if node.op == "*":
            return lambda values: a(values) * b(values)

        def divide(values: Mapping[str, Any]) -> float:
            x, y = a(values), b(values)
            if y == 0:
                raise _Undefined
            return x / y
        return divide
    if isinstance(node, expr.Call):
        args = [_compile(a) for a in node.args]
        if node.name in ("pct_change", "pct_drop"):
            sign = 1 if node.name == "pct_change" else -1
            current, previous = args

            def pct(values: Mapping[str, Any]) -> float:
                c, p = current(values), previous(values)
                if p == 0:
                    raise _Undefined
                return sign * ((c - p) / p * 100)
            return pct
        if node.name == "abs":
            (only,) = args
            return lambda values: abs(only(values))
        if node.name in ("min", "max"):
            pick = min if node.name == "min" else max
            return lambda values: pick(f(values) for f in args)
    raise TypeError(f"not a formula: {node!r}")


def _typed(kind: str, value: Any) -> Any:
    """A default as the reader would have normalised the value (YAML's 1 for a number is 1.0)."""
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "integer" and isinstance(value, float):
        return int(value)
    return value


class Deriver:
    """Computes a project's derived metrics in dependency order."""

    def __init__(self, project: Project):
        # inputs with a default_by, in a stable order: (metric, the metric that picks, map)
        self.defaults = [(m.id, m.default_by.metric,
                          {k: _typed(m.type, v) for k, v in m.default_by.values.items()})
                         for m in sorted(project.metrics.values(), key=lambda m: m.id)
                         if m.default_by is not None and not m.derived]
        self.steps = [(m, _compile(_formula(project.metrics[m])), project.metrics[m].decimals,
                       project.metrics[m].type == "integer")
                      for m in formula_order(project)]

    def apply(self, values: dict[str, Any]) -> dict[str, Any]:
        """Add derived values in place (a given value of a derived metric wins); returns values.
        First an empty input with a default_by takes its default (never a given value); the
        inputs that did are listed under DEFAULTED."""
        if self.defaults:
            defaulted = []
            for mid, by, table in self.defaults:
                if values.get(mid) is None and (key := values.get(by)) is not None:
                    value = table.get(value_key(key))
                    if value is not None:
                        values[mid] = value
                        defaulted.append(mid)
            if defaulted:
                values[DEFAULTED] = defaulted
        for mid, formula, decimals, integer in self.steps:
            if values.get(mid) is not None:
                continue
            try:
                v = formula(values)
            except (_Undefined, OverflowError):
                continue
            if v != v or v in (float("inf"), float("-inf")):
                continue
            v = round(v, decimals)
            values[mid] = int(round(v)) if integer else (v + 0.0 if v != 0 else 0.0)  # noqa: RUF046 - numpy 1.x rounds to a float
        return values
