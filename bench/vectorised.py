"""A vectorised evaluation with polars: the practical speed limit for the same rules.

Every formula and condition AST becomes a polars expression over the whole frame:

- a comparison with a null (missing) value is null, `and`/`or`/`not` are polars' Kleene
  operators, so a condition is True, False or null exactly as in kam; a rule fires where
  its condition is True (`fill_null(False)`);
- facts are boolean columns, computed level by level in the order of bench.logic.schedule
  (a group of rules feeding each other is repeated until no column changes);
- derived values are rounded like Python's round(): polars rounds on the scaled binary value,
  which differs in the last digit near a tie or for very large numbers, so those few rows
  are rounded in Python (a wrong last digit could flip a strict comparison).
"""
from __future__ import annotations

from itertools import groupby
from typing import Any

import polars as pl

from engine.project import expr
from engine.project.checks import FactRef, ThresholdRef, expand_facts, formula_order, resolve
from engine.project.model import FACT_KINDS, NO_RISK, Project
from engine.rules.metrics import Deriver

from .logic import Codec, Outcome, schedule

WORD = 62  # fact bits per Int64 code column


def fact_column(key: tuple[str, str]) -> str:
    return f"fact:{key[0]}.{key[1]}"


class VectorisedEvaluator:
    name = "polars, vectorised"

    def __init__(self, project: Project):
        self.p = project
        self.codec = Codec.of(project)
        self.levels = [(level, list(groups)) for level, groups in groupby(schedule(project), lambda g: g.level)]
        self.facts = [(kind, ident) for kind in FACT_KINDS for ident in project.fact_ids(kind)]

    # ---- derived metrics ---------------------------------------------------------------

    def derive(self, frame: pl.DataFrame) -> pl.DataFrame:
        for mid, by, table in Deriver(self.p).defaults:  # default_by, before the formulas
            if mid not in frame.columns or by not in frame.columns:
                continue
            dtype = frame.schema[mid]
            key = (pl.col(by).cast(pl.Utf8).str.to_lowercase()  # engine.project.model.value_key
                   .str.replace_all(r"[\s\-]+", "_").str.strip_chars("_"))
            picked = key.replace_strict(list(table), [table[k] for k in table], default=None, return_dtype=dtype)
            frame = frame.with_columns(pl.col(mid).fill_null(picked))
        for mid in formula_order(self.p):
            m = self.p.metrics[mid]
            x = _formula(m.formula).cast(pl.Float64)
            raw = frame.select(pl.when(x.is_finite()).then(x).otherwise(None).alias(mid)).to_series()
            value = python_round(raw, m.decimals)
            if m.type == "integer":
                value = python_round(value, 0).cast(pl.Int64)
            if mid in frame.columns:  # a given value of a derived metric wins
                value = frame.get_column(mid).cast(value.dtype).fill_null(value)
            frame = frame.with_columns(value.alias(mid))
        return frame

    # ---- rules -------------------------------------------------------------------------

    def fire(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame with one boolean column per fact."""
        frame = frame.with_columns([pl.lit(False).alias(fact_column(k)) for k in self.facts])
        for _, groups in self.levels:
            once = [r for g in groups if not g.fixpoint for r in g.rules]
            if once:
                frame = frame.with_columns(self._updates(once))
            for g in groups:
                if not g.fixpoint:
                    continue
                while True:  # positive feedback: repeat until no fact column grows
                    names = sorted({fact_column(k) for r in g.rules for k in r.asserts})
                    before = frame.select([pl.col(n).sum() for n in names]).row(0)
                    frame = frame.with_columns(self._updates(list(g.rules)))
                    if frame.select([pl.col(n).sum() for n in names]).row(0) == before:
                        break
        return frame

    def _updates(self, rules: list) -> list[pl.Expr]:
        new: dict[tuple[str, str], pl.Expr] = {}
        for r in rules:
            fired = _condition(self.p, r.when).fill_null(False)
            for key in r.asserts:
                new[key] = new.get(key, pl.col(fact_column(key))) | fired
        return [e.alias(fact_column(k)) for k, e in new.items()]

    # ---- outcome -----------------------------------------------------------------------

    def outcome_columns(self, frame: pl.DataFrame) -> pl.DataFrame:
        """risk (text) and code_0.. (Int64 bit sets) for every account, computed."""
        frame = self.fire(self.derive(frame))
        risk: Any = pl.lit(NO_RISK)
        for level in self.p.risk_levels:  # lowest first: the highest decides
            risk = pl.when(pl.col(fact_column(("risk", level.id)))).then(pl.lit(level.id)).otherwise(risk)
        words = []
        for w in range(0, max(1, len(self.codec.facts)), WORD):
            bits = [pl.when(pl.col(fact_column(k))).then(pl.lit(1 << (i - w), pl.Int64)).otherwise(0)
                    for i, k in enumerate(self.codec.facts) if w <= i < w + WORD]
            words.append((pl.sum_horizontal(bits) if bits else pl.lit(0, pl.Int64)).alias(f"code_{w // WORD}"))
        return frame.select([risk.alias("risk")] + words)

    @staticmethod
    def outcomes(columns: pl.DataFrame) -> list[Outcome]:
        words = [columns.get_column(c).to_list() for c in columns.columns if c.startswith("code_")]
        codes = [sum(w << (WORD * j) for j, w in enumerate(ws)) for ws in zip(*words)]
        return list(zip(columns.get_column("risk").to_list(), codes))

    def evaluate_all(self, frame: pl.DataFrame) -> list[Outcome]:
        return self.outcomes(self.outcome_columns(frame))


def python_round(series: pl.Series, decimals: int) -> pl.Series:
    """round(x, decimals) as Python computes it: correctly rounded from the exact binary
    value, ties to even. Scaled rounding agrees except near a tie or when the scaled value
    loses integer precision; those rows go through Python."""
    scale = 10.0 ** decimals
    y = series * scale
    out = (y.round(0) / scale) if decimals else y.round(0)
    doubtful = ((y - y.floor() - 0.5).abs() < 1e-6) | (y.abs() >= 2.0 ** 50)
    idx = doubtful.fill_null(False).arg_true()
    if idx.len():
        exact = [round(x, decimals) for x in series.gather(idx).to_list()]
        out = out.scatter(idx, [float(x) for x in exact])
    return out


# ---- formulas ----------------------------------------------------------------------------

def _formula(node: expr.Node) -> pl.Expr:
    if isinstance(node, expr.Num):
        return pl.lit(node.value)
    if isinstance(node, expr.Ref):
        return pl.col(node.parts[0])
    if isinstance(node, expr.Unary):
        return -_formula(node.operand)
    if isinstance(node, expr.Binary):
        a, b = _formula(node.left), _formula(node.right)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return pl.when(b == 0).then(None).otherwise(a / b)
    if isinstance(node, expr.Call):
        args = [_formula(a) for a in node.args]
        if node.name in ("pct_change", "pct_drop"):
            cur, prev = args
            change = pl.when(prev == 0).then(None).otherwise((cur - prev) / prev * 100)
            return change if node.name == "pct_change" else -change
        if node.name == "abs":
            return args[0].abs()
        if node.name in ("min", "max"):
            pick = pl.min_horizontal if node.name == "min" else pl.max_horizontal
            unknown = pl.any_horizontal([a.is_null() for a in args])
            return pl.when(unknown).then(None).otherwise(pick(args))
    raise TypeError(f"not a formula: {node!r}")


# ---- conditions --------------------------------------------------------------------------

def _holds(project: Project, key: tuple[str, str]) -> pl.Expr:
    if key[0] in ("category", "severe"):  # a category (severe: its signals severe enough) holds with one of them
        signals = [pl.col(fact_column(k)) for k in project.derived_by(key)]
        return pl.any_horizontal(signals) if signals else pl.lit(False)
    return pl.col(fact_column(key))


def _operand(project: Project, node: expr.Node) -> pl.Expr:
    if isinstance(node, (expr.Num, expr.Str, expr.Bool)):
        return pl.lit(node.value)
    if isinstance(node, expr.Call):  # count(...)
        return pl.sum_horizontal([_holds(project, k).cast(pl.Int32) for k in expand_facts(project, node)])
    r = resolve(project, node)
    if isinstance(r, ThresholdRef):
        t = project.thresholds[r.id]
        value: pl.Expr = pl.lit(float(t.value))
        for segment, v in sorted(t.segments.items()):
            value = pl.when(pl.col("segment") == segment).then(pl.lit(float(v))).otherwise(value)
        return value
    return pl.col(r.id)


_OPS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}


def _condition(project: Project, node: expr.Node) -> pl.Expr:
    """True, False or null (unknown) per account."""
    if isinstance(node, (expr.And, expr.Or)):
        parts = [_condition(project, i) for i in node.items]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if isinstance(node, expr.And) else (out | p)
        return out
    if isinstance(node, expr.Not):
        return ~_condition(project, node.item)
    if isinstance(node, expr.Ref):
        r = resolve(project, node)
        if isinstance(r, FactRef):
            return _holds(project, (r.kind, r.id))
        return pl.col(r.id).cast(pl.Boolean)
    if isinstance(node, expr.Call):
        if node.name == "any":
            return pl.any_horizontal([_holds(project, k) for k in expand_facts(project, node)])
        column = pl.col(resolve(project, node.args[0]).id)
        return column.is_not_null() if node.name == "present" else column.is_null()
    if isinstance(node, expr.Compare):
        a, b = _operand(project, node.left), _operand(project, node.right)
        return getattr(a, _OPS[node.op])(b)
    if isinstance(node, expr.In):
        left = _operand(project, node.left)
        inside = left.is_in([i.value for i in node.items])
        inside = pl.when(left.is_null()).then(None).otherwise(inside)
        return ~inside if node.negated else inside
    raise TypeError(f"not a condition: {node!r}")
