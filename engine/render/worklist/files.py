"""tasks.csv and calendar/<manager>.ics in the output folder, in the main process: each chunk's
rows are appended in input order as the chunk comes back, each manager's events to a part
file of their own; the calendars are put together (header, events, end) when the last chunk
is in. Nothing is kept per account, only a part file per manager."""
from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...io.writers import inside, safe_name
from .rows import ChunkLists, header_line

TASKS_FILE = "tasks.csv"
CALENDAR_DIR = "calendar"


class Worklist:
    """`add` every chunk's lists in input order, then `close`: returns the files written."""

    def __init__(self, out: Path, parts: Path, words: Mapping[str, Any]):
        self.out, self.parts, self.words = out, parts, words
        self.parts.mkdir(parents=True, exist_ok=True)
        self.tasks = (out / TASKS_FILE).open("wb")
        self.tasks.write(header_line())
        self.owners: dict[str, Path] = {}  # manager -> their part file

    def add(self, lists: ChunkLists) -> None:
        self.tasks.write(lists.csv)
        for owner, events in lists.events:
            part = self.owners.get(owner)
            if part is None:
                part = self.owners[owner] = self.parts / f"{len(self.owners):06d}.ics-part"
            with part.open("ab") as f:
                f.write(events)

    def close(self) -> int:
        from .ics import calendar_ends
        self.tasks.close()
        if not self.owners:
            return 1
        folder = self.out / CALENDAR_DIR
        folder.mkdir()
        taken: set[str] = set()
        for owner in sorted(self.owners):  # named in the order the digests are (render.write_overview_of)
            head, end = calendar_ends(owner, self.words)
            with inside(folder, f"{safe_name(owner, taken)}.ics").open("wb") as f:
                f.write(head)
                with self.owners[owner].open("rb") as part:
                    shutil.copyfileobj(part, f)
                f.write(end)
        shutil.rmtree(self.parts, ignore_errors=True)
        return 1 + len(self.owners)

    def abort(self) -> None:
        self.tasks.close()
