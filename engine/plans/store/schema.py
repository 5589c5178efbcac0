"""The state store's tables, and migrations numbered by SQLite's PRAGMA user_version.

A migration is appended, never edited: a store written by an older kam is brought up to date
the first time a newer kam opens it; a store from a newer kam is refused.
"""
from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, their rules and inputs (audit), accounts per run, plans with steps and events
    """
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        size INTEGER NOT NULL
    );
    CREATE TABLE blob_chunks (          -- zlib-compressed pieces: no single value near SQLite's limit
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        seq INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (sha256, seq)
    );
    CREATE TABLE rules_files (          -- a rules version: the project's files as evaluated
        digest TEXT NOT NULL,           -- Project.yaml_digest
        path TEXT NOT NULL,             -- relative to the project folder
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        PRIMARY KEY (digest, path)
    );
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        run_key TEXT NOT NULL UNIQUE,   -- rules version + as-of + input contents: same key, same run
        as_of TEXT NOT NULL,
        recorded TEXT NOT NULL,         -- wall-clock time (UTC) the run was recorded
        rules_digest TEXT NOT NULL,
        project TEXT NOT NULL,
        sheet TEXT,
        accounts INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE run_inputs (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        position INTEGER NOT NULL,
        name TEXT NOT NULL,             -- the file name as given
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        PRIMARY KEY (run_id, position)
    );
    CREATE TABLE account_runs (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        account_id TEXT NOT NULL,
        as_of TEXT NOT NULL,
        current INTEGER NOT NULL DEFAULT 1,  -- 0 once a later run on the same date superseded it
        name TEXT,
        owner TEXT,
        risk_level TEXT NOT NULL,
        signals TEXT NOT NULL,          -- JSON ids, as reported (after for_runs)
        fired TEXT NOT NULL,            -- JSON rule ids the engine fired (before for_runs)
        playbooks TEXT NOT NULL,        -- JSON ids the rules assigned (after for_runs; snoozed ones too)
        overlay BLOB,                   -- zlib JSON: what the store added to the result (replayed by an identical run)
        PRIMARY KEY (run_id, account_id)
    );
    CREATE INDEX account_runs_history ON account_runs (account_id, current, as_of);
    CREATE TABLE plans (
        plan_id INTEGER PRIMARY KEY,
        account_id TEXT NOT NULL,
        playbook TEXT NOT NULL,
        account_name TEXT,
        owner TEXT,                     -- the account's manager at the latest run
        status TEXT NOT NULL CHECK (status IN ('open', 'snoozed', 'done', 'resolved')),
        state TEXT NOT NULL,            -- at the latest run that saw it: new|ongoing|escalated|resolved
        opened TEXT NOT NULL,
        opened_run INTEGER REFERENCES runs(run_id),
        last_run INTEGER REFERENCES runs(run_id),
        risk_level TEXT NOT NULL,
        kept_open INTEGER NOT NULL DEFAULT 0,
        snoozed_until TEXT,
        snooze_reason TEXT,
        snooze_risk TEXT,
        done_on TEXT,
        resolved_on TEXT
    );
    -- one live plan per account and playbook
    CREATE UNIQUE INDEX plans_live ON plans (account_id, playbook) WHERE status IN ('open', 'snoozed');
    CREATE INDEX plans_account ON plans (account_id, status);
    CREATE TABLE plan_steps (
        plan_id INTEGER NOT NULL REFERENCES plans(plan_id),
        step_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        due TEXT NOT NULL,
        done_on TEXT,
        PRIMARY KEY (plan_id, step_id)
    );
    CREATE TABLE plan_events (
        event_id INTEGER PRIMARY KEY,
        plan_id INTEGER NOT NULL REFERENCES plans(plan_id),
        run_id INTEGER REFERENCES runs(run_id),   -- NULL for a person's action
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX plan_events_plan ON plan_events (plan_id);
    """,
    """
    ALTER TABLE plans ADD COLUMN snoozed_by TEXT;  -- who snoozed it (shown in the plan's "On hold")
    """,
    # 3: what `kam outcomes` groups and counts by: the account's status (a plan open when the
    # account turned 'lost' was lost while open) and segment at each run; NULL in runs
    # recorded before
    """
    ALTER TABLE account_runs ADD COLUMN status TEXT;
    ALTER TABLE account_runs ADD COLUMN segment TEXT;
    """,
    # 4: `kam outcomes` (every night, in the portfolio report) reads no account's whole history:
    # it asks whether an account was lost while a plan was open of the few lost account runs,
    # and counts the runs without a status (recorded before 3) in an index of those alone
    """
    CREATE INDEX account_runs_lost ON account_runs (account_id, as_of) WHERE current = 1 AND status = 'lost';
    CREATE INDEX account_runs_no_status ON account_runs (run_id) WHERE current = 1 AND status IS NULL;
    """,
)

VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the store to VERSION inside the caller's write transaction; return the old version."""
    from ...errors import KamError
    old: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if old > VERSION:
        raise KamError(f"the state store was written by a newer kam (schema {old}, this kam knows "
                       f"{VERSION}); upgrade kam")
    for n in range(old, VERSION):
        for statement in _statements(MIGRATIONS[n]):
            conn.execute(statement)
    if old != VERSION:
        conn.execute(f"PRAGMA user_version = {VERSION}")
    return old


def _statements(script: str) -> list[str]:
    """Split on ';' at line ends (no migration has one inside a string literal)."""
    parts, current = [], []
    for line in script.splitlines():
        code = line.split("--", 1)[0].rstrip()
        current.append(code)
        if code.endswith(";"):
            parts.append("\n".join(current).strip())
            current = []
    rest = "\n".join(current).strip()
    return [p for p in parts + ([rest] if rest else []) if p]
