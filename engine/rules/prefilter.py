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

import json
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard

from .compile import THRESHOLD_PREFIX

if TYPE_CHECKING:
    from .compile import Compiled

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


def with_constants(test: Any, constants: dict[str, Any]) -> Any:
    """The test with references to these fields ({"$m": field}) replaced by their values:
    the same test of a fact that carries them, for a record that does not."""
    if isinstance(test, dict):
        if set(test) == {"$m"} and test["$m"] in constants:
            return constants[test["$m"]]
        if len(test) == 1 and ("$ex" in test or "$nex" in test) and set(next(iter(test.values()))) <= set(constants):
            return {}  # a test of a constant's presence: an unknown shape, "may match" (sound)
        return {k: with_constants(v, constants) for k, v in test.items()}
    if isinstance(test, list):
        return [with_constants(t, constants) for t in test]
    return test


def compile_filter(account_tests: list[Any]) -> Predicate:
    """True when at least one of the account patterns may match the account fact."""
    preds = [compile_test(t) for t in account_tests]

    def may_fire(fact: dict[str, Any]) -> bool:
        return any(p(fact) for p in preds)
    return may_fire


def quiet_facts(compiled: Compiled) -> set[Any]:
    """Facts derived when no rule that reads the account fires: the fixpoint of the
    fact-only rules, stratum by stratum (negation reads only lower, complete strata)."""
    facts: set[Any] = set()
    rules = [r for r in compiled.rules.values() if r.account_test is None]
    for level in sorted({r.stratum for r in rules}):
        changed = True
        while changed:
            changed = False
            for r in rules:
                if r.stratum <= level and set(r.required_facts) <= facts \
                        and not set(r.negated_facts) & facts:
                    for key in r.asserts:
                        for k in (key, *compiled.signal_derived.get(key, ())):
                            if k not in facts:
                                facts.add(k)
                                changed = True
    return facts


# ---- the truth of every account test: a key for the engine's outcome ---------------------------

class Unsure(Exception):
    """An account test whose truth in durable-rules is not known here for certain."""


def atoms(account_tests: list[Any]) -> list[Any]:
    """The distinct atomic tests (no $and/$or) of account patterns, in a fixed order."""
    found: dict[str, Any] = {}

    def walk(test: Any) -> None:
        if isinstance(test, dict) and len(test) == 1 and next(iter(test)) in ("$and", "$or"):
            for t in next(iter(test.values())):
                walk(t)
        elif test != {"t": "account"}:
            found.setdefault(json.dumps(test, sort_keys=True), test)
    for t in account_tests:
        walk(t)
    return [found[k] for k in sorted(found)]


def informative(tests: list[Any]) -> list[Any]:
    """The atomic tests without the presence tests another test already answers: a
    comparison or equality on a field is None (missing) exactly where `$ex` of that field is
    false, so two accounts that agree on it agree on the presence test too. The same
    accounts share a key; it is shorter."""
    revealed: set[str] = set()
    for test in tests:
        if not isinstance(test, dict) or len(test) != 1:
            continue
        (key, arg), = test.items()
        if key in _OPS and isinstance(arg, dict) and len(arg) == 1:
            ((field, spec),) = arg.items()
            revealed.add(field)
            if isinstance(spec, dict) and set(spec) == {"$m"} and isinstance(spec["$m"], str):
                revealed.add(spec["$m"])
        elif not key.startswith("$") and not isinstance(arg, (dict, list)) and arg is not None:
            revealed.add(key)

    def answered(test: Any) -> bool:
        if isinstance(test, dict) and len(test) == 1:
            (key, arg), = test.items()
            if key in ("$ex", "$nex") and isinstance(arg, dict) and len(arg) == 1:
                (field,) = arg
                return isinstance(field, str) and not field.startswith(THRESHOLD_PREFIX) and field in revealed
        return False
    return [t for t in tests if not answered(t)]


