"""The state store: an embedded SQLite database that keeps runs, account results and plans
across runs (issue 9). See db.py (connection, locking), schema.py (tables, migrations),
runs.py (the store step of a run), actions.py (the `kam plans` / `kam history` commands).
`kam explain --run`, which evaluates a stored run again, is engine/tools/audit.py's, above the store."""
from __future__ import annotations

from pathlib import Path

from .db import Store
from .runs import RunInfo, StoreSink

STORE_ENV = "KAM_STORE"  # overrides the default store path (e.g. for a test suite)
STORE_FILE = Path(".kam") / "state.sqlite"

__all__ = ["STORE_ENV", "RunInfo", "Store", "StoreSink", "default_store_path"]


def default_store_path(project_root: Path, cwd: Path | None = None) -> Path:
    """<project>/.kam/state.sqlite; for the project bundled with kam, ./.kam/state.sqlite
    (the package folder is no place for a user's state); $KAM_STORE wins over both."""
    import os

    from ...project.load import default_project_dir
    env = os.environ.get(STORE_ENV)
    if env:
        return Path(env)
    here = cwd or Path.cwd()
    if Path(project_root).resolve() == default_project_dir().resolve():
        return here / STORE_FILE
    return Path(project_root) / STORE_FILE
