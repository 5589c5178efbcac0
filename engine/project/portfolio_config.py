"""rules/portfolio.yaml (kind `portfolio`) -> model.Portfolio, and the checks a schema cannot
make: boundaries in order, axes naming declared criteria, a score column for every criterion."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Problem
from ..hints import did_you_mean
from .loader import Document
from .model import BOUNDARIES, TARGETS, Axis, Criterion, Portfolio, Project, Text, Threshold, Where

BOUNDARY_TEXT: dict[str, Text] = {
    "key_account_share_pct": {"en": "Revenue share above this makes a key account",
                              "ru": "Доля выручки выше этой — ключевой клиент"},
    "dependency_risky_pct": {"en": "Share above this is a risky dependency",
                             "ru": "Доля выше этой — рискованная зависимость"},
    "dependency_mono_pct": {"en": "Share above this makes a mono client",
                            "ru": "Доля выше этой — моноклиент"},
    "abc_a_pct": {"en": "Class A until the cumulative revenue share reaches this",
                  "ru": "Класс A до этой накопленной доли выручки"},
    "abc_b_pct": {"en": "Class B until the cumulative revenue share reaches this",
                  "ru": "Класс B до этой накопленной доли выручки"},
}


def _text(value: Any) -> Text:
    if value is None:
        return {}
    return {"en": value} if isinstance(value, str) else dict(value)


def _where(doc: Document, key: tuple[Any, ...]) -> Where:
    line, col = doc.where(key)
    return Where(doc.path, line, col)


def build(doc: Document) -> tuple[Portfolio, list[Problem]]:
    """The model of a schema-valid portfolio document, and its semantic problems."""
    data: Mapping[str, Any] = doc.data
    problems: list[Problem] = []
    bounds = {**BOUNDARIES, **{k: float(v) for k, v in data.get("boundaries", {}).items()}}
    for low, high in (("abc_a_pct", "abc_b_pct"), ("dependency_risky_pct", "dependency_mono_pct")):
        if bounds[low] >= bounds[high]:
            key = ("boundaries", low) if low in data.get("boundaries", {}) else ("boundaries", high)
            problems.append(doc.problem(key, f"boundaries: {low} ({bounds[low]:g}) must be below "
                                             f"{high} ({bounds[high]:g})"))

    def scored(section: tuple[Any, ...], items: list[dict[str, Any]], seen: dict[str, Where]) -> tuple[Criterion, ...]:
        out = []
        for i, c in enumerate(items):
            here = _where(doc, section + (i,))
            if c["id"] in seen:
                first = seen[c["id"]]
                problems.append(doc.problem(section + (i, "id"), f"duplicate criterion id '{c['id']}' "
                                                                 f"(first declared at {first.path}:{first.line})"))
                continue
            seen[c["id"]] = here
            out.append(Criterion(c["id"], _text(c["title"]), here, float(c.get("weight", 1.0)),
                                 _text(c.get("description"))))
        return tuple(out)

    seen: dict[str, Where] = {}
    criteria = scored(("criteria",), data.get("criteria", []), seen)
    kaism = data.get("kaism", {})
    scores = scored(("kaism", "scores"), kaism.get("scores", []), seen)
    axes = {}
    for axis in ("value", "attractiveness"):
        a = kaism.get(axis)
        if a is None:
            axes[axis] = Axis(axis)
            continue
        for name in a["weights"]:
            if name not in seen:
                hint = did_you_mean(name, seen, otherwise=f" (declared: {', '.join(seen) or 'none'})")
                problems.append(doc.problem(("kaism", axis, "weights", name),
                                            f"kaism → {axis} → weights: unknown criterion '{name}'{hint}"))
        axes[axis] = Axis(axis, _text(a.get("title")), {k: float(v) for k, v in a["weights"].items()},
                          float(a.get("cutoff", 5.5)), _where(doc, ("kaism", axis)))
    retention = data.get("retention", {})
    portfolio = Portfolio(
        boundaries=bounds, criteria=criteria, scores=scores, value=axes["value"],
        attractiveness=axes["attractiveness"],
        quadrants={q: _text(v["title"]) for q, v in kaism.get("quadrants", {}).items()},
        quadrant_notes={q: _text(v.get("description")) for q, v in kaism.get("quadrants", {}).items()},
        qbr_window_days=int(retention.get("qbr_window_days", 90)),
        targets={**TARGETS, **{k: float(v) for k, v in retention.get("targets", {}).items()}},
        where=_where(doc, ()))
    return portfolio, problems


def boundary_thresholds(doc: Document, portfolio: Portfolio) -> list[tuple[tuple[Any, ...], Threshold]]:
    """The boundaries as thresholds, so rules compare with them (thresholds.key_account_share_pct):
    one number in one place, and the evidence of a key account names it."""
    out = []
    given = doc.data.get("boundaries", {})
    for tid in BOUNDARIES:
        key = ("boundaries", tid) if tid in given else ("kind",)
        out.append((key, Threshold(tid, portfolio.boundary(tid), _where(doc, key), "%",
                                   BOUNDARY_TEXT[tid])))
    return out


def from_thresholds(thresholds: Mapping[str, Threshold]) -> Portfolio:
    """A project without a portfolio file: the defaults, or its thresholds of the same names."""
    return Portfolio(boundaries={k: float(thresholds[k].value) if k in thresholds else v
                                 for k, v in BOUNDARIES.items()})


def check(project: Project) -> list[Problem]:
    """Every criterion needs a numeric metric score_<id>, or its column would be ignored."""
    problems: list[Problem] = []
    for c in project.portfolio.scored().values():
        m = project.metrics.get(c.column)
        if m is None:
            problems.append(Problem(c.where.path, c.where.line, c.where.col,
                                    f"criterion '{c.id}': no metric '{c.column}' is declared "
                                    f"(add it to a metrics file such as rules/scores.yaml: "
                                    f"type number, min 1, max 10)"))
        elif not m.numeric or m.derived:
            problems.append(Problem(m.where.path, m.where.line, m.where.col,
                                    f"metric '{c.column}' scores criterion '{c.id}': it must be an "
                                    f"input number or integer (1-10)"))
    return problems
