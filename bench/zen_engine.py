"""The project's rules as a GoRules ZEN decision graph (JDM), generated from the condition
ASTs of the loaded project, never written by hand; evaluated by the `zen-engine` package
(ZEN's Rust engine through its Python binding).

- The graph: inputNode → an expressionNode with one expression per rule, in the order
  of bench.logic.schedule (signals, then what reads them: categories, risk, playbooks …)
  → outputNode. A fact is a boolean expression keyed `<kind>.<id>` (signal.low_nps,
  risk.high …), read later in the node as `$.<kind>.<id>`; a fact that no rule asserts is
  `false`; a category is the disjunction of its signals, written out where it is read.
  Layout "levels" makes one expressionNode per level of the schedule instead, each
  passing its input through (`passThrough`) so that later levels read the account and the
  earlier facts, and an "outcome" node keeping the facts; it gives the same outcomes and
  was slower (ZEN merges the account into every level's output).
- Conditions go to negation normal form under three-valued logic, as for CLIPS: `not` is
  pushed down to comparisons (negating the operator) and facts, and a comparison is true
  only when its metrics are present: every metric test is guarded with `m != null`
  (ZEN's comparison of null with a number is an error, not false). `count(...) op k` is a
  sum of `(fact ? 1 : 0)`. Rules that feed each other (a fixpoint group) are written out
  once per fact they can derive: each pass either derives a new fact or changes nothing.
- Segment thresholds are expressions of `segment` in the graph; derived metrics
  (formulas, default_by) are computed in Python by bench.plain.Derive before the graph
  runs, as for CLIPS.
- Accounts go in as JSON text (orjson), not as dicts: the binding converts a Python float
  to a decimal of 15 significant digits (15.000000000000002 becomes 15, and `> 15` turns
  false), while JSON text is read exactly.
- Evaluation: one ZenEngine with the graph in a static loader, `engine.evaluate(key, json)`
  per account. The binding's other ways were measured on this graph (see ZenEvaluator).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from decimal import Decimal
from itertools import groupby
from typing import Any

import orjson

from engine.project import expr
from engine.project.checks import FactRef, MetricRef, ThresholdRef, expand_facts, resolve
from engine.project.model import Project

from .logic import COMPARED, Codec, Outcome, schedule
from .plain import Derive

KEY = "kam"  # the graph's name in the engine's loader
OUTCOME_KINDS = COMPARED + ("risk",)  # what the outcome node returns
FACT_KINDS = ("signal", "class", "risk", "playbook")  # facts rules assert (categories are derived)
_ZEN_OP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}
_PY_OP = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
          ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def _number(value: float | int) -> str:
    """A number as a ZEN literal, exact (ZEN computes in decimals): never an exponent."""
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    text = format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)
    return f"({text})" if text.startswith("-") else text


def _string(text: str) -> str:
    """ZEN strings have no escapes: quote with the quote the text does not contain."""
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    raise ValueError(f"a text with both quote characters cannot be written in ZEN: {text!r}")


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    return _number(value)


def _any(parts: list[str]) -> str:
    parts = [p for p in parts if p != "false"]
    if "true" in parts:
        return "true"
    return "false" if not parts else parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def _all(parts: list[str]) -> str:
    parts = [p for p in parts if p != "true"]
    if "false" in parts:
        return "false"
    return "true" if not parts else parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"


def _not(text: str) -> str:
    return {"true": "false", "false": "true"}.get(text, f"not {text}")


class _Translator:
    """Condition ASTs as ZEN expressions; `refs` says how each fact is written at the point
    of the graph being generated."""

    def __init__(self, project: Project):
        self.p = project
        self.refs: dict[tuple[str, str], str] = {}

    def fact(self, key: tuple[str, str]) -> str:
        if key[0] in ("category", "severe"):  # severe: the category's signals severe enough
            return _any([self.fact(k) for k in self.p.derived_by(key)])
        return self.refs.get(key, "false")

    def operand(self, node: expr.Node) -> tuple[str, str, list[str]]:
        """(ZEN text, type, metrics needing a presence guard)."""
        if isinstance(node, (expr.Num, expr.Str, expr.Bool)):
            kind = "boolean" if isinstance(node, expr.Bool) else "text" if isinstance(node, expr.Str) else "number"
            return _literal(node.value), kind, []
        r = resolve(self.p, node)
        if isinstance(r, ThresholdRef):
            t = self.p.thresholds[r.id]
            text = _number(t.value)
            for segment, value in reversed(list(t.segments.items())):
                text = f"(segment == {_string(segment)} ? {_number(value)} : {text})"
            return text, "number", []
        if isinstance(r, MetricRef):
            m = self.p.metrics[r.id]
            return r.id, ("number" if m.numeric else m.type), [r.id]
        raise TypeError(f"not an operand: {expr.to_text(node)}")

    def condition(self, node: expr.Node, positive: bool = True) -> str:
        """The condition in negation normal form: true exactly where kam's Kleene truth is."""
        if isinstance(node, (expr.And, expr.Or)):
            parts = [self.condition(i, positive) for i in node.items]
            return _all(parts) if isinstance(node, expr.And) == positive else _any(parts)
        if isinstance(node, expr.Not):
            return self.condition(node.item, not positive)
        if isinstance(node, expr.Ref):
            r = resolve(self.p, node)
            if isinstance(r, FactRef):
                f = self.fact((r.kind, r.id))
                return f if positive else _not(f)
            return f"{r.id} == {'true' if positive else 'false'}"
        if isinstance(node, expr.Call):
            if node.name == "any":
                f = _any([self.fact(k) for k in expand_facts(self.p, node)])
                return f if positive else _not(f)
            mid = resolve(self.p, node.args[0]).id
            present = (node.name == "present") == positive
            return f"{mid} {'!=' if present else '=='} null"
        if isinstance(node, expr.Compare):
            op = node.op if positive else expr.NEGATE[node.op]
            left, right = node.left, node.right
            if isinstance(right, expr.Call):  # count(...) on the left
                left, right, op = right, left, expr.FLIP[op]
            if isinstance(left, expr.Call):
                return self.count(expand_facts(self.p, left), op, right.value)
            a, _, ma = self.operand(left)
            b, _, mb = self.operand(right)
            literal = isinstance(left, (expr.Str, expr.Bool)) or isinstance(right, (expr.Str, expr.Bool))
            # null never equals a text or yes/no literal; every other test needs its values
            guards = [] if literal and op == "==" else [f"{m} != null" for m in dict.fromkeys(ma + mb)]
            return _all(guards + [f"{a} {_ZEN_OP[op]} {b}"])
        if isinstance(node, expr.In):
            a, _, ma = self.operand(node.left)
            inside = node.negated != positive  # positive "in", or negated "not in"
            items = "[" + ", ".join(self.operand(i)[0] for i in node.items) + "]"
            if inside and not node.items:
                return "false"
            test = f"{a} in {items}" if inside else f"not ({a} in {items})" if node.items else "true"
            return _all([f"{m} != null" for m in ma] + [test])
        raise TypeError(f"not a condition: {expr.to_text(node)}")

    def count(self, keys: list[tuple[str, str]], op: str, k: float) -> str:
        """count(keys) op k; facts are two-valued, so the count is exact."""
        terms = [self.fact(key) for key in keys]
        possible = [j for j in range(len(terms) + 1) if _PY_OP[op](j, k)]
        if not possible:
            return "false"
        if len(possible) == len(terms) + 1:
            return "true"
        known = sum(t == "true" for t in terms)
        open_terms = [t for t in terms if t not in ("true", "false")]
        if not open_terms:
            return "true" if _PY_OP[op](known, k) else "false"
        total = " + ".join(f"({t} ? 1 : 0)" for t in open_terms)
        if known:
            total += f" + {known}"
        return f"({total}) {_ZEN_OP[op]} {_number(k)}"


