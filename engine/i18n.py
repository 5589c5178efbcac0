"""Numbers, dates and evidence sentences in the reader's language.

Evidence texts in rules/facts.yaml are untrusted user text, so they are never passed to
str.format (which can reach attributes): a placeholder is exactly `{metric}` or
`{thresholds.name}`, substituted by a regular expression, everything else is literal.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Callable, Mapping

NBSP = "\u00a0"
# {name} or {thresholds.name}; anything else between braces is a mistake `kam validate` reports
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^(?:(thresholds)\.)?([a-z][a-z0-9_]*)$")
_YES_NO = {"en": ("yes", "no"), "ru": ("да", "нет")}


def format_number(value: float | int, lang: str, decimals: int = 2) -> str:
    """1234567.5 -> '1,234,567.5' (en) or '1 234 567,5' (ru, non-breaking spaces); at most
    `decimals` decimals, trailing zeros dropped."""
    if type(value) is int and -10**15 < value < 10**15:  # a count: nothing to round
        text = f"{value:,}"
    elif (v := round(float(value), decimals)) == int(v) and abs(v) < 1e15:
        text = f"{int(v):,}"
    else:
        text = f"{v:,.{decimals}f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if lang == "ru":
        text = text.replace(",", NBSP).replace(".", ",")
    return text


def format_value(value: Any, lang: str, unit: str = "") -> str:
    """A metric or threshold value as a reader sees it: money without kopecks, booleans in words."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        yes, no = _YES_NO.get(lang, _YES_NO["en"])
        return yes if value else no
    if isinstance(value, (int, float)):
        return format_number(value, lang, 0 if unit == "money" else 2)
    return str(value)


def format_date(value: date | str, months: list[str] | tuple[str, ...]) -> str:
    """'2026-11-23' -> '23 November 2026' / '23 ноября 2026' with the given month names."""
    d = value if isinstance(value, date) else date.fromisoformat(str(value))
    return f"{d.day} {months[d.month - 1]} {d.year}"


# ---- evidence placeholders -------------------------------------------------------------

@dataclass(frozen=True)
class Placeholder:
    start: int  # offset of "{" in the text
    end: int
    kind: str  # "metric" | "threshold"
    name: str


def placeholders(text: str) -> tuple[list[Placeholder], list[tuple[int, str]]]:
    """The placeholders of a text, and (offset, message) for each malformed one."""
    found: list[Placeholder] = []
    bad: list[tuple[int, str]] = []
    last = 0
    for m in PLACEHOLDER.finditer(text):
        _stray(text, last, m.start(), bad)
        last = m.end()
        name = _NAME.match(m.group(1).strip())
        if name is None:
            bad.append((m.start(), f"placeholder {m.group(0)}: write {{metric}} or {{thresholds.name}}"))
            continue
        found.append(Placeholder(m.start(), m.end(), "threshold" if name.group(1) else "metric",
                                 name.group(2)))
    _stray(text, last, len(text), bad)
    return found, bad


def _stray(text: str, start: int, end: int, bad: list[tuple[int, str]]) -> None:
    for i in range(start, end):
        if text[i] in "{}":
            bad.append((i, f"unmatched '{text[i]}' (a placeholder is {{metric}} or {{thresholds.name}})"))
            return


def placeholder_problems(text: str, metrics: Mapping[str, Any], thresholds: Mapping[str, Any]
                         ) -> list[tuple[int, str]]:
    """(offset, message) for every malformed placeholder or unknown name in an evidence text."""
    found, bad = placeholders(text)
    for p in found:
        known = metrics if p.kind == "metric" else thresholds
        if p.name not in known:
            close = difflib.get_close_matches(p.name, list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            what = "metric" if p.kind == "metric" else "threshold"
            bad.append((p.start, f"unknown {what} '{p.name}' in placeholder{hint}"))
    return sorted(bad)


@lru_cache(maxsize=512)
def parsed(text: str) -> tuple[tuple[str, ...], tuple[Placeholder, ...]]:
    """Literal pieces and placeholders, alternating: pieces[i] comes before holes[i]."""
    holes, _ = placeholders(text)
    pieces, last = [], 0
    for p in holes:
        pieces.append(text[last:p.start])
        last = p.end
    pieces.append(text[last:])
    return tuple(pieces), tuple(holes)


def fill(text: str, lookup: Callable[[str, str], str]) -> str:
    """Replace every placeholder with lookup(kind, name); malformed braces stay as written."""
    pieces, holes = parsed(text)
    out = [pieces[0]]
    for hole, piece in zip(holes, pieces[1:]):
        out.append(lookup(hole.kind, hole.name))
        out.append(piece)
    return "".join(out)
