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
  facts asserted by `run` once the lower strata reached their fixpoint;
- loose coercion and "missing field compares TRUE": values reach us normalised to their
  declared types and every referenced field is guarded by an existence test (compiler);
- floats with a bare exponent (1e-05) are rejected (error 204): `dumps` never writes one;
- a session left half-made by an engine error segfaults when touched: the ruleset
  handle is discarded and rebuilt.
The C extension never releases the GIL: parallelism is by processes, each compiling
its own ruleset (handles cannot be pickled).
"""
from __future__ import annotations

import itertools
import json
import math
from decimal import Decimal
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _dre

from .compiler import ACCOUNT_RULE, Compiled

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


def dumps(value: Any) -> str:
    """JSON as durable-rules' parser accepts it (no exponents, no NaN)."""
    return _scalar(value)


@dataclass
class Outcome:
    fired: list[str]  # compiled rule names, in firing order (each once)
    facts: set  # derived fact keys (kind, id)


class Engine:
    """A compiled ruleset loaded into durable-rules, evaluating one account at a time."""

    def __init__(self, compiled: Compiled):
        self.compiled = compiled
        self._definition = dumps(compiled.definition)
        self._payloads = {k: v for k, v in compiled.fact_payloads.items()}
        self._consumed_signal_categories = {k[1] for k in compiled.consumed if k[0] == "category"}
        self._handle: Any = None
        self._open()

    def _open(self) -> None:
        try:
            self._handle = _dre.create_ruleset(f"kam{next(_names)}", self._definition)
        except Exception as exc:  # the C module raises a bare Exception with an error code
            raise EngineRuntimeError(f"durable-rules rejected the compiled ruleset: {exc}") from exc

    def close(self) -> None:
        if self._handle is not None:
            try:
                _dre.delete_ruleset(self._handle)
            except Exception:  # noqa: BLE001 - closing a broken handle is best effort
                pass
            self._handle = None

    def _consumed(self, key: tuple[str, str]) -> bool:
        if key in self.compiled.consumed:
            return True
        return key[0] == "signal" and \
            self._payloads[key].get("category") in self._consumed_signal_categories

    def _assert(self, fact: dict[str, Any]) -> int:
        code, handle = _dre.assert_fact(self._handle, dumps(fact))
        return handle if code == 0 else -1  # 1: nothing consumes it; 2: already there

    def run(self, account: dict[str, Any]) -> Outcome:
        """Assert the account, fire rules to a fixpoint stratum by stratum, return what fired."""
        fired: list[str] = []
        seen_fired: set[str] = set()
        facts: set = set()
        rules = self.compiled.rules
        try:
            state = self._assert({"sid": _SID, "id": "account", "t": "account", **account})
            pending = self._drain(state, rules, fired, seen_fired, facts)
            for phase in self.compiled.phases:
                payload: dict[str, Any] = {"sid": _SID, "id": f"phase{phase.stratum}", "t": "phase",
                                           "n": phase.stratum}
                for flag, key in phase.flags:
                    payload[flag] = 1 if self._holds(key, facts) else 0
                pending = self._assert(payload)
                if pending >= 0:
                    self._drain(pending, rules, fired, seen_fired, facts)
            del pending
            _dre.delete_state(self._handle, _SID)
        except EngineRuntimeError:
            self._reset()
            raise
        except Exception as exc:  # noqa: BLE001 - durable raises bare Exceptions with codes
            self._reset()
            raise EngineRuntimeError(f"durable-rules failed: {exc}") from exc
        return Outcome(fired, facts)

    def _holds(self, key: tuple[str, str], facts: set) -> bool:
        if key[0] == "category":
            return any(k[0] == "signal" and self._payloads[k]["category"] == key[1] for k in facts)
        return key in facts

    def _drain(self, state: int, rules: dict, fired: list[str], seen_fired: set[str],
               facts: set) -> int:
        if state < 0:
            return state
        result = _dre.start_action_for_state(self._handle, state)
        message = result[1] if result else None
        while message:
            name = next(iter(json.loads(message)))
            if name != ACCOUNT_RULE:
                if name not in seen_fired:
                    seen_fired.add(name)
                    fired.append(name)
                for key in rules[name].asserts:
                    if key not in facts:
                        facts.add(key)
                        if self._consumed(key):
                            self._assert({"sid": _SID, "id": f"{key[0]}:{key[1]}",
                                          **self._payloads[key]})
            message = _dre.complete_and_start_action(self._handle, state)
        return state

    def _reset(self) -> None:
        """After an engine error the session may be half-made: rebuild the ruleset."""
        self.close()
        self._open()
