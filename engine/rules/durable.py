"""The ONLY module that imports durable-rules. It hides the engine's sharp edges:

- the Python host (`durable.lang`/`engine.Host`) starts two threading.Timer loops in a
  module-level global and crashes with application threads (#291): we drive the C
  module `durable_rules_engine` directly, one ruleset handle per process, no host;
- a fact no rule consumes raises "not handled" (#350) and an identical fact raises
  "observed" (#250): we only assert facts some pattern reads, each once, and keep the
  set of derived facts ourselves;
- `delete_state` on a session where no action ran segfaults: a catch-all rule on the
  account fact guarantees one action per session;
- 1024 live sessions per ruleset, and sids compared by a 32-bit hash: one session at a
  time with a fixed sid, deleted after every account;
- `none()` is wrong when the negated fact arrives later: negation goes through phase-gate
  facts asserted by `fire` once the lower strata reached their fixpoint;
- loose coercion and "missing field compares TRUE": values reach us normalised to their
  declared types and every referenced field is guarded by an existence test (compiler);
- floats with a bare exponent (1e-05) are rejected (error 204): `dumps` never writes one;
- a session left half-made by an engine error segfaults when touched: the ruleset
  handle is discarded and rebuilt;
- the compiler checks the network limits of create_ruleset (one of them hangs it); what
  it refuses nonetheless is blamed on the rules that cause it, each tried alone, and
  `kam validate` builds the ruleset once to find out.
The C extension never releases the GIL: parallelism is by processes, each compiling
its own ruleset (handles cannot be pickled).
"""
from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import durable_rules_engine as _dre
import orjson

from ..errors import EngineLimitError, Problem
from ..project.model import Where
from .compile import ACCOUNT_RULE, Compiled

_SID = "1"
_names = itertools.count()


class EngineRuntimeError(RuntimeError):
    """durable-rules failed on one account; the account is reported, the run goes on."""


def _number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise EngineRuntimeError(f"not a finite number: {value}")
    text = repr(value)
    if "e" in text or "E" in text:
        # the exact shortest decimal, written out: 1e-07 -> 0.0000001, 1e+16 -> 10000000000000000
        text = format(Decimal(text), "f")
    return text


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_scalar(v)}"
                              for k, v in value.items()) + "}"
    raise EngineRuntimeError(f"cannot pass {type(value).__name__} to the engine")


_EXPONENT = re.compile(rb"[0-9][eE]")  # a number written with an exponent (or text like '1e5')


def dumps(value: Any) -> str:
    """JSON as durable-rules' parser accepts it (no exponents, no NaN)."""
    if type(value) is dict:
        # the fast, common case: orjson writes floats as repr does, without exponents from
        # 1e-5 to 1e16. What may not pass - an exponent, a null (also NaN's), a type orjson
        # refuses - goes the careful way, which writes the same JSON or raises
        try:
            text = orjson.dumps(value)
        except TypeError:
            text = None
        if text is not None and b"null" not in text and not _EXPONENT.search(text):
            return text.decode()
    return _scalar(value)


def check_ruleset(compiled: Compiled) -> None:
    """Build the ruleset once, as a run would: what durable-rules refuses beyond the limits
    the compiler knows is a validation error naming the rule."""
    Engine(compiled).close()


def _refused(compiled: Compiled, exc: Exception) -> list[Problem]:
    """The rules durable-rules refuses, each tried alone (with the catch-all account rule)."""
    problems = []
    for name, rule in compiled.rules.items():
        alone = {ACCOUNT_RULE: compiled.definition[ACCOUNT_RULE], name: compiled.definition[name]}
        try:
            handle = _dre.create_ruleset(f"kam{next(_names)}", dumps(alone))
        except Exception as err:  # noqa: BLE001 - a bare Exception with an error code
            w = rule.where or Where("rules")
            problems.append(Problem(w.path, w.line, w.col, f"rule '{rule.rule_id}': durable-rules refuses "
                                                          f"it ({err}); simplify or split the rule"))
        else:
            _dre.delete_ruleset(handle)
    if problems:
        return problems
    first = next((r.where for r in compiled.rules.values() if r.where is not None), Where("rules"))
    return [Problem(first.path, 0, 0, f"durable-rules refuses the rules together ({exc}), though each "
                                      "rule alone is accepted: try removing rules to find the conflict")]


