"""Files kept for audit: each run's input files and the project's files (its rules version),
stored once per content (SHA-256), zlib-compressed in pieces."""
from __future__ import annotations

import hashlib
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
