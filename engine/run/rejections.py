"""The rejected records of a run, streamed: counted as they come and written to rejected.jsonl
in (source, row) order without holding them all.

A chunk's rejections arrive in pieces (stage A, the duplicates, stage B) and out of file order.
Up to BUFFERED records wait in memory; past that they are sorted and spilled as a run file, and
`write` merges the runs. A broken export that rejects a million rows costs disk, not memory.
"""
from __future__ import annotations

import contextlib
import heapq
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

BUFFERED = 20_000
TOTALS = "totals row ("  # the reason of a totals or subtotal row of an export (engine/io/totals.py)


def _key(r: dict[str, Any]) -> tuple[str, int]:
    return r["source"], r["row"]


def _line(r: dict[str, Any]) -> str:
    return json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n"


class Rejections:
    """Every rejected record of a run: `add` them in any order, `write` them sorted."""

    def __init__(self, spill_dir: Path | None = None, buffered: int | None = None):
        self.spill_dir = spill_dir
        self.buffered = BUFFERED if buffered is None else buffered
        self.count = 0
        self.totals_rows = 0  # of them: totals and subtotal rows, no accounts
        # per field and message (`status: 'Активный' is not one of active, lost`): a column
        # the export broke stands out in the quality gate
        self.reasons: Counter[str] = Counter()
        self._buffer: list[dict[str, Any]] = []
        self._runs: list[Path] = []

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        for r in rows:
            self.count += 1
            if r["reason"].startswith(TOTALS):
                self.totals_rows += 1
            else:
                self.reasons.update(f"{e['field']}: {e['reason']}" if e["field"] else e["reason"]
                                    for e in r["errors"])
            self._buffer.append(r)
        if len(self._buffer) >= self.buffered and self.spill_dir is not None:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort(key=_key)
        path = self.spill_dir / f"rejected-{len(self._runs)}.jsonl"  # type: ignore[operator]
        with path.open("w", encoding="utf-8") as f:
            f.writelines(_line(r) for r in self._buffer)
        self._runs.append(path)
        self._buffer = []

    def most_common(self) -> tuple[str, int] | None:
        """The reason most records were rejected for; on a tie the first in sort order, so the
        answer does not depend on the order the chunks handed their records over in."""
        return min(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]), default=None)

    @property
    def data_rows(self) -> int:
        """Rejected records that are not totals rows: the share the quality gate weighs."""
        return self.count - self.totals_rows

    def write(self, path: Path) -> None:
        """rejected.jsonl: every record, sorted by source and row (a stable merge of the runs)."""
        self._buffer.sort(key=_key)
        runs: list[Iterator[tuple[tuple[str, int], str]]] = [self._read(p) for p in self._runs]
        runs.append((_key(r), _line(r)) for r in self._buffer)
        with path.open("w", encoding="utf-8") as f:
            f.writelines(line for _, line in heapq.merge(*runs, key=lambda kv: kv[0]))
        self.discard()

    @staticmethod
    def _read(path: Path) -> Iterator[tuple[tuple[str, int], str]]:
        with path.open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                yield (r["source"], r["row"]), line

    def discard(self) -> None:
        for p in self._runs:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        self._runs, self._buffer = [], []
