"""How an input's cells meet what the project declares, defined once: the readers apply it
(engine/io/table.py matches column names, engine/io/records.py the `values:` keys and the
fractions of 1), and checks.py checks kam.yaml's `columns:` and `values:` against it, so that
`kam validate` refuses what a run would read some other way."""
from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

SNAPSHOT_DATE, LOST_DATE = "snapshot_date", "lost_date"  # the dates kam backtest reads
DATE_COLUMNS = (SNAPSHOT_DATE, LOST_DATE)  # columns besides the metrics that `columns:` may map onto

_SPACE = re.compile(r"\s+")


def _fold(name: str) -> str:
    """A column name or a `values:` key as it is matched: case and runs of spaces ignored."""
    return _SPACE.sub(" ", name).strip().casefold()


def _show(v: float) -> str:
    """A number as a CSV writes it: a sheet's 2.0 is '2'."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else repr(float(v))


def percent_of(fraction: float) -> float:
    """A fraction of 1 in percent, exactly: 0.155 is 15.5 (the float product is 15.500000000000002)."""
    return float(Decimal(repr(float(fraction))) * 100)


def match_key(raw: Any) -> str | None:
    """A cell as kam.yaml's `values:` matches it: text, or a number as a CSV writes it (a
    sheet's 2.0 is '2'), ignoring case and runs of spaces as column names are; None for
    any other cell."""
    if raw.__class__ is str:
        return _fold(raw)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
        return _fold(_show(raw))
    return None