@dataclass
class Fired:
    """What durable-rules did with one account: the rules that fired and the facts they derived."""

    fired: list[str]  # compiled rule names, in firing order (each once)
    facts: set[Any]  # derived fact keys (kind, id)


class Engine:
    """A compiled ruleset loaded into durable-rules, evaluating one account at a time."""

    def __init__(self, compiled: Compiled):
        self.compiled = compiled
        self._definition = dumps(compiled.definition)
        # what each rule's action asserts, as ready-made JSON: (key, json or None if no
        # pattern reads it - durable raises "not handled" for facts nobody consumes)
        self._facts_json = {
            key: (dumps({"sid": _SID, "id": f"{key[0]}:{key[1]}", **payload})
                  if key in compiled.consumed else None)
            for key, payload in compiled.fact_payloads.items()}
        self._derived = compiled.signal_derived
        self._asserts = {name: r.asserts for name, r in compiled.rules.items()}
        self._handle: Any = None
        self._open()

    def _open(self) -> None:
        try:
            self._handle = _dre.create_ruleset(f"kam{next(_names)}", self._definition)
        except Exception as exc:  # the C module raises a bare Exception with an error code
            raise EngineLimitError(_refused(self.compiled, exc)) from exc

    def close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(Exception):  # closing a broken handle is best effort
                _dre.delete_ruleset(self._handle)
            self._handle = None

    def fire(self, account: dict[str, Any]) -> Fired:
        """Assert the account, fire rules to a fixpoint stratum by stratum, return what fired."""
        fired: list[str] = []
        facts: set[Any] = set()
        account = dict(account, sid=_SID, id="account", t="account")
        try:
            code, state = _dre.assert_fact(self._handle, dumps(account))
            if code == 0:
                self._drain(state, fired, facts)
            for phase in self.compiled.phases:
                payload: dict[str, Any] = {"sid": _SID, "id": f"phase{phase.stratum}", "t": "phase",
                                           "n": phase.stratum}
                for flag, key in phase.flags:
                    payload[flag] = 1 if key in facts else 0
                code, state = _dre.assert_fact(self._handle, dumps(payload))
                if code == 0:
                    self._drain(state, fired, facts)
            _dre.delete_state(self._handle, _SID)
        except EngineRuntimeError:
            self._reset()
            raise
        except Exception as exc:  # noqa: BLE001 - durable raises bare Exceptions with codes
            self._reset()
            raise EngineRuntimeError(f"durable-rules failed: {exc}") from exc
        return Fired(fired, facts)

    def _derive(self, key: tuple[str, str], facts: set[Any]) -> None:
        if key in facts:
            return
        facts.add(key)
        text = self._facts_json.get(key)
        if text is not None:
            _dre.assert_fact(self._handle, text)  # 0, or 2 if already there: both fine
        for derived in self._derived.get(key, ()):
            self._derive(derived, facts)

    def _drain(self, state: int, fired: list[str], facts: set[Any]) -> None:
        result = _dre.start_action_for_state(self._handle, state)
        message = result[1] if result else None
        while message:
            # the message is {"<rule name>": {...matched facts...}}: only the name matters
            name = message[2:message.index('"', 2)]
            if name != ACCOUNT_RULE:
                if name not in fired:
                    fired.append(name)
                for key in self._asserts[name]:
                    self._derive(key, facts)
            message = _dre.complete_and_start_action(self._handle, state)

    def _reset(self) -> None:
        """After an engine error the session may be half-made: rebuild the ruleset."""
        self.close()
        self._open()
