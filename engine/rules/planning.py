"""One account, one plan: the steps its playbooks give it, shaped by what the rules decided.

After the rules fire, each playbook's steps are kept only where their `when:` holds (a step
whose condition cannot be decided for lack of a value stays: missing data never silently
removes work), and steps that share an `action:` across the account's playbooks become one
step — the one from the most urgent playbook, due at the earliest of their dates, the others
listed as merged into it so the plan shows their checklists as its agenda.

The account's priority is computed here too (rules/priority.yaml, engine/project/model.py Priority):
expected loss in money × every boost whose condition holds.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..project import expr
from ..project.checks import FactRef, ThresholdRef, expand_facts, resolve
from ..project.model import DERIVED_KINDS, Playbook, Project, Step
from ..result import PlaybookEntry, StepEntry, Winback
from .interpreter import Context

# A condition compiled once: (values, facts) -> True, False or None (unknown), exactly as
# engine.rules.interpreter.truth decides it, without walking the tree for every account.
Test = Callable[[Mapping[str, Any], Any], bool | None]


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
        self._boosts = tuple((b.id, b.factor, compile_condition(project, b.when)) for b in project.priority.boosts)
        self._boost_reads_values = tuple(_reads_values(project, b.when) for b in project.priority.boosts)
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

    def plan(self, playbooks: Sequence[tuple[str, Sequence[StepEntry]]], values: Mapping[str, Any],
             facts: Any) -> tuple[Any, ...]:
        """What shape() leaves of these playbooks' steps (each playbook's id and step entries,
        most urgent playbook first), without copying them: per playbook a tuple of a kept
        step's index, or (its index, its due date, ((playbook, step, title, owner) merged into
        it, ...)) for a step others were merged into. The same steps, merged the same way."""
        conditional = self._conditional
        if not any(pid in conditional for pid, _ in playbooks):
            return tuple(tuple(range(len(steps))) for _, steps in playbooks)
        out = []
        first: dict[str, list[Any]] = {}  # action -> [index, due, merged] of the step that carries it
        for pid, steps in playbooks:
            tests = self._when[pid] if pid in conditional else {}
            models = self._steps.get(pid, {})
            kept: list[list[Any]] = []
            for i, s in enumerate(steps):
                test = tests.get(s["id"])
                if test is not None and test(values, facts) is False:
                    continue  # a false condition drops the step (unknown keeps it)
                model = models.get(s["id"])
                action = model.action if model is not None else ""
                primary = first.get(action) if action else None
                if primary is None:
                    entry: list[Any] = [i, s["due"], None]
                    if action:
                        first[action] = entry
                    kept.append(entry)
                    continue
                if primary[2] is None:
                    primary[2] = []
                primary[2].append((pid, s["id"], s["title"], s["owner"]))
                if s["due"] < primary[1]:
                    primary[1] = s["due"]
            out.append(kept)
        return tuple(tuple(e[0] if e[2] is None else (e[0], e[1], tuple(e[2])) for e in kept) for kept in out)

    def shape(self, playbooks: list[PlaybookEntry], ctx: Context) -> list[PlaybookEntry]:
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

    def _merge(self, playbooks: list[PlaybookEntry]) -> None:
        first: dict[str, StepEntry] = {}  # action -> the step that carries it
        for p in playbooks:
            kept: list[StepEntry] = []
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
                 winback: Winback | None) -> PriorityParts:
        return PriorityParts(*self.rank(values, ctx.facts, risk_level, winback))

    def boosts_for(self, facts: Any) -> tuple[Any, ...]:
        """The boosts with those on facts alone decided for these facts (True or False in
        place of the condition): rank(..., boosts=) for every account with them."""
        return tuple((bid, factor, test if reads else test(_NO_VALUES, facts) is True)
                     for (bid, factor, test), reads in zip(self._boosts, self._boost_reads_values))

    def rank(self, values: Mapping[str, Any], facts: Any, risk_level: str,
             winback: Winback | None, boosts: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        """PriorityParts' fields, in order, as a tuple (what result records need, per account)."""
        pr = self.project.priority
        margin = values.get(pr.margin)
        if isinstance(margin, (int, float)) and not isinstance(margin, bool):
            known, margin_pct = True, max(float(margin), 0.0)
        else:
            known, margin_pct = False, pr.default_margin_pct
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
        for bid, bfactor, test in self._boosts if boosts is None else boosts:
            if test is True or (test is not False and test(values, facts) is True):
                factor *= bfactor  # in the order declared: the product is the same float
                applied.append((bid, bfactor))
        return (round(money, 2), margin_out, known, chance, round(loss, 2), tuple(applied),
                round(loss * factor, 2))


