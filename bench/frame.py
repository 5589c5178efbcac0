"""The accounts every comparison evaluator sees: the benchmark CSV read into a typed polars
frame, with the values of the portfolio pass (engine/run/portfolio.py) added once.

Reading here is the benchmark's own (polars), not kam's reader, so the equality check
also covers kam's reading of the file. Only what the generator writes has to be read:
plain metric ids as headers, UTF-8, '.' decimals.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import polars as pl

from engine.io.records import FALSE_WORDS, TRUE_WORDS
from engine.project.model import Project
from engine.run.portfolio import WRITTEN, measure_columns

DTYPES = {"number": pl.Float64, "integer": pl.Int64, "boolean": pl.Boolean, "text": pl.Utf8}


def _boolean(column: str) -> pl.Expr:
    word = pl.col(column).str.strip_chars().str.to_lowercase()
    return (pl.when(word.is_in(sorted(TRUE_WORDS))).then(True)
            .when(word.is_in(sorted(FALSE_WORDS))).then(False)
            .otherwise(None).alias(column))


def read_frame(project: Project, path: Path) -> pl.DataFrame:
    """Every non-derived metric of the project as a typed column (null = missing, defaults
    applied), a derived metric only when the file gives it; then the portfolio pass."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    metrics = project.metrics
    known = [c for c in header if c in metrics]
    overrides = {c: (pl.Utf8 if metrics[c].type == "boolean" else DTYPES[metrics[c].type]) for c in known}
    frame = pl.read_csv(path, columns=known, schema_overrides=overrides, infer_schema=False,
                        encoding="utf8")
    fixes = [_boolean(c) for c in known if metrics[c].type == "boolean"]
    if fixes:
        frame = frame.with_columns(fixes)
    absent = [pl.lit(None, DTYPES[m.type]).alias(m.id) for m in metrics.values()
              if m.id not in frame.columns and not m.derived]
    if absent:
        frame = frame.with_columns(absent)
    defaults = [pl.col(m.id).fill_null(pl.lit(m.default, DTYPES[m.type])) for m in metrics.values()
                if m.default is not None and not m.derived]
    if defaults:
        frame = frame.with_columns(defaults)
    return portfolio_pass(project, frame)


def portfolio_pass(project: Project, frame: pl.DataFrame) -> pl.DataFrame:
    """engine.run.portfolio over the frame's columns: the same values kam gives every account."""
    config = project.portfolio

    def column(name: str) -> list[Any] | None:
        return frame.get_column(name).to_list() if name in frame.columns else None

    scores = {cid: column(c.column) for cid, c in config.scored().items()}
    cols = measure_columns(config, column("revenue_current") or [None] * frame.height,
                           column("revenue_share_pct"), column("strategic"),
                           {k: v for k, v in scores.items() if v is not None}, column("account_id"))
    return frame.with_columns([pl.Series(name, getattr(cols, name),
                                         dtype=DTYPES[project.metrics[name].type]
                                         if name in project.metrics else None)
                               for name in WRITTEN])


def values(frame: pl.DataFrame, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """Rows as the values dicts of engine/rules/evaluate.py (None = missing)."""
    stop = frame.height if stop is None else min(stop, frame.height)
    return frame.slice(start, max(0, stop - start)).to_dicts()