def compile_atom(test: Any) -> Callable[[dict[str, Any]], Any]:
    """One atomic test over an account's values: True or False as durable-rules decides it,
    None when a field it reads is missing (whatever durable makes of that, it makes it
    the same way for every such account), or Unsure."""
    def unsure(values: dict[str, Any]) -> Any:
        raise Unsure

    if not isinstance(test, dict) or len(test) != 1:
        return unsure
    (key, arg), = test.items()
    if key in ("$ex", "$nex"):
        if not isinstance(arg, dict) or len(arg) != 1:
            return unsure
        (field,) = arg
        if field.startswith(THRESHOLD_PREFIX):
            return unsure  # a threshold without a value for this segment: a null in the fact
        want = key == "$ex"
        return lambda values: (values.get(field) is not None) == want
    if key in _OPS:
        if not isinstance(arg, dict) or len(arg) != 1:
            return unsure
        ((field, spec),) = arg.items()
        op = _OPS[key]
        if isinstance(spec, dict) and set(spec) == {"$m"} and isinstance(spec["$m"], str) \
                and not spec["$m"].startswith(THRESHOLD_PREFIX) and not field.startswith(THRESHOLD_PREFIX):
            other = spec["$m"]

            def compare_fields(values: dict[str, Any]) -> Any:  # one metric against another
                a, b = values.get(field), values.get(other)
                if a is None or b is None:
                    return (a is None, b is None)  # which one is missing
                try:
                    return bool(op(a, b))
                except TypeError:
                    raise Unsure from None
            return compare_fields
        if isinstance(spec, (dict, list)) or spec is None or field.startswith(THRESHOLD_PREFIX):
            return unsure  # a threshold with no value for this segment: a null in the fact

        def compare(values: dict[str, Any]) -> Any:
            a = values.get(field)
            if a is None:
                return None
            try:
                return bool(op(a, spec))
            except TypeError:
                raise Unsure from None
        return compare
    if key.startswith("$") or isinstance(arg, (dict, list)) or arg is None or key.startswith(THRESHOLD_PREFIX):
        return unsure

    def equal(values: dict[str, Any]) -> Any:
        a = values.get(key)
        return None if a is None else a == arg
    return equal


_OP_TEXT = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">=", "$neq": "!="}


class _Names:
    """The names generated source uses: a local per field it reads (v0, v1, ...), a global per
    constant it compares with (c1, c2, ...: `env` is the source's globals)."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {"Unsure": Unsure}
        self.fields: dict[str, str] = {}

    def var(self, field: str) -> str:
        if field not in self.fields:
            self.fields[field] = f"v{len(self.fields)}"
        return self.fields[field]

    def const(self, value: Any) -> str:
        name = f"c{len(self.env)}"
        self.env[name] = value
        return name


def compile_key(tests: list[Any], missing: tuple[str, ...] | None = None) -> Callable[[dict[str, Any]], Any] | None:
    """compile_atom of every test, as one generated function returning the tuple of their
    values (each field read once, no call per test); None when a test is Unsure by its
    shape alone. The function raises Unsure where compile_atom's would (a TypeError).
    With `missing` (field names) it returns (that tuple, the names whose value is None, in
    their order): the fields are read once for both."""
    names = _Names()
    env, fields, var, const = names.env, names.fields, names.var, names.const

    parts = []
    for test in tests:
        source = _atom_source(test, var, const)
        if source is None:
            return None
        parts.append(source)
    absent = [(field, var(field)) for field in missing or ()]
    lines = ["def key(values):", "    get = values.get"]
    lines += [f"    {v} = get({field!r})" for field, v in fields.items()]
    lines += ["    try:", f"        key = ({''.join(p + ', ' for p in parts)})",
              "    except TypeError:", "        raise Unsure from None"]
    if missing is None:
        lines += ["    return key"]
    else:
        lines += ["    absent = []"]
        lines += [f"    if {v} is None:\n        absent.append({field!r})" for field, v in absent]
        lines += ["    return key, absent"]
    exec(compile("\n".join(lines), "<kam atoms>", "exec"), env)  # noqa: S102 - our own text
    key: Callable[[dict[str, Any]], Any] = env["key"]
    return key


def _atom_source(test: Any, var: Callable[[str], str], const: Callable[[Any], str]) -> str | None:
    """compile_atom's test as a Python expression, or None where it is unsure."""
    if not isinstance(test, dict) or len(test) != 1:
        return None
    (key, arg), = test.items()
    if key in ("$ex", "$nex"):
        if not isinstance(arg, dict) or len(arg) != 1:
            return None
        (field,) = arg
        if not isinstance(field, str) or field.startswith(THRESHOLD_PREFIX):
            return None
        return f"({var(field)} is {'not ' if key == '$ex' else ''}None)"
    if key in _OPS:
        if not isinstance(arg, dict) or len(arg) != 1:
            return None
        ((field, spec),) = arg.items()
        op = _OP_TEXT[key]
        if not isinstance(field, str) or field.startswith(THRESHOLD_PREFIX):
            return None
        a = var(field)
        if isinstance(spec, dict) and set(spec) == {"$m"} and isinstance(spec["$m"], str) \
                and not spec["$m"].startswith(THRESHOLD_PREFIX):
            b = var(spec["$m"])
            return f"(({a} is None, {b} is None) if {a} is None or {b} is None else bool({a} {op} {b}))"
        if isinstance(spec, (dict, list)) or spec is None:
            return None
        return f"(None if {a} is None else bool({a} {op} {const(spec)}))"
    if key.startswith("$") or isinstance(arg, (dict, list)) or arg is None or key.startswith(THRESHOLD_PREFIX):
        return None
    a = var(key)
    return f"(None if {a} is None else {a} == {const(arg)})"


