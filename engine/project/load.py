"""Find a project folder, load every YAML file in it, validate, and build the frozen model.

Every problem of every file is collected before failing (`kam validate` shows them all).
When a file that declares names does not parse, its error comes first and the checks across
files are left out: they would report each of its names as unknown.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from ..hints import did_you_mean
from . import expr, portfolio_config
from .loader import Document, kind_line, load_file
from .model import (
    Boost,
    DefaultBy,
    Metric,
    Named,
    Negotiation,
    Playbook,
    Portfolio,
    Priority,
    Project,
    Rule,
    Signal,
    Step,
    Technique,
    Text,
    Threshold,
    ValueMap,
    Where,
)
from .schema import KINDS, validate
from .workdays import WorkCalendar, calendar_of

PROJECT_FILE = "kam.yaml"
YAML_DIRS = ("rules", "playbooks")
TEMPLATES_DIR = "templates"
# The project that ships with the tool: copied into the package when installed
# (see setup.py), or the repository root when running from a checkout.
_PACKAGED = Path(__file__).resolve().parent / "default_project"
_CHECKOUT = Path(__file__).resolve().parents[2]


def default_project_dir() -> Path:
    if (_PACKAGED / PROJECT_FILE).is_file():
        return _PACKAGED
    return _CHECKOUT


def find_project(explicit: str | Path | None, cwd: Path | None = None) -> Path:
    """--project DIR, else the current folder when it has a kam.yaml, else the bundled default."""
    if explicit is not None:
        root = Path(explicit)
        if not (root / PROJECT_FILE).is_file():
            raise KamError(Problem(str(root), 0, 0, f"not a kam project: no {PROJECT_FILE} here "
                                                    "(create one with `kam init`)"))
        return root
    here = cwd or Path.cwd()
    if (here / PROJECT_FILE).is_file():
        return here
    return default_project_dir()


def outside(path: Path, root: Path) -> Path | None:
    """Where `path` really is when a symlink takes it out of the project `root` (a template
    linked to /etc/passwd would be copied into every plan); None when it stays inside.
    A link to another file of the project is fine."""
    try:
        real = path.resolve()
        base = root.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        return path
    return None if real.is_relative_to(base) else real


def linked_out(root: Path, shown: Path | None = None) -> list[Problem]:
    """kam.yaml, the folders rules/, playbooks/, templates/ and everything in them must stay
    inside the project: one problem per link that leads out (its contents are not read)."""
    base = shown if shown is not None else root
    candidates = [root / PROJECT_FILE]
    for sub in YAML_DIRS + (TEMPLATES_DIR,):
        folder = root / sub
        candidates.append(folder)
        if folder.is_dir() and outside(folder, root) is None:
            # rglob lists a linked folder but does not descend into it
            candidates += sorted(folder.rglob("*"))
    problems = [link_problem(p, root, str(base / p.relative_to(root))) for p in candidates if p.is_symlink()]
    return [p for p in problems if p is not None]


def link_problem(path: Path, root: Path, display: str) -> Problem | None:
    real = outside(path, root)
    if real is None:
        return None
    return Problem(display, 0, 0, f"a link to {real}, outside the project: kam reads only files inside "
                                  "the project folder (copy the file in instead of linking it)")


def project_files(root: Path) -> list[Path]:
    """kam.yaml and every YAML file under rules/ and playbooks/, in a stable order."""
    files = [root / PROJECT_FILE]
    for sub in YAML_DIRS:
        folder = root / sub
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [f for f in files if outside(f, root) is None]


def _text(value: Any) -> Text:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"en": value}
    return dict(value)


class _Collector:
    """Accumulates declarations across files and the problems found on the way."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.seen: dict[tuple[str, str], Where] = {}
        self.metrics: dict[str, Metric] = {}
        self.thresholds: dict[str, Threshold] = {}
        self.categories: dict[str, Named] = {}
        self.signals: dict[str, Signal] = {}
        self.classes: dict[str, Named] = {}
        self.risk_levels: list[Named] = []
        self.severe_from = "low"
        self.rules: list[Rule] = []
        self.playbooks: dict[str, Playbook] = {}
        self.project: dict[str, Any] = {}
        self.columns: dict[str, str] = {}
        self.columns_where: dict[str, Where] = {}
        self.values: dict[str, ValueMap] = {}
        self.calendar = WorkCalendar()
        self.portfolio: Portfolio | None = None
        self.priority: Priority | None = None

    def declare(self, doc: Document, key: tuple[Any, ...], what: str, ident: str) -> Where | None:
        """Register an id; a second declaration is a problem. Returns where, or None if dup."""
        line, col = doc.where(key)
        here = Where(doc.path, line, col)
        first = self.seen.get((what, ident))
        if first is not None:
            self.problems.append(Problem(doc.path, line, col, f"duplicate {what} id '{ident}' "
                                         f"(first declared at {first.path}:{first.line})"))
            return None
        self.seen[(what, ident)] = here
        return here

    def expression(self, doc: Document, key: tuple[Any, ...], text: str, crumb: str) -> expr.Node | None:
        try:
            return expr.parse(text)
        except expr.ExprError as exc:
            line, col = doc.where(key)
            self.problems.append(Problem(doc.path, line, col + exc.offset,
                                         f"{crumb}: {exc}"))
            return None

    # -- one method per kind of file ------------------------------------------------------

    def add_project(self, doc: Document) -> None:
        self.project = doc.data
        self.calendar, problems = calendar_of(doc)
        self.problems.extend(problems)
        for name, metric in doc.data.get("columns", {}).items():
            if self.written(doc, ("columns", name), "columns"):
                self.columns[name] = metric
                self.columns_where[name] = Where(doc.path, *doc.where(("columns", name)))
        for mid, table in doc.data.get("values", {}).items():
            at = ("values", mid)
            kept = {k: v for k, v in table.items() if self.written(doc, at + (k,), f"values → {mid}")}
            self.values[str(mid)] = ValueMap(str(mid), kept, Where(doc.path, *doc.where(at)),
                                             {k: Where(doc.path, *doc.where(at + (k,))) for k in kept})

    def written(self, doc: Document, key: tuple[Any, ...], crumb: str) -> bool:
        """A name as an input file writes it is text; YAML reads `2024:`, `yes:` or `~:` as a
        number, true/false or null, which no longer say what the file has."""
        name = key[-1]
        if isinstance(name, str):
            return True
        what = "true/false" if isinstance(name, bool) else "null" if name is None else "a number"
        self.problems.append(doc.problem(key, f"{crumb} → {name}: YAML reads this name as {what}: "
                                              "write it in quotes, as the file has it"))
        return False

    def add_portfolio(self, doc: Document) -> None:
        if self.portfolio is not None:
            first = self.portfolio.where
            self.problems.append(doc.problem(("kind",), f"a project has one portfolio file "
                                             f"(first: {first.path if first else '?'})"))
            return
        self.portfolio, problems = portfolio_config.build(doc)
        self.problems.extend(problems)
        for key, t in portfolio_config.boundary_thresholds(doc, self.portfolio):
            if self.declare(doc, key, "threshold", t.id) is not None:
                self.thresholds[t.id] = t

    def add_metrics(self, doc: Document) -> None:
        for i, m in enumerate(doc.data["metrics"]):
            where = self.declare(doc, ("metrics", i), "metric", m["id"])
            if where is None:
                continue
            formula = None
            if "formula" in m:
                formula = self.expression(doc, ("metrics", i, "formula"), m["formula"],
                                          f"metric '{m['id']}' → formula")
            default_by = None
            if "default_by" in m:
                d = m["default_by"]
                at = ("metrics", i, "default_by")
                default_by = DefaultBy(d["metric"], dict(d["values"]),
                                       Where(doc.path, *doc.where(at + ("metric",))),
                                       {k: Where(doc.path, *doc.where(at + ("values", k))) for k in d["values"]})
            self.metrics[m["id"]] = Metric(
                id=m["id"], type=m["type"], where=where, unit=m.get("unit", ""),
                description=_text(m.get("description")), min=m.get("min"), max=m.get("max"),
                values=tuple(m.get("values", ())), required=m.get("required", False),
                default=m.get("default"), formula=formula, formula_text=m.get("formula", ""),
                decimals=m.get("decimals", 6), default_by=default_by,
                fractions=m.get("percent", {}).get("fractions", False))

    def add_thresholds(self, doc: Document) -> None:
        for i, t in enumerate(doc.data["thresholds"]):
            where = self.declare(doc, ("thresholds", i), "threshold", t["id"])
            if where is not None:
                self.thresholds[t["id"]] = Threshold(
                    id=t["id"], value=t["value"], where=where, unit=t.get("unit", ""),
                    description=_text(t.get("description")), segments=dict(t.get("segments", {})))

    def add_facts(self, doc: Document) -> None:
        data = doc.data
        if "severe_from" in data:
            self.severe_from = data["severe_from"]
        for section, what, target in (("categories", "category", self.categories),
                                      ("classes", "class", self.classes)):
            for i, c in enumerate(data.get(section, [])):
                where = self.declare(doc, (section, i), what, c["id"])
                if where is not None:
                    target[c["id"]] = Named(c["id"], _text(c["title"]), where,
                                            _text(c.get("description")))
        for i, r in enumerate(data.get("risk_levels", [])):
            where = self.declare(doc, ("risk_levels", i), "risk level", r["id"])
            if where is not None:
                if r["id"] == "none":
                    self.problems.append(doc.problem(("risk_levels", i, "id"),
                                         "risk level 'none' is implicit (no rule fired); do not declare it"))
                    continue
                self.risk_levels.append(Named(r["id"], _text(r["title"]), where,
                                              _text(r.get("description"))))
        for i, s in enumerate(data.get("signals", [])):
            where = self.declare(doc, ("signals", i), "signal", s["id"])
            if where is not None:
                evidence = _text(s.get("evidence"))
                at = {lang: Where(doc.path, *doc.where(("signals", i, "evidence")
                                                      + ((lang,) if isinstance(s.get("evidence"), dict) else ())))
                      for lang in evidence}
                self.signals[s["id"]] = Signal(s["id"], s["category"], s["severity"],
                                               _text(s["title"]), where, _text(s.get("description")),
                                               evidence, at)

    def add_rules(self, doc: Document) -> None:
        for i, r in enumerate(doc.data["rules"]):
            where = self.declare(doc, ("rules", i), "rule", r["id"])
            if where is None or r.get("enabled", True) is False:
                continue
            node = self.expression(doc, ("rules", i, "when"), r["when"], f"rule '{r['id']}' → when")
            if node is None:
                continue
            asserts: list[tuple[str, str]] = []
            for kind in ("signal", "class", "risk", "playbook"):
                value = r["then"].get(kind)
                for ident in ([value] if isinstance(value, str) else value or []):
                    asserts.append((kind, ident))
            line, col = doc.where(("rules", i, "when"))
            self.rules.append(Rule(r["id"], r["when"], node, tuple(asserts), where,
                                   Where(doc.path, line, col), _text(r.get("description")),
                                   for_runs=r.get("for_runs", 1)))

    def add_playbook(self, doc: Document) -> None:
        p = doc.data
        where = self.declare(doc, (), "playbook", p["id"])
        if where is None:
            return
        steps = []
        step_ids: set[str] = set()
        for i, s in enumerate(p["steps"]):
            if s["id"] in step_ids:
                self.problems.append(doc.problem(("steps", i, "id"),
                                                 f"playbook '{p['id']}': duplicate step id '{s['id']}'"))
            step_ids.add(s["id"])
            when = None
            if "when" in s:
                when = self.expression(doc, ("steps", i, "when"), s["when"],
                                       f"playbook '{p['id']}' → step '{s['id']}' → when")
            steps.append(Step(s["id"], _text(s["title"]), s["owner"], s["due_days"],
                              _text(s.get("description")),
                              tuple(_text(c) for c in s.get("checklist", [])),
                              when=when, when_text=s.get("when", ""),
                              when_where=Where(doc.path, *doc.where(("steps", i, "when"))) if when else None,
                              action=s.get("action", ""), every=s.get("every"),
                              where=Where(doc.path, *doc.where(("steps", i)))))
        n = p.get("negotiation")
        negotiation = None if n is None else Negotiation(
            tuple((_text(x["role"]), _text(x["wants"])) for x in n.get("participants", [])),
            tuple((_text(x["problem"]), _text(x["remedy"]), tuple(x.get("signals", ())))
                  for x in n.get("problems", [])),
            tuple(_text(x) for x in n.get("mistakes", [])),
            tuple(n.get("meetings", ())),
            Where(doc.path, *doc.where(("negotiation", "meetings"))) if "meetings" in n else None,
            tuple(Technique(t["id"], _text(t["stage"]), _text(t["title"]), _text(t["how"]),
                            tuple(t.get("signals", ())), tuple(t.get("steps", ())),
                            Where(doc.path, *doc.where(("negotiation", "techniques", i))))
                  for i, t in enumerate(n.get("techniques", []))))
        self.playbooks[p["id"]] = Playbook(
            p["id"], _text(p["title"]), tuple(steps), where, _text(p.get("description")),
            p.get("priority", 5), p.get("template", "plan"), p.get("cooldown_days", 0), negotiation,
            keep_open_runs=p.get("keep_open_runs", 0))


    def add_priority(self, doc: Document) -> None:
        if self.priority is not None:
            first = self.priority.where
            self.problems.append(doc.problem(("kind",), f"a project has one priority file "
                                             f"(first: {first.path if first else '?'})"))
            return
        d = doc.data
        boosts = []
        for i, b in enumerate(d.get("boosts", [])):
            node = self.expression(doc, ("boosts", i, "when"), b["when"], f"priority → boost '{b['id']}' → when")
            if node is not None:
                boosts.append(Boost(b["id"], node, b["when"], float(b["factor"]), _text(b.get("title")),
                                    Where(doc.path, *doc.where(("boosts", i, "when")))))
        default = Priority()
        self.priority = Priority(
            at_stake=d.get("at_stake", default.at_stake), margin=d.get("margin", default.margin),
            default_margin_pct=float(d.get("default_margin_pct", default.default_margin_pct)),
            risk_weights={k: float(v) for k, v in d.get("risk_weights", default.risk_weights).items()},
            lost_unknown_chance=float(d.get("lost_unknown_chance", default.lost_unknown_chance)),
            boosts=tuple(boosts), where=Where(doc.path, *doc.where(())))


