"""The portfolio report's SVG charts, drawn here in Python. Every piece of account data that
reaches an SVG (names, ids, managers) goes through `escape` (svg.py)."""
from __future__ import annotations

import heapq
import math
import zlib
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from ...i18n import say
from ...project.model import NO_RISK
from . import svg
from .data import Account

RISK_COLORS = {NO_RISK: "#4caf50", "medium": "#f5a623", "high": "#d93025"}
EXTRA_COLORS = ("#8e6ccf", "#26a69a", "#8d6e63", "#78909c")
ABC_COLORS = {"A": "#1f4e79", "B": "#5b8fc7", "C": "#b7cde6"}
CATEGORY_COLORS = ("#3f51b5", "#8e24aa", "#ef6c00", "#00897b", "#6d4c41", "#546e7a")
DEPENDENCY_COLORS = {"none": "#5b8fc7", "risky": "#f5a623", "mono": "#d93025"}
QUADRANT_FILLS = {"key": "#e2f3e4", "prospective": "#e3edfa", "maintaining": "#fdf3dc",
                  "low_priority": "#f0f1f3"}
MAX_POINTS = 5000  # KAISM marks drawn: the largest accounts; the page says how many are left off
CONCENTRATION_BARS = 8  # the largest shares drawn against the dependency boundaries


# ---- charts -------------------------------------------------------------------------------

def risk_chart(totals: Mapping[str, tuple[int, float]], titles: Mapping[str, str], colors: Mapping[str, str],
               fmt: svg.Fmt) -> Markup:
    """Two 100 % bars: accounts by risk level, and revenue by risk level."""
    L = fmt.labels
    W, left, right, bar = 560, 118, 548, 30
    n_all = sum(n for n, _ in totals.values())
    rev_all = sum(r for _, r in totals.values())
    body: list[str] = []
    for row, (label, idx, whole) in enumerate(((L["report_by_count"], 0, n_all),
                                               (L["report_by_revenue"], 1, rev_all))):
        y = 10 + row * (bar + 22)
        body.append(svg.text(left - 10, y + bar / 2 + 5, label, "lbl", "end"))
        body.append(svg.rect(left, y, right - left, bar, "#eef0f3", rx=3))
        x = float(left)
        for level, (n, rev) in totals.items():
            amount = n if idx == 0 else rev
            if not whole or not amount:
                continue
            w = (right - left) * amount / whole
            shown = (f"{n}" if idx == 0 else fmt.money(rev))
            share = amount / whole * 100
            body.append(svg.rect(x, y, w, bar, colors[level], f"{titles[level]}: {shown} ({fmt.pct(share)})"))
            inner = f"{n}" if idx == 0 else fmt.pct(share, 0)
            if w > 8 * len(inner) + 8:
                body.append(svg.text(x + w / 2, y + bar / 2 + 5, inner, "in", "middle"))
            x += w
    return svg.figure(W, 10 + 2 * (bar + 22) - 12, body, L["report_risk_levels"])


def bar_chart(rows: Sequence[tuple[str, float, str, str, str]], label: str, width: int = 560,
              label_w: int = 170, value_w: int = 150) -> Markup:
    """Horizontal bars: (label, value, text after the bar, colour, tooltip)."""
    top = max((r[1] for r in rows), default=0) or 1
    span = width - label_w - value_w - 16
    body: list[str] = []
    for i, (name, value, shown, color, title) in enumerate(rows):
        y = 6 + i * 34
        body.append(svg.text(label_w, y + 17, svg.fit(name, label_w - 6), "lbl", "end"))
        w = span * value / top
        body.append(svg.rect(label_w + 8, y + 2, max(w, 1.5 if value else 0), 22, color, title, rx=2))
        body.append(svg.text(label_w + 14 + w, y + 18, shown, "val"))
    return svg.figure(width, 10 + 34 * max(len(rows), 1), body, label)


