"""The project's rules written for CLIPS (a classic forward-chaining Rete engine) through
clipspy, generated from the condition ASTs, never copied by hand.

- One `account` template whose slots are the metrics (`m_<id>`) and segment-dependent
  thresholds (`t_<id>`) the rules read, keyed by `acc` (the account's position in the
  batch); derived facts are `f-signal`, `f-class`, `f-risk`, `f-playbook`, `f-category`.
- Conditions go to negation normal form under three-valued logic: `not` is pushed down to
  comparisons (negating the operator) and facts; a comparison is true only when its
  metrics are present, so every metric test is guarded with `(neq ?m nil)`. Metric tests
  become `test` CEs, facts become patterns or `not` CEs, `count(...) op k` becomes the
  disjunction of the combinations of facts it allows.
- Negation follows the strata of engine.project.checks.strata: a rule of stratum s has salience
  1000 - 10 s, so it fires only after every rule of a lower stratum has finished, and a
  pending activation whose `not` CE stops holding is removed by the engine. Categories are
  derived by rules of the highest salience.
- Accounts are asserted in batches (one `load_facts` per batch), run, collected and the
  environment reset: one CLIPS run per batch, not per account.
"""
from __future__ import annotations

import contextlib
import itertools
import operator
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import clips

from engine.project import expr
from engine.project.checks import FactRef, MetricRef, ThresholdRef, expand_facts, resolve, strata
from engine.project.model import Project

from .logic import Codec, Outcome, risk_level
from .plain import Derive

KINDS = ("signal", "class", "risk", "playbook")
MAX_DISJUNCTS = 4096  # count(...) over many facts expands combinatorially

# ---- negation normal form ----------------------------------------------------------------

Test = tuple  # ("test", clips expression, metric ids, threshold slots)
Lit = tuple  # ("fact", kind, id, positive)
Nnf = tuple  # ("and", [...]) | ("or", [...]) | Test | Lit | ("true",) | ("false",)
TRUE, FALSE = ("true",), ("false",)
_NUM_OP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "<>"}
_PY_OP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
          "==": operator.eq, "!=": operator.ne}


def _and(items: list) -> Nnf:
    out = []
    for i in items:
        if i == FALSE:
            return FALSE
        if i != TRUE:
            out += i[1] if i[0] == "and" else [i]
    return TRUE if not out else (out[0] if len(out) == 1 else ("and", out))


def _or(items: list) -> Nnf:
    out = []
    for i in items:
        if i == TRUE:
            return TRUE
        if i != FALSE:
            out += i[1] if i[0] == "or" else [i]
    return FALSE if not out else (out[0] if len(out) == 1 else ("or", out))


def _junction(op: str, parts: list[str]) -> str:
    """(and ...) / (or ...): CLIPS wants at least two arguments."""
    if not parts:
        return "TRUE" if op == "and" else "FALSE"
    return parts[0] if len(parts) == 1 else f"({op} " + " ".join(parts) + ")"


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: float | int) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


