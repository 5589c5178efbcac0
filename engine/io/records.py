"""One input record -> values of the declared metrics, or the reasons it cannot be evaluated."""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..project.cells import _fold, _show, match_key, percent_of
from ..project.model import Metric, Project
from .limits import MAX_ID

TRUE_WORDS = {"true", "yes", "1", "да", "y", "t", "истина"}
FALSE_WORDS = {"false", "no", "0", "нет", "n", "f", "ложь"}
MAX_ABS = 1e15  # beyond this a "number" is a data error (and the engine cannot take it)
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")  # thousands: space, no-break spaces, 1'234
_PLAIN = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_GROUPED = {sep: re.compile(rf"[-+]?[1-9]\d{{0,2}}(\{sep}\d{{3}})+") for sep in ",."}


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


def parse_number(text: str, decimal_comma: bool) -> float:
    """A number as spreadsheets write it; ValueError when it is not one.

    Spaces (also no-break) and apostrophes group thousands. With both '.' and ',' the
    rightmost is the decimal mark and the other must group thousands: '1.234,5' and
    '1,234.5' are both 1234.5. A lone ',' is the decimal mark ('12,5') unless it groups
    thousands in a file that is not a decimal-comma file ('1,234' -> 1234). A lone '.' is
    always the decimal mark ('1.234' -> 1.234); repeated, it groups ('1.234.567')."""
    s = _SPACES.sub("", text).replace("\u2212", "-")  # U+2212 is the minus sign of some exports
    if "," in s and "." in s:
        point = max(s.rfind(","), s.rfind("."))
        group = "." if s[point] == "," else ","
        whole = s[:point]
        if not _GROUPED[group].fullmatch(whole):
            raise ValueError(text)
        s = whole.replace(group, "") + "." + s[point + 1:]
    elif "," in s:
        if _GROUPED[","].fullmatch(s) and (not decimal_comma or s.count(",") > 1):
            s = s.replace(",", "")
        elif s.count(",") == 1:
            s = s.replace(",", ".")
        else:
            raise ValueError(text)
    elif s.count(".") > 1:
        if not _GROUPED["."].fullmatch(s):
            raise ValueError(text)
        s = s.replace(".", "")
    if not _PLAIN.fullmatch(s):
        raise ValueError(text)
    return float(s)


def _number(raw: Any, decimal_comma: bool, shown: Any = None) -> float:
    """`shown`: the cell as written, when `raw` is only part of it (a percent's number)."""
    shown = raw if shown is None else shown
    if raw.__class__ is not str and _not_single(raw):
        raise ValueError(_not_single(raw))
    try:
        if raw.__class__ is str:
            # the common '12', '-3.5', '1e3' straight to float; '1 234,5' and the like parsed
            value = float(raw) if _PLAIN.fullmatch(raw) else parse_number(raw, decimal_comma)
        elif isinstance(raw, bool):
            raise ValueError(raw)
        elif isinstance(raw, (int, float, Decimal)):
            value = float(raw)
        else:
            value = parse_number(str(raw), decimal_comma)
    except OverflowError:
        raise ValueError(f"{_brief(shown)} is too large") from None
    except ValueError:
        raise ValueError(f"expected a number, got {_brief(shown)}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a number, got {_brief(shown)}")
    if abs(value) > MAX_ABS:
        raise ValueError(f"{_brief(shown)} is too large")
    return value


Converter = Callable[[Any, bool], Any]


def _numeric(metric: Metric) -> Converter:
    integer, low, high = metric.type == "integer", metric.min, metric.max
    percent, fractions = metric.unit == "%", metric.fractions

    def convert(raw: Any, decimal_comma: bool) -> Any:
        # '15 %', '15,5%': the number before the sign (no regex: a long cell must not backtrack)
        sign = percent and raw.__class__ is str and raw.rstrip().endswith("%")
        value = _number(raw.rstrip()[:-1], decimal_comma, raw) if sign else _number(raw, decimal_comma)
        read_as = ""
        if fractions and not sign:
            written = raw.strip()[:40] if raw.__class__ is str else _show(value)
            read_as = f" ({written} is read as a fraction of 1, ×100; write '{written} %' for {written} %)"
            value = percent_of(value)
            if abs(value) > MAX_ABS:
                raise ValueError(f"{_brief(raw)} is too large{read_as}")
        if integer:
            if not value.is_integer():
                raise ValueError(f"expected a whole number, got {_brief(raw)}{read_as}")
            value = int(value)
        if low is not None and value < low:
            raise ValueError(f"{_show(value)} is below the minimum {_show(low)}{read_as}")
        if high is not None and value > high:
            raise ValueError(f"{_show(value)} is above the maximum {_show(high)}{read_as}")
        return value
    return convert


