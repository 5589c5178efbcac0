"""A chunk's tasks.csv lines and calendar events, made in the worker that holds the chunk
(stage C): the rows of rows.py, the events of ics.py."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...project.model import Project
from ...result import Result
from .ics import event
from .rows import ChunkLists, Spec, Task, csv_lines, tasks_of, worklist_words


def chunk_lists(project: Project, lang: str, results: Sequence[Result],
                overlays: Sequence[Mapping[str, Any] | None] | None, stems: Mapping[str, str] | None,
                spec: Spec) -> ChunkLists:
    """A chunk's rows and events (stage C)."""
    steps, words = worklist_words(project, lang)
    unassigned = str(words.get("unassigned", "Unassigned"))
    rows: list[Task] = []
    for i, r in enumerate(results):
        rows += tasks_of(r, overlays[i] if overlays is not None else None,
                         (stems or {}).get(r["account_id"]), spec, steps, unassigned)
    by_owner: dict[str, list[bytes]] = {}
    for t in rows:
        if t.due:  # an all-day event needs its day
            by_owner.setdefault(t.owner, []).append(event(t, spec, words))
    return ChunkLists(csv_lines(rows), [(o, b"".join(evs)) for o, evs in by_owner.items()])
