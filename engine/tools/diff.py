"""Impact preview (`kam diff`): the same accounts evaluated by two versions of a project's
rules, and what changes for each account: signals, risk level, classes, playbooks.

The other version is a folder, or a git revision of the project (its kam.yaml, rules/,
playbooks/ and templates/ at that revision, taken with `git archive`; the project may be a
sub-folder of the repository).
"""
from __future__ import annotations

import io
import subprocess
import tarfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import zip_longest
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from ..project.load import PROJECT_FILE, YAML_DIRS, load_project
from ..project.model import NO_RISK, Project
from ..rules.durable import EngineRuntimeError
from ..rules.evaluate import Evaluator
from ..run.read import ReadChunk, read_accounts

LISTS = ("signals", "classes", "playbooks")
PROJECT_PARTS = (PROJECT_FILE,) + YAML_DIRS + ("templates",)


# -- the base version ---------------------------------------------------------------------

def _git(cwd: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess[Any]:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, check=False,
                              text=not binary, timeout=120)
    except FileNotFoundError:
        raise KamError("--base: git is not installed, so only a folder can be compared") from None


def materialize(base: str, project_root: Path, workdir: Path) -> tuple[Path, str]:
    """(folder holding the base version, its label). `base` is a project folder, or a git
    revision whose copy of the project is extracted into `workdir`."""
    as_dir = Path(base)
    if as_dir.is_dir():
        if not (as_dir / PROJECT_FILE).is_file():
            raise KamError(Problem(base, 0, 0, f"--base: not a kam project: no {PROJECT_FILE} here"))
        return as_dir, base
    if base.startswith("-"):  # never let a "revision" become a git option
        raise KamError(f"--base: {base!r} is neither a folder nor a git revision")
    top = _git(project_root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise KamError(f"--base: {base!r} is not a folder, and the project {project_root} is not "
                       "in a git repository, so it cannot be a revision either")
    toplevel = Path(top.stdout.strip())
    prefix = _git(project_root, "rev-parse", "--show-prefix").stdout.strip()
    rev = _git(toplevel, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    if rev.returncode != 0:
        raise KamError(f"--base: {base!r} is neither a folder nor a git revision of {toplevel}")
    sha = rev.stdout.strip()
    wanted = [prefix + p for p in PROJECT_PARTS]
    listed = _git(toplevel, "ls-tree", "--name-only", sha, "--", *wanted)
    present = [p for p in listed.stdout.splitlines() if p]
    if prefix + PROJECT_FILE not in present:
        raise KamError(f"--base: the project has no {prefix}{PROJECT_FILE} at {base} ({sha[:10]})")
    archive = _git(toplevel, "archive", "--format=tar", sha, "--", *present, binary=True)
    if archive.returncode != 0:
        raise KamError(f"--base: git archive {base} failed: "
                       f"{archive.stderr.decode('utf-8', 'replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(workdir, filter="data")  # refuses links and paths outside workdir
    return workdir / prefix, f"{base} ({sha[:10]})"


def load_base(base: str, project_root: Path, workdir: Path) -> tuple[Project, str]:
    """The base project; its files are named `REV:/rules/x.yaml` in messages."""
    root, label = materialize(base, project_root, workdir)
    shown = root if root == Path(base) else Path(f"{base}:") / root.relative_to(workdir)
    return load_project(root, shown), label


# -- evaluating both ----------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What the comparison needs of one account's result."""

    name: Any
    risk_level: str
    lists: dict[str, frozenset[str]]  # signals, classes, playbooks -> their ids


def _outcome(result: Mapping[str, Any]) -> Outcome:
    return Outcome(result.get("name"), result["risk_level"], {what: frozenset(_ids(result, what)) for what in LISTS})


class EvaluatedInputs:
    """One project version's results over the inputs, as they stream: one side of the
    comparison. An account's outcome waits in `waiting` until the other side has it too
    (then both are compared and dropped), so memory holds the accounts one side has
    evaluated and the other not yet - with the same chunks on both sides, about a chunk."""

    def __init__(self, project: Project, inputs: list[Path], as_of: date):
        self.stream = read_accounts(project, inputs)
        self.evaluator = Evaluator(project, as_of, project.language)
        self.waiting: dict[str, Outcome] = {}
        self.rejected: dict[str, str] = {}  # account_id (or "file row N") -> reason, the last one read
        self.failed: dict[str, str] = {}  # account_id -> the engine's error: it wins over `rejected`

    @property
    def read(self) -> int:
        return self.stream.read

    def evaluate(self, chunk: ReadChunk) -> Iterator[tuple[str, Outcome]]:
        for r in chunk.rejected:
            self.rejected[str(r.account_id or f"{r.source} row {r.row}")] = r.reason
        for a in chunk.accepted:
            try:
                yield a.account_id, _outcome(self.evaluator.evaluate(a.values))
            except EngineRuntimeError as exc:
                self.failed[a.account_id] = str(exc)

    def why_not(self, account_id: str) -> str:
        """Why this side has no result for an account the other side evaluated."""
        if account_id in self.failed:
            return self.failed[account_id]
        return self.rejected.get(account_id, "not read")

    def __enter__(self) -> EvaluatedInputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()
        self.evaluator.close()


def _ids(result: Mapping[str, Any], what: str) -> set[str]:
    return set(result["classes"]) if what == "classes" else {x["id"] for x in result[what]}


def compare(base: Project, current: Project, base_label: str, current_label: str,
            inputs: list[Path], as_of: date) -> dict[str, Any]:
    """The impact report as plain data (what --json prints); deterministic order throughout.
    Both versions read the inputs as streams, chunk by chunk side by side; an account is
    compared as soon as both have evaluated it."""
    with EvaluatedInputs(base, inputs, as_of) as old, EvaluatedInputs(current, inputs, as_of) as new:
        pairs: list[tuple[str, Outcome, Outcome]] = []
        changes: list[dict[str, Any]] = []
        totals: dict[str, dict[str, Counter[str]]] = {w: {"gained": Counter(), "lost": Counter()} for w in LISTS}
        transitions: Counter[tuple[str, str]] = Counter()
        compared = 0
        for old_chunk, new_chunk in zip_longest(old.stream.chunks(), new.stream.chunks()):
            if old_chunk is not None:
                pairs += _meet(old.evaluate(old_chunk), old, new, base_first=True)
            if new_chunk is not None:
                pairs += _meet(new.evaluate(new_chunk), new, old, base_first=False)
            for aid, a, b in pairs:
                compared += 1
                change = _change(aid, a, b, totals, transitions)
                if change is not None:
                    changes.append(change)
            pairs = []
        changes.sort(key=lambda c: c["account_id"])
        levels = _levels(base, current)
        return {
            "base": {"version": base_label, "project": base.name, "rules": base.yaml_digest},
            "current": {"version": current_label, "project": current.name, "rules": current.yaml_digest},
            "identical_rules": base.yaml_digest == current.yaml_digest,
            "as_of": as_of.isoformat(),
            "accounts_read": new.read,
            "accounts_compared": compared,
            "accounts_changed": len(changes),
            "evaluated_by_base_only": _only(old, new),
            "evaluated_by_current_only": _only(new, old),
            "totals": {what: {i: {"gained": totals[what]["gained"][i], "lost": totals[what]["lost"][i]}
                              for i in sorted(set(totals[what]["gained"]) | set(totals[what]["lost"]))}
                       for what in LISTS},
            "risk_levels": levels,
            "risk_transitions": {f: {t: transitions[(f, t)] for t in levels} for f in levels},
            "changes": changes,
        }


def _meet(outcomes: Iterator[tuple[str, Outcome]], side: EvaluatedInputs, other: EvaluatedInputs,
          base_first: bool) -> Iterator[tuple[str, Outcome, Outcome]]:
    """(account, base outcome, current outcome) for the accounts of `side` the other side has
    evaluated already; the rest wait for it."""
    for aid, outcome in outcomes:
        theirs = other.waiting.pop(aid, None)
        if theirs is None:
            side.waiting[aid] = outcome
        else:
            yield (aid, outcome, theirs) if base_first else (aid, theirs, outcome)


def _change(aid: str, a: Outcome, b: Outcome, totals: dict[str, dict[str, Counter[str]]],
            transitions: Counter[tuple[str, str]]) -> dict[str, Any] | None:
    """One account's change from base (a) to current (b), counted into the totals; None: none."""
    change: dict[str, Any] = {"account_id": aid, "name": b.name}
    transitions[(a.risk_level, b.risk_level)] += 1
    if a.risk_level != b.risk_level:
        change["risk_level"] = {"base": a.risk_level, "current": b.risk_level}
    for what in LISTS:
        gained, lost = sorted(b.lists[what] - a.lists[what]), sorted(a.lists[what] - b.lists[what])
        totals[what]["gained"].update(gained)
        totals[what]["lost"].update(lost)
        if gained or lost:
            change[what] = {"gained": gained, "lost": lost}
    return change if len(change) > 2 else None


def _only(have: EvaluatedInputs, other: EvaluatedInputs) -> list[dict[str, str]]:
    """Accounts one version evaluates and the other rejects (e.g. a new metric's range): those
    still waiting when both streams have ended."""
    return [{"account_id": a, "rejected_by_other": other.why_not(a)} for a in sorted(have.waiting)]


def _levels(base: Project, current: Project) -> list[str]:
    order = [NO_RISK] + [r.id for r in current.risk_levels]
    return order + [r.id for r in base.risk_levels if r.id not in order]


# -- text ---------------------------------------------------------------------------------

def text_lines(report: dict[str, Any]) -> list[str]:
    b, c = report["base"], report["current"]
    lines = [f"base:    {b['version']}  (rules {b['rules']})",
             f"current: {c['version']}  (rules {c['rules']})",
             f"{report['accounts_compared']} accounts compared, as of {report['as_of']}"
             + ("; the rules are identical" if report["identical_rules"] else "")]
    for key, label in (("evaluated_by_base_only", "base"), ("evaluated_by_current_only", "current")):
        for x in report[key]:
            lines.append(f"  {x['account_id']}: evaluated by {label} only; the other rejected it: "
                         f"{x['rejected_by_other']}")
    if not report["changes"]:
        lines += ["", "no change: every account gets the same signals, risk level, classes and playbooks"]
        return lines
    lines += ["", f"{report['accounts_changed']} of {report['accounts_compared']} accounts change", ""]
    width = max([len(i) for t in report["totals"].values() for i in t] + [10])
    for what in LISTS:
        rows = report["totals"][what]
        if rows:
            lines.append(f"{what:<{width + 2}}  gained   lost")
            lines += [f"  {i:<{width}}  {'+' + str(n['gained']):>6}  {'-' + str(n['lost']):>5}"
                      for i, n in rows.items()]
    levels = report["risk_levels"]
    cells = max(len(x) for x in levels) + 2
    lines.append("risk level (rows: base, columns: current)")
    lines.append(" " * (cells + 2) + "".join(f"{x:>{cells}}" for x in levels))
    for f in levels:
        row = report["risk_transitions"][f]
        lines.append(f"  {f:<{cells}}" + "".join(f"{row[t]:>{cells}}" for t in levels))
    lines += ["", "accounts"]
    for ch in report["changes"]:
        parts = []
        if "risk_level" in ch:
            parts.append(f"risk {ch['risk_level']['base']} → {ch['risk_level']['current']}")
        for what in LISTS:
            if what in ch:
                moves = [f"+{i}" for i in ch[what]["gained"]] + [f"-{i}" for i in ch[what]["lost"]]
                parts.append(f"{what} {' '.join(moves)}")
        name = f" ({ch['name']})" if ch.get("name") else ""
        lines.append(f"  {ch['account_id']}{name}: {'; '.join(parts)}")
    return lines
