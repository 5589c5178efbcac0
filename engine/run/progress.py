"""The phases of a run as they happen, for a display: the engine reports them through a
callback and never draws (cli.py does: a bar on a terminal, a line per phase in a log)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    name: str  # read, portfolio, rules, store, documents
    unit: str  # what `done` counts: records, accounts, files
    done: int
    total: int | None  # None while not known (reading streams its files)
    seconds: float  # since the phase began
    finished: bool = False


Progress = Callable[[Phase], None]


class Clock:
    """Times one phase and reports it: `tick(done)` while it runs, `end(count)` once. Without
    a callback it only times."""

    def __init__(self, report: Progress | None, name: str, unit: str, total: int | None = None):
        self.report, self.name, self.unit, self.total = report, name, unit, total
        self.started = time.perf_counter()
        self.tick(0)

    def tick(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self.report is not None:
            self.report(Phase(self.name, self.unit, done, self.total, time.perf_counter() - self.started))

    def end(self, count: int) -> float:
        """Report the phase over, with how many it did; its seconds."""
        seconds = time.perf_counter() - self.started
        if self.report is not None:
            self.report(Phase(self.name, self.unit, count, self.total, seconds, finished=True))
        return seconds