def _node(node_id: str, kind: str, content: dict, x: int) -> dict:
    return {"id": node_id, "type": kind, "name": node_id, "content": content, "position": {"x": x, "y": 100}}


def _expressions(node_id: str, pairs: list[tuple[str, str]], pass_through: bool) -> dict:
    return {"expressions": [{"id": f"{node_id}-{i}", "key": k, "value": v} for i, (k, v) in enumerate(pairs)],
            "passThrough": pass_through, "inputField": None, "outputPath": None, "executionMode": "single"}


class Graph:
    """The decision graph (JDM) of a project, and which account values it reads.

    layout "single": inputNode → one expressionNode with every rule, in schedule order →
    outputNode (the fastest here); "levels": one expressionNode per level of the schedule,
    chained with passThrough, and an "outcome" node that keeps the facts compared."""

    def __init__(self, project: Project, layout: str = "single"):
        if layout not in ("single", "levels"):
            raise ValueError(f"unknown layout {layout!r}")
        self.project = project
        self.layout = layout
        clash = sorted(set(project.metrics) & (set(FACT_KINDS) | {"rule"}))
        if clash:
            raise ValueError(f"metric ids {clash} are the names of the graph's fact objects")
        t = _Translator(project)
        self.metrics: set[str] = set()
        nodes = [_node("input", "inputNode", {"schema": ""}, 0)]
        edges: list[dict] = []
        previous = "input"
        asserted: set[tuple[str, str]] = set()

        def link(target: str) -> None:
            nonlocal previous
            edges.append({"id": f"{previous}-{target}", "type": "edge", "sourceId": previous, "targetId": target})
            previous = target

        levels = groupby(schedule(project), key=lambda g: g.level if layout == "levels" else 0)
        for level, groups in levels:
            node_id = f"level{level}" if layout == "levels" else "rules"
            pairs: list[tuple[str, str]] = []
            here: set[tuple[str, str]] = set()  # facts this node has assigned: `$.` refers to them
            for group in groups:
                facts = {key for r in group.rules for key in r.asserts}
                for _ in range(len(facts) if group.fixpoint else 1):
                    for rule in group.rules:
                        cond = t.condition(rule.when)
                        self.metrics |= _metrics(project, rule.when)
                        if len(rule.asserts) > 1:  # one condition, several facts
                            pairs.append((f"rule.{rule.id}", cond))
                            cond = f"$.rule.{rule.id}"
                        for key in rule.asserts:
                            name = f"{key[0]}.{key[1]}"
                            before = t.refs.get(key)
                            pairs.append((name, cond if before is None else _any([before, cond])))
                            t.refs[key] = f"$.{name}"
                            here.add(key)
                            asserted.add(key)
            nodes.append(_node(node_id, "expressionNode", _expressions(node_id, pairs, layout == "levels"),
                               200 * len(nodes)))
            link(node_id)
            for key in here:  # a next node reads them from its input
                t.refs[key] = f"{key[0]}.{key[1]}"
        if layout == "levels":  # the account passed through every level: keep the facts only
            outcome = [(f"{kind}.{ident}", f"{kind}.{ident}") for kind in OUTCOME_KINDS
                       for ident in project.fact_ids(kind) if (kind, ident) in asserted]
            nodes.append(_node("outcome", "expressionNode", _expressions("outcome", outcome, False),
                               200 * len(nodes)))
            link("outcome")
        nodes.append(_node("output", "outputNode", {"schema": ""}, 200 * len(nodes)))
        link("output")
        self.content = {"contentType": "application/vnd.gorules.decision", "nodes": nodes, "edges": edges}
        if any(t.segments for t in project.thresholds.values()):
            self.metrics.add("segment")

    @property
    def source(self) -> str:
        return json.dumps(self.content, ensure_ascii=False, indent=1)


