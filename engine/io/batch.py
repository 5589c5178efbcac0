"""Normalise many records at once, column by column: the same values and the same errors
as `records.normalize` on each record, several times faster on the common text cells.

Each column is first checked as a whole (one regex over the joined cells, in C): when every
cell is a plain number, a known yes/no word or clean text, it converts in a list
comprehension. Any other cell - '1 234,5', ' 12 ', a non-string from a spreadsheet, an
out-of-range value - goes through `records.normalize`'s own converter, which decides its
value or its reason. So this module only ever takes a shortcut, never a different road;
tests/test_batch_normalise.py checks that on random cells.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, Final

from ..project.model import Metric, Project
from .records import FALSE_WORDS, TRUE_WORDS, Converter, FieldError, Mapper, _plan, id_length

# The plainest numbers: what `records._PLAIN` accepts, `float()` reads identically, and
# MAX_ABS (1e15) can never refuse (at most 15 digits before the point).
_INTEGER = r"-?\d{1,15}"
_DECIMAL = r"-?\d{1,15}(?:\.\d{1,17})?"
_COLUMN = {kind: re.compile(rf"(?:{body})?(?:\n(?:{body})?)*") for kind, body in
           (("integer", _INTEGER), ("number", _DECIMAL))}
_ONE = {kind: re.compile(body) for kind, body in (("integer", _INTEGER), ("number", _DECIMAL))}
_BOOLEAN = {form: value for words, value in ((TRUE_WORDS, True), (FALSE_WORDS, False))
            for w in words for form in (w, w.upper(), w.capitalize())}

class _Missing(Enum):
    MISSING = 0


_MISSING: Final = _Missing.MISSING  # an empty cell: the metric's default, or "required value is missing"
_SLOW = object()  # the converter of records.py decides


def _numeric(metric: Metric) -> Callable[[list[Any]], list[Any]]:
    integer = metric.type == "integer"
    column, one = _COLUMN[metric.type], _ONE[metric.type]
    cast: Callable[[str], float] = int if integer else float
    low, high = metric.min, metric.max

    def fast(x: Any) -> Any:
        if x is None or x == "":
            return _MISSING
        if x.__class__ is str and one.fullmatch(x):
            v = cast(x)
            if (low is None or v >= low) and (high is None or v <= high):
                return v
        return _SLOW

    def convert(cells: list[Any]) -> list[Any]:
        if None not in cells:
            try:
                joined = "\n".join(cells)
            except TypeError:  # a non-string cell (xlsx, JSON lines, Parquet)
                joined = None
            if joined is not None and joined.count("\n") == len(cells) - 1 and column.fullmatch(joined):
                out = [cast(x) if x else _MISSING for x in cells]
                present = [v for v in out if v is not _MISSING]
                if present and ((low is not None and min(present) < low) or
                                (high is not None and max(present) > high)):
                    return [fast(x) for x in cells]  # the converter names the value out of range
                return out
        return [fast(x) for x in cells]
    return convert


def _boolean(cells: list[Any]) -> list[Any]:
    get = _BOOLEAN.get
    out: list[Any] = []
    for x in cells:
        if x is None or x == "":
            out.append(_MISSING)
        elif x.__class__ is str:
            v = get(x)
            out.append(_SLOW if v is None else v)
        else:
            out.append(_SLOW)
    return out


def _textual(metric: Metric) -> Callable[[list[Any]], list[Any]]:
    allowed = set(metric.values)
    longest = id_length(metric) or float("inf")

    def convert(cells: list[Any]) -> list[Any]:
        out: list[Any] = []
        for x in cells:
            if x is None:
                out.append(_MISSING)
            elif x.__class__ is not str or "\x00" in x or len(x) > longest:
                out.append(_SLOW)
            else:
                text = x.strip()
                if not text:
                    out.append(_MISSING)
                elif allowed and text not in allowed:
                    out.append(_SLOW)  # a case variant, or not allowed: the converter says which
                else:
                    out.append(text)
        return out
    return convert


def _fractions(cells: list[Any]) -> list[Any]:
    """A percent metric whose bare numbers are fractions (x 100): the converter reads them all."""
    return [_MISSING if x is None or x == "" else _SLOW for x in cells]


def _column_converter(metric: Metric) -> Callable[[list[Any]], list[Any]]:
    if metric.fractions:
        return _fractions
    if metric.type in ("number", "integer"):
        return _numeric(metric)  # a percent's '15 %' is no plain number: the converter reads it
    return _boolean if metric.type == "boolean" else _textual(metric)


ColumnPlan = list[tuple[str, Any, bool, Converter, Callable[..., Any], Mapper | None]]
_COLUMN_PLANS: dict[int, tuple[Project, ColumnPlan]] = {}


def _column_plan(project: Project) -> ColumnPlan:
    cached = _COLUMN_PLANS.get(id(project))
    if cached is not None and cached[0] is project:
        return cached[1]
    plan = [(mid, default, required, convert, _column_converter(project.metrics[mid]), mapped)
            for mid, default, required, convert, mapped in _plan(project)]
    if len(_COLUMN_PLANS) > 16:
        _COLUMN_PLANS.clear()
    _COLUMN_PLANS[id(project)] = (project, plan)
    return plan


def normalize_many(project: Project, raws: list[Mapping[str, Any]], decimal_comma: bool = False
                   ) -> list[tuple[dict[str, Any], list[FieldError]]]:
    """`[records.normalize(project, raw, decimal_comma) for raw in raws]`, column by column."""
    return normalize_columns(project, lambda mid: [raw.get(mid) for raw in raws], len(raws), decimal_comma)


def normalize_columns(project: Project, column: Callable[[str], Sequence[Any] | None], n: int,
                      decimal_comma: bool = False) -> list[tuple[dict[str, Any], list[FieldError]]]:
    """The same for n records given as columns: column(metric id) -> its n cells, or None
    when the input has no such column."""
    values: list[dict[str, Any]] = [{} for _ in range(n)]
    errors: list[list[FieldError]] = [[] for _ in range(n)]
    for mid, default, required, convert, fast, mapped in _column_plan(project):
        cells = column(mid)
        if cells is None:
            cells = [None] * n
        elif mapped is not None:
            cells = [mapped(x) for x in cells]  # kam.yaml values:, as normalize maps a cell
        out = fast(cells)
        if _SLOW not in out and ((default is None and not required) or _MISSING not in out):
            # the common cases: every cell a value, or empty cells that simply stay missing
            missing = out.count(_MISSING)
            if missing == 0:
                for d, v in zip(values, out):
                    d[mid] = v
            elif missing < len(out):
                for d, v in zip(values, out):
                    if v is not _MISSING:
                        d[mid] = v
            continue
        for i, v in enumerate(out):
            if v is _SLOW:
                cell = cells[i]
                if isinstance(cell, str) and not cell.strip():
                    v = _MISSING
                else:
                    try:
                        values[i][mid] = convert(cell, decimal_comma)
                    except ValueError as exc:
                        errors[i].append(FieldError(mid, str(exc)))
                    continue
            if v is _MISSING:
                if default is not None:
                    values[i][mid] = default
                elif required:
                    errors[i].append(FieldError(mid, "required value is missing"))
                continue
            values[i][mid] = v
    return list(zip(values, errors))
