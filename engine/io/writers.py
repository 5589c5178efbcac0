"""Output written atomically: a run fills a staging folder and swaps it in at the end, so
an interrupted run leaves the previous output intact rather than half a new one.

File names made from account ids (untrusted text) go through safe_name and inside: no
separators, no dot-dot, no device names, bounded length, unique ignoring case, and never a
path outside the output folder."""
from __future__ import annotations

import errno
import os
import re
import shutil
import unicodedata
from pathlib import Path
from types import TracebackType

from ..errors import KamError, Problem

MARKER = ".kam-output"
MAX_NAME_BYTES = 120  # a file system allows 255; room for '-12.html' and 4-byte characters


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, not ours
    return True


class AtomicDir:
    """`with AtomicDir(out) as staging:` write into staging; on success it becomes `out`."""

    def __init__(self, target: Path):
        self.shown = str(target)
        # '.' and '..' have no name to stage beside; a link stays, the folder it points to is
        # replaced (moving the link aside left it behind as .<name>.old-<pid>)
        self.target = Path(os.path.realpath(target) if os.path.islink(target) else os.path.abspath(target))
        if not self.target.name:
            raise KamError(Problem(str(target), 0, 0, "refusing to write to the root folder"))
        self.staging = self.target.parent / f".{self.target.name}.staging-{os.getpid()}"
        self.backup = self.target.parent / f".{self.target.name}.old-{os.getpid()}"

    def __enter__(self) -> Path:
        t = self.target
        if t.exists() and (not t.is_dir() or (any(t.iterdir()) and not (t / MARKER).exists())):
            raise KamError(Problem(str(t), 0, 0, "refusing to write here: it exists and is not a "
                                                 "kam output folder (choose another --out)"))
        try:
            t.parent.mkdir(parents=True, exist_ok=True)
            self._sweep()
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging.mkdir()
            (self.staging / MARKER).write_text("written by kam; replaced whole on every run\n")
        except OSError as exc:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise self._unwritable(exc) from None
        return self.staging

    def _unwritable(self, exc: OSError) -> KamError:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        advice = "free some space or choose another --out" if full else "choose another --out"
        return KamError(Problem(self.shown, 0, 0,
                                f"cannot write the output folder ({exc.strerror or exc}): {advice}"))

    def _written_here(self, exc: OSError) -> bool:
        """Whether `exc` is about a file of the staging folder, or the target being swapped."""
        ours = [Path(os.path.realpath(p)) for p in (self.staging, self.target, self.backup)]
        names = [Path(os.path.realpath(n)) for n in (exc.filename, exc.filename2) if n is not None]
        return any(n.is_relative_to(ours[0]) or n in ours for n in names)

    def _sweep(self) -> None:
        """Remove what a killed run (no `finally` ran) left beside the target."""
        for kind in ("staging", "old"):
            for left in self.target.parent.glob(f".{glob_escape(self.target.name)}.{kind}-*"):
                pid = left.name.rsplit("-", 1)[-1]
                if pid.isdigit() and not _alive(int(pid)) and (left / MARKER).exists():
                    shutil.rmtree(left, ignore_errors=True)

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            if isinstance(exc, OSError) and self._written_here(exc):  # a read-only or full disk
                raise self._unwritable(exc) from None
            return
        moved = False
        try:
            if self.target.exists():
                os.replace(self.target, self.backup)
                moved = True
            os.replace(self.staging, self.target)
        except BaseException as failed:
            if moved and not self.target.exists():
                os.replace(self.backup, self.target)  # put the previous output back
            shutil.rmtree(self.staging, ignore_errors=True)
            if isinstance(failed, OSError) and self._written_here(failed):
                raise self._unwritable(failed) from None
            raise
        shutil.rmtree(self.backup, ignore_errors=True)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)
_DEVICE = re.compile(r"(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9¹²³]|LPT[0-9¹²³])", re.IGNORECASE)


def safe_name(text: str, taken: set[str], limit: int = MAX_NAME_BYTES) -> str:
    """A file name made from untrusted text: no separators, no dot-dot, no device name
    (Windows: CON, NUL, COM1...), at most `limit` bytes, unique in `taken` ignoring case
    (case-insensitive file systems would merge 'Acme' and 'ACME')."""
    s = unicodedata.normalize("NFKC", str(text))
    s = _UNSAFE.sub("_", s).strip("._")
    s = s.encode("utf-8")[:limit].decode("utf-8", "ignore").rstrip("._") or "account"
    if _DEVICE.fullmatch(s.split(".")[0]):
        s = "_" + s
    name, n = s, 2
    while name.casefold() in taken:
        name = f"{s}-{n}"
        n += 1
    taken.add(name.casefold())
    return name


def inside(root: Path, relative: str) -> Path:
    """root/relative, refusing anything that would land outside root."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise KamError(Problem(relative, 0, 0, "output path leaves the output folder"))
    return path
