"""Rule tests, like promtool's unit tests for alerting rules: an account in, the signals, risk
level, classes and playbooks the rules must (and must not) produce out.

A test file is a YAML file of `kind: tests` anywhere under a project's tests/ folder:

    kind: tests
    defaults: {status: active, revenue_share_pct: 5, nps: 9}     # every case starts from these
    cases:
      - name: a drop of more than 15 % fires
        account: {revenue_current: 84, revenue_previous: 100}
        expect: {signals: [purchase_drop], risk_level: medium}    # exactly these
        expect_at_least: {playbooks: [financial_response]}        # these, and maybe others
        absent: {playbooks: [anti_crisis]}                         # never these

Each case runs through the same path as `kam evaluate`: the record is typed (normalize),
measured as a one-account portfolio, and evaluated by the compiled rules.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from ..hints import did_you_mean
from ..io.records import normalize
from ..project import expr
from ..project.checks import chain_levels
from ..project.loader import Document, load_file
from ..project.model import NO_RISK, Project
from ..project.schema import validate
from ..result import Result
from ..rules.evaluate import Evaluator
from ..rules.interpreter import Context, failing_part, operand_values
from ..run.portfolio import measure
from .explain import fired_chain, show_values

TESTS_DIR = "tests"
LISTS = ("signals", "classes", "playbooks")
FACT_OF = {"signals": "signal", "classes": "class", "playbooks": "playbook"}
# a line `kind: tests` marks a rule test file; other YAML under tests/ (fixtures, corpora) is not ours
_KIND_LINE = re.compile(r"^kind:\s*[\"']?tests[\"']?\s*(#.*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # as shown in messages
    line: int
    col: int
    given: dict[str, Any]  # the values the case and the defaults wrote, by metric id
    own: tuple[str, ...]  # the metrics the case itself set (not from defaults)
    values: dict[str, Any]  # typed (normalize), before the portfolio pass
    expect: dict[str, Any] = field(default_factory=dict)
    at_least: dict[str, list[str]] = field(default_factory=dict)
    absent: dict[str, list[str]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass
class CaseOutcome:
    """A test case run: the result record it got, and how it differs from what the case expects."""

    case: Case
    result: Result
    values: dict[str, Any]  # after the portfolio pass and derived metrics
    mismatches: list[str]

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def got(self, what: str) -> set[str]:
        if what == "classes":
            return set(self.result["classes"])
        return {x["id"] for x in (self.result["signals"] if what == "signals" else self.result["playbooks"])}


# -- finding and loading ------------------------------------------------------------------

def is_test_file(path: Path) -> bool:
    try:
        return bool(_KIND_LINE.search(path.read_text("utf-8-sig", errors="replace")))
    except OSError:
        return False


def find_test_files(root: Path, paths: Iterable[Path] = ()) -> list[Path]:
    """The given files (any YAML), or every rule test file under the given folders, or under
    <project>/tests/ when nothing is given; in a stable order."""
    given = list(paths)
    files: list[Path] = []
    for p in given or [Path(root) / TESTS_DIR]:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml")
                            and f.is_file() and is_test_file(f))
        elif given:
            files.append(p)
    return files


def _shown(file: Path, root: Path, display_root: Path | None) -> str:
    try:
        rel = file.resolve().relative_to(Path(root).resolve())
    except ValueError:
        return str(file)
    return str((display_root if display_root is not None else root) / rel)


def load_cases(project: Project, files: list[Path], display_root: Path | None = None) -> list[Case]:
    """Every case of every file; KamError listing every problem of every file otherwise."""
    problems: list[Problem] = []
    cases: list[Case] = []
    for f in files:
        try:
            doc = load_file(f, _shown(f, project.root, display_root))
        except KamError as exc:
            problems += exc.problems
            continue
        if not isinstance(doc.data, dict) or doc.data.get("kind") != "tests":
            problems.append(doc.problem(("kind",), "not a rule test file: expected `kind: tests`"))
            continue
        found = validate(doc, "tests")
        if not found:
            found = _check_file(project, doc, cases)
        problems += found
    if problems:
        raise KamError(problems)
    return cases


def _check_file(project: Project, doc: Document, out: list[Case]) -> list[Problem]:
    """Names the schema cannot know: metrics, signals, classes, playbooks, risk levels."""
    problems: list[Problem] = []
    known = {"signals": project.signals, "classes": project.classes, "playbooks": project.playbooks,
             "risk_levels": [NO_RISK] + [r.id for r in project.risk_levels]}
    defaults = doc.data.get("defaults", {})
    for key in defaults:
        if key not in project.metrics:
            problems.append(doc.problem(("defaults", key), f"defaults: unknown metric '{key}'"
                                        f"{did_you_mean(key, project.metrics)}"))
    names: dict[str, int] = {}
    for i, c in enumerate(doc.data["cases"]):
        crumb = f"case '{c['name']}'"
        before = len(problems)
        if c["name"] in names:
            problems.append(doc.problem(("cases", i, "name"), f"{crumb}: duplicate case name "
                                        f"(first at line {names[c['name']]})"))
        names.setdefault(c["name"], doc.where(("cases", i))[0])
        if not any(k in c for k in ("expect", "expect_at_least", "absent")):
            problems.append(doc.problem(("cases", i), f"{crumb}: says nothing to check; give "
                                        "expect, expect_at_least or absent"))
        account = c.get("account", {})
        for key in account:
            if key not in project.metrics:
                problems.append(doc.problem(("cases", i, "account", key), f"{crumb} → account: unknown "
                                            f"metric '{key}'{did_you_mean(key, project.metrics)}"))
        for section in ("expect", "expect_at_least", "absent"):
            for what, ids in c.get(section, {}).items():
                for j, ident in enumerate([ids] if isinstance(ids, str) else ids):
                    options = known[what if what != "risk_level" else "risk_levels"]
                    if ident not in options:
                        label = what.rstrip("s").replace("classe", "class").replace("_", " ")
                        problems.append(doc.problem(
                            (("cases", i, section, what) + ((j,) if not isinstance(ids, str) else ())),
                            f"{crumb} → {section} → {what}: unknown {label} '{ident}'"
                            f"{did_you_mean(ident, options)}"))
        if len(problems) > before:
            continue
        given = {**defaults, **account}
        if "account_id" in project.metrics and given.get("account_id") is None:
            given["account_id"] = c["name"]  # the id is required, a test need not invent one
        values, errors = normalize(project, given)
        for e in errors:
            at = (("cases", i, "account", e.field) if e.field in account
                  else ("defaults", e.field) if e.field in defaults else ("cases", i))
            problems.append(doc.problem(at, f"{crumb} → {e.field}: {e.reason}"))
        if errors:
            continue
        line, col = doc.where(("cases", i))
        out.append(Case(c["name"], doc.path, line, col, given, tuple(account), values,
                        dict(c.get("expect", {})),
                        dict(c.get("expect_at_least", {})), dict(c.get("absent", {}))))
    return problems


# -- running ------------------------------------------------------------------------------

def run_cases(project: Project, cases: list[Case], as_of: date | None = None) -> list[CaseOutcome]:
    """Evaluate every case with one compiled ruleset; compare with what each case expects."""
    evaluator = Evaluator(project, as_of or date.today(), project.language)
    outcomes: list[CaseOutcome] = []
    try:
        for case in cases:
            values = dict(case.values)
            measure(project, [values])  # a one-account portfolio, as `kam evaluate` would see it
            result = evaluator.evaluate(values)
            outcome = CaseOutcome(case, result, values, [])
            outcome.mismatches = mismatches(project, case, outcome)
            outcomes.append(outcome)
    finally:
        evaluator.close()
    return outcomes


def mismatches(project: Project, case: Case, outcome: CaseOutcome) -> list[str]:
    """What differs between the case's expectations and the result, one line per list."""
    lines: list[str] = []
    for what in LISTS:
        got = outcome.got(what)
        missing: set[str] = set()
        unexpected: set[str] = set()
        if what in case.expect:
            missing |= set(case.expect[what]) - got
            unexpected |= got - set(case.expect[what])
        missing |= set(case.at_least.get(what, ())) - got
        unexpected |= set(case.absent.get(what, ())) & got
        parts = ([f"missing {', '.join(sorted(missing))}"] if missing else []) + \
                ([f"unexpected {', '.join(sorted(unexpected))}"] if unexpected else [])
        if parts:
            lines.append(f"{what}: {'; '.join(parts)} (got {', '.join(sorted(got)) or 'none'})")
    level = outcome.result["risk_level"]
    if "risk_level" in case.expect and case.expect["risk_level"] != level:
        lines.append(f"risk level: expected {case.expect['risk_level']}, got {level}")
    if level in case.absent.get("risk_levels", ()):
        lines.append(f"risk level: got {level}, which must be absent")
    return lines


