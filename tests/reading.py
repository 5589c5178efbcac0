"""Input read whole, for the tests that look at every record: engine/run/read.py's stream, collected."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.project.model import Project
from engine.run.read import CHUNK_SIZE, Accepted, read_accounts


@dataclass
class ReadAll:
    read: int = 0
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # as rejected.jsonl has them
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def values(self) -> list[dict[str, Any]]:
        return [a.values for a in self.accepted]


def read_inputs(project: Project, paths: Sequence[Path], sheet: str | None = None,
             chunk_size: int = CHUNK_SIZE) -> ReadAll:
    out = ReadAll()
    with read_accounts(project, list(paths), sheet, chunk_size) as stream:
        for chunk in stream.chunks():
            out.accepted += chunk.accepted
            out.rejected += [r.as_dict() for r in chunk.rejected]
        out.read, out.ignored_columns = stream.read, stream.ignored_columns
    return out
