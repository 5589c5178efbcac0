"""Numbers, dates and evidence sentences in the reader's language.

Evidence texts in rules/facts.yaml are untrusted user text, so they are never passed to
str.format (which can reach attributes): a placeholder is exactly `{metric}` or
`{thresholds.name}`, substituted by a regular expression, everything else is literal.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any

from babel import Locale, dates, numbers

from .hints import did_you_mean

NBSP = "\u00a0"
# {name} or {thresholds.name}; anything else between braces is a mistake `kam validate` reports
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^(?:(thresholds)\.)?([a-z][a-z0-9_]*)$")
_YES_NO = {"en": ("yes", "no"), "ru": ("да", "нет")}
DATE_PATTERN = "d MMMM y"  # 23 November 2026 / 23 ноября 2026 (CLDR's genitive month in Russian)


@cache
def locale(lang: str) -> Locale:
    return Locale.parse(lang)


_BABEL_PATTERN = object()  # a locale that does not group by threes: Babel applies its pattern


@cache
def _symbols(lang: str) -> Any:
    """The locale's group, decimal and minus signs (CLDR, through Babel) as a translation of
    Python's ',', '.' and '-'; None when they are Python's own (English); _BABEL_PATTERN for a
    locale that does not group by threes."""
    loc = locale(lang)
    if loc.decimal_formats[None].grouping != (3, 3):
        return _BABEL_PATTERN
    signs = {",": numbers.get_group_symbol(loc), ".": numbers.get_decimal_symbol(loc),
             "-": numbers.get_minus_sign_symbol(loc)}
    return None if all(k == v for k, v in signs.items()) else str.maketrans(signs)


@cache
def _minus(lang: str) -> str:
    return numbers.get_minus_sign_symbol(locale(lang))


def format_number(value: float | int, lang: str, decimals: int = 2) -> str:
    """1234567.5 -> '1,234,567.5' (en) or '1 234 567,5' (ru, non-breaking spaces): the
    locale's CLDR symbols from Babel; at most `decimals` decimals, trailing zeros dropped.
    A plan prints tens of numbers and a run tens of thousands of plans: locales that group by
    threes take Python's formatting with the locale's symbols (the same text as Babel's
    pattern, several times faster); others Babel's pattern."""
    if type(value) is int and -10**15 < value < 10**15:  # a count: nothing to round
        text = f"{value:,}"
    elif (v := round(float(value), decimals)) == int(v) and abs(v) < 1e15:
        text = f"{int(v):,}"
    else:
        text = f"{v:,.{decimals}f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    table = _symbols(lang)
    if table is None:
        return text
    if table is _BABEL_PATTERN:
        return numbers.format_decimal(float(text.replace(",", "")), format="#,##0." + "#" * decimals,
                                      locale=locale(lang))
    return text.translate(table)


@cache
def _currency_affixes(lang: str, code: str, symbol: str | None) -> tuple[str, str]:
    """(prefix, suffix) of an amount in `code`, from the locale's CLDR currency pattern: '₽'
    after the number in Russian, 'RUB ' before it in English. A symbol that is a word gets a
    non-breaking space next to the digits (CLDR's currency spacing)."""
    loc = locale(lang)
    pattern = numbers.parse_pattern(loc.currency_formats["standard"].pattern)
    sign = symbol if symbol is not None else numbers.get_currency_symbol(code, loc)
    prefix, suffix = pattern.prefix[0].replace("¤", sign), pattern.suffix[0].replace("¤", sign)
    if prefix and prefix[-1].isalpha():
        prefix += NBSP
    if suffix and suffix[0].isalpha():
        suffix = NBSP + suffix
    return prefix, suffix


def format_money(value: float | int, lang: str, code: str, symbol: str | None = None) -> str:
    """An amount without kopecks in the currency `code` (ISO 4217), its sign placed as the
    locale places it: '3 100 000 ₽' (ru), 'RUB 3,100,000' (en). `symbol` overrides CLDR's."""
    return _in_currency(format_number(value, lang, 0), lang, code, symbol)


def format_money_compact(value: float | int, lang: str, code: str, symbol: str | None = None) -> str:
    """An amount rounded to thousands, millions, billions as the locale abbreviates them
    (Babel's short compact format): 'RUB 48.2M', '48,2 млн ₽'; below a thousand in full."""
    if abs(value) < 1000:
        return format_money(value, lang, code, symbol)
    text = numbers.format_compact_decimal(value, format_type="short", locale=locale(lang), fraction_digits=1)
    return _in_currency(text, lang, code, symbol)


def _in_currency(text: str, lang: str, code: str, symbol: str | None) -> str:
    """A formatted number with the currency's sign where the locale puts it (after a minus)."""
    if not code:
        return text
    prefix, suffix = _currency_affixes(lang, code, symbol)
    minus = _minus(lang)
    if text.startswith(minus):
        return minus + prefix + text[len(minus):] + suffix
    return prefix + text + suffix


@lru_cache(maxsize=4096)
@lru_cache(maxsize=4096)
def plural_category(lang: str, count: float | int) -> str:
    """CLDR's plural category of a count in the language (Babel): 'one', 'few', 'many',
    'other'... Russian: 1 шаг, 2 шага, 5 шагов, 1,5 шага."""
    return locale(lang).plural_form(abs(count))


def plural_tags(lang: str) -> frozenset[str]:
    """The plural categories the language distinguishes ('other' always among them)."""
    return frozenset(locale(lang).plural_form.tags) | {"other"}


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


@lru_cache(maxsize=4096)
def format_date(value: date | str, lang: str) -> str:
    """'2026-11-23' -> '23 November 2026' / '23 ноября 2026', by Babel (CLDR month names)."""
    d = value if isinstance(value, date) else date.fromisoformat(str(value))
    return dates.format_date(d, DATE_PATTERN, locale=locale(lang))


@lru_cache(maxsize=4096)
def format_day_month(value: date | str, lang: str) -> str:
    """A short date without the year, as the locale writes it: 'Nov 23' / '23 нояб.' (Babel)."""
    d = value if isinstance(value, date) else date.fromisoformat(str(value))
    return dates.format_skeleton("MMMd", d, locale=locale(lang))


# ---- labels (templates/labels.yaml) ------------------------------------------------------

LABELS_LANG = "_lang"  # the language of a block of labels, set when loaded


def say(words: Mapping[str, Any], key: str, **values: Any) -> str:
    """A label with its {placeholders} filled in; a label with plural forms takes the form
    of `count` in the block's language, and a whole count is printed in that language."""
    text = words[key]
    lang = words.get(LABELS_LANG, "en")
    if text.__class__ is not str and isinstance(text, Mapping):  # most labels are texts: no ABC check
        text = text.get(plural_category(lang, values["count"])) or text["other"]
    if isinstance(values.get("count"), int):
        values = dict(values, count=format_number(values["count"], lang))
    return fill_named(text, values)


def fill_named(text: str, values: Mapping[str, Any]) -> str:
    """fill() with each placeholder's value by name, one left without a value as written. A
    loop, not a lookup function per call: a plan says ~10 labels, a run millions."""
    pieces, holes = parsed(text)
    out = [pieces[0]]
    for hole, piece in zip(holes, pieces[1:]):
        out.append(str(values[hole.name]) if hole.name in values else "{" + hole.name + "}")
        out.append(piece)
    return "".join(out)


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
            hint = did_you_mean(p.name, known)
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
