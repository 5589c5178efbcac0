"""A sound pre-filter: an account goes to the engine only if the account pattern of at
least one compiled rule matches it. Otherwise no rule that reads the account can fire,
and what fires is what fires on no account facts at all - the same for every such
account, so the engine computes it once (see Evaluator).

The predicates interpret the compiled JSON conditions (the exact patterns durable-rules
receives) in Python; every field test there is guarded by an existence test, so plain
Python comparisons agree with the engine. Where in doubt a predicate says "may match":
a false positive costs time, never a different result.
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .compiler import Compiled

Predicate = Callable[[dict[str, Any]], bool]
_OPS = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge,
        "$neq": operator.ne}


def _value(spec: Any) -> Callable[[dict[str, Any]], Any]:
    if isinstance(spec, dict) and "$m" in spec:
        field = spec["$m"]
        return lambda fact: fact.get(field)
    return lambda fact: spec


def compile_test(test: Any) -> Predicate:
    """A predicate over an account fact for one compiled account pattern."""
    if not isinstance(test, dict) or len(test) != 1:
        return lambda fact: True  # unknown shape: may match
    (key, arg), = test.items()
    if key == "$and":
        parts = [compile_test(t) for t in arg]
        return lambda fact: all(p(fact) for p in parts)
    if key == "$or":
        parts = [compile_test(t) for t in arg]
        return lambda fact: any(p(fact) for p in parts)
    if key == "$ex":
        (field,) = arg
        return lambda fact: fact.get(field) is not None
    if key == "$nex":
        (field,) = arg
        return lambda fact: fact.get(field) is None
    if key in _OPS:
        ((field, spec),) = arg.items()
        op, value = _OPS[key], _value(spec)

        def compare(fact: dict[str, Any]) -> bool:
            a, b = fact.get(field), value(fact)
            if a is None or b is None:
                return True  # cannot happen behind the guards; stay sound regardless
            try:
                return bool(op(a, b))
            except TypeError:
                return True
        return compare
    if key == "t":
        return lambda fact: arg == "account"
    value = _value(arg)

    def equal(fact: dict[str, Any]) -> bool:
        a, b = fact.get(key), value(fact)
        return True if a is None or b is None else a == b
    return equal


def compile_filter(account_tests: list[Any]) -> Predicate:
    """True when at least one of the account patterns may match the account fact."""
    preds = [compile_test(t) for t in account_tests]
    return lambda fact: any(p(fact) for p in preds)


def quiet_facts(compiled: "Compiled") -> set:
    """Facts derived when no rule that reads the account fires: the fixpoint of the
    fact-only rules, stratum by stratum (negation reads only lower, complete strata)."""
    facts: set = set()
    rules = [r for r in compiled.rules.values() if r.account_test is None]
    for level in sorted({r.stratum for r in rules}):
        changed = True
        while changed:
            changed = False
            for r in rules:
                if r.stratum <= level and set(r.required_facts) <= facts \
                        and not set(r.negated_facts) & facts:
                    for key in r.asserts:
                        for k in (key, ("category", compiled.signal_categories.get(key))):
                            if k[1] is not None and k not in facts:
                                facts.add(k)
                                changed = True
    return facts
