"""kam's results.jsonl against the comparison evaluators, account by account, in input order.

The file is streamed (a million results do not fit comfortably in memory as dicts); each
evaluator's outcomes are (risk level, code) in the order of the accounts it evaluated,
which is the order of the input, so line i of results.jsonl is outcome i.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .logic import Codec, Outcome


def kam_outcomes(path: Path, codec: Codec) -> Iterator[tuple[str, Outcome]]:
    """(account_id, outcome) of every line of a results.jsonl."""
    bits = codec.bits
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            code = 0
            for s in r["signals"]:
                code |= bits[("signal", s["id"])]
            for c in r["classes"]:
                code |= bits[("class", c)]
            for p in r["playbooks"]:
                code |= bits[("playbook", p["id"])]
            yield r["account_id"], (r["risk_level"], code)


@dataclass
class Mismatch:
    index: int
    account_id: str
    kam: Outcome | None
    others: dict[str, Outcome | None]


@dataclass
class Check:
    compared: dict[str, int] = field(default_factory=dict)  # evaluator -> accounts compared
    mismatches: list[Mismatch] = field(default_factory=list)
    count_problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.count_problem


def check(results: Path, codec: Codec, ids: Sequence[str], outcomes: dict[str, Sequence[Outcome]],
          limit: int = 5) -> Check:
    """Compare results.jsonl with every evaluator's outcomes (each may cover a prefix of ids)."""
    out = Check({name: 0 for name in outcomes})
    n = 0
    for i, (aid, mine) in enumerate(kam_outcomes(results, codec)):
        n = i + 1
        if i >= len(ids):
            continue
        theirs = {name: (o[i] if i < len(o) else None) for name, o in outcomes.items()}
        bad = aid != ids[i] or any(t is not None and t != mine for t in theirs.values())
        for name, t in theirs.items():
            out.compared[name] += t is not None
        if bad and len(out.mismatches) < limit:
            out.mismatches.append(Mismatch(i, f"{aid} (input: {ids[i]})" if aid != ids[i] else aid,
                                           mine, theirs))
        elif bad:
            out.mismatches.append(Mismatch(i, aid, None, {}))  # counted, not shown
    if n != len(ids):
        out.count_problem = f"results.jsonl has {n} accounts, the input {len(ids)}"
    return out


def describe(m: Mismatch, codec: Codec) -> list[str]:
    lines = [f"account {m.account_id} (input row {m.index + 2}):"]

    def show(outcome: Outcome | None) -> str:
        if outcome is None:
            return "not evaluated"
        sets = codec.decode(outcome[1])
        return f"risk {outcome[0]}; " + "; ".join(f"{k}s {sorted(v)}" for k, v in sets.items())

    lines.append(f"  {'kam':<48} {show(m.kam)}")
    for name, o in m.others.items():
        flag = "" if o is None or o == m.kam else "  <-- differs"
        lines.append(f"  {name:<48} {show(o)}{flag}")
    return lines
