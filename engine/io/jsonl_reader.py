"""JSON Lines: one JSON object per line, streamed; the row number is the line number.

A line that is not a JSON object (bad JSON, a list, a duplicate key, not UTF-8) is a
rejected record, not a failed file: exports get cut and concatenated. So is a line over the
limits (engine/io/limits.py): longer than MAX_LINE bytes (never read whole), an object of
more than MAX_COLUMNS keys, a text value longer than MAX_FIELD characters.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Final

from ..errors import KamError, Problem
from .limits import MAX_COLUMNS, MAX_LINE
from .table import Columns, RawRecord, Table, plain, too_long

MAX_KEYS = 1000
class _Unseen(Enum):
    UNSEEN = 0


_UNSEEN: Final = _Unseen.UNSEEN


class _LineError(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # json.loads would keep the last of a repeated key silently
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _LineError(f"key '{k[:60]}' appears twice")
            seen.add(k)
    return out


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def read_jsonl(path: Path, columns: Columns) -> Table:
    source = str(path)
    with open(path, "rb") as f:
        if not any(line.strip() for line, _ in _lines(f)):
            raise KamError(Problem(source, 1, 1, "the file is empty: expected one JSON object per line"))
    table = Table(source, [], None, False, iter(()))
    table.records = _records(path, source, columns, table)
    return table


def _records(path: Path, source: str, columns: Columns, table: Table) -> Iterator[RawRecord]:
    resolved: dict[str, str | None] = {}
    with open(path, "rb") as f:
        for line, (raw, whole) in enumerate(_lines(f), start=1):
            if not whole:
                yield RawRecord(source, line, {}, f"the line is longer than {MAX_LINE} bytes, the most a line may be")
                continue
            if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_pairs)
            except UnicodeDecodeError as exc:
                yield RawRecord(source, line, {}, f"the line is not UTF-8 text (byte {exc.start + 1})")
                continue
            except _LineError as exc:
                yield RawRecord(source, line, {}, f"not a valid record: {exc}")
                continue
            except ValueError as exc:  # json.JSONDecodeError
                yield RawRecord(source, line, {}, f"not valid JSON: {str(exc)[:120]}")
                continue
            except RecursionError:
                yield RawRecord(source, line, {}, "not a valid record: JSON nested too deeply")
                continue
            if not isinstance(obj, dict):
                yield RawRecord(source, line, {}, f"expected a JSON object, got {_kind(obj)}")
                continue
            if len(obj) > MAX_COLUMNS:
                yield RawRecord(source, line, {}, f"the object has {len(obj)} keys; a record has at most {MAX_COLUMNS}")
                continue
            cells: dict[str, Any] = {}
            origin: dict[str, str] = {}
            clash = None
            for key, value in obj.items():
                metric = resolved.get(key, _UNSEEN)
                if metric is _UNSEEN:
                    metric = columns.resolve(key)
                    if len(resolved) < MAX_KEYS:  # lines of ever new keys must not grow memory
                        resolved[key] = metric
                    shown = columns.shown(key) if metric is None else ""
                    if shown and len(table.unknown) < MAX_KEYS and shown not in table.unknown:
                        table.unknown.append(shown)
                    if metric is not None and metric not in table.columns:
                        table.columns.append(metric)
                if metric is None:
                    continue
                if metric in cells:
                    clash = f"keys '{origin[metric]}' and '{key}' both give metric '{metric}'"
                    break
                cells[metric], origin[metric] = plain(value), key
            if clash:
                yield RawRecord(source, line, {}, f"not a valid record: {clash}")
                continue
            yield RawRecord(source, line, cells, too_long(cells))


def _lines(f: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """(line, whole) of every line (split at line feeds); a line longer than MAX_LINE bytes is
    skipped in pieces, never held: (b"", False)."""
    while raw := f.readline(MAX_LINE + 1):
        if len(raw) <= MAX_LINE or raw.endswith(b"\n"):
            yield raw, True
            continue
        while (more := f.readline(MAX_LINE)) and not more.endswith(b"\n"):
            pass
        yield raw[:0], False