def _metrics(project: Project, node: expr.Node) -> set[str]:
    out = set()
    for ref in expr.refs(node):
        r = resolve(project, ref)
        if isinstance(r, MetricRef):
            out.add(r.id)
    return out


class ZenEvaluator:
    """The graph in one ZenEngine (static loader), one `evaluate` per account.

    Measured on the default project (100,000 generated accounts, one process):
    `engine.evaluate(key, ctx)` runs on the binding's one shared Tokio runtime;
    `engine.create_decision(...).evaluate(ctx)` builds a new runtime on every call and is
    about ten times slower; `evaluate_batch` and `async_evaluate` hand every account to a
    pool of threads (one per core) and were slower per account than the plain loop here;
    JSON text in is exact and no slower than a dict."""

    name = "GoRules ZEN (zen-engine), decision graph"

    def __init__(self, project: Project, layout: str = "single"):
        import zen

        self.project = project
        self.codec = Codec.of(project)
        self.graph = Graph(project, layout)
        self.engine = zen.ZenEngine({"loader": {"type": "static", "content": {KEY: self.graph.content}}})
        self.derive = Derive(project)  # the fastest plain-Python derivation, as CLIPS gets
        self.fields = sorted(self.graph.metrics)
        bits = self.codec.bits
        self.bits = {kind: {ident: bits[(kind, ident)] for ident in project.fact_ids(kind)}
                     for kind in COMPARED}
        self.ranks = {r.id: project.risk_rank(r.id) for r in project.risk_levels}

    def context(self, values: dict[str, Any]) -> bytes:
        v = self.derive(dict(values))
        get = v.get
        return orjson.dumps({m: x for m in self.fields if (x := get(m)) is not None})

    def outcome(self, result: dict[str, Any]) -> Outcome:
        code = 0
        for kind, bits in self.bits.items():
            for ident, holds in result.get(kind, {}).items():
                if holds:
                    code |= bits[ident]
        risk, rank = "none", 0
        for ident, holds in result.get("risk", {}).items():
            if holds and self.ranks[ident] > rank:
                risk, rank = ident, self.ranks[ident]
        return risk, code

    def evaluate(self, values: dict[str, Any]) -> Outcome:
        return self.outcome(self.engine.evaluate(KEY, self.context(values))["result"])

    def evaluate_all(self, accounts: Iterable[dict[str, Any]]) -> list[Outcome]:
        evaluate, context, outcome = self.engine.evaluate, self.context, self.outcome
        return [outcome(evaluate(KEY, context(v))["result"]) for v in accounts]
