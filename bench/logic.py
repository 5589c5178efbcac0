"""What every comparison evaluator shares: the order rules run in, and the outcome of an
account in a form that compares cheaply.

An outcome is (risk level, code): the code is an integer with one bit per signal, class and
playbook of the project, so a million outcomes compare as two columns of numbers.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.project.checks import derived_from, fact_polarity
from engine.project.model import NO_RISK, Project, Rule

COMPARED = ("signal", "class", "playbook")  # the fact kinds of an outcome besides the risk level
Outcome = tuple[str, int]  # (risk level, code)


@dataclass(frozen=True)
class Codec:
    """One bit per fact of the kinds compared, in the project's declaration order."""

    facts: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, project: Project) -> Codec:
        return cls(tuple((kind, ident) for kind in COMPARED for ident in project.fact_ids(kind)))

    @property
    def bits(self) -> dict[tuple[str, str], int]:
        return {key: 1 << i for i, key in enumerate(self.facts)}

    def encode(self, facts: Iterable[tuple[str, str]]) -> int:
        bits = self.bits
        return sum(bits[k] for k in set(facts) if k in bits)

    def decode(self, code: int) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {kind: [] for kind in COMPARED}
        for i, (kind, ident) in enumerate(self.facts):
            if code >> i & 1:
                out[kind].append(ident)
        return out


def risk_level(project: Project, facts: Iterable[tuple[str, str]]) -> str:
    """The highest risk level asserted, 'none' without any."""
    risks = [ident for kind, ident in facts if kind == "risk"]
    return max(risks, key=project.risk_rank) if risks else NO_RISK


def reads(project: Project, rule: Rule) -> set[tuple[str, str]]:
    """Facts a rule's condition reads, either way; a category stands for its signals too."""
    pos, neg = fact_polarity(project, rule.when)
    keys = set(pos | neg)
    for key in list(keys):
        keys.update(derived_from(project, key))
    return keys


@dataclass(frozen=True)
class Group:
    """Rules that run together: one rule, or rules that feed each other positively (then
    they are repeated until nothing new is derived). `level` orders groups: a group only
    reads facts of groups of lower levels or its own."""

    rules: tuple[Rule, ...]
    fixpoint: bool
    level: int


def schedule(project: Project) -> list[Group]:
    """The rules in an order where every fact a rule reads is complete before it runs.

    Strongly connected components of the graph "rule q asserts a fact rule r reads", in
    topological order. Stratification (kam validate rejects a cycle through negation)
    means a component never negates its own facts, so repeating it to a fixpoint is exact.
    """
    rules = list(project.rules)
    asserted_by: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rules):
        for key in r.asserts:
            asserted_by.setdefault(key, []).append(i)
    deps = [sorted({q for key in reads(project, r) for q in asserted_by.get(key, [])}) for r in rules]
    components = _components(deps)
    component_of = {i: c for c, members in enumerate(components) for i in members}
    level: dict[int, int] = {}
    groups: list[Group] = []
    for c, members in enumerate(components):  # Tarjan yields components dependencies first
        before = [level[component_of[q]] for i in members for q in deps[i] if component_of[q] != c]
        level[c] = 1 + max(before, default=-1)
        cyclic = len(members) > 1 or members[0] in deps[members[0]]
        groups.append(Group(tuple(rules[i] for i in sorted(members)), cyclic, level[c]))
    return sorted(groups, key=lambda g: (g.level, g.rules[0].id))


def _components(deps: list[list[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components; each comes after the ones it depends on."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    out: list[list[int]] = []
    counter = 0
    for root in range(len(deps)):
        if root in index:
            continue
        work = [(root, 0)]  # iterative: a long chain of rules must not hit the recursion limit
        while work:
            node, pos = work.pop()
            if pos == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            for j in range(pos, len(deps[node])):
                nxt = deps[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                members = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    members.append(w)
                    if w == node:
                        break
                out.append(members)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out
