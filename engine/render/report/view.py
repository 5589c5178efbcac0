"""What the portfolio report's template shows: words, formatted numbers and the charts, from
the report's figures (data.Figures) however they were worked out."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...i18n import say
from ...project.model import NO_RISK, Project, text_in
from . import svg
from .charts import (
    ABC_COLORS,
    CATEGORY_COLORS,
    MAX_POINTS,
    QUADRANT_FILLS,
    bar_chart,
    concentration_chart,
    kaism_chart,
    level_colors,
    owner_chart,
    pareto_chart,
    risk_chart,
    top_fifth,
)
from .data import Account, Figures, figures, kpi_rows, pct
from .outcomes import outcomes_view


def view(project: Project, f: Figures, lang: str, labels: Mapping[str, Any], as_of: str = "",
         outcomes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything the template shows of the figures. `outcomes`: the store's plan outcomes
    (engine/plans/store/outcomes.py), which only a run with a store has."""
    L, p = labels, project.portfolio
    fmt = svg.Fmt(lang, L, project.currency)
    levels = [NO_RISK] + [r.id for r in project.risk_levels]
    risk_titles = {NO_RISK: L["risk_none"], **{r.id: text_in(r.title, lang) for r in project.risk_levels}}
    colors = level_colors(levels)
    totals, revenue, at_risk, biggest = f.totals, f.revenue, f.at_risk, f.biggest
    cat_rows = [(text_in(project.categories[c].title, lang), rev,
                 f"{fmt.money(rev)} · {n}", CATEGORY_COLORS[i % len(CATEGORY_COLORS)],
                 f"{text_in(project.categories[c].title, lang)}: {fmt.money(rev)} "
                 f"({fmt.pct(pct(rev, revenue))} {L['report_of_revenue']}), {say(L, 'report_accounts_count', count=n)}")
                for i, (c, rev, n) in enumerate(f.categories)]
    owners = [(o or L["unassigned"], total, by) for o, total, by in f.owners]
    quadrant_titles = {q: text_in(p.quadrants.get(q), lang) or L[f"report_q_{q}"] for q in QUADRANT_FILLS}
    axes = (text_in(p.value.title, lang) or L["report_axis_value"],
            text_in(p.attractiveness.title, lang) or L["report_axis_attractiveness"])
    ranked = f.pareto
    fifth = top_fifth(ranked)
    metrics = [{"title": L[f"report_m_{m.id}"], "value": fmt.num(m.value, 0) if m.unit == "" else fmt.pct(m.value),
                "target": (("≤ " if m.at_most else "≥ ")
                           + (fmt.num(m.target, 0) if m.unit == "" else fmt.pct(m.target, 0))),
                "met": m.met, "count": m.count} for m in f.retention]
    return {
        "as_of": as_of, "accounts": f.accounts,
        "tiles": [
            (L["report_portfolio_revenue"], fmt.money(revenue), say(L, "report_accounts_count", count=f.accounts), ""),
            (L["report_revenue_at_risk"], fmt.money(at_risk), f"{fmt.pct(pct(at_risk, revenue))} "
             f"{L['report_of_revenue']}", "warn" if at_risk else ""),
            (f"{L['report_at_level']}: {risk_titles[levels[-1]]}", str(totals[levels[-1]][0]),
             fmt.money(totals[levels[-1]][1]), "bad" if totals[levels[-1]][0] and len(levels) > 1 else ""),
            (L["report_key_accounts"], str(f.key_count),
             f"{fmt.pct(pct(f.key_revenue, revenue))} {L['report_of_revenue']}", ""),
            (L["report_largest_client"], fmt.pct(biggest.share) if biggest else "—",
             biggest.name if biggest else "", "bad" if f.warning_count else ""),
        ],
        "risk_chart": risk_chart(totals, risk_titles, colors, fmt),
        "legend": [(risk_titles[lv], colors[lv]) for lv in levels],
        "risk_table": [(risk_titles[lv], colors[lv], n, fmt.pct(pct(n, f.accounts)), fmt.money(rev),
                        fmt.pct(pct(rev, revenue))) for lv, (n, rev) in totals.items()],
        "category_chart": bar_chart(cat_rows, L["report_at_risk_by_category"]),
        "owner_chart": owner_chart(owners, levels[1:], risk_titles, colors, fmt),
        "pareto_chart": pareto_chart(ranked, p.boundary("abc_a_pct"), p.boundary("abc_b_pct"), fmt, f.spans),
        "pareto_top": (fmt.pct(fifth[0] / len(ranked) * 100, 0), fmt.pct(fifth[1], 0))
        if fifth else None,
        "abc": [(c, ABC_COLORS[c], f.abc[c][0], fmt.pct(pct(f.abc[c][1], revenue))) for c in "ABC"],
        "kaism_chart": kaism_chart(f.placed, p.value.cutoff, p.attractiveness.cutoff, quadrant_titles, axes,
                                   risk_titles, colors, fmt, {q: n for q, (n, _) in f.quadrants.items()}),
        "quadrants": [(quadrant_titles[q], QUADRANT_FILLS[q], f.quadrants[q][0], fmt.money(f.quadrants[q][1]),
                       text_in(p.quadrant_notes.get(q), lang)) for q in QUADRANT_FILLS],
        "unscored": f.unscored,
        "not_drawn": max(0, f.accounts - f.unscored - MAX_POINTS),
        "concentration_chart": concentration_chart(f.concentration, p.boundaries, fmt),
        "warnings": [{"name": a.name, "id": a.id, "share": fmt.pct(a.share), "dependency": a.dependency,
                      "text": L[f"report_dependency_{a.dependency}"]} for a in f.warnings],
        "more_warnings": f.warning_count - len(f.warnings),
        "largest": {"name": biggest.name, "share": fmt.pct(biggest.share)} if biggest else None,
        "retention": metrics,
        "key_accounts": [{"name": a.name, "id": a.id, "owner": a.owner or L["unassigned"],
                          "share": fmt.pct(a.share, 2 if (a.share or 0) < 1 else 1), "abc": a.abc or "—",
                          "kaism": quadrant_titles.get(a.kaism or "", "—"), "risk": risk_titles[a.risk],
                          "risk_color": colors[a.risk], "score": fmt.num(a.criteria_score),
                          "qbr": fmt.num(a.days_since_qbr, 0),
                          "qbr_late": a.days_since_qbr is not None and a.days_since_qbr > p.qbr_window_days}
                         for a in f.keys],
        "more_keys": f.key_count - len(f.keys),
        "qbr_window": p.qbr_window_days,
        "kpis": kpi_rows(f.kpis, L, fmt.num),
        "outcomes": outcomes_view(project, outcomes, lang, L),
    }


def accounts_view(project: Project, rows: Sequence[Account], lang: str, labels: Mapping[str, Any],
                  as_of: str = "") -> dict[str, Any]:
    """The view from every account's record (a renderer given the list of results; a run adds
    the figures up instead, render/aggregate.py)."""
    return view(project, figures(project, rows, labels["unassigned"]), lang, labels, as_of)