class _Translator:
    def __init__(self, project: Project):
        self.p = project
        self.segment_thresholds = {t.id for t in project.thresholds.values() if t.segments}

    def operand(self, node: expr.Node) -> tuple[str, str, set[str], set[str]]:
        """(CLIPS text, type, metrics needing a presence guard, threshold slots)."""
        if isinstance(node, expr.Num):
            return _number(node.value), "number", set(), set()
        if isinstance(node, expr.Str):
            return _string(node.value), "text", set(), set()
        if isinstance(node, expr.Bool):
            return ("TRUE" if node.value else "FALSE"), "boolean", set(), set()
        r = resolve(self.p, node)
        if isinstance(r, ThresholdRef):
            if r.id in self.segment_thresholds:
                return f"?t_{r.id}", "number", set(), {r.id}
            return _number(self.p.thresholds[r.id].value), "number", set(), set()
        if isinstance(r, MetricRef):
            m = self.p.metrics[r.id]
            return f"?m_{r.id}", ("number" if m.numeric else m.type), {r.id}, set()
        raise TypeError(f"not an operand: {expr.to_text(node)}")

    def nnf(self, node: expr.Node, positive: bool = True) -> Nnf:
        if isinstance(node, (expr.And, expr.Or)):
            parts = [self.nnf(i, positive) for i in node.items]
            return _and(parts) if isinstance(node, expr.And) == positive else _or(parts)
        if isinstance(node, expr.Not):
            return self.nnf(node.item, not positive)
        if isinstance(node, expr.Ref):
            r = resolve(self.p, node)
            if isinstance(r, FactRef):
                return ("fact", r.kind, r.id, positive)
            return ("test", f"(eq ?m_{r.id} {'TRUE' if positive else 'FALSE'})", {r.id}, set(), False)
        if isinstance(node, expr.Call):
            if node.name == "any":
                return self.count(expand_facts(self.p, node), ">=" if positive else "<", 1)
            mid = resolve(self.p, node.args[0]).id
            present = (node.name == "present") == positive
            return ("test", f"({'neq' if present else 'eq'} ?m_{mid} nil)", {mid}, set(), False)
        if isinstance(node, expr.Compare):
            op = node.op if positive else expr.NEGATE[node.op]
            left, right = node.left, node.right
            if isinstance(right, expr.Call):  # count(...) on the left
                left, right, op = right, left, expr.FLIP[op]
            if isinstance(left, expr.Call):
                return self.count(expand_facts(self.p, left), op, right.value)
            a, ta, ma, sa = self.operand(left)
            b, tb, mb, sb = self.operand(right)
            if "number" in (ta, tb):
                test = f"({_NUM_OP[op]} {a} {b})"
            else:  # text and yes/no values compare by identity
                test = f"({'eq' if op == '==' else 'neq'} {a} {b})"
            literal = isinstance(left, (expr.Str, expr.Bool)) or isinstance(right, (expr.Str, expr.Bool))
            guard = not (literal and op == "==")  # nil never equals a text or yes/no literal
            return ("test", test, ma | mb, sa | sb, guard)
        if isinstance(node, expr.In):
            a, ta, ma, sa = self.operand(node.left)
            inside = node.negated != positive  # positive "in", or negated "not in"
            items = [self.operand(i)[0] for i in node.items]
            if inside:
                same = "=" if ta == "number" else "eq"
                test = _junction("or", [f"({same} {a} {i})" for i in items])
            else:
                differ = "<>" if ta == "number" else "neq"
                test = _junction("and", [f"({differ} {a} {i})" for i in items])
            return ("test", test, ma, sa, not inside)
        raise TypeError(f"not a condition: {expr.to_text(node)}")

    def count(self, keys: list[tuple[str, str]], op: str, k: float) -> Nnf:
        """count(keys) op k as a disjunction of fact combinations."""
        n = len(keys)
        allowed = [j for j in range(n + 1) if _PY_OP[op](j, k)]
        if not allowed:
            return FALSE
        if len(allowed) == n + 1:
            return TRUE
        if allowed == list(range(allowed[0], n + 1)):  # at least j: the others do not matter
            combos = [(c, ()) for c in itertools.combinations(keys, allowed[0])]
        else:
            combos = [(c, tuple(x for x in keys if x not in c)) for j in allowed
                      for c in itertools.combinations(keys, j)]
        if len(combos) > MAX_DISJUNCTS:
            raise ValueError(f"count over {n} facts needs {len(combos)} CLIPS disjuncts")
        return _or([_and([("fact", *key, True) for key in yes] + [("fact", *key, False) for key in no])
                    for yes, no in combos])


# ---- CLIPS text --------------------------------------------------------------------------

def _metric_only(node: Nnf) -> bool:
    if node[0] == "test":
        return True
    if node[0] in ("and", "or"):
        return all(_metric_only(i) for i in node[1])
    return False