def _boolean(raw: Any, decimal_comma: bool) -> bool:
    if raw.__class__ is not str:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (int, float, Decimal)) and raw in (0, 1):
            return bool(raw)
        if _not_single(raw):
            raise ValueError(_not_single(raw))
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"expected yes/no (true/false, 1/0, да/нет), got {_brief(raw)}")


def _textual(metric: Metric) -> Converter:
    allowed = set(metric.values)
    lowered = {v.lower(): v for v in metric.values}
    listed = ", ".join(metric.values)
    longest = id_length(metric)

    def convert(raw: Any, decimal_comma: bool) -> str:
        if raw.__class__ is str:
            text = raw
        elif isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, float) and math.isfinite(raw):
            text = _show(raw)  # a spreadsheet's account 1001.0 reads as '1001', as in a CSV
        elif _not_single(raw):
            raise ValueError(_not_single(raw))
        else:
            text = str(raw)
        text = text.strip()
        if "\x00" in text:
            raise ValueError("text contains a NUL character")
        if longest is not None and len(text) > longest:
            raise ValueError(f"{_brief(text)} is {len(text)} characters long; an account id has at most {longest}")
        if allowed and text not in allowed:
            if text.lower() in lowered:
                return lowered[text.lower()]
            raise ValueError(f"{text[:40]!r} is not one of {listed}")
        return text
    return convert


def id_length(metric: Metric) -> int | None:
    """The most characters the metric's text may have: MAX_ID for the account id (an id of
    more is no id, and it names files and plans); None for others (cells are capped by the
    readers at MAX_FIELD)."""
    return MAX_ID if metric.id == "account_id" else None


def _converter(metric: Metric) -> Converter:
    """The value in its declared type; ValueError with a reason a person understands."""
    if metric.type in ("number", "integer"):
        return _numeric(metric)
    return _boolean if metric.type == "boolean" else _textual(metric)


def _not_single(raw: Any) -> str:
    """Why a cell of a JSON line or a Parquet column is not one value ('' when it is)."""
    if isinstance(raw, dict):
        return "expected a single value, got an object"
    if isinstance(raw, (list, tuple)):
        return "expected a single value, got a list"
    if isinstance(raw, (bytes, bytearray)):
        return "expected a single value, got binary data"
    return ""


def _brief(raw: Any) -> str:
    """A cell as shown in a reason: quoted text, cut to 40 characters."""
    text = raw if isinstance(raw, str) else repr(raw)
    return repr(text[:40] + ("…" if len(text) > 40 else "")) if isinstance(raw, str) else text[:40]


def shown_id(raw: Any) -> str | None:
    """The account id of a record that may be rejected, as far as it can be told."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return None
    if isinstance(raw, float):
        text = _show(raw) if math.isfinite(raw) else repr(raw)
    else:
        text = str(raw)
    return text.strip()[:200] or None


Mapper = Callable[[Any], Any]


def _mapper(project: Project, mid: str) -> Mapper | None:
    """The metric's `values:` map: a cell -> the value it stands for; other cells as they are."""
    if mid not in project.values:
        return None
    table = {_fold(k): v for k, v in project.values[mid].values.items()}

    def mapped(raw: Any) -> Any:
        key = match_key(raw)
        return raw if key is None else table.get(key, raw)
    return mapped


Plan = list[tuple[str, Any, bool, Converter, Mapper | None]]
_PLANS: dict[int, tuple[Project, Plan]] = {}


def _plan(project: Project) -> Plan:
    """Per-metric converters and value maps, built once per project (normalize runs per record)."""
    cached = _PLANS.get(id(project))
    if cached is not None and cached[0] is project:
        return cached[1]
    plan = [(mid, m.default if not m.derived else None, m.required, _converter(m), _mapper(project, mid))
            for mid, m in project.metrics.items()]
    if len(_PLANS) > 16:
        _PLANS.clear()
    _PLANS[id(project)] = (project, plan)
    return plan


def normalize(project: Project, raw: Mapping[str, Any], decimal_comma: bool = False
              ) -> tuple[dict[str, Any], list[FieldError]]:
    """Typed values of the declared metrics, and every field problem."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for mid, default, required, convert, mapped in _plan(project):
        cell = raw.get(mid)
        if cell is None or (isinstance(cell, str) and not cell.strip()):  # empty: missing, not zero
            if default is not None:
                values[mid] = default
            elif required:
                errors.append(FieldError(mid, "required value is missing"))
            continue
        try:
            values[mid] = convert(cell if mapped is None else mapped(cell), decimal_comma)
        except ValueError as exc:
            errors.append(FieldError(mid, str(exc)))
    return values, errors
