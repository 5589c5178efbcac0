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
        items = _flatten(arg)
        fused = _guarded_compare(items)
        if fused is not None:
            return fused
        parts = [compile_test(t) for t in items]
        if len(parts) == 1:
            return parts[0]
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


def _flatten(items: list[Any]) -> list[Any]:
    """Nested $and lists as one; the account-type test is always true here."""
    out: list[Any] = []
    for t in items:
        if isinstance(t, dict) and len(t) == 1 and "$and" in t:
            out += _flatten(t["$and"])
        elif t != {"t": "account"}:
            out.append(t)
    return out


def _guarded_compare(items: list[Any]) -> Predicate | None:
    """The compiler's commonest shape, [exists m, m OP value], as one closure (the hot path)."""
    if len(items) != 2 or not (isinstance(items[0], dict) and set(items[0]) == {"$ex"}):
        return None
    (guarded,) = items[0]["$ex"]
    test = items[1]
    if not isinstance(test, dict) or len(test) != 1:
        return None
    (key, arg), = test.items()
    if key in _OPS and isinstance(arg, dict) and len(arg) == 1 and guarded in arg:
        op, spec = _OPS[key], arg[guarded]
        if isinstance(spec, dict) and "$m" in spec:
            other = spec["$m"]

            def compare_field(fact: dict[str, Any]) -> bool:
                a, b = fact.get(guarded), fact.get(other)
                return a is not None and (b is None or op(a, b))
            return compare_field

        def compare_value(fact: dict[str, Any]) -> bool:
            a = fact.get(guarded)
            return a is not None and op(a, spec)
        return compare_value
    if key == guarded and not isinstance(arg, (dict, list)):
        return lambda fact: fact.get(guarded) == arg if guarded in fact else False
    return None


def compile_filter(account_tests: list[Any]) -> Predicate:
    """True when at least one of the account patterns may match the account fact."""
    preds = [compile_test(t) for t in account_tests]

    def may_fire(fact: dict[str, Any]) -> bool:
        for p in preds:
            if p(fact):
                return True
        return False
    return may_fire


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
