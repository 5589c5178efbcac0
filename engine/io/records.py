"""One input record -> values of the declared metrics, or the reasons it cannot be evaluated."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..model import Metric, Project

TRUE_WORDS = {"true", "yes", "1", "да", "y", "t"}
FALSE_WORDS = {"false", "no", "0", "нет", "n", "f"}
MAX_ABS = 1e15  # beyond this a "number" is a data error (and the engine cannot take it)
_SPACES = re.compile(r"[\s\u00a0\u202f']")


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


def parse_number(text: str, decimal_comma: bool) -> float:
    """'1 234,5' (Russian locale) or '1,234.5' -> 1234.5; ValueError when it is not a number."""
    s = _SPACES.sub("", text)
    if decimal_comma:
        s = s.replace(".", "").replace(",", ".") if "," in s else s
    elif "," in s:
        if "." in s or re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", s):
            s = s.replace(",", "")
        else:
            s = s.replace(",", ".")
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        raise ValueError(text)
    return float(s)


def _convert(metric: Metric, raw: Any, decimal_comma: bool) -> Any:
    """The value in its declared type; ValueError with a reason a person understands."""
    if metric.type in ("number", "integer"):
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        if isinstance(raw, (int, float)):
            value = float(raw)
        else:
            try:
                value = parse_number(str(raw), decimal_comma)
            except ValueError:
                raise ValueError(f"expected a number, got {str(raw)[:40]!r}") from None
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"expected a number, got {raw!r}")
        if abs(value) > MAX_ABS:
            raise ValueError(f"{raw} is too large")
        if metric.type == "integer":
            if not value.is_integer():
                raise ValueError(f"expected a whole number, got {raw}")
            value = int(value)
        if metric.min is not None and value < metric.min:
            raise ValueError(f"{_show(value)} is below the minimum {_show(metric.min)}")
        if metric.max is not None and value > metric.max:
            raise ValueError(f"{_show(value)} is above the maximum {_show(metric.max)}")
        return value
    if metric.type == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (int, float)) and raw in (0, 1):
            return bool(raw)
        word = str(raw).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"expected yes/no (true/false, 1/0, да/нет), got {str(raw)[:40]!r}")
    text = raw if isinstance(raw, str) else (_show(raw) if isinstance(raw, (int, float)) else str(raw))
    text = text.strip()
    if metric.values and text not in metric.values:
        lowered = {v.lower(): v for v in metric.values}
        if text.lower() in lowered:
            return lowered[text.lower()]
        raise ValueError(f"{text[:40]!r} is not one of {', '.join(metric.values)}")
    return text


def _show(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


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
