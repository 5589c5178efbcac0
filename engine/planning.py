"""One account, one plan: the steps its playbooks give it, shaped by what the rules decided.

After the rules fire, each playbook's steps are kept only where their `when:` holds (a step
whose condition cannot be decided for lack of a value stays: missing data never silently
removes work), and steps that share an `action:` across the account's playbooks become one
step — the one from the most urgent playbook, due at the earliest of their dates, the others
listed as merged into it so the plan shows their checklists as its agenda.

The account's priority is computed here too (rules/priority.yaml, engine/model.py Priority):
expected loss in money × every boost whose condition holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .model import Playbook, Project, Step
from .reference import Context, truth


@dataclass(frozen=True)
class PriorityParts:
    """How an account's priority was worked out, for results.jsonl and `kam explain`."""

    money: float  # the money at stake (a lost client: what winning it back would bring)
    margin_pct: float | None  # the margin applied; None for a lost client (already net)
    margin_known: bool
    chance: float  # the chance of losing it at the account's risk level
    expected_loss: float
    boosts: tuple[tuple[str, float], ...]  # (boost id, factor) that applied
    priority: float


class Planner:
    """Step conditions, merging and priority for every account of a run (built once)."""

    def __init__(self, project: Project):
        self.project = project
        self._steps: dict[str, dict[str, Step]] = {pid: {s.id: s for s in pb.steps}
                                                   for pid, pb in project.playbooks.items()}
        # playbooks with nothing to shape are passed through untouched (the common case)
        self._conditional = {pid for pid, pb in project.playbooks.items() if _shaped(pb)}

    def shape(self, playbooks: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
        """The account's playbook entries (most urgent first) with only the steps that apply,
        and one step per action. Entries are modified in place and returned."""
        if not any(p["id"] in self._conditional for p in playbooks):
            return playbooks
        for p in playbooks:
            if p["id"] in self._conditional:
                models = self._steps[p["id"]]
                p["steps"] = [s for s in p["steps"] if _holds(models.get(s["id"]), ctx)]
        self._merge(playbooks)
        return playbooks

    def _merge(self, playbooks: list[dict[str, Any]]) -> None:
        first: dict[str, dict[str, Any]] = {}  # action -> the step that carries it
        for p in playbooks:
            kept = []
            for s in p["steps"]:
                model = self._steps.get(p["id"], {}).get(s["id"])
                action = model.action if model is not None else ""
                primary = first.get(action) if action else None
                if primary is None:
                    if action:
                        first[action] = s
                    kept.append(s)
                    continue
                primary.setdefault("merged", []).append(
                    {"playbook": p["id"], "step": s["id"], "title": s["title"], "owner": s["owner"]})
                if s["due"] < primary["due"]:
                    primary["due"] = s["due"]
            p["steps"] = kept

    def priority(self, values: Mapping[str, Any], ctx: Context, risk_level: str,
                 winback: Mapping[str, Any] | None) -> PriorityParts:
        pr = self.project.priority
        margin = values.get(pr.margin)
        known = isinstance(margin, (int, float)) and not isinstance(margin, bool)
        margin_pct = max(float(margin), 0.0) if known else pr.default_margin_pct
        if values.get("status") == "lost" and winback is not None:
            # what winning it back is worth: the net benefit when it can be weighed
            value, cost = winback.get("value"), winback.get("cost")
            if value is not None and cost is not None:
                money, margin_out, chance = max(value - cost, 0.0), None, 1.0
            else:
                inputs = winback.get("inputs") or {}
                money = float(inputs.get("expected_annual_revenue") or values.get("revenue_previous") or 0.0)
                margin_out, chance = margin_pct, pr.lost_unknown_chance
        else:
            money = float(values.get(pr.at_stake) or 0.0)
            margin_out, chance = margin_pct, pr.risk_weights.get(risk_level, 0.0)
        loss = money * (margin_out / 100 if margin_out is not None else 1.0) * chance
        factor = 1.0
        applied = []
        for b in pr.boosts:
            if truth(b.when, ctx) is True:
                factor *= b.factor
                applied.append((b.id, b.factor))
        return PriorityParts(round(money, 2), margin_out, known, chance, round(loss, 2), tuple(applied),
                             round(loss * factor, 2))


def _shaped(pb: Playbook) -> bool:
    return any(s.when is not None or s.action for s in pb.steps)


def _holds(step: Step | None, ctx: Context) -> bool:
    """A step applies unless its condition is false (unknown keeps it)."""
    return step is None or step.when is None or truth(step.when, ctx) is not False
