"""One input record -> values of the declared metrics, or the reasons it cannot be evaluated."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from ..model import Metric, Project

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


def _number(raw: Any, decimal_comma: bool) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"expected a number, got {raw!r}")
    try:
        if isinstance(raw, (int, float, Decimal)):
            value = float(raw)
        elif isinstance(raw, str):
            value = parse_number(raw, decimal_comma)
        else:
            raise ValueError
    except OverflowError:
        raise ValueError(f"{_brief(raw)} is too large") from None
    except ValueError:
        raise ValueError(f"expected a number, got {_brief(raw)}") from None
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"expected a number, got {_brief(raw)}")
    if abs(value) > MAX_ABS:
        raise ValueError(f"{_brief(raw)} is too large")
    return value


def _convert(metric: Metric, raw: Any, decimal_comma: bool) -> Any:
    """The value in its declared type; ValueError with a reason a person understands."""
    if isinstance(raw, (dict, list, tuple)):
        raise ValueError(f"expected a single value, got {'an object' if isinstance(raw, dict) else 'a list'}")
    if metric.type in ("number", "integer"):
        value = _number(raw, decimal_comma)
        if metric.type == "integer":
            if not value.is_integer():
                raise ValueError(f"expected a whole number, got {_brief(raw)}")
            value = int(value)
        if metric.min is not None and value < metric.min:
            raise ValueError(f"{_show(value)} is below the minimum {_show(metric.min)}")
        if metric.max is not None and value > metric.max:
            raise ValueError(f"{_show(value)} is above the maximum {_show(metric.max)}")
        return value
    if metric.type == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool) and raw in (0, 1):
            return bool(raw)
        word = str(raw).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"expected yes/no (true/false, 1/0, да/нет), got {_brief(raw)}")
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, float) and math.isfinite(raw):
        text = _show(raw)  # a spreadsheet's account 1001.0 reads as '1001', as in a CSV
    else:
        text = str(raw)
    text = text.strip()
    if "\x00" in text:
        raise ValueError("text contains a NUL character")
    if metric.values and text not in metric.values:
        lowered = {v.lower(): v for v in metric.values}
        if text.lower() in lowered:
            return lowered[text.lower()]
        raise ValueError(f"{text[:40]!r} is not one of {', '.join(metric.values)}")
    return text


def _brief(raw: Any) -> str:
    """A cell as shown in a reason: quoted text, cut to 40 characters."""
    text = raw if isinstance(raw, str) else repr(raw)
    return repr(text[:40] + ("…" if len(text) > 40 else "")) if isinstance(raw, str) else text[:40]


def _show(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else repr(float(v))


def shown_id(raw: Any) -> str | None:
    """The account id of a record that may be rejected, as far as it can be told."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return None
    if isinstance(raw, float):
        text = _show(raw) if math.isfinite(raw) else repr(raw)
    else:
        text = str(raw)
    return text.strip()[:200] or None


def is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return False  # NaN is a bad number, not an empty cell
    return isinstance(raw, str) and raw.strip() == ""


def normalize(project: Project, raw: Mapping[str, Any], decimal_comma: bool = False
              ) -> tuple[dict[str, Any], list[FieldError]]:
    """Typed values of the declared (non-derived) metrics, and every field problem."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for mid, metric in project.metrics.items():
        cell = raw.get(mid)
        if is_empty(cell):
            if metric.default is not None and not metric.derived:
                values[mid] = metric.default
            elif metric.required:
                errors.append(FieldError(mid, "required value is missing"))
            continue
        try:
            values[mid] = _convert(metric, cell, decimal_comma)
        except ValueError as exc:
            errors.append(FieldError(mid, str(exc)))
    return values, errors