def _expression(node: Nnf) -> str:
    """A metric-only subtree as one CLIPS boolean expression, presence guards first."""
    if node[0] == "test":
        _, test, metrics, _, guard = node
        if not guard or not metrics:
            return test
        return _junction("and", [f"(neq ?m_{m} nil)" for m in sorted(metrics)] + [test])
    return _junction(node[0], [_expression(i) for i in node[1]])


def _ces(node: Nnf) -> list[str]:
    """Conditional elements, an implicit `and` of them."""
    if _metric_only(node):
        return [f"(test {_expression(node)})"]
    if node[0] == "fact":
        _, kind, ident, positive = node
        pattern = f"(f-{kind} (acc ?acc) (name {ident}))"
        return [pattern if positive else f"(not {pattern})"]
    if node[0] == "and":
        metric = [i for i in node[1] if _metric_only(i)]
        rest = [i for i in node[1] if not _metric_only(i)]
        out = [f"(test {_expression(('and', metric) if len(metric) > 1 else metric[0])})"] if metric else []
        for i in rest:
            out += _ces(i)
        return out
    if node[0] == "or":
        branches = []
        for i in node[1]:
            ces = _ces(i)
            branches.append(ces[0] if len(ces) == 1 else "(and " + " ".join(ces) + ")")
        return ["(or " + " ".join(branches) + ")"]
    raise TypeError(node)


def _slots(node: Nnf, metrics: set[str], thresholds: set[str]) -> None:
    if node[0] == "test":
        metrics |= node[2]
        thresholds |= node[3]
    elif node[0] in ("and", "or"):
        for i in node[1]:
            _slots(i, metrics, thresholds)


class Program:
    """The CLIPS constructs of a project, and which account slots they read."""

    def __init__(self, project: Project):
        t = _Translator(project)
        rule_strata = strata(project)
        self.metrics: set[str] = set()
        self.thresholds: set[str] = set()
        rules: list[tuple[str, int, Nnf, tuple]] = []
        for r in project.rules:
            node = t.nnf(r.when)
            _slots(node, self.metrics, self.thresholds)
            rules.append((r.id, rule_strata[r.id], node, r.asserts))
        slots = ["acc"] + [f"m_{m}" for m in sorted(self.metrics)] + [f"t_{x}" for x in sorted(self.thresholds)]
        self.constructs = ["(deftemplate account " + " ".join(f"(slot {s})" for s in slots) + ")"]
        self.constructs += [f"(deftemplate f-{kind} (slot acc) (slot name))" for kind in KINDS + ("category", "severe")]
        for kind in ("category", "severe"):  # severe.<category>: its signals of severity severe_from or more
            for cat in project.categories:
                signals = [k[1] for k in project.derived_by((kind, cat))]
                if signals:
                    self.constructs.append(
                        f"(defrule {kind}-{cat} (declare (salience 2000)) "
                        f"(f-signal (acc ?acc) (name {'|'.join(signals)})) "
                        f"=> (assert (f-{kind} (acc ?acc) (name {cat}))))")
        for rid, stratum, node, asserts in rules:
            if node == FALSE:
                continue
            metrics: set[str] = set()
            thresholds: set[str] = set()
            _slots(node, metrics, thresholds)
            # metric tests of the top-level conjunction go into the account pattern, where
            # the Rete alpha network filters accounts before any join (CLIPS at its best)
            items = [] if node == TRUE else (node[1] if node[0] == "and" else [node])
            filters = [i for i in items if _metric_only(i)]
            rest = [i for i in items if not _metric_only(i)]
            slots = [("acc", "?acc")] + [(f"m_{m}", f"?m_{m}") for m in sorted(metrics)] \
                + [(f"t_{x}", f"?t_{x}") for x in sorted(thresholds)]
            if filters:
                last, var = slots[-1]
                slots[-1] = (last, f"{var}&:{_expression(_and(filters))}")
            pattern = "(account" + "".join(f" ({slot} {var})" for slot, var in slots) + ")"
            body = [ce for i in rest for ce in _ces(i)]
            actions = " ".join(f"(assert (f-{kind} (acc ?acc) (name {ident})))" for kind, ident in asserts)
            self.constructs.append(f"(defrule rule-{rid} (declare (salience {1000 - 10 * stratum})) "
                                   f"{pattern} {' '.join(body)} => {actions})")

    @property
    def source(self) -> str:
        return "\n".join(self.constructs) + "\n"