def _known(parts: list[str | None]) -> TypeGuard[list[str]]:
    """No part is None (unknown)."""
    return not any(p is None for p in parts)


def compile_patterns(tests: list[Any]) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
    """Whether each account pattern matches an account's values, as one generated function
    giving a tuple of True/False, with None where a pattern's truth turns on a test of a
    missing value (never behind the compiler's existence guards). durable-rules fires
    rules on an account only through which of their account patterns match, so accounts
    with the same tuple (and no None) get the same outcome. None when a test's shape is not
    known here."""
    names = _Names()
    env, fields, var, const = names.env, names.fields, names.var, names.const
    counter = iter(range(1_000_000))

    def gen(test: Any) -> str | None:
        if not isinstance(test, dict) or len(test) != 1:
            return None
        (key, arg), = test.items()
        if key in ("$and", "$or"):
            if not isinstance(arg, list):
                return None
            parts = [gen(t) for t in arg]
            if not _known(parts):
                return None
            if not parts:
                return "True" if key == "$and" else "False"
            t = f"t{next(counter)}"
            tup = "(" + "".join(p + ", " for p in parts) + ")"
            if key == "$and":
                return f"(False if False in ({t} := {tup}) else None if None in {t} else True)"
            return f"(True if True in ({t} := {tup}) else None if None in {t} else False)"
        if key == "t":
            return "True" if arg == "account" else "False"
        atom = _atom_source(test, var, const)
        if atom is None:
            return None
        if key in _OPS and isinstance(arg, dict) and len(arg) == 1:
            ((_, spec),) = arg.items()
            if isinstance(spec, dict):  # one metric against another: unknown when one is missing
                a, b = var(next(iter(arg))), var(spec["$m"])
                return f"(None if {a} is None or {b} is None else bool({a} {_OP_TEXT[key]} {b}))"
        return atom  # None (unknown) exactly when the value is missing

    parts = [gen(t) for t in tests]
    if not _known(parts):
        return None
    lines = ["def patterns(values):", "    get = values.get"]
    lines += [f"    {v} = get({field!r})" for field, v in fields.items()]
    lines += ["    try:", f"        return ({''.join(p + ', ' for p in parts)})",
              "    except TypeError:", "        raise Unsure from None"]
    exec(compile("\n".join(lines), "<kam patterns>", "exec"), env)  # noqa: S102 - our own text
    patterns: Callable[[dict[str, Any]], tuple[Any, ...]] = env["patterns"]
    return patterns
