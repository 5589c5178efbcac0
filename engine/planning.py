"""One account, one plan: the steps its playbooks give it, shaped by what the rules decided.

After the rules fire, each playbook's steps are kept only where their `when:` holds (a step
whose condition cannot be decided for lack of a value stays: missing data never silently
removes work), and steps that share an `action:` across the account's playbooks become one
step — the one from the most urgent playbook, due at the earliest of their dates, the others
listed as merged into it so the plan shows their checklists as its agenda.

The account's priority is computed here too (rules/priority.yaml, engine/model.py Priority):
expected loss in money × every boost whose condition holds.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from . import expr
from .analysis import FactRef, ThresholdRef, expand_facts, resolve
from .model import Playbook, Project, Step
from .reference import Context

# A condition compiled once: (values, facts) -> True, False or None (unknown), exactly as
# engine.reference.truth decides it, without walking the tree for every account.
Test = Callable[[Mapping[str, Any], Any], Optional[bool]]
_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class PriorityParts:
    """How an account's priority was worked out, for results.jsonl and `kam explain`."""

    money: float  # the money at stake (a lost client: what winning it back would bring)
    margin_pct: float | None  # the margin applied; None for a lost client (already net)
    margin_known: bool
    chance: float  # the chance of losing it at the account's risk level
    expected_loss: float
    boosts: tuple[tuple[str, float], ...]  # (boost id, factor) that applied
    priority: float


