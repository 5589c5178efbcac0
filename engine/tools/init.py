"""`kam init DIR`: a new project folder made from the bundled default project, ready to edit.

The copy gets kam.yaml (named after DIR), rules/, playbooks/, templates/, the rule tests
(tests/), the JSON Schemas in schemas/, with every YAML file's editor modeline pointing
at its schema there, and a .gitignore for what runs write. It never overwrites: an existing
project or a non-empty folder is refused.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import KamError, Problem
from ..project.load import PROJECT_FILE, default_project_dir
from ..project.loader import load_file
from ..project.schema import KINDS, schema
from .rule_tests import TESTS_DIR, find_test_files

SCHEMA_DIR = "schemas"
MODELINE = "# yaml-language-server: $schema="
COPIED = ("rules", "playbooks", "templates")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
# what `kam evaluate` writes into a project: the state store (SQLite, changing every run) and
# the default output folder; the project's repository holds the rules, not their results
GITIGNORE = "# written by kam runs, not edited\n.kam/\nout/\n"


@dataclass(frozen=True)
class Scaffold:
    root: Path
    files: int
    tests: int


def _refuse(target: Path) -> None:
    if target.is_symlink() and not target.exists():
        raise KamError(Problem(str(target), 0, 0, f"a link to {os.readlink(target)}, which does not exist: "
                                                  "remove the link, or give the folder it should point to"))
    if target.exists() and not target.is_dir():
        raise KamError(Problem(str(target), 0, 0, "exists and is not a folder"))
    if (target / PROJECT_FILE).exists():
        raise KamError(Problem(str(target), 0, 0, f"already a kam project ({PROJECT_FILE} exists); "
                                                  "`kam init` never overwrites one"))
    if target.is_dir() and any(target.iterdir()):
        raise KamError(Problem(str(target), 0, 0, "the folder is not empty; `kam init` makes a new "
                                                  "project and never overwrites files (choose a new folder)"))


def set_modeline(text: str, schema_path: str) -> str:
    """The file with its first line the editor modeline for `schema_path` (replaced or added)."""
    line = f"{MODELINE}{schema_path}"
    first, sep, rest = text.partition("\n")
    if first.startswith("# yaml-language-server:"):
        return line + sep + rest
    return f"{line}\n{text}"


def _name_project(text: str, name: str) -> str:
    quoted = json.dumps(name, ensure_ascii=False)  # a JSON string is a valid YAML scalar
    text = re.sub(r"^# The default project that ships with kam.*$",
                  "# A kam project, made with `kam init` from the default project.", text, flags=re.M)
    if re.search(r"^name:.*$", text, flags=re.M):
        return re.sub(r"^name:.*$", lambda _: f"name: {quoted}", text, count=1, flags=re.M)
    return re.sub(r"^(kind:.*)$", lambda m: f"{m.group(1)}\nname: {quoted}", text, count=1, flags=re.M)


def _copy(source: Path, staging: Path) -> int:
    shutil.copy2(source / PROJECT_FILE, staging / PROJECT_FILE)
    for sub in COPIED:
        if (source / sub).is_dir():
            shutil.copytree(source / sub, staging / sub, ignore=_IGNORE)
    tests = find_test_files(source)
    for f in tests:  # only rule tests: the repository's tests/ also holds Python tests
        dest = staging / f.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    return len(tests)


def _point_modelines(staging: Path) -> int:
    """Every YAML file's modeline -> schemas/<its kind>.schema.json, as a relative path."""
    count = 0
    files = [staging / PROJECT_FILE] + sorted(
        p for sub in COPIED + (TESTS_DIR,) if (staging / sub).is_dir()
        for p in (staging / sub).rglob("*") if p.suffix in (".yaml", ".yml"))
    for f in files:
        data = load_file(f).data
        kind = "project" if f.name == PROJECT_FILE and f.parent == staging else (
            data.get("kind") if isinstance(data, dict) else None)
        if kind not in KINDS:
            continue
        target = os.path.relpath(staging / SCHEMA_DIR / f"{kind}.schema.json", f.parent)
        f.write_text(set_modeline(f.read_text("utf-8"), Path(target).as_posix()), "utf-8")
        count += 1
    return count


def init_project(target: Path, source: Path | None = None) -> Scaffold:
    """Create the project in `target` (made whole in a staging folder, then moved in place)."""
    target = Path(target)
    _refuse(target)
    source = Path(source) if source is not None else default_project_dir()
    name = target.resolve().name or "kam project"
    parent = target.resolve().parent
    staging = parent / f".{name}.kam-init-{os.getpid()}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as exc:
        raise KamError(Problem(str(target), 0, 0, f"cannot create the project here ({exc.strerror}): "
                                                  "choose a folder you can write to")) from None
    try:
        tests = _copy(source, staging)
        (staging / SCHEMA_DIR).mkdir()
        for kind in KINDS:
            (staging / SCHEMA_DIR / f"{kind}.schema.json").write_text(
                json.dumps(schema(kind), indent=2, ensure_ascii=False) + "\n", "utf-8")
        kam_yaml = staging / PROJECT_FILE
        kam_yaml.write_text(_name_project(kam_yaml.read_text("utf-8"), name), "utf-8")
        files = _point_modelines(staging)
        (staging / ".gitignore").write_text(GITIGNORE, "utf-8")
        if target.is_dir():  # empty (checked above), perhaps the current folder: fill it
            for child in sorted(staging.iterdir()):
                child.rename(target / child.name)
            staging.rmdir()
        else:
            staging.rename(target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk, or the folder made read-only meanwhile
            raise KamError(Problem(str(target), 0, 0, f"cannot create the project here ({exc.strerror}): "
                                                      "choose a folder you can write to")) from None
        raise
    return Scaffold(target, files, tests)
