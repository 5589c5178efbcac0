"""The connection to the state store: SQLite in WAL mode, one write transaction per run.

Locking is SQLite's own: a run takes the write lock with BEGIN IMMEDIATE and keeps it until
its output folder is in place, so two runs at once are serialised (the second waits up to
`timeout` seconds, then fails with a clear message); readers (`kam plans`, `kam history`) are
never blocked in WAL mode. WAL needs a local file system (not a network share).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from ...errors import KamError, Problem
from .schema import VERSION, migrate

DEFAULT_TIMEOUT = 30.0  # seconds a run waits for another run holding the store


class Store:
    """An open state store. `with Store.open(path) as store:` commits what the run wrote when
    the block ends normally and rolls it back when it raises."""

    def __init__(self, conn: sqlite3.Connection, path: Path, dry_run: bool, timeout: float):
        self.conn = conn
        self.path = path
        self.dry_run = dry_run
        self.timeout = timeout
        self.last_run: Any = None  # engine.plans.store.runs.RunInfo of the latest reconcile_run

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, dry_run: bool = False, must_exist: bool = False,
             timeout: float = DEFAULT_TIMEOUT) -> Store:
        """Open (creating and migrating when needed) the store at `path`.

        dry_run: work on an in-memory copy; the file is only read (and need not exist).
        must_exist: for commands that only read or change plans: no store is an error."""
        path = Path(path)
        if path.exists() and not path.is_file():  # SQLite would block on a FIFO or fail on a folder
            raise KamError(Problem(str(path), 0, 0, "the state store is not a regular file (a folder, "
                                                    "FIFO or device?): choose another --store"))
        if must_exist and not path.is_file():
            raise KamError(Problem(str(path), 0, 0, "no state store here (a `kam evaluate` run creates "
                                                    "it; see --store)"))
        if dry_run:
            conn = _memory_copy(path, timeout)
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise KamError(Problem(str(path), 0, 0, f"cannot create the state store's folder "
                                                        f"({exc.strerror}): choose another --store")) from None
            conn = _guard(path, lambda: _connect(str(path), timeout))
            _guard(path, lambda: conn.execute("PRAGMA journal_mode=WAL"))
            # WAL + NORMAL: consistent after a crash
            _guard(path, lambda: conn.execute("PRAGMA synchronous=NORMAL"))
        store = cls(conn, path, dry_run, timeout)
        try:
            _guard(path, store._check_and_migrate)
        except BaseException:
            conn.close()
            raise
        return store

    def _check_and_migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise KamError(Problem(str(self.path), 0, 0, "not a kam state store (an SQLite file with "
                                                         "other tables); choose another --store"))
        if version != VERSION:
            with self.transaction():
                migrate(self.conn)

    # -- transactions -----------------------------------------------------------------------

    def begin(self) -> None:
        """Take the write lock for a run (waits up to `timeout` for another run)."""
        if not self.conn.in_transaction:
            _guard(self.path, lambda: self.conn.execute("BEGIN IMMEDIATE"), self.timeout)

    def commit(self) -> None:
        if self.conn.in_transaction:  # a dry run commits into its in-memory copy: nothing persists
            _guard(self.path, lambda: self.conn.execute("COMMIT"), self.timeout)

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.rollback()

    def transaction(self) -> _Transaction:
        """`with store.transaction():` one write transaction, committed or rolled back whole."""
        return _Transaction(self)

    def close(self) -> None:
        self.rollback()
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            self.close()
        if isinstance(exc, sqlite3.DatabaseError):  # a write of a run or a plan change failed
            error = _user_error(self.path, exc)
            if error is not None:
                raise error from None

    # -- small helpers ----------------------------------------------------------------------

    def one(self, sql: str, args: Iterable[Any] = ()) -> Any:
        row = self.conn.execute(sql, tuple(args)).fetchone()
        return None if row is None else row

    def all(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        return self.conn.execute(sql, tuple(args)).fetchall()


class _Transaction:
    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> Store:
        self.store.begin()
        return self.store

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.store.commit()
        else:
            self.store.rollback()


def _connect(target: str, timeout: float, uri: bool = False) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves (the module's implicit
    # transactions would commit behind our back, e.g. before a CREATE TABLE)
    conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, uri=uri)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _memory_copy(path: Path, timeout: float) -> sqlite3.Connection:
    """A private copy for --dry-run: the run's writes land there and vanish."""
    mem = _connect(":memory:", timeout)
    if path.is_file():
        # read-write but only read: a read-only connection to a WAL database would leave
        # -wal/-shm files behind; this one removes them when it closes
        src = _connect(str(path), timeout)
        try:
            _guard(path, lambda: src.backup(mem))
        finally:
            src.close()
    return mem


# What SQLite says when the file or its disk is the problem, and what to do about it.
# Anything else (a syntax error, a constraint) is a bug and stays one.
_ADVICE = (
    (("readonly", "read-only"), "the state store is read-only: make it (and its folder) writable, "
                                "or choose another --store (--dry-run only reads it)"),
    (("unable to open",), "cannot open the state store: its folder must exist and be writable; "
                          "choose another --store"),
    (("disk is full", "database or disk is full"), "the disk holding the state store is full: free "
                                                   "some space, or choose another --store"),
    (("disk i/o error",), "cannot read or write the state store (disk I/O error): it must be a regular "
                          "file on a local disk; choose another --store"),
    (("not a database", "malformed", "file is encrypted"), "not a kam state store, or a damaged one: "
                                                           "choose another --store, or move this file "
                                                           "away to start a new one"),
)


def _user_error(path: Path, exc: sqlite3.DatabaseError, waited: float | None = None) -> KamError | None:
    """SQLite's error about the store file as a user error naming it and what to do."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        wait = f" (waited {waited:g} s)" if waited else ""
        return KamError(Problem(str(path), 0, 0, f"the state store is in use by another kam run{wait}; "
                                                 "try again when it has finished"))
    for needles, advice in _ADVICE:
        if any(n in text.lower() for n in needles):
            return KamError(Problem(str(path), 0, 0, f"{advice} ({text})"))
    return None


def _guard(path: Path, action: Any, waited: float | None = None) -> Any:
    try:
        return action()
    except sqlite3.DatabaseError as exc:
        error = _user_error(path, exc, waited)
        if error is None:
            raise
        raise error from None