def owner_chart(owners: Sequence[tuple[str, float, Mapping[str, float]]], levels: Sequence[str],
                titles: Mapping[str, str], colors: Mapping[str, str], fmt: svg.Fmt) -> Markup:
    """Per manager: a pale bar for their whole revenue, the revenue at risk over it by level."""
    L = fmt.labels
    width, label_w, value_w = 560, 170, 150
    span = width - label_w - value_w - 16
    top = max((t for _, t, _ in owners), default=0) or 1
    body: list[str] = []
    for i, (name, total, by_level) in enumerate(owners):
        y = 6 + i * 34
        at_risk = sum(by_level.values())
        body.append(svg.text(label_w, y + 17, svg.fit(name, label_w - 6), "lbl", "end"))
        body.append(svg.rect(label_w + 8, y + 2, span * total / top, 22, "#e3e7ee",
                          f"{name}: {L['report_portfolio_revenue']} {fmt.money(total)}", rx=2))
        x = label_w + 8.0
        for level in reversed(levels):  # the highest level first, from the left
            rev = by_level.get(level, 0.0)
            if rev:
                w = span * rev / top
                body.append(svg.rect(x, y + 2, w, 22, colors[level], f"{name}: {titles[level]} {fmt.money(rev)}"))
                x += w
        body.append(svg.text(label_w + 14 + span * total / top, y + 18,
                          f"{fmt.money(at_risk, unit=False)} / {fmt.money(total, unit=False)}", "val"))
    return svg.figure(width, 10 + 34 * max(len(owners), 1), body, L["report_at_risk_by_manager"])


def class_spans(points: Sequence[tuple[float, str]]) -> dict[str, tuple[int, int, int]]:
    """ABC class -> (its first position, its last position + 1, its accounts) in the ranked
    points."""
    spans: dict[str, tuple[int, int, int]] = {}
    for i, (_, c) in enumerate(points):
        lo, _, n = spans.get(c, (i, i, 0))
        spans[c] = (lo, i + 1, n + 1)
    return spans


