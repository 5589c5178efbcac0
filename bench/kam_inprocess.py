"""kam's own evaluator timed the way the comparison evaluators are: typed values in memory,
one process, to each account's outcome. It does more than they do - every result record
of contract.md (evidence, texts, playbook steps) - so its rate is a lower bound for the
rules alone. It is the fair per-core yardstick against CLIPS, which also runs in one
process; the end-to-end run with --workers is a separate row."""
from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from bench.logic import Codec, Outcome
from engine.project.model import Project
from engine.rules.evaluate import Evaluator


class KamEvaluator:
    name = "kam's Evaluator, one process (derived metrics, pre-filter, engine, result records)"

    def __init__(self, project: Project, as_of: str):
        self.evaluator = Evaluator(project, datetime.date.fromisoformat(as_of))
        self.bits = Codec.of(project).bits

    def evaluate(self, values: dict[str, Any]) -> Outcome:
        result = self.evaluator.evaluate(dict(values))
        bits = self.bits
        code = 0
        for kind, key in (("signal", "signals"), ("playbook", "playbooks")):
            for item in result[key]:
                code |= bits.get((kind, item["id"]), 0)
        for c in result["classes"]:
            code |= bits.get(("class", c), 0)
        return result["risk_level"], code

    def evaluate_all(self, accounts: Iterable[dict[str, Any]]) -> list[Outcome]:
        return [self.evaluate(v) for v in accounts]

    def close(self) -> None:
        self.evaluator.close()
