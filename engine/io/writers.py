"""Output written atomically: a run fills a staging folder and swaps it in at the end, so
an interrupted run leaves the previous output intact rather than half a new one."""
from __future__ import annotations

import os
import re
import shutil
import unicodedata
from pathlib import Path
from types import TracebackType

from ..errors import KamError, Problem

MARKER = ".kam-output"


class AtomicDir:
    """`with AtomicDir(out) as staging:` write into staging; on success it becomes `out`."""

    def __init__(self, target: Path):
        self.target = Path(target)
        self.staging = self.target.parent / f".{self.target.name}.staging-{os.getpid()}"

    def __enter__(self) -> Path:
        t = self.target
        if t.exists() and (not t.is_dir() or (any(t.iterdir()) and not (t / MARKER).exists())):
            raise KamError(Problem(str(t), 0, 0, "refusing to write here: it exists and is not a "
                                                 "kam output folder (choose another --out)"))
        t.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        (self.staging / MARKER).write_text("written by kam; replaced whole on every run\n")
        return self.staging

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        backup = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
        if self.target.exists():
            os.replace(self.target, backup)
        os.replace(self.staging, self.target)
        shutil.rmtree(backup, ignore_errors=True)


_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)


def safe_name(text: str, taken: set[str], limit: int = 80) -> str:
    """A file name made from untrusted text: no separators, no dot-dot, unique in `taken`."""
    s = unicodedata.normalize("NFKC", str(text))
    s = _UNSAFE.sub("_", s).strip("._") or "account"
    s = s[:limit]
    if s.upper().split(".")[0] in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}:
        s = "_" + s
    name, n = s, 2
    while name.lower() in taken:
        name = f"{s}-{n}"
        n += 1
    taken.add(name.lower())
    return name


def inside(root: Path, relative: str) -> Path:
    """root/relative, refusing anything that would land outside root."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise KamError(Problem(relative, 0, 0, "output path leaves the output folder"))
    return path