# ---- running it --------------------------------------------------------------------------

class ClipsEvaluator:
    """Accounts asserted in batches into one CLIPS environment, run, collected, reset."""

    name = "CLIPS 6.4 through clipspy"

    def __init__(self, project: Project, batch: int = 2000):
        self.project = project
        self.codec = Codec.of(project)
        self.batch = batch
        self.spent: dict[str, float] = {}  # seconds per step of the last evaluate_all
        self.program = Program(project)
        self.env = clips.Environment()
        for construct in self.program.constructs:
            self.env.build(construct)
        self.derive = Derive(project)  # the fastest plain-Python derivation: CLIPS gets the best
        self.writers = [(m, f" (m_{m} ", _writer(project.metrics[m].type)) for m in sorted(self.program.metrics)]
        self.thresholds = [(project.thresholds[x], f" (t_{x} ") for x in sorted(self.program.thresholds)]

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """clipspy's Python error router is asked about every character CLIPS reads: with it
        active, parsing the facts costs ten times more than with it switched off (an error
        still raises, without CLIPS's message)."""
        routers = list(self.env.routers())
        for r in routers:
            r.deactivate()
        try:
            yield
        finally:
            for r in routers:
                r.activate()

    def fact(self, i: int, values: dict[str, Any]) -> str:
        """One account as CLIPS text: derived metrics computed, missing values left out (nil)."""
        v = self.derive(dict(values))
        parts = [f"(account (acc {i})"]
        for mid, prefix, write in self.writers:
            x = v.get(mid)
            if x is not None:
                parts.append(prefix + write(x) + ")")
        segment = v.get("segment")
        for t, prefix in self.thresholds:
            parts.append(prefix + _number(t.for_segment(segment)) + ")")
        parts.append(")")
        return "".join(parts)

    def evaluate_all(self, accounts: Iterable[dict[str, Any]]) -> list[Outcome]:
        accounts = list(accounts)
        out: list[Outcome] = []
        env = self.env
        spent = self.spent = dict.fromkeys(("facts as text", "load_facts", "run", "collect"), 0.0)
        with tempfile.TemporaryDirectory(prefix="kam-clips-") as tmp:
            # derived facts leave CLIPS as one text file per batch: reading them through
            # clipspy's fact objects costs more than the whole CLIPS run
            saved = Path(tmp) / "derived.clp"
            save = f'(save-facts {_string(str(saved))} local {" ".join(f"f-{k}" for k in KINDS)})'
            for start in range(0, len(accounts), self.batch):
                chunk = accounts[start:start + self.batch]
                t0 = time.perf_counter()
                env.reset()
                text = " ".join(self.fact(i, v) for i, v in enumerate(chunk))
                t1 = time.perf_counter()
                with self.quiet():
                    env.load_facts(text)  # Rete matching happens here, as facts arrive
                    t2 = time.perf_counter()
                    env.run()
                    t3 = time.perf_counter()
                    env.eval(save)
                facts: list[set] = [set() for _ in chunk]
                for kind, acc, name in _SAVED.findall(saved.read_text(encoding="utf-8")):
                    facts[int(acc)].add((kind, name))
                out += [(risk_level(self.project, fs), self.codec.encode(fs)) for fs in facts]
                t4 = time.perf_counter()
                for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    spent[key] += dt
        env.reset()
        return out


_SAVED = re.compile(r"\(f-(\w+) \(acc (\d+)\) \(name (\w+)\)\)")


def _writer(kind: str):
    if kind == "boolean":
        return lambda x: "TRUE" if x else "FALSE"
    if kind == "text":
        return _string
    return repr  # int or float, as CLIPS reads them back exactly
