"""The portfolio report's "Outcomes" section: what became of the plans the store holds
(engine/plans/store/outcomes.py), when it holds more than one run. One chart, a bar per playbook
split by how its plans ended, and two small tables (steps, and whether the risk fell)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from ...i18n import fill
from ...plans.store.outcomes import ENDS
from ...project.model import NO_RISK, Project, text_in
from ..labels import optional_words
from . import svg

COLORS = {"resolved": "#4caf50", "lost": "#d93025", "done": "#1f4e79", "open": "#f5a623", "snoozed": "#9aa5b1"}


def _say(words: Mapping[str, Any], key: str, **values: Any) -> str:
    return fill(str(words[key]), lambda _kind, name: str(values.get(name, "{" + name + "}")))


def outcomes_chart(rows: list[tuple[str, Mapping[str, int]]], titles: Mapping[str, str], label: str) -> Markup:
    """A bar per playbook as long as its plans opened, split by how they ended."""
    width, label_w, value_w = 760, 200, 50
    span = width - label_w - value_w - 16
    top = max((sum(c[e] for e in ENDS) for _, c in rows), default=0) or 1
    body: list[str] = []
    for i, (name, counts) in enumerate(rows):
        y = 6 + i * 34
        body.append(svg.text(label_w, y + 17, svg.fit(name, label_w - 6), "lbl", "end"))
        x = label_w + 8.0
        for end in ENDS:
            n = counts[end]
            if not n:
                continue
            w = span * n / top
            body.append(svg.rect(x, y + 2, w, 22, COLORS[end], f"{name}: {titles[end]} {n}"))
            if w > 8 * len(str(n)) + 6:
                body.append(svg.text(x + w / 2, y + 18, str(n), "in", "middle"))
            x += w
        body.append(svg.text(x + 6, y + 18, str(sum(counts[e] for e in ENDS)), "val"))
    return svg.figure(width, 10 + 34 * max(len(rows), 1), body, label)


def outcomes_view(project: Project, data: Mapping[str, Any] | None, lang: str,
                  words: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the template shows of `data` (outcomes(..., by='playbook')); None without history."""
    if not data or data["runs"] < 2 or not data["all"]["opened"]:
        return None
    L = optional_words(words, lang)
    fmt = svg.Fmt(lang, words, project.currency)
    titles = {e: str(L[f"report_outcomes_{e}"]) for e in ENDS}

    def playbook(pid: str) -> str:
        pb = project.playbooks.get(pid)
        return text_in(pb.title, lang) if pb is not None else pid

    groups = [(playbook(g["group"]), g) for g in data["groups"]]
    risk_titles = {NO_RISK: str(words.get("risk_none", NO_RISK)),
                   **{r.id: text_in(r.title, lang) for r in project.risk_levels}}

    def cell(side: Mapping[str, Any]) -> str:
        if not side["plans"]:
            return "—"
        lo, hi = side["ci95"]
        return _say(L, "report_outcomes_cell", fell=side["fell"], plans=side["plans"],
                    share=fmt.pct(side["share"] * 100, 0), low=fmt.pct(lo * 100, 0), high=fmt.pct(hi * 100, 0))

    def resolution(g: Mapping[str, Any]) -> str:
        if g["median_runs_to_resolution"] is None:
            return "—"
        return _say(L, "report_outcomes_runs_days",
                    runs=fmt.num(g["median_runs_to_resolution"], 1).rstrip("0").rstrip(".,"),
                    days=fmt.num(g["median_days_to_resolution"], 1).rstrip("0").rstrip(".,"))

    whole = data["all"]
    nc = whole["not_compared"]
    return {
        "title": L["report_outcomes"],
        "hint": _say(L, "report_outcomes_hint", runs=data["runs"], first=data["first_run"], last=data["last_run"]),
        "chart": outcomes_chart([(name, g) for name, g in groups], titles, str(L["report_outcomes"])),
        "legend": [(titles[e], COLORS[e]) for e in ENDS],
        "head": [L["report_outcomes_opened"], L["report_outcomes_to_resolution"], L["report_outcomes_steps"]],
        "rows": [(name, g["opened"], resolution(g), " / ".join(str(g["steps"][k]) for k in
                                                                ("on_time", "late", "never", "pending")))
                 for name, g in groups],
        "fell_title": _say(L, "report_outcomes_fell", runs=data["within_runs"]),
        "fell_hint": L["report_outcomes_fell_hint"],
        "fell_head": [L["report_outcomes_from"], L["report_outcomes_on_time"], L["report_outcomes_not_on_time"]],
        "fell": [(risk_titles.get(c["start_level"], c["start_level"]), cell(c["on_time"]), cell(c["not_on_time"]))
                 for c in whole["risk_fell"]],
        "not_compared": _say(L, "report_outcomes_not_compared", incomplete=nc["window_incomplete"],
                             no_step=nc["no_step_due"]),
    }
