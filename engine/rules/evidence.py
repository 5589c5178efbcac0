"""What a result says in words: each signal's evidence sentence, and the win-back
cost–benefit of a lost account (source 001)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..i18n import fill, format_value, parsed
from ..project import expr
from ..project.model import Metric, Project, Signal, text_in
from ..result import Winback
from .metrics import DEFAULTED

# The win-back decision is made by rules (rules/classes.yaml) asserting one of these classes;
# neither is asserted when an input is missing, and the plan then says what is missing. The
# cost is the total (the effort and the concessions to the client's special requirements)
# when the project declares it, else the effort alone (projects made before it existed).
WINBACK_VALUE = "winback_value"
WINBACK_TOTAL_COST = "winback_total_cost"
WINBACK_COST = "winback_cost"
PURSUE, DECLINE = "winback_pursue", "winback_decline"


def threshold_text(project: Project, text: str, lang: str, segment: Any = None) -> str:
    """A project text with its {thresholds.name} filled in for the segment, in `lang`'s numbers;
    anything else between braces stays as written (kam validate reports it)."""
    def lookup(kind: str, name: str) -> str:
        t = project.thresholds.get(name) if kind == "threshold" else None
        if t is None:
            return "{" + ("thresholds." if kind == "threshold" else "") + name + "}"
        return format_value(t.for_segment(segment), lang, t.unit)
    return fill(text, lookup)


def signal_text(project: Project, signal: Signal, lang: str, evidence: Mapping[str, Any],
                values: Mapping[str, Any]) -> str:
    """The evidence sentence of a fired signal in `lang`. Placeholders take the values that
    made the rule fire, else the account's value (e.g. the revenues behind a percentage)."""
    segment = values.get("segment")

    def lookup(kind: str, name: str) -> str:
        if kind == "metric":
            m = project.metrics.get(name)
            value = evidence["metrics"][name] if name in evidence["metrics"] else values.get(name)
            return format_value(value, lang, m.unit if m else "")
        t = project.thresholds.get(name)
        if name in evidence["thresholds"]:
            value = evidence["thresholds"][name]
        else:
            value = t.for_segment(segment) if t is not None else None
        return format_value(value, lang, t.unit if t else "")

    template = text_in(signal.evidence, lang)
    if template:
        return fill(template, lookup)
    # no sentence written: name each value by its description
    parts = [f"{text_in(project.metrics[m].description, lang) or m}: {lookup('metric', m)}"
             for m in evidence["metrics"] if m in project.metrics]
    parts += [f"{text_in(project.thresholds[t].description, lang) or t} {lookup('threshold', t)}"
              for t in evidence["thresholds"] if t in project.thresholds]
    return "; ".join(parts)


Pieces = tuple[Any, ...]  # literal text, or (metric, taken from the evidence?, unit)


def signal_pieces(project: Project, signal: Signal, lang: str, metrics: tuple[str, ...],
                  thresholds: Mapping[str, Any], segment: Any) -> Pieces:
    """signal_text worked out ahead for a signal whose evidence has these metrics and
    thresholds, in this segment: literal text (the thresholds' values included) between the
    metric values to fill in. render_pieces(pieces, ...) == signal_text(...) for them."""
    def metric(name: str) -> tuple[Any, ...]:
        m = project.metrics.get(name)
        return (name, name in metrics, m.unit if m else "")

    def threshold(name: str) -> str:
        t = project.thresholds.get(name)
        if name in thresholds:
            value = thresholds[name]
        else:
            value = t.for_segment(segment) if t is not None else None
        return format_value(value, lang, t.unit if t else "")

    out: list[Any] = []
    template = text_in(signal.evidence, lang)
    if template:
        texts, holes = parsed(template)
        out.append(texts[0])
        for hole, text in zip(holes, texts[1:]):
            out.append(metric(hole.name) if hole.kind == "metric" else threshold(hole.name))
            out.append(text)
    else:
        parts: list[list[Any]] = [[f"{text_in(project.metrics[m].description, lang) or m}: ", metric(m)]
                                  for m in metrics if m in project.metrics]
        parts += [[f"{text_in(project.thresholds[t].description, lang) or t} {threshold(t)}"]
                  for t in thresholds if t in project.thresholds]
        for i, part in enumerate(parts):
            out += (["; "] if i else []) + part
    merged: list[Any] = []
    for piece in out:  # adjacent literals as one
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        elif not (isinstance(piece, str) and not piece):
            merged.append(piece)
    return tuple(merged)


def render_pieces(pieces: Pieces, lang: str, evidence_metrics: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    out = []
    for piece in pieces:
        if piece.__class__ is str:
            out.append(piece)
        else:
            name, in_evidence, unit = piece
            out.append(format_value(evidence_metrics[name] if in_evidence else values.get(name), lang, unit))
    return "".join(out)


def winback(project: Project, values: Mapping[str, Any], classes: list[str]) -> Winback | None:
    """The cost–benefit of winning back a lost account; None for active accounts or a project
    without the `winback_value` metric. `inputs` are the values the decision rests on (the
    benefit's, then the cost's: `cost_inputs`); `defaulted` the inputs that were empty and took
    the project's default (default_by), which the plan marks."""
    metric = project.metrics.get(WINBACK_VALUE)
    if values.get("status") != "lost" or metric is None or metric.formula is None:
        return None
    cost_id = WINBACK_TOTAL_COST if WINBACK_TOTAL_COST in project.metrics else WINBACK_COST
    cost_metric = project.metrics.get(cost_id)
    inputs = _inputs(project, metric)
    cost_inputs = _inputs(project, cost_metric) if cost_metric is not None and cost_metric.derived \
        else [cost_id] if cost_metric is not None else []
    inputs += [m for m in cost_inputs if m not in inputs]
    defaulted = [m for m in values.get(DEFAULTED) or () if m in inputs]
    decision = "pursue" if PURSUE in classes else "do_not_pursue" if DECLINE in classes else "undecided"
    return {"decision": decision, "value": values.get(WINBACK_VALUE), "cost": values.get(cost_id),
            "cost_metric": cost_id, "inputs": {m: values.get(m) for m in inputs},
            "cost_inputs": cost_inputs,
            "missing": [m for m in inputs if values.get(m) is None],
            "defaulted": defaulted,
            "lost_reason": values.get("lost_reason")}


def _inputs(project: Project, metric: Metric) -> list[str]:
    """The input metrics a derived metric's formula rests on, through other derived metrics,
    in formula order."""
    out: list[str] = []
    assert metric.formula is not None  # called with derived metrics only
    for ref in expr.refs(metric.formula):
        m = project.metrics.get(ref.parts[0])
        if m is None:
            continue
        for mid in (_inputs(project, m) if m.derived else [m.id]):
            if mid not in out:
                out.append(mid)
    return out
