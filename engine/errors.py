"""The one user-facing error type: every problem names where it is and what is wrong."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in a user file. Sorted by path, then position, so reports are stable."""

    path: str
    line: int = 0
    col: int = 0
    message: str = ""
    # a file that does not load: listed before every other problem, which it may explain
    cause: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.col}: {self.message}"
        return f"{self.path}: {self.message}"


class KamError(Exception):
    """A user error (bad project, bad input file): exit code 1, no traceback without --debug."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("kam", 0, 0, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = sorted(set(problems), key=lambda p: (not p.cause, p))
        super().__init__("\n".join(str(p) for p in self.problems))


class EngineLimitError(KamError):
    """A compiled ruleset would exceed a limit of durable-rules' C engine."""