# -- reporting ----------------------------------------------------------------------------

def failure_lines(project: Project, outcome: CaseOutcome, levels: dict[str, int]) -> list[str]:
    """A failed case: the differences, the inputs the case set, the chain of rules that fired
    and, for each missing fact, why the rules that assert it did not fire."""
    case, result = outcome.case, outcome.result
    lines = [f"FAIL {case.where}: {case.name}"]
    lines += [f"  {m}" for m in outcome.mismatches]
    own = {k: outcome.values.get(k) for k in sorted(case.own)}
    replaced = [k for k, v in case.values.items() if k in case.given and outcome.values.get(k) != v]
    if own:
        lines.append(f"  account (with the file's defaults): {show_values(own)}")
    if replaced:
        lines.append(f"  note: the portfolio pass computes {', '.join(sorted(replaced))}; "
                     "the values the case gave were replaced")
    facts = {tuple(a.split(".", 1)) for f in result["fired"] for a in f["asserts"]}
    ctx = Context(project, outcome.values, facts)
    fired = [f["rule"] for f in result["fired"]]
    lines.append("  fired, in chain order:" if fired else "  no rule fired")
    lines += fired_chain(project, fired, ctx, levels, indent="    ")
    wanted = [(FACT_OF[w], i) for w in LISTS
              for i in sorted(set(case.expect.get(w, ())) | set(case.at_least.get(w, ())))]
    if case.expect.get("risk_level", NO_RISK) != NO_RISK:
        wanted.append(("risk", case.expect["risk_level"]))
    for key in wanted:
        if key in facts:
            continue
        producers = [r for r in project.rules if key in r.asserts]
        if not producers:
            lines.append(f"  {key[0]}.{key[1]}: no rule asserts it")
        for r in producers:
            for part, truth in failing_part(r.when, ctx)[:3]:
                seen = operand_values(part, ctx)
                why = "unknown (a value is missing)" if truth is None else "false"
                lines.append(f"  {key[0]}.{key[1]} not asserted: rule {r.id}: {expr.to_text(part)} "
                             f"is {why}" + (f" ({show_values(seen)})" if seen else ""))
    return lines


