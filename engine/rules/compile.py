"""Project -> durable-rules ruleset, as plain data (a pure function, golden-testable).

Each rule's condition is put in negation normal form under three-valued logic (a
comparison with a missing metric is never true, nor is its negation), then in
disjunctive normal form over *facts*: every conjunct becomes one durable rule whose
patterns are the account fact (all metric tests, guarded by existence tests),
one pattern per required derived fact, and - when the conjunct negates facts - a
phase-gate fact carrying a 0/1 flag per negated fact. The driver asserts the phase
fact of stratum k only once strata below k reached their fixpoint (durable's own
`none()` is wrong when the negated fact arrives later).
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineLimitError, Problem
from ..project import expr
from ..project.checks import FactRef, MetricRef, ThresholdRef, expand_facts, resolve, strata
from ..project.model import Project, Where

ACCOUNT_RULE = "__account__"  # catch-all: every session runs at least one action
RESERVED_FIELDS = ("sid", "id", "t", "k", "n")
THRESHOLD_PREFIX = "_thr_"
OP_JSON = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}

# Limits of durable-rules' C engine (see the adapter, durable.py); checked here, at compile time.
# The constants are durable-rules 2.0.28's (src/rules/rules.h, rete.h, rete.c).
MAX_RULES = 4096
MAX_FACT_PROPERTIES = 250  # 255 in the engine, minus headroom for sid/id/t
MAX_JOINED = 16
MAX_MATCHING_FACTS = 60  # ~64 facts matching one condition level at once
MAX_CONJUNCTS = 256  # per rule, after expanding count(...) and or-over-facts
# A pattern's expression sequence has MAX_SEQUENCE_EXPRESSIONS = 32 slots and refuses the
# 32nd (error 113); every $and / $or group takes two (its start and end). Comparisons with
# the pattern's own fields ($m), the only ones we write, take none.
MAX_GROUPS = 15
# The alpha network shares a test between rules; under one test, the distinct next tests
# live in a hash table of NEXT_BUCKET_LENGTH = 512 buckets, and looking up a 513th loops
# forever inside create_ruleset. `$nex` tests and the ends of or-branches go into a list
# of NEXT_LIST_LENGTH = 128 (error 107), the patterns ending at a test into one of
# BETA_LIST_LENGTH = 256 (error 108).
MAX_NEXT_TESTS = 512
MAX_NEXT_LIST = 128
MAX_PATTERNS_AT_TEST = 256


def threshold_field(tid: str) -> str:
    return THRESHOLD_PREFIX + tid


@dataclass(frozen=True)
class CompiledRule:
    """One durable rule: one conjunct of a project rule."""

    name: str
    rule_id: str
    stratum: int
    asserts: tuple[tuple[str, str], ...]
    metrics: tuple[str, ...]
    thresholds: tuple[str, ...]
    required_facts: tuple[tuple[str, str], ...]
    negated_facts: tuple[tuple[str, str], ...]
    account_test: Any = None  # the account pattern, or None when the rule reads facts only
    where: Where | None = None  # of the project rule, for errors the engine reports


@dataclass(frozen=True)
class Stratum:
    stratum: int
    flags: tuple[tuple[str, tuple[str, str]], ...]  # (field, fact key)


@dataclass(frozen=True)
class Compiled:
    definition: dict[str, Any]
    rules: dict[str, CompiledRule]
    phases: tuple[Stratum, ...]
    consumed: frozenset[Any]  # fact keys some pattern reads: only these go into the engine
    fact_payloads: dict[tuple[str, str], dict[str, Any]]
    thresholds: tuple[str, ...]  # thresholds put on the account fact
    metrics: tuple[str, ...]  # metrics any rule reads
    strata: dict[str, int] = field(default_factory=dict)
    # what a fired signal makes hold besides itself: its category (and severe.<category>)
    signal_derived: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)


# ---- intermediate form ------------------------------------------------------------------

@dataclass(frozen=True)
class _Acc:
    json: Any
    metrics: frozenset[Any]
    thresholds: frozenset[Any]


@dataclass(frozen=True)
class _Fact:
    key: tuple[str, str]
    positive: bool


@dataclass(frozen=True)
class _All:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class _Any:
    items: tuple[Any, ...]


TRUE = _All(())
FALSE = _Any(())


def _exists(m: str) -> dict[str, Any]:
    return {"$ex": {m: 1}}


def _compare(project: Project, node: expr.Compare, positive: bool) -> Any:
    op = node.op if positive else expr.NEGATE[node.op]
    left, right = node.left, node.right
    if isinstance(left, expr.Call) or isinstance(right, expr.Call):  # count(...) OP n
        if isinstance(right, expr.Call):
            left, right, op = right, left, expr.FLIP[op]
        # checks.check_condition: count(...) compares with a number
        assert isinstance(left, expr.Call) and isinstance(right, expr.Num)
        return _count(expand_facts(project, left), op, right.value)
    if not (isinstance(left, expr.Ref) and isinstance(resolve(project, left), MetricRef)):
        left, right, op = right, left, expr.FLIP[op]
    assert isinstance(left, expr.Ref)  # checks.check_condition: one side is a metric
    m = resolve(project, left).id
    metrics, thresholds = {m}, set()
    guards = [_exists(m)]
    if isinstance(right, expr.Ref):
        r = resolve(project, right)
        if isinstance(r, ThresholdRef):
            value: Any = {"$m": threshold_field(r.id)}
            thresholds.add(r.id)
        else:
            value = {"$m": r.id}
            metrics.add(r.id)
            guards.append(_exists(r.id))  # durable: a missing referenced field compares TRUE
    else:
        assert isinstance(right, (expr.Num, expr.Str, expr.Bool))  # checks._operand_type: a value
        value = right.value
    test = {m: value} if op == "==" else {OP_JSON[op]: {m: value}}
    return _Acc({"$and": guards + [test]}, frozenset(metrics), frozenset(thresholds))


def _count(keys: list[Any], op: str, k: float) -> Any:
    """count(keys) OP k, written out over the facts (DNF)."""
    n = len(keys)
    # counts are whole numbers: turn strict and fractional bounds into inclusive whole ones
    # (`whole`; == and != keep k as written)
    if op == ">":
        op, whole = ">=", math.floor(k) + 1
    elif op == "<":
        op, whole = "<=", math.ceil(k) - 1
    elif op == ">=":
        whole = math.ceil(k)
    elif op == "<=":
        whole = math.floor(k)

    def exactly(j: float) -> Any:
        if j < 0 or j > n or not float(j).is_integer():
            return FALSE
        return _Any(tuple(_All(tuple(_Fact(key, key in chosen) for key in keys))
                          for chosen in map(set, itertools.combinations(keys, int(j)))))

    if op == ">=":
        if whole <= 0:
            return TRUE
        if whole > n:
            return FALSE
        return _Any(tuple(_All(tuple(_Fact(key, True) for key in c)) for c in itertools.combinations(keys, whole)))
    if op == "<=":
        if whole >= n:
            return TRUE
        if whole < 0:
            return FALSE
        return _Any(tuple(_All(tuple(_Fact(key, False) for key in c))
                          for c in itertools.combinations(keys, n - whole)))
    if op == "==":
        return exactly(k)
    return _Any(tuple(exactly(j) for j in range(n + 1) if j != k))  # !=


def _nnf(project: Project, node: expr.Node, positive: bool = True) -> Any:
    if isinstance(node, expr.Not):
        return _nnf(project, node.item, not positive)
    if isinstance(node, (expr.And, expr.Or)):
        items = tuple(_nnf(project, i, positive) for i in node.items)
        return _All(items) if isinstance(node, expr.And) == positive else _Any(items)
    if isinstance(node, expr.Ref):
        r = resolve(project, node)
        if isinstance(r, FactRef):
            return _Fact((r.kind, r.id), positive)
        return _Acc({"$and": [_exists(r.id), {r.id: positive}]}, frozenset([r.id]), frozenset())
    if isinstance(node, expr.Call):
        if node.name == "any":
            keys = expand_facts(project, node)
            return _count(keys, ">=" if positive else "<", 1)
        arg = node.args[0]
        assert isinstance(arg, expr.Ref)  # checks.check_condition: missing()/present() take one metric
        m = resolve(project, arg).id
        present = (node.name == "present") == positive
        return _Acc({"$ex" if present else "$nex": {m: 1}}, frozenset([m]), frozenset())
    if isinstance(node, expr.Compare):
        return _compare(project, node, positive)
    if isinstance(node, expr.In):
        assert isinstance(node.left, expr.Ref)  # checks.check_condition: a metric on the left of 'in'
        m = resolve(project, node.left).id
        values = expr.in_values(node)
        inside = (not node.negated) == positive
        if inside:
            j: Any = {"$and": [_exists(m), {"$or": [{m: v} for v in values]}]} if values else None
            if j is None:
                return FALSE
        else:
            j = {"$and": [_exists(m)] + [{"$neq": {m: v}} for v in values]}
        return _Acc(j, frozenset([m]), frozenset())
    raise TypeError(f"not a condition: {node!r}")


def _has_facts(ir: Any) -> bool:
    if isinstance(ir, _Fact):
        return True
    if isinstance(ir, (_All, _Any)):
        return any(_has_facts(i) for i in ir.items)
    return False


def _acc_tree(ir: Any) -> _Acc:
    """A fact-free subtree as one account test (its or-structure stays inside the pattern)."""
    if isinstance(ir, _Acc):
        return ir
    parts = [_acc_tree(i) for i in ir.items]
    op = "$and" if isinstance(ir, _All) else "$or"
    if not parts:  # empty and = true, empty or = false: both expressible on the account
        return _Acc({"t": "account"} if op == "$and" else {"t": "__never__"}, frozenset(), frozenset())
    return _Acc({op: [p.json for p in parts]},
                frozenset().union(*(p.metrics for p in parts)),
                frozenset().union(*(p.thresholds for p in parts)))


def _dnf(ir: Any, rule_id: str) -> list[tuple[list[_Acc], list[_Fact]]]:
    if not _has_facts(ir):
        if isinstance(ir, _Any) and not ir.items:
            return []
        if isinstance(ir, _All) and not ir.items:
            return [([], [])]
        return [([_acc_tree(ir)], [])]
    if isinstance(ir, _Fact):
        return [([], [ir])]
    if isinstance(ir, _Any):
        out = [c for i in ir.items for c in _dnf(i, rule_id)]
    else:
        out = [([], [])]
        for item in ir.items:
            out = [(a1 + a2, f1 + f2) for a1, f1 in out for a2, f2 in _dnf(item, rule_id)]
            if len(out) > MAX_CONJUNCTS:
                break
    if len(out) > MAX_CONJUNCTS:
        raise EngineLimitError(f"rule '{rule_id}' expands to more than {MAX_CONJUNCTS} alternatives "
                               "over facts; simplify it or split it into rules that assert an "
                               "intermediate class")
    return out


# ---- the ruleset ------------------------------------------------------------------------

def _fact_pattern(key: tuple[str, str]) -> dict[str, Any]:
    # a category is a fact of its own, asserted with the first signal of that category:
    # one fact per category instead of a join over every signal keeps the network small
    return {"$and": [{"t": key[0]}, {"k": key[1]}]}


def _spliced(tests: list[Any]) -> list[Any]:
    """An and inside an and as one chain of tests: each group costs the pattern two of its
    few expression slots (MAX_GROUPS), a chain none."""
    out: list[Any] = []
    for t in tests:
        out += _spliced(t["$and"]) if isinstance(t, dict) and list(t) == ["$and"] else [t]
    return out


def _groups(j: Any) -> int:
    if isinstance(j, dict):
        return sum((k in ("$and", "$or")) + _groups(v) for k, v in j.items())
    if isinstance(j, list):
        return sum(_groups(v) for v in j)
    return 0


class _Alpha:
    """A test in durable-rules' alpha network, counted as rete.c's createAlpha builds it."""

    def __init__(self) -> None:
        self.next: dict[str, _Alpha] = {}  # distinct tests after this one (hash table)
        self.absent: dict[str, _Alpha] = {}  # $nex tests after this one (next list)
        self.branch_ends = 0  # or-branches ending here (next list)
        self.patterns = 0  # patterns ending here (beta list)


_LIST_FULL = (f"with it, more than {MAX_NEXT_LIST} or-branches and absence tests end at the same test "
              "(durable-rules error 107): split its `or`s into rules")


def _alpha(j: dict[str, Any], parent: _Alpha, full: list[str]) -> _Alpha:
    """Add one pattern's tests under `parent`; the test the pattern ends at. `full` collects
    what overflowed."""
    if "$and" in j:
        last = parent
        for item in j["$and"]:
            last = _alpha(item, last, full)
        return last
    if "$or" in j:
        joined = _Alpha()  # each or gets a node of its own, after all its branches
        for item in j["$or"]:
            end = _alpha(item, parent, full)
            end.branch_ends += 1
            if len(end.absent) + end.branch_ends > MAX_NEXT_LIST:
                full.append(_LIST_FULL)
        return joined
    key = json.dumps(j, sort_keys=True)
    absent = "$nex" in j
    table = parent.absent if absent else parent.next
    node = table.get(key)
    if node is None:
        node = table[key] = _Alpha()
        if not absent and len(parent.next) > MAX_NEXT_TESTS:
            full.append(f"with it, more than {MAX_NEXT_TESTS} different tests follow the same test (many "
                        "rules or long `in` lists on one metric), on which durable-rules hangs: merge such "
                        "rules, or map the values to fewer with a derived metric")
        if absent and len(parent.absent) + parent.branch_ends > MAX_NEXT_LIST:
            full.append(_LIST_FULL)
    return node


def _network_problems(definition: dict[str, Any], rules: dict[str, CompiledRule]) -> list[Problem]:
    """What durable-rules would refuse (or hang on) when building the network, by rule."""
    root = _Alpha()
    problems: list[Problem] = []
    for name, rule in definition.items():
        full: list[str] = []
        for pattern in rule["all"]:
            test = next(iter(pattern.values()))
            if _groups(test) > MAX_GROUPS:
                full.append(f"too complex for durable-rules: {_groups(test)} and/or groups in one "
                            f"alternative, {MAX_GROUPS} allowed (an `or` of comparisons costs one plus one "
                            "per comparison); split it into rules that assert an intermediate class")
            end = _alpha(test, root, full)
            end.patterns += 1
            if end.patterns > MAX_PATTERNS_AT_TEST:
                full.append(f"with it, more than {MAX_PATTERNS_AT_TEST} rules end at the same test "
                            "(durable-rules error 108): merge rules that test the same thing")
        compiled = rules.get(name)
        if full and compiled is not None and compiled.where is not None:
            w = compiled.where
            problems += [Problem(w.path, w.line, w.col, f"rule '{compiled.rule_id}': {m}") for m in dict.fromkeys(full)]
    return problems


def compile_project(project: Project) -> Compiled:
    """Compile every enabled rule; raise EngineLimitError if the engine could not run it."""
    rule_strata = strata(project)
    definition: dict[str, Any] = {ACCOUNT_RULE: {"all": [{"a": {"t": "account"}}]}}
    compiled: dict[str, CompiledRule] = {}
    consumed: set[Any] = set()
    flags: dict[tuple[str, str], str] = {}
    phase_flags: dict[int, set[Any]] = {}
    used_thresholds: set[str] = set()
    used_metrics: set[str] = set()
    problems: list[Problem] = []
    for index, rule in enumerate(project.rules):  # rules are sorted by id: stable names
        ir = _nnf(project, rule.when)
        try:
            conjuncts = _dnf(ir, rule.id)
        except EngineLimitError as exc:
            problems += [Problem(rule.where.path, rule.where.line, rule.where.col, p.message)
                         for p in exc.problems]
            continue
        stratum = rule_strata[rule.id]
        for j, (accs, facts) in enumerate(conjuncts):
            pos = sorted({f.key for f in facts if f.positive})
            neg = sorted({f.key for f in facts if not f.positive})
            if set(pos) & set(neg):
                continue  # requires a fact and its absence: never true
            name = f"r{index}_{j}"
            patterns: list[dict[str, Any]] = []
            metrics = frozenset().union(*(a.metrics for a in accs)) if accs else frozenset()
            thresholds = frozenset().union(*(a.thresholds for a in accs)) if accs else frozenset()
            acc = None
            if accs or not (pos or neg):
                acc = {"$and": _spliced([{"t": "account"}] + [a.json for a in accs])}
                patterns.append({"a": acc})
            for i, key in enumerate(pos):
                patterns.append({f"f{i}": _fact_pattern(key)})
                consumed.add(key)
            if neg:
                for key in neg:
                    flags.setdefault(key, f"x{len(flags)}")
                    phase_flags.setdefault(stratum, set()).add(key)
                patterns.append({"p": {"$and": [{"t": "phase"}, {"n": stratum}]
                                            + [{flags[k]: 0} for k in neg]}})
            if len(patterns) > MAX_JOINED:
                problems.append(Problem(rule.where.path, rule.where.line, rule.where.col,
                                        f"rule '{rule.id}' joins {len(patterns)} facts in one "
                                        f"alternative; the engine allows {MAX_JOINED}"))
            definition[name] = {"all": patterns}
            compiled[name] = CompiledRule(name, rule.id, stratum, rule.asserts,
                                          tuple(sorted(metrics)), tuple(sorted(thresholds)),
                                          tuple(pos), tuple(neg), acc, rule.where)
            used_metrics |= metrics
            used_thresholds |= thresholds
    _check_limits(project, definition, consumed, used_metrics, used_thresholds, problems)
    if not problems:  # the network of a ruleset already refused is not worth modelling
        problems += _network_problems(definition, compiled)
    if problems:
        raise EngineLimitError(problems)
    payloads = {}
    for kind, ids in (("signal", project.signals), ("class", project.classes),
                      ("risk", [r.id for r in project.risk_levels]), ("playbook", project.playbooks),
                      ("category", project.categories), ("severe", project.categories)):
        for ident in ids:
            payloads[(kind, ident)] = {"t": kind, "k": ident}
    phases = tuple(Stratum(s, tuple(sorted((flags[k], k) for k in keys)))
                   for s, keys in sorted(phase_flags.items()))
    return Compiled(definition, compiled, phases, frozenset(consumed), payloads,
                    tuple(sorted(used_thresholds)), tuple(sorted(used_metrics)), rule_strata,
                    {("signal", s.id): tuple(project.derived(("signal", s.id))) for s in project.signals.values()})


def _check_limits(project: Project, definition: dict[str, Any], consumed: set[Any], metrics: set[Any],
                  thresholds: set[Any], problems: list[Problem]) -> None:
    def add(message: str) -> None:
        first = project.rules[0].where if project.rules else None
        problems.append(Problem(first.path if first else "rules", 0, 0, message))

    if len(definition) > MAX_RULES:
        add(f"the rules compile to {len(definition)} engine rules; durable-rules allows {MAX_RULES}")
    fields = len(project.metrics) + len(thresholds) + 3
    if fields > MAX_FACT_PROPERTIES:
        add(f"an account carries {fields} fields (metrics and thresholds); the engine allows "
            f"{MAX_FACT_PROPERTIES}")
    for kind in ("signal", "class", "risk", "playbook", "category", "severe"):
        n = sum(1 for k in consumed if k[0] == kind)
        if n > MAX_MATCHING_FACTS:
            add(f"rules read {n} different {kind} facts; the engine matches at most "
                f"{MAX_MATCHING_FACTS} facts of one kind at once")
    for m in project.metrics:
        if m in RESERVED_FIELDS:
            add(f"metric id '{m}' is reserved by the engine; rename it")
