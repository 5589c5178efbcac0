"""SVG building blocks and number formats for the portfolio report's charts (charts.py).
Every text that reaches the SVG goes through `escape`, attribute values are numbers or our
own colours and classes."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape

from ...i18n import format_money_compact, format_number

NBSP = "\u00a0"


class Fmt:
    """Numbers as the reader's language writes them."""

    def __init__(self, lang: str, labels: Mapping[str, Any], currency: str):
        self.lang, self.labels = lang, labels
        self.currency = currency
        self.symbol = labels.get("currencies", {}).get(currency)  # else CLDR's sign

    def num(self, v: float | None, decimals: int = 1) -> str:
        return "—" if v is None else format_number(v, self.lang, decimals)

    def pct(self, v: float | None, decimals: int = 1) -> str:
        return "—" if v is None else f"{format_number(v, self.lang, decimals)}{NBSP}%"

    def money(self, v: float | None, unit: bool = True) -> str:
        """Compact, as the locale abbreviates: 'RUB 48.2M', '48,2 млн ₽' (Babel)."""
        if v is None:
            return "—"
        return format_money_compact(v, self.lang, self.currency if unit else "", self.symbol)


def coord(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def figure(width: float, height: float, body: Iterable[str], label: str) -> Markup:
    return Markup(f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {coord(width)} '
                  f'{coord(height)}" width="{coord(width)}" height="{coord(height)}" role="img" '
                  f'aria-label="{escape(label)}">' + "".join(body) + "</svg>")


def text(x: float, y: float, content: str, cls: str = "", anchor: str = "start", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{coord(x)}" y="{coord(y)}"{c} text-anchor="{anchor}"{extra}>{escape(content)}</text>'


def rect(x: float, y: float, w: float, h: float, fill: str, title: str = "", cls: str = "",
         rx: float = 0) -> str:
    c = f' class="{cls}"' if cls else ""
    r = f' rx="{coord(rx)}"' if rx else ""
    t = f"<title>{escape(title)}</title>" if title else ""
    return (f'<rect x="{coord(x)}" y="{coord(y)}" width="{coord(max(w, 0))}" height="{coord(h)}" '
            f'fill="{fill}"{r}{c}>{t}</rect>')


def line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line x1="{coord(x1)}" y1="{coord(y1)}" x2="{coord(x2)}" y2="{coord(y2)}" class="{cls}"/>'


# Advance widths in em, rounded up from DejaVu Sans, the widest sans font a browser commonly
# falls back to: a label cut by the estimate is better than one the SVG's edge cuts mid-letter,
# as it cut "ООО «Южный Агрокомп…" when labels were cut at a fixed number of characters.
_NARROW = frozenset(" .,:;'!|()[]-/ilIjJftr")
_WIDE = frozenset("mwшщжфюыMWЖШЩЮФЪЫМ@%&")


def _em(ch: str) -> float:
    if ch in _NARROW:
        return 0.42
    if ch in _WIDE:
        return 1.1
    if ch == "…":
        return 1.0
    return 0.8 if ch.isupper() else 0.66


def fit(content: str, width: float, size: float = 12.5) -> str:
    """`content`, cut with an ellipsis to fit `width` SVG units at font size `size`."""
    budget = width / size
    if sum(map(_em, content)) <= budget:
        return content
    room, used = budget - _em("…"), 0.0
    for i, ch in enumerate(content):
        used += _em(ch)
        if used > room:
            return content[:i].rstrip() + "…"
    return content  # not reached: the whole text is wider than the room