class Planner:
    """Step conditions, merging and priority for every account of a run (built once)."""

    def __init__(self, project: Project):
        self.project = project
        self._steps: dict[str, dict[str, Step]] = {pid: {s.id: s for s in pb.steps}
                                                   for pid, pb in project.playbooks.items()}
        # playbooks with nothing to shape are passed through untouched (the common case)
        self._conditional = {pid for pid, pb in project.playbooks.items() if _shaped(pb)}
        # step conditions and boosts compiled once
        self._when: dict[str, dict[str, Test]] = {
            pid: {s.id: compile_condition(project, s.when) for s in pb.steps if s.when is not None}
            for pid, pb in project.playbooks.items()}
        self._boosts = [(b.id, b.factor, compile_condition(project, b.when)) for b in project.priority.boosts]
        self._step_tests: dict[tuple[str, ...], tuple[tuple[Test, ...], tuple[Test, ...]]] = {}

    def step_tests(self, pids: tuple[str, ...]) -> tuple[tuple[Test, ...], tuple[Test, ...]]:
        """The step conditions the plan of an account with these playbooks (most urgent first)
        depends on, each once: (those that read the account's values, those on facts alone).
        Two accounts on which each comes out the same way (false, or not) get the same steps,
        merged the same way (see shape)."""
        found = self._step_tests.get(pids)
        if found is not None:
            return found
        tests: dict[expr.Node, Test] = {}
        if any(pid in self._conditional for pid in pids):  # else shape passes them through untouched
            for pid in pids:
                if pid in self._conditional:
                    for s in self.project.playbooks[pid].steps:
                        if s.when is not None and s.when not in tests:
                            tests[s.when] = self._when[pid][s.id]
        found = (tuple(t for node, t in tests.items() if _reads_values(self.project, node)),
                 tuple(t for node, t in tests.items() if not _reads_values(self.project, node)))
        if len(self._step_tests) < 10_000:
            self._step_tests[pids] = found
        return found

    def shape(self, playbooks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        """The account's playbook entries (most urgent first) with only the steps that apply,
        and one step per action. Entries are modified in place and returned."""
        conditional = self._conditional
        for p in playbooks:
            if p["id"] in conditional:
                break
        else:
            return playbooks
        values, facts = ctx.values, ctx.facts
        for p in playbooks:
            if p["id"] in conditional:
                tests = self._when[p["id"]]
                # a step applies unless its condition is false (unknown keeps it)
                p["steps"] = [s for s in p["steps"]
                              if (test := tests.get(s["id"])) is None or test(values, facts) is not False]
        self._merge(playbooks)
        return playbooks

    def _merge(self, playbooks: list[dict[str, Any]]) -> None:
        first: dict[str, dict[str, Any]] = {}  # action -> the step that carries it
        for p in playbooks:
            kept = []
            for s in p["steps"]:
                model = self._steps.get(p["id"], {}).get(s["id"])
                action = model.action if model is not None else ""
                primary = first.get(action) if action else None
                if primary is None:
                    if action:
                        first[action] = s
                    kept.append(s)
                    continue
                primary.setdefault("merged", []).append(
                    {"playbook": p["id"], "step": s["id"], "title": s["title"], "owner": s["owner"]})
                if s["due"] < primary["due"]:
                    primary["due"] = s["due"]
            p["steps"] = kept

    def priority(self, values: Mapping[str, Any], ctx: Context, risk_level: str,
                 winback: Mapping[str, Any] | None) -> PriorityParts:
        return PriorityParts(*self.rank(values, ctx.facts, risk_level, winback))

    def rank(self, values: Mapping[str, Any], facts: Any, risk_level: str,
             winback: Mapping[str, Any] | None) -> tuple:
        """PriorityParts' fields, in order, as a tuple (what result records need, per account)."""
        pr = self.project.priority
        margin = values.get(pr.margin)
        known = isinstance(margin, (int, float)) and not isinstance(margin, bool)
        margin_pct = max(float(margin), 0.0) if known else pr.default_margin_pct
        if values.get("status") == "lost" and winback is not None:
            # what winning it back is worth: the net benefit when it can be weighed
            value, cost = winback.get("value"), winback.get("cost")
            if value is not None and cost is not None:
                money, margin_out, chance = max(value - cost, 0.0), None, 1.0
            else:
                inputs = winback.get("inputs") or {}
                money = float(inputs.get("expected_annual_revenue") or values.get("revenue_previous") or 0.0)
                margin_out, chance = margin_pct, pr.lost_unknown_chance
        else:
            money = float(values.get(pr.at_stake) or 0.0)
            margin_out, chance = margin_pct, pr.risk_weights.get(risk_level, 0.0)
        loss = money * (margin_out / 100 if margin_out is not None else 1.0) * chance
        factor = 1.0
        applied = []
        for bid, bfactor, test in self._boosts:
            if test(values, facts) is True:
                factor *= bfactor
                applied.append((bid, bfactor))
        return (round(money, 2), margin_out, known, chance, round(loss, 2), tuple(applied),
                round(loss * factor, 2))


def _shaped(pb: Playbook) -> bool:
    return any(s.when is not None or s.action for s in pb.steps)


def compile_condition(project: Project, node: expr.Node) -> Test:
    """A condition as nested closures under Kleene logic, as engine.reference.truth reads it:
    a comparison with a missing value is unknown (None); a category holds when one of its
    signals does."""
    if isinstance(node, (expr.And, expr.Or)):
        parts = [compile_condition(project, i) for i in node.items]
        stop = isinstance(node, expr.Or)  # or: True decides; and: False decides

        def junction(values: Mapping[str, Any], facts: Any) -> Optional[bool]:
            unknown = False
            for part in parts:
                t = part(values, facts)
                if t is stop:
                    return stop
                if t is None:
                    unknown = True
            return None if unknown else not stop
        return junction
    if isinstance(node, expr.Not):
        inner = compile_condition(project, node.item)

        def negation(values: Mapping[str, Any], facts: Any) -> Optional[bool]:
            t = inner(values, facts)
            return None if t is None else not t
        return negation
    if isinstance(node, expr.Ref):
        r = resolve(project, node)
        if isinstance(r, FactRef):
            holds = _holds(project, (r.kind, r.id))
            return lambda values, facts: holds(facts)
        name = r.id

        def flag(values: Mapping[str, Any], facts: Any) -> Optional[bool]:
            v = values.get(name)
            return None if v is None else bool(v)
        return flag
    if isinstance(node, expr.Call):
        if node.name == "any":
            tests = [_holds(project, k) for k in expand_facts(project, node)]
            return lambda values, facts: any(t(facts) for t in tests)
        name = resolve(project, node.args[0]).id
        if node.name == "present":
            return lambda values, facts: values.get(name) is not None
        return lambda values, facts: values.get(name) is None
    if isinstance(node, expr.Compare):
        left, right, op = _operand(project, node.left), _operand(project, node.right), _CMP[node.op]

        def compare(values: Mapping[str, Any], facts: Any) -> Optional[bool]:
            a, b = left(values, facts), right(values, facts)
            if a is None or b is None:
                return None
            return op(a, b)
        return compare
    if isinstance(node, expr.In):
        item = _operand(project, node.left)
        members = [i.value for i in node.items]
        negated = node.negated

        def inside(values: Mapping[str, Any], facts: Any) -> Optional[bool]:
            a = item(values, facts)
            if a is None:
                return None
            return (a in members) != negated
        return inside
    raise TypeError(f"not a condition: {node!r}")


def _reads_values(project: Project, node: expr.Node) -> bool:
    """Whether a condition reads the account's values (a metric, or a threshold through the
    segment), not only facts."""
    return any(not isinstance(resolve(project, r), FactRef) for r in expr.refs(node))


def _holds(project: Project, key: tuple[str, str]) -> Callable[[Any], bool]:
    if key[0] == "category":
        signals = [("signal", s.id) for s in project.signals.values() if s.category == key[1]]
        return lambda facts: any(k in facts for k in signals)
    return lambda facts: key in facts


def _operand(project: Project, node: expr.Node) -> Callable[[Mapping[str, Any], Any], Any]:
    if isinstance(node, (expr.Num, expr.Str, expr.Bool)):
        value = node.value
        return lambda values, facts: value
    if isinstance(node, expr.Call):  # count(...)
        tests = [_holds(project, k) for k in expand_facts(project, node)]
        return lambda values, facts: sum(1 for t in tests if t(facts))
    r = resolve(project, node)
    if isinstance(r, ThresholdRef):
        threshold = project.thresholds[r.id]
        return lambda values, facts: threshold.for_segment(values.get("segment"))
    name = r.id
    return lambda values, facts: values.get(name)