def report_lines(project: Project, outcomes: list[CaseOutcome], verbose: bool = False,
                 whole_suite: bool = True) -> list[str]:
    """Failures, then (for the whole suite) rules no case makes fire, then `N cases, M failed`."""
    levels = chain_levels(project)
    lines: list[str] = []
    for o in outcomes:
        if o.passed:
            if verbose:
                lines.append(f"ok   {o.case.where}: {o.case.name}")
        else:
            lines += failure_lines(project, o, levels) + [""]
    uncovered = [rid for rid, (fires, _) in coverage(project, outcomes).items() if not fires]
    if uncovered and whole_suite:
        shown = ", ".join(uncovered[:8]) + (", …" if len(uncovered) > 8 else "")
        lines.append(f"note: {len(uncovered)} of {len(project.rules)} rules fire in no passing case: "
                     f"{shown}")
    failed = sum(not o.passed for o in outcomes)
    lines.append(f"{len(outcomes)} cases, {failed} failed")
    return lines


def coverage(project: Project, outcomes: list[CaseOutcome]) -> dict[str, tuple[list[str], list[str]]]:
    """rule id -> (passing cases where it fired, passing cases where it did not fire and the
    case's expectations would have failed had it fired)."""
    out: dict[str, tuple[list[str], list[str]]] = {r.id: ([], []) for r in project.rules}
    for o in outcomes:
        if not o.passed:
            continue
        fired = {f["rule"] for f in o.result["fired"]}
        for r in project.rules:
            if r.id in fired:
                out[r.id][0].append(o.case.name)
            elif any(_guards(project, o.case, k) for k in r.asserts):
                out[r.id][1].append(o.case.name)
    return out


def _guards(project: Project, case: Case, key: tuple[str, str]) -> bool:
    """Would the case fail if this fact appeared?"""
    kind, ident = key
    if kind == "risk":
        expected = case.expect.get("risk_level")
        return (ident in case.absent.get("risk_levels", ())
                or (expected is not None and project.risk_rank(expected) < project.risk_rank(ident)))
    what = {v: k for k, v in FACT_OF.items()}[kind]
    return ident in case.absent.get(what, ()) or (what in case.expect and ident not in case.expect[what])