_NO_VALUES: Mapping[str, Any] = {}  # conditions on facts alone read no values


def _shaped(pb: Playbook) -> bool:
    return any(s.when is not None or s.action for s in pb.steps)


def compile_condition(project: Project, node: expr.Node) -> Test:
    """A condition as one generated Python function under Kleene logic, deciding as
    engine.rules.interpreter.truth does: a comparison with a missing value is unknown (None), `and`
    is False when a part is False, else None when a part is None (`or` the other way
    round), a category holds when one of its signals does. Built once; per account it is a
    single call, no tree walk."""
    env: dict[str, Any] = {}
    counter = iter(range(1_000_000))

    def const(value: Any) -> str:
        name = f"k{len(env)}"
        env[name] = value
        return name

    def temp() -> str:
        return f"t{next(counter)}"

    def holds(key: tuple[str, str]) -> str:
        if key[0] in DERIVED_KINDS:
            keys = project.derived_by(key)
            return "(" + " or ".join(f"{const(k)} in facts" for k in keys) + ")" if keys else "False"
        return f"({const(key)} in facts)"

    def operand(n: expr.Node) -> tuple[str, bool]:
        """(Python expression, whether it can be None)."""
        if isinstance(n, (expr.Num, expr.Str, expr.Bool)):
            return const(n.value), False
        if isinstance(n, expr.Call):  # count(...)
            return "(0 + " + " + ".join(holds(k) for k in expand_facts(project, n)) + ")", False
        assert isinstance(n, expr.Ref)  # checks.check_condition: a metric, a threshold, a value or count()
        r = resolve(project, n)
        if isinstance(r, ThresholdRef):
            return f"{const(project.thresholds[r.id])}.for_segment(get('segment'))", False
        return f"get({r.id!r})", True

    def gen(n: expr.Node) -> str:
        if isinstance(n, (expr.And, expr.Or)):
            t = temp()
            parts = "(" + "".join(gen(i) + ", " for i in n.items) + ")"
            if isinstance(n, expr.And):
                return f"(False if False in ({t} := {parts}) else None if None in {t} else True)"
            return f"(True if True in ({t} := {parts}) else None if None in {t} else False)"
        if isinstance(n, expr.Not):
            t = temp()
            return f"(None if ({t} := {gen(n.item)}) is None else not {t})"
        if isinstance(n, expr.Ref):
            r = resolve(project, n)
            if isinstance(r, FactRef):
                return holds((r.kind, r.id))
            t = temp()
            return f"(None if ({t} := get({r.id!r})) is None else bool({t}))"
        if isinstance(n, expr.Call):
            if n.name == "any":
                return "(" + " or ".join(holds(k) for k in expand_facts(project, n)) + ")"
            arg = n.args[0]
            assert isinstance(arg, expr.Ref)  # checks.check_condition: missing()/present() take one metric
            name = resolve(project, arg).id
            return f"(get({name!r}) is {'not ' if n.name == 'present' else ''}None)"
        if isinstance(n, expr.Compare):
            (a, a_none), (b, b_none) = operand(n.left), operand(n.right)
            ta, tb = temp(), temp()
            unknown = [f"({ta} := {a}) is None" if a_none else f"(({ta} := {a}) and False)",
                       f"({tb} := {b}) is None" if b_none else f"(({tb} := {b}) and False)"]
            return f"(None if {unknown[0]} or {unknown[1]} else {ta} {n.op} {tb})"
        if isinstance(n, expr.In):
            a, _ = operand(n.left)
            t = temp()
            members = const(expr.in_values(n))
            return f"(None if ({t} := {a}) is None else {t} {'not in' if n.negated else 'in'} {members})"
        raise TypeError(f"not a condition: {n!r}")

    source = f"def test(values, facts):\n    get = values.get\n    return {gen(node)}\n"
    exec(compile(source, f"<kam condition {expr.to_text(node)[:60]}>", "exec"), env)  # noqa: S102 - our own text
    test: Test = env["test"]
    return test


def _reads_values(project: Project, node: expr.Node) -> bool:
    """Whether a condition reads the account's values (a metric, or a threshold through the
    segment), not only facts."""
    return any(not isinstance(resolve(project, r), FactRef) for r in expr.refs(node))
