"""Files kept for audit: each run's input files and the project's files (its rules version),
stored once per content (SHA-256), zlib-compressed in pieces."""
from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from ...errors import KamError, Problem
from ...project.load import project_files, template_files
from ...project.model import Project
from .db import Store

PIECE = 4 << 20  # bytes per stored piece, far below SQLite's value limit


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while True:
            piece = f.read(PIECE)
            if not piece:
                return
            yield piece


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        for piece in _pieces(path):
            h.update(piece)
    except OSError as exc:
        raise KamError(Problem(str(path), 0, 0, f"cannot read: {exc.strerror or exc}")) from None
    return h.hexdigest()


def put_file(store: Store, path: Path, sha: str | None = None) -> str:
    """Store the file's content unless the store has it already; return its SHA-256."""
    sha = sha or file_sha256(path)
    if store.one("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)) is None:
        store.conn.execute("INSERT INTO blobs (sha256, size) VALUES (?, 0)", (sha,))
        size = 0
        for seq, piece in enumerate(_pieces(path)):
            size += len(piece)
            store.conn.execute("INSERT INTO blob_chunks (sha256, seq, data) VALUES (?, ?, ?)",
                               (sha, seq, zlib.compress(piece, 6)))
        store.conn.execute("UPDATE blobs SET size = ? WHERE sha256 = ?", (size, sha))
    return sha


class PendingFile:
    """A run's input file stored while the run goes on: its pieces are read and compressed in
    a thread (zlib and file reads let go of the GIL), stored by `finish` in the run's
    transaction. Compressing a 150 MB export took 4 s before a run could start reading it.
    The blobs row is written at once (run_inputs refer to it); a run that fails rolls both
    back."""

    def __init__(self, store: Store, path: Path, sha: str):
        self.path, self.sha = path, sha
        store.conn.execute("INSERT INTO blobs (sha256, size) VALUES (?, 0)", (sha,))
        self.pieces: list[bytes] = []
        self.read_sha = ""
        self.size = 0
        self.error: OSError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._compress, name="kam-store-input", daemon=True)
        self._thread.start()

    def _compress(self) -> None:
        h = hashlib.sha256()
        try:
            for piece in _pieces(self.path):
                if self._stop.is_set():
                    return
                h.update(piece)
                self.size += len(piece)
                self.pieces.append(zlib.compress(piece, 6))
        except OSError as exc:
            self.error = exc
            return
        self.read_sha = h.hexdigest()

    def finish(self, store: Store) -> None:
        self._thread.join()
        if self.error is not None:
            raise KamError(Problem(str(self.path), 0, 0, f"cannot read: {self.error.strerror or self.error}"))
        if self.read_sha != self.sha:  # the run's results are of the content it hashed first
            raise KamError(Problem(str(self.path), 0, 0, "the file changed while the run read it: run again "
                                                         "once the export is complete"))
        store.conn.executemany("INSERT INTO blob_chunks (sha256, seq, data) VALUES (?, ?, ?)",
                               ((self.sha, seq, data) for seq, data in enumerate(self.pieces)))
        store.conn.execute("UPDATE blobs SET size = ? WHERE sha256 = ?", (self.size, self.sha))
        self.pieces = []

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()
        self.pieces = []


def start_file(store: Store, path: Path, sha: str) -> PendingFile | None:
    """put_file in the background (PendingFile); None when the store has the content."""
    if store.one("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)) is not None:
        return None
    return PendingFile(store, path, sha)


def get_blob(store: Store, sha: str) -> bytes:
    rows = store.all("SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY seq", (sha,))
    data = b"".join(zlib.decompress(r["data"]) for r in rows)
    if hashlib.sha256(data).hexdigest() != sha:
        raise KamError(Problem(str(store.path), 0, 0, f"stored file {sha[:12]} is damaged"))
    return data


def put_rules(store: Store, project: Project) -> None:
    """The project's YAML and templates as evaluated, under its rules version (yaml_digest)."""
    digest = project.yaml_digest
    if store.one("SELECT 1 FROM rules_files WHERE digest = ? LIMIT 1", (digest,)) is not None:
        return
    root = Path(project.root)
    for f in project_files(root) + template_files(root):
        if f.is_file():
            store.conn.execute("INSERT INTO rules_files (digest, path, sha256) VALUES (?, ?, ?)",
                               (digest, f.relative_to(root).as_posix(), put_file(store, f)))


def extract_rules(store: Store, digest: str, folder: Path) -> Path:
    """Write a stored rules version into `folder` (a project folder again)."""
    rows = store.all("SELECT path, sha256 FROM rules_files WHERE digest = ? ORDER BY path", (digest,))
    if not rows:
        raise KamError(Problem(str(store.path), 0, 0, f"rules version {digest} is not in the store"))
    for r in rows:
        target = (folder / r["path"]).resolve()
        if not target.is_relative_to(folder.resolve()):  # a stored path is data, never trusted
            raise KamError(Problem(str(store.path), 0, 0, f"stored path leaves the folder: {r['path']}"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(get_blob(store, r["sha256"]))
    return folder