def _digest(files: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def load_project(root: Path, display_root: Path | None = None) -> Project:
    """Load, validate and model a project; raise KamError listing every problem."""
    from .checks import check_project, evidence_problems  # names and types need the whole vocabulary

    root = Path(root)
    shown = display_root if display_root is not None else root
    col = _Collector()
    col.problems.extend(linked_out(root, shown))
    documents: list[tuple[Document, str]] = []
    vocabulary_broken = False  # then name checks would only echo the broken declarations
    unloaded = False  # a file that declares names does not parse: checks across files would echo that
    files = project_files(root)
    for f in files:
        display = str(shown / f.relative_to(root)) if f.is_relative_to(root) else str(f)
        if not f.is_file():
            col.problems.append(Problem(display, 0, 0, f"missing: every project needs a {PROJECT_FILE}"))
            continue
        try:
            doc = load_file(f, display)
        except KamError as exc:
            col.problems.extend(replace(p, cause=True) for p in exc.problems)
            unloaded |= kind_line(f) not in ("rules", "priority")  # these only use names
            continue
        kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
        if f.name == PROJECT_FILE and f.parent == root:
            kind = kind or "project"
            if isinstance(doc.data, dict):
                doc.data.setdefault("kind", "project")
        if kind == "tests":  # rule tests are read by `kam test`, from tests/
            col.problems.append(doc.problem(("kind",), "rule tests belong in the project's tests/ "
                                            "folder (run them with `kam test`)"))
            continue
        if kind not in KINDS or (kind == "project") != (f.name == PROJECT_FILE and f.parent == root):
            col.problems.append(doc.problem(("kind",), f"kind: expected one of "
                                f"{', '.join(k for k in KINDS if k not in ('project', 'tests'))}, "
                                f"got {kind!r}"))
            continue
        schema_problems = validate(doc, kind)
        if schema_problems:
            col.problems.extend(schema_problems)
            vocabulary_broken |= kind in ("metrics", "thresholds", "facts", "portfolio")
            continue
        documents.append((doc, kind))
    for doc, kind in documents:
        getattr(col, f"add_{kind}")(doc)

    settings = col.project.get("settings", {}) if col.project else {}
    project = Project(
        name=col.project.get("name", root.name) if col.project else root.name,
        root=root,
        language=col.project.get("language", "en") if col.project else "en",
        metrics=col.metrics, thresholds=col.thresholds, categories=col.categories,
        signals=col.signals, classes=col.classes, risk_levels=tuple(col.risk_levels),
        rules=tuple(sorted(col.rules, key=lambda r: r.id)), playbooks=col.playbooks,
        columns=col.columns, columns_where=col.columns_where, values=col.values,
        header_row=col.project.get("header_row") if col.project else None,
        documents=tuple(settings.get("documents", ("md", "html"))),
        currency=settings.get("currency", ""),
        max_rejected=float(settings.get("max_rejected", Project.max_rejected)),
        yaml_digest=_digest(p for p in files + template_files(root) if p.is_file()),
        portfolio=col.portfolio or portfolio_config.from_thresholds(col.thresholds),
        priority=col.priority or Priority(),
        capacity=dict(col.project.get("capacity", {})) if col.project else {},
        calendar=col.calendar,
        severe_from=col.severe_from,
        languages=_languages(col.project),
    )
    project_doc = next((d for d, k in documents if k == "project"), None)
    if project_doc is not None and not unloaded:
        col.problems.extend(_capacity_problems(project_doc, project))
    if not (vocabulary_broken or unloaded):
        col.problems.extend(check_project(project))
        col.problems.extend(portfolio_config.check(project))
        col.problems.extend(evidence_problems(project))
        col.problems.extend(_negotiation_problems(project))
    if col.problems:
        raise KamError(col.problems)
    return project


def _negotiation_problems(project: Project) -> list[Problem]:
    """The signals and meeting steps a negotiation block's techniques and problems name exist."""
    out = []
    for pb in project.playbooks.values():
        n = pb.negotiation
        if n is None:
            continue
        steps = [s.id for s in pb.steps]
        named = [(f"technique '{t.id}'", t.where, t.signals, t.steps) for t in n.techniques]
        named += [(f"problems {i + 1}", pb.where, sig, ()) for i, (_, _, sig) in enumerate(n.problems)]
        for what, where, signals, tsteps in named:
            for sid in signals:
                if sid not in project.signals:
                    out.append(Problem(where.path, where.line, where.col, f"playbook '{pb.id}' → negotiation → "
                                       f"{what} → signals: unknown signal '{sid}'{did_you_mean(sid, project.signals)}"))
            for st in tsteps:
                if st not in steps:
                    out.append(Problem(where.path, where.line, where.col, f"playbook '{pb.id}' → negotiation → "
                                       f"{what} → steps: no step '{st}'{did_you_mean(st, steps)}"))
        ids = [t.id for t in n.techniques]
        for t in n.techniques:
            if ids.count(t.id) > 1:
                out.append(Problem(t.where.path, t.where.line, t.where.col,
                                   f"playbook '{pb.id}' → negotiation: duplicate technique id '{t.id}'"))
    return out


def _languages(project: dict[str, Any] | None) -> tuple[str, ...]:
    """kam.yaml `languages:`, the project language first; without it the language alone."""
    if not project:
        return ("en",)
    first = project.get("language", "en")
    return tuple(dict.fromkeys([first, *project.get("languages", [])]))


def _capacity_problems(doc: Document, project: Project) -> list[Problem]:
    """A capacity for a role no step has is a typo, not a limit that never applies."""
    roles = sorted({st.owner for pb in project.playbooks.values() for st in pb.steps})
    out = []
    for role in project.capacity:
        if role not in roles:
            hint = did_you_mean(role, roles, otherwise=f" (steps have: {', '.join(roles)})")
            out.append(doc.problem(("capacity", role), f"capacity: no step is owned by role '{role}'{hint}"))
    return out


def template_files(root: Path) -> list[Path]:
    folder = root / TEMPLATES_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and outside(p, root) is None)
