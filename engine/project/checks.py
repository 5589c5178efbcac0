"""Names, types and strata: everything about a project that can be checked before running it."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import Problem
from ..hints import did_you_mean
from ..i18n import placeholder_problems
from . import expr
from .cells import DATE_COLUMNS, match_key, percent_of
from .model import DERIVED_KINDS, FACT_KINDS, Metric, Project, Rule, Where, value_key

FACT_PREFIXES = FACT_KINDS + DERIVED_KINDS
FORMULA_FUNCTIONS = {"pct_change": 2, "pct_drop": 2, "abs": 1, "min": 2, "max": 2}
CONDITION_FUNCTIONS = ("count", "any", "missing", "present")

FactKey = tuple[str, str]  # (kind, id); kind in FACT_PREFIXES


@dataclass(frozen=True)
class MetricRef:
    id: str


@dataclass(frozen=True)
class ThresholdRef:
    id: str


@dataclass(frozen=True)
class FactRef:
    kind: str
    id: str  # "*" for a wildcard (only inside count/any)


Resolved = MetricRef | ThresholdRef | FactRef


def resolve(project: Project, ref: expr.Ref) -> Resolved:
    """What a dotted name stands for; ExprError with a did-you-mean when unknown."""
    parts = ref.parts
    if parts[0] == "thresholds":
        if len(parts) != 2 or parts[1] == "*":
            raise expr.ExprError("write a threshold as thresholds.<id>", ref.pos)
        if parts[1] not in project.thresholds:
            raise expr.ExprError(f"unknown threshold '{parts[1]}'{did_you_mean(parts[1], project.thresholds)}",
                                 ref.pos)
        return ThresholdRef(parts[1])
    if parts[0] in FACT_PREFIXES:
        if len(parts) != 2:
            raise expr.ExprError(f"write a {parts[0]} as {parts[0]}.<id>", ref.pos)
        known = project.fact_ids(parts[0])
        if parts[1] != "*" and parts[1] not in known:
            raise expr.ExprError(f"unknown {parts[0]} '{parts[1]}'{did_you_mean(parts[1], known)}", ref.pos)
        return FactRef(parts[0], parts[1])
    if len(parts) != 1:
        raise expr.ExprError(f"unknown name '{ref.text}'", ref.pos)
    if parts[0] not in project.metrics:
        options = list(project.metrics) + [f"thresholds.{t}" for t in project.thresholds]
        raise expr.ExprError(f"unknown metric '{parts[0]}'{did_you_mean(parts[0], options)}", ref.pos)
    return MetricRef(parts[0])


def expand_facts(project: Project, call: expr.Call) -> list[FactKey]:
    """The facts counted by count(...)/any(...), wildcards expanded, in a stable order."""
    keys: list[FactKey] = []
    for arg in call.args:
        if not isinstance(arg, expr.Ref):
            raise expr.ExprError(f"{call.name}() takes facts such as category.* or signal.low_nps",
                                 getattr(arg, "pos", call.pos))
        r = resolve(project, arg)
        if not isinstance(r, FactRef):
            raise expr.ExprError(f"{call.name}() takes facts, not '{arg.text}'", arg.pos)
        ids = project.fact_ids(r.kind) if r.id == "*" else (r.id,)
        keys += [(r.kind, i) for i in ids if (r.kind, i) not in keys]
    if not keys:
        raise expr.ExprError(f"{call.name}() of nothing: no such facts are declared", call.pos)
    return keys


# ---- types -------------------------------------------------------------------------------

def _operand_type(project: Project, node: expr.Node) -> tuple[str, str]:
    """(type, role) of a comparison operand; role is metric|threshold|literal|count."""
    if isinstance(node, expr.Num):
        return "number", "literal"
    if isinstance(node, expr.Str):
        return "text", "literal"
    if isinstance(node, expr.Bool):
        return "boolean", "literal"
    if isinstance(node, expr.Ref):
        r = resolve(project, node)
        if isinstance(r, ThresholdRef):
            return "number", "threshold"
        if isinstance(r, MetricRef):
            m = project.metrics[r.id]
            return ("number" if m.numeric else m.type), "metric"
        raise expr.ExprError(f"'{node.text}' is a fact (true or false); use it on its own, "
                             "or count several with count(...)", node.pos)
    if isinstance(node, expr.Call) and node.name == "count":
        expand_facts(project, node)
        return "number", "count"
    if isinstance(node, (expr.Binary, expr.Unary)) or (isinstance(node, expr.Call)
                                                        and node.name in FORMULA_FUNCTIONS):
        raise expr.ExprError("arithmetic is not allowed in a condition: declare a derived metric "
                             "with a formula and compare that", node.pos)
    if isinstance(node, expr.Call):
        raise expr.ExprError(f"{node.name}() is not a value", node.pos)
    raise expr.ExprError("expected a metric, a threshold or a value", getattr(node, "pos", 0))


def check_condition(project: Project, node: expr.Node) -> None:
    """Raise ExprError for the first name or type problem in a condition."""
    if isinstance(node, (expr.And, expr.Or)):
        for item in node.items:
            check_condition(project, item)
    elif isinstance(node, expr.Not):
        check_condition(project, node.item)
    elif isinstance(node, expr.Ref):
        r = resolve(project, node)
        if isinstance(r, FactRef):
            if r.id == "*":
                raise expr.ExprError(f"'{node.text}' needs any(...) or count(...) around it", node.pos)
        elif isinstance(r, MetricRef):
            if project.metrics[r.id].type != "boolean":
                raise expr.ExprError(f"metric '{r.id}' is {project.metrics[r.id].type}, not "
                                     "true/false: compare it with something", node.pos)
        else:
            raise expr.ExprError(f"threshold '{r.id}' is a number: compare a metric with it", node.pos)
    elif isinstance(node, expr.Call):
        if node.name in ("missing", "present"):
            if len(node.args) != 1 or not isinstance(node.args[0], expr.Ref) or \
                    not isinstance(resolve(project, node.args[0]), MetricRef):
                raise expr.ExprError(f"{node.name}() takes one metric", node.pos)
        elif node.name == "any":
            expand_facts(project, node)
        elif node.name == "count":
            raise expr.ExprError("count(...) is a number: compare it, e.g. count(category.*) >= 2",
                                 node.pos)
        else:
            raise expr.ExprError(f"unknown function '{node.name}' in a condition "
                                 f"(conditions know {', '.join(CONDITION_FUNCTIONS)})", node.pos)
    elif isinstance(node, expr.Compare):
        lt, lrole = _operand_type(project, node.left)
        rt, rrole = _operand_type(project, node.right)
        if "metric" not in (lrole, rrole) and "count" not in (lrole, rrole):
            raise expr.ExprError("this compares two constants: one side must be a metric", node.pos)
        if "count" in (lrole, rrole) and {lrole, rrole} != {"count", "literal"}:
            raise expr.ExprError("compare count(...) with a whole number", node.pos)
        if lt != rt:
            raise expr.ExprError(f"cannot compare {lt} with {rt}", node.pos)
        if lt in ("text", "boolean") and node.op not in ("==", "!="):
            raise expr.ExprError(f"{lt} values compare only with == or !=", node.pos)
        for side, other in ((node.left, node.right), (node.right, node.left)):
            _check_text_value(project, side, other)
    elif isinstance(node, expr.In):
        lt, lrole = _operand_type(project, node.left)
        if lrole != "metric":
            raise expr.ExprError("the left side of 'in' must be a metric", node.pos)
        for item in node.items:
            it, irole = _operand_type(project, item)
            if irole != "literal" or it != lt:
                raise expr.ExprError(f"'in' needs a list of {lt} values", getattr(item, "pos", node.pos))
            _check_text_value(project, node.left, item)
    elif isinstance(node, (expr.Num, expr.Str, expr.Bool)):
        raise expr.ExprError("a condition must be true or false, not a constant", node.pos)
    else:
        raise expr.ExprError("arithmetic is not allowed in a condition: declare a derived metric "
                             "with a formula and compare that", getattr(node, "pos", 0))


def _check_text_value(project: Project, side: expr.Node, other: expr.Node) -> None:
    if isinstance(side, expr.Ref) and isinstance(other, expr.Str):
        r = resolve(project, side)
        if isinstance(r, MetricRef) and project.metrics[r.id].values and \
                other.value not in project.metrics[r.id].values:
            m = project.metrics[r.id]
            raise expr.ExprError(f"'{other.value}' is not a value of '{m.id}' "
                                 f"({', '.join(m.values)}){did_you_mean(other.value, m.values)}", other.pos)


def check_formula(project: Project, node: expr.Node) -> None:
    if isinstance(node, expr.Num):
        return
    if isinstance(node, expr.Ref):
        r = resolve(project, node)
        if not isinstance(r, MetricRef) or not project.metrics[r.id].numeric:
            raise expr.ExprError(f"'{node.text}' is not a numeric metric", node.pos)
    elif isinstance(node, expr.Binary):
        check_formula(project, node.left)
        check_formula(project, node.right)
    elif isinstance(node, expr.Unary):
        check_formula(project, node.operand)
    elif isinstance(node, expr.Call) and node.name in FORMULA_FUNCTIONS:
        if len(node.args) != FORMULA_FUNCTIONS[node.name]:
            raise expr.ExprError(f"{node.name}() takes {FORMULA_FUNCTIONS[node.name]} arguments", node.pos)
        for a in node.args:
            check_formula(project, a)
    else:
        raise expr.ExprError("a formula is arithmetic over numeric metrics "
                             f"(+ - * /, {', '.join(FORMULA_FUNCTIONS)})", getattr(node, "pos", 0))


# ---- facts a condition uses, with polarity -----------------------------------------------

def fact_polarity(project: Project, node: expr.Node, positive: bool = True) -> tuple[set[FactKey], set[FactKey]]:
    """(facts used positively, facts used under negation) in a condition."""
    pos: set[FactKey] = set()
    neg: set[FactKey] = set()

    def add(keys: Iterable[FactKey], up: bool, down: bool) -> None:
        for k in keys:
            if up:
                (pos if positive else neg).add(k)
            if down:
                (neg if positive else pos).add(k)

    if isinstance(node, (expr.And, expr.Or)):
        for item in node.items:
            p, n = fact_polarity(project, item, positive)
            pos |= p
            neg |= n
    elif isinstance(node, expr.Not):
        p, n = fact_polarity(project, node.item, not positive)
        pos |= p
        neg |= n
    elif isinstance(node, expr.Ref):
        r = resolve(project, node)
        if isinstance(r, FactRef):
            add([(r.kind, r.id)], True, False)
    elif isinstance(node, expr.Call) and node.name == "any":
        add(expand_facts(project, node), True, False)
    elif isinstance(node, expr.Compare):
        for side, op in ((node.left, node.op), (node.right, expr.FLIP[node.op])):
            if isinstance(side, expr.Call) and side.name == "count":
                # count >= k only grows with more facts; <=, ==, != also need their absence
                up = op in (">", ">=", "==", "!=")
                down = op in ("<", "<=", "==", "!=")
                add(expand_facts(project, side), up, down)
    return pos, neg


def derived_from(project: Project, key: FactKey) -> list[FactKey]:
    """A category holds when any of its signals does; severe.<category> when a signal of it at
    least as severe as severe_from does."""
    return project.derived_by(key)


def strata(project: Project) -> dict[str, int]:
    """Stratum of every rule: negated facts must be complete (lower stratum) before use.

    Raises ValueError naming the rules of a cycle through negation.
    """
    uses = {r.id: fact_polarity(project, r.when) for r in project.rules}
    fact_stratum: dict[FactKey, int] = {}
    rule_stratum = {r.id: 0 for r in project.rules}
    bound = len(project.rules) + 2
    changed = True
    while changed:
        changed = False
        for r in project.rules:
            pos, neg = uses[r.id]
            s = max([0] + [_fs(project, fact_stratum, k) for k in pos]
                    + [_fs(project, fact_stratum, k) + 1 for k in neg])
            if s > bound:
                raise ValueError(_cycle_message(project, uses))
            if s != rule_stratum[r.id]:
                rule_stratum[r.id] = s
                changed = True
            for k in r.asserts:
                if fact_stratum.get(k, 0) < s:
                    fact_stratum[k] = s
                    changed = True
    return rule_stratum


def _fs(project: Project, fact_stratum: dict[FactKey, int], key: FactKey) -> int:
    if key[0] in DERIVED_KINDS:
        return max([0] + [fact_stratum.get(k, 0) for k in derived_from(project, key)])
    return fact_stratum.get(key, 0)


def _cycle_message(project: Project, uses: dict[str, tuple[set[FactKey], set[FactKey]]]) -> str:
    """Find rules on a cycle that passes through a negation, for the error message."""
    asserted_by: dict[FactKey, list[Rule]] = {}
    for r in project.rules:
        for k in r.asserts:
            asserted_by.setdefault(k, []).append(r)

    def producers(key: FactKey) -> list[Rule]:
        out = list(asserted_by.get(key, []))
        for k in derived_from(project, key):
            out += asserted_by.get(k, [])
        return out

    for start in project.rules:
        for neg in sorted(uses[start.id][1]):
            # path from a producer of `neg` back to `start` through dependencies
            stack = [(p, [p.id]) for p in producers(neg)]
            seen: set[str] = set()
            while stack:
                rule, path = stack.pop()
                if rule.id == start.id:
                    chain = " → ".join([start.id] + path[:-1][::-1] + [start.id]) if len(path) > 1 \
                        else f"{start.id} → {start.id}"
                    return (f"cycle through negation: rule '{start.id}' negates "
                            f"{neg[0]}.{neg[1]}, which depends on '{start.id}' itself "
                            f"({chain}); a rule may only negate facts of a lower stratum")
                if rule.id in seen:
                    continue
                seen.add(rule.id)
                pos, negs = uses[rule.id]
                for k in pos | negs:
                    for p in producers(k):
                        stack.append((p, path + [p.id]))
    return "cycle through negation among the rules"


# ---- the whole project -------------------------------------------------------------------

def check_project(project: Project) -> list[Problem]:
    """Every name, type, reference and stratification problem of a modelled project."""
    problems: list[Problem] = []

    def at(where: Where, offset: int, message: str) -> None:
        problems.append(Problem(where.path, where.line, where.col + offset, message))

    for m in project.metrics.values():
        if m.formula is not None:
            if not m.numeric:
                at(m.where, 0, f"metric '{m.id}': a derived metric must be number or integer")
            try:
                check_formula(project, m.formula)
            except expr.ExprError as exc:
                at(m.where, 0, f"metric '{m.id}' → formula: {exc}")
        if m.values and m.type != "text":
            at(m.where, 0, f"metric '{m.id}': values are for text metrics")
        if m.fractions and (not m.numeric or m.unit != "%" or m.derived):
            at(m.where, 0, f"metric '{m.id}' → percent: only for a number metric with unit \"%\" "
                           "that input files give (not a formula)")
    for m in project.metrics.values():
        if m.default_by is not None:
            for key, message in _default_by_problems(project, m):
                where = m.default_by.value_where.get(key, m.default_by.where) if key else m.default_by.where
                at(where, 0, f"metric '{m.id}' → default_by: {message}")
    cycle = _formula_cycle(project)
    if cycle:
        m = project.metrics[cycle[0]]
        at(m.where, 0, f"metric '{m.id}': formulas refer to each other in a cycle: {' → '.join(cycle)}")
    for s in project.signals.values():
        if s.category not in project.categories:
            at(s.where, 0, f"signal '{s.id}': unknown category '{s.category}'"
                           f"{did_you_mean(s.category, project.categories)}")
    for r in project.rules:
        try:
            check_condition(project, r.when)
        except expr.ExprError as exc:
            at(r.when_where, exc.offset, f"rule '{r.id}' → when: {exc}")
        for kind, ident in r.asserts:
            known = project.fact_ids(kind)
            if ident not in known:
                at(r.where, 0, f"rule '{r.id}' → then: unknown {kind} '{ident}'{did_you_mean(ident, known)}")
    for pb in project.playbooks.values():
        n = pb.negotiation
        if n is not None and n.meetings:
            ids = [st.id for st in pb.steps]
            for mid in n.meetings:
                if mid not in ids:
                    at(n.meetings_where or pb.where, 0,
                       f"playbook '{pb.id}' → negotiation → meetings: unknown step '{mid}'{did_you_mean(mid, ids)}")
        for st in pb.steps:
            if st.when is not None and st.when_where is not None:
                try:
                    check_condition(project, st.when)
                except expr.ExprError as exc:
                    at(st.when_where, exc.offset, f"playbook '{pb.id}' → step '{st.id}' → when: {exc}")
    problems += _priority_problems(project)
    problems += _input_problems(project)
    if not problems:
        try:
            strata(project)
        except ValueError as exc:
            first = min((r for r in project.rules), key=lambda r: r.id)
            at(first.where, 0, str(exc))
    return problems


def _default_by_problems(project: Project, m: Metric) -> list[tuple[str, str]]:
    """(key of `values:` or "" for the whole block, message). default_by fills an empty input
    from another input's value: that metric must be a text input, every key one of its values
    as compared (lower case, underscores), every default a valid value of this metric."""
    d = m.default_by
    assert d is not None
    out: list[tuple[str, str]] = []
    if m.derived:
        out.append(("", "a derived metric is computed, not defaulted (give the default to an input)"))
    if m.default is not None:
        out.append(("", "the metric already has a default:, so default_by would never apply"))
    other = project.metrics.get(d.metric)
    known: set[str] = set()
    if other is None:
        out.append(("", f"unknown metric '{d.metric}'{did_you_mean(d.metric, project.metrics)}"))
    elif other.id == m.id:
        out.append(("", "a metric cannot take its default from itself"))
    elif other.derived or other.type != "text":
        out.append(("", f"'{other.id}' must be a text input (its value picks the default)"))
    elif other.values:
        known = {value_key(v) for v in other.values}
    for key, value in d.values.items():
        if key != value_key(key):
            out.append((key, f"'{key}': write it lower case with underscores ('{value_key(key)}'), "
                             "as values are compared"))
        elif known and key not in known:
            out.append((key, f"'{key}' is not a value of '{d.metric}' ({', '.join(sorted(known))})"
                             f"{did_you_mean(key, known)}"))
        problem = _default_value_problem(m, value)
        if problem:
            out.append((key, f"'{key}': {problem}"))
    return out


def _input_problems(project: Project) -> list[Problem]:
    """kam.yaml's `columns:` and `values:`: a column mapped onto no metric would be ignored
    and a value mapped onto one the metric does not take rejected in every row, both only at
    run time; a name written twice (as case and spaces are ignored) would hide one of them."""
    out: list[Problem] = []

    def at(where: Where, message: str) -> None:
        out.append(Problem(where.path, where.line, where.col, message))

    targets = list(project.metrics) + list(DATE_COLUMNS)
    names: dict[str | None, str] = {}  # as matched -> as written first
    for name, target in project.columns.items():
        where = project.columns_where[name]
        if target not in targets:
            at(where, f"columns → '{name}': unknown metric '{target}'{did_you_mean(target, targets)}")
        other = names.setdefault(match_key(name), name)
        if other != name:
            at(where, f"columns → '{name}': the same column as '{other}' (names match ignoring case and spaces)")
    for mid, vm in project.values.items():
        m = project.metrics.get(mid)
        if m is None:
            at(vm.where, f"values: unknown metric '{mid}'{did_you_mean(mid, project.metrics)}")
            continue
        names = {}
        for written, value in vm.values.items():
            where, crumb = vm.value_where[written], f"values → {mid} → '{written}'"
            if not written.strip():
                at(where, f"{crumb}: an empty cell is a missing value, it is never mapped")
                continue
            other = names.setdefault(match_key(written), written)
            if other != written:
                at(where, f"{crumb}: the same as '{other}' (values match ignoring case and spaces)")
            if isinstance(value, str) and not value.strip():
                at(where, f"{crumb}: maps to empty text (leave the value out to read it as written)")
                continue
            # a mapped value is read as if the file had it: a fraction of 1 too, where bare numbers are
            fraction = m.fractions and isinstance(value, (int, float)) and not isinstance(value, bool)
            # (fraction implies the isinstance; repeated so that mypy narrows value)
            problem = _default_value_problem(
                m, percent_of(value) if fraction and isinstance(value, (int, float)) else value)
            if problem:
                at(where, f"{crumb}: {problem}" + (f" ({value!r} is read as a fraction of 1, ×100)"
                                                   if fraction else ""))
    return out


def _default_value_problem(m: Metric, value: object) -> str:
    if m.numeric:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} is not a number"
        if m.type == "integer" and value != int(value):
            return f"{value!r} is not a whole number"
        if m.min is not None and value < m.min:
            return f"{value!r} is below the metric's min {m.min:g}"
        if m.max is not None and value > m.max:
            return f"{value!r} is above the metric's max {m.max:g}"
        return ""
    if m.type == "boolean":
        return "" if isinstance(value, bool) else f"{value!r} is not true or false"
    if not isinstance(value, str):
        return f"{value!r} is not text"
    if m.values and value not in m.values:
        return f"'{value}' is not a value of '{m.id}' ({', '.join(m.values)}){did_you_mean(value, m.values)}"
    return ""


def _priority_problems(project: Project) -> list[Problem]:
    pr = project.priority
    if pr.where is None:
        return []
    out: list[Problem] = []

    def at(where: Where, offset: int, message: str) -> None:
        out.append(Problem(where.path, where.line, where.col + offset, message))

    for name, mid in (("at_stake", pr.at_stake), ("margin", pr.margin)):
        m = project.metrics.get(mid)
        if m is None or not m.numeric:
            at(pr.where, 0, f"priority → {name}: '{mid}' is not a number metric"
                            f"{did_you_mean(mid, [k for k, v in project.metrics.items() if v.numeric])}")
    levels = ["none"] + [r.id for r in project.risk_levels]
    for level in pr.risk_weights:
        if level not in levels:
            at(pr.where, 0, f"priority → risk_weights: unknown risk level '{level}'{did_you_mean(level, levels)}")
    for b in pr.boosts:
        try:
            check_condition(project, b.when)
        except expr.ExprError as exc:
            at(b.where, exc.offset, f"priority → boost '{b.id}' → when: {exc}")
    return out


def evidence_problems(project: Project) -> list[Problem]:
    """Malformed placeholders and unknown metric/threshold names in signal evidence texts."""
    problems: list[Problem] = []
    for s in project.signals.values():
        for lang, text in s.evidence.items():
            where = s.evidence_where.get(lang, s.where)
            for _, message in placeholder_problems(text, project.metrics, project.thresholds):
                problems.append(Problem(where.path, where.line, where.col,
                                        f"signal '{s.id}' → evidence ({lang}): {message}"))
    return problems


def _formula_cycle(project: Project) -> list[str]:
    deps = {m.id: [r.parts[0] for r in expr.refs(m.formula) if r.parts[0] in project.metrics]
            for m in project.metrics.values() if m.formula is not None}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        if state.get(node) == 1:
            return path[path.index(node):] + [node]
        if state.get(node) == 2 or node not in deps:
            return []
        state[node] = 1
        for d in deps[node]:
            found = visit(d, path + [node])
            if found:
                return found
        state[node] = 2
        return []

    for m in sorted(deps):
        found = visit(m, [])
        if found:
            return found
    return []


def formula_order(project: Project) -> list[str]:
    """Derived metrics in dependency order (inputs first)."""
    order: list[str] = []
    done: set[str] = set()

    def visit(mid: str) -> None:
        if mid in done:
            return
        done.add(mid)
        m = project.metrics[mid]
        assert m.formula is not None  # visit is called on derived metrics only
        for r in expr.refs(m.formula):
            if r.parts[0] in project.metrics and project.metrics[r.parts[0]].derived:
                visit(r.parts[0])
        order.append(mid)

    for mid in sorted(project.metrics):
        if project.metrics[mid].derived:
            visit(mid)
    return order


def chain_levels(project: Project) -> dict[str, int]:
    """Depth of every rule in the chain (metrics -> signals -> risk -> playbooks), for
    showing fired rules in the order they build on each other."""
    uses = {r.id: fact_polarity(project, r.when) for r in project.rules}
    producers: dict[FactKey, Any] = {}
    for r in project.rules:
        for k in r.asserts:
            producers.setdefault(k, []).append(r.id)
    level = {r.id: 0 for r in project.rules}
    for _ in range(len(project.rules)):  # longest path; positive cycles stop at the bound
        changed = False
        for r in project.rules:
            pos, neg = uses[r.id]
            deps = [p for k in pos | neg for kk in [k] + derived_from(project, k)
                    for p in producers.get(kk, []) if p != r.id]
            new = max([0] + [level[d] + 1 for d in deps])
            if new > level[r.id]:
                level[r.id] = new
                changed = True
        if not changed:
            break
    return level