def pareto_chart(points: Sequence[tuple[float, str]], a_pct: float, b_pct: float, fmt: svg.Fmt,
                 spans: Mapping[str, tuple[int, int, int]] | None = None) -> Markup:
    """Cumulative share of revenue over the accounts ranked by revenue; the area under the
    curve coloured by ABC class, the class boundaries dashed. `spans`: class_spans(points)
    when the caller has it (points may then be a sequence that reads each point on demand:
    the chart reads about 800 of them)."""
    L = fmt.labels
    W, H, l, r, t, b = 1000, 330, 58, 96, 14, 46  # noqa: E741 - the plot's margins: left, right, top, bottom
    pw, ph = W - l - r, H - t - b
    n = len(points)
    spans = class_spans(points) if spans is None else spans

    def X(i: float) -> float:
        return l + pw * (i / n if n else 0)

    def Y(v: float) -> float:
        return t + ph * (1 - v / 100)

    def at(i: int) -> tuple[float, float]:
        """The curve's i-th point: the origin, then the point after the i-th account."""
        return (0.0, 0.0) if i == 0 else (i, points[i - 1][0])

    body: list[str] = []
    for tick in range(0, 101, 20):
        body.append(svg.line(l, Y(tick), l + pw, Y(tick), "grid"))
        body.append(svg.text(l - 8, Y(tick) + 4, fmt.pct(tick, 0), "tick", "end"))
    for q in range(0, 101, 20):
        body.append(svg.text(X(n * q / 100), H - b + 18, fmt.pct(q, 0), "tick", "middle"))
    body.append(svg.text(l + pw / 2, H - 6, L["report_pareto_x"], "axis", "middle"))
    body.append(svg.text(14, t + ph / 2, L["report_pareto_y"], "axis", "middle",
                      f' transform="rotate(-90 14 {svg.coord(t + ph / 2)})"'))
    step = max(1, n // 800)  # a smooth enough curve without a point per account
    for cls in ("A", "B", "C"):
        if cls not in spans:
            continue
        lo, hi, count = spans[cls]
        # every step-th point of the class's stretch of the curve, and its ends
        pts = [at(i) for i in range(lo, hi + 1, step)] + ([at(hi)] if (hi - lo) % step else [])
        share = points[hi - 1][0] - (points[lo - 1][0] if lo else 0.0)
        title = (f"{cls}: {say(L, 'report_accounts_count', count=count)} ({fmt.pct(count / n * 100)}), "
                 f"{fmt.pct(share)} {L['report_of_revenue']}")
        poly = " ".join(f"{svg.coord(X(i))},{svg.coord(Y(v))}" for i, v in pts)
        body.append(f'<polygon points="{svg.coord(X(lo))},{svg.coord(Y(0))} {poly} '
                    f'{svg.coord(X(hi))},{svg.coord(Y(0))}" '
                    f'fill="{ABC_COLORS[cls]}" class="area"><title>{escape(title)}</title></polygon>')
        mid = (X(lo) + X(hi)) / 2
        if X(hi) - X(lo) > 26:
            body.append(svg.text(mid, Y(0) - 10, cls, "cls" + (" dark" if cls == "C" else ""), "middle"))
    line = " ".join(f"{svg.coord(X(i))},{svg.coord(Y(v))}" for i, v in [at(i) for i in range(0, n + 1, step)] + [at(n)])
    body.append(f'<polyline points="{line}" class="curve"/>')
    for v, name in ((a_pct, "A"), (b_pct, "B")):
        body.append(svg.line(l, Y(v), l + pw, Y(v), "boundary"))
        body.append(svg.text(l + pw + 6, Y(v) + 4, f"{name}/{chr(ord(name) + 1)} {fmt.pct(v, 0)}", "note"))
    reading = top_fifth(points)
    if reading is not None:  # the Pareto reading: the top fifth of the accounts bring this much
        k, v = reading
        body.append(f'<circle cx="{svg.coord(X(k))}" cy="{svg.coord(Y(v))}" r="5" class="mark"/>')
        body.append(svg.text(X(k) + 9, Y(v) + 20, fmt.pct(v, 0), "in", "start"))
    body.append(svg.line(l, Y(0), l + pw, Y(0), "axisline"))
    return svg.figure(W, H, body, L["report_pareto"])


def _jitter(ident: str, value: float, cut: float) -> float:
    """A small, repeatable offset so accounts with equal scores do not hide each other;
    it never moves a mark across its cut-off or off the 1-10 scale."""
    h = zlib.crc32(ident.encode("utf-8"))
    d = ((h % 1000) / 1000 - 0.5) * 0.3
    v = value + d
    v = max(cut, v) if value >= cut else min(cut - 0.01, v)
    return min(10.0, max(1.0, v))


def kaism_chart(rows: Sequence[Account], value_cut: float, attr_cut: float, titles: Mapping[str, str],
                axis_titles: tuple[str, str], risk_titles: Mapping[str, str], colors: Mapping[str, str],
                fmt: svg.Fmt, counts: Mapping[str, int]) -> Markup:
    """KAISM: our attractiveness to the client across, the client's value to us up; the
    largest MAX_POINTS scored accounts of `rows` a circle each, sized by revenue, coloured by
    risk, key accounts outlined. `counts`: every account per quadrant (`rows` need only hold
    those that may be drawn)."""
    L = fmt.labels
    W, H, l, r, t, b = 600, 560, 58, 14, 12, 50  # noqa: E741 - as above
    pw, ph = W - l - r, H - t - b

    def X(v: float) -> float:
        return l + pw * (v - 1) / 9

    def Y(v: float) -> float:
        return t + ph * (1 - (v - 1) / 9)

    body: list[str] = []
    quads = {"prospective": (1, attr_cut, value_cut, 10), "key": (attr_cut, 10, value_cut, 10),
             "low_priority": (1, attr_cut, 1, value_cut), "maintaining": (attr_cut, 10, 1, value_cut)}
    for q, (x0, x1, y0, y1) in quads.items():
        body.append(svg.rect(X(x0), Y(y1), X(x1) - X(x0), Y(y0) - Y(y1), QUADRANT_FILLS[q],
                          f"{titles[q]}: {counts[q]}"))
        right = q in ("key", "maintaining")
        tx = X(x1) - 8 if right else X(x0) + 8
        ty = Y(y1) + 20 if y1 == 10 else Y(y0) - 10
        body.append(svg.text(tx, ty, f"{titles[q]} · {counts[q]}", "quad", "end" if right else "start"))
    for v in range(1, 11):
        body.append(svg.text(X(v), H - b + 18, str(v), "tick", "middle"))
        body.append(svg.text(l - 8, Y(v) + 4, str(v), "tick", "end"))
    body.append(svg.line(X(attr_cut), t, X(attr_cut), t + ph, "cut"))
    body.append(svg.line(l, Y(value_cut), l + pw, Y(value_cut), "cut"))
    body.append(svg.text(l + pw / 2, H - 8, axis_titles[1], "axis", "middle"))
    body.append(svg.text(14, t + ph / 2, axis_titles[0], "axis", "middle",
                      f' transform="rotate(-90 14 {svg.coord(t + ph / 2)})"'))
    placed = [a for a in rows if a.value is not None and a.attractiveness is not None]
    placed = heapq.nsmallest(MAX_POINTS, placed, key=lambda a: (-a.revenue, a.id))
    top = max((a.revenue for a in placed), default=0) or 1
    for a in placed:  # largest first, so small marks stay on top
        radius = 3.5 + 13 * math.sqrt(max(a.revenue, 0) / top)
        cx = X(_jitter(a.id + "x", a.attractiveness, attr_cut))  # type: ignore[arg-type]
        cy = Y(_jitter(a.id + "y", a.value, value_cut))  # type: ignore[arg-type]
        tip = (f"{a.name} ({a.id})\n{axis_titles[0]}: {fmt.num(a.value)} · {axis_titles[1]}: "
               f"{fmt.num(a.attractiveness)}\n{titles.get(a.kaism or '', '')} · {risk_titles[a.risk]} · "
               f"{fmt.money(a.revenue)} ({fmt.pct(a.share)})" + (f" · {L['report_key_account']}" if a.key else ""))
        cls = "pt key" if a.key else "pt"
        body.append(f'<circle cx="{svg.coord(cx)}" cy="{svg.coord(cy)}" r="{svg.coord(radius)}" '
                    f'fill="{colors[a.risk]}" '
                    f'class="{cls}"><title>{escape(tip)}</title></circle>')
    return svg.figure(W, H, body, L["report_kaism"])


def concentration_chart(rows: Sequence[Account], bounds: Mapping[str, float], fmt: svg.Fmt) -> Markup:
    """The largest clients' revenue shares against the key (10 %), risky (20 %) and mono (50 %)
    boundaries."""
    L = fmt.labels
    top = heapq.nsmallest(CONCENTRATION_BARS, (a for a in rows if a.share is not None),
                          key=lambda a: (-a.share, a.id))  # type: ignore[operator]
    width, label_w, value_w = 560, 170, 60
    span = width - label_w - value_w - 8
    scale = max(55.0, min(100.0, max((a.share for a in top), default=0) + 5))  # type: ignore[type-var,operator]
    t = 34
    body: list[str] = []
    marks = ((bounds["key_account_share_pct"], L["report_bound_key"]),
             (bounds["dependency_risky_pct"], L["report_bound_risky"]),
             (bounds["dependency_mono_pct"], L["report_bound_mono"]))
    h = t + 30 * max(len(top), 1)
    last = -1e9
    for v, name in marks:
        x = label_w + 8 + span * v / scale
        high = x - last < 90  # two labels close together: stagger them
        body.append(svg.line(x, (t - 28) if high else (t - 16), x, h, "boundary"))
        body.append(svg.text(x + 4, t - 21 if high else t - 9, f"{fmt.pct(v, 0)} {name}", "note"))
        last = x if not high else -1e9
    for i, a in enumerate(top):
        y = t + i * 30
        body.append(svg.text(label_w, y + 17, svg.fit(a.name, label_w - 6), "lbl", "end"))
        w = span * a.share / scale  # type: ignore[operator]
        body.append(svg.rect(label_w + 8, y + 4, w, 20, DEPENDENCY_COLORS.get(a.dependency, "#5b8fc7"),
                          f"{a.name} ({a.id}): {fmt.pct(a.share, 2)}", rx=2))
        body.append(svg.text(label_w + 14 + w, y + 19, fmt.pct(a.share), "val"))
    return svg.figure(width, h + 6, body, L["report_concentration"])


def top_fifth(points: Sequence[tuple[float, str]]) -> tuple[int, float] | None:
    """(accounts, % of revenue they bring) for the top fifth of the accounts by revenue."""
    if len(points) < 5:
        return None
    k = round(len(points) * 0.2)
    return k, points[k - 1][0]


def level_colors(levels: Sequence[str]) -> dict[str, str]:
    """A colour per risk level: the usual three by name, the rest from EXTRA_COLORS."""
    extra = iter(EXTRA_COLORS * 4)
    return {lv: RISK_COLORS.get(lv) or next(extra) for lv in levels}

