"""Documents from Jinja2 templates that sales ops may edit: an action plan per account with
a playbook, a digest per account manager and a run summary, in Markdown and HTML.

The environment is sandboxed, an undefined variable fails the render (StrictUndefined) and
HTML is autoescaped. The words come from templates/labels.yaml (see labels.py); what each
document shows is computed in views/.
"""
from __future__ import annotations

import gc
import re
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateSyntaxError, select_autoescape
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import KamError, Problem
from ..i18n import format_number
from ..io.writers import inside, safe_name
from ..model import Project
from ..project import outside
from ..texts import text_problems
from . import views
from .aggregate import Aggregates
from .labels import Labels, load_labels, role_problems, say
from .limits import COMPILED, LimitedSandbox, load, render
from .samples import sample_results, without_store
from .views import states

TEMPLATE_SUFFIXES = (".md.j2", ".html.j2")
DOCUMENTS = ("plan", "digest", "summary")
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#"} | {"\n": " ", "\r": " "})
_MD_SEARCH = re.compile("[" + re.escape("".join(map(chr, _MD_SPECIAL))) + "]").search
# Unicode's Bidi_Control characters. In an account's name, U+202E (right-to-left override)
# shows "Acme\u202egnp.exe" as "Acmeexe.png" and reorders the text after it; documents drop
# them from every value they print (results.jsonl keeps the data as read).
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                        "\u2066\u2067\u2068\u2069"))
_BIDI_SEARCH = re.compile("[" + "".join(map(chr, _BIDI_CONTROLS)) + "]").search


class _ProjectLoader(FileSystemLoader):
    """Templates of the project folder only: an include that reaches a file through a link
    out of the project is refused before the file is read (load_project refuses such links
    up front; this also covers links made since, and linked folders)."""

    def __init__(self, root: Path):
        super().__init__(str(root / "templates"))
        self.root = root

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Any]:
        path = Path(self.searchpath[0], *split_template_path(template))
        real = outside(path, self.root)
        if real is not None:
            raise SecurityError(f"'{template}' is a link to {real}, outside the project: copy the "
                                "file into templates/ instead of linking it")
        return super().get_source(environment, template)


def environment(project: Project) -> LimitedSandbox:
    env = LimitedSandbox(
        finalize=without_bidi_controls, finalize_keeps_ascii=True,  # ASCII has no bidi control
        loader=_ProjectLoader(project.root),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        auto_reload=False,  # a run reads each template once: no stat() of _style.html.j2 per document
        bytecode_cache=COMPILED)  # compiled once per process (a source that changed is compiled again)
    env.filters["num"] = _num
    env.filters["md"] = md_escape
    env.filters["count"] = _count
    return env


def _count(labels: Any, key: str, count: Any) -> str:
    """{{ labels|count("report_accounts_count", n) }}: a label with {count} in the plural form
    of n in the labels' language ('1 клиент', '3 клиента', '5 клиентов')."""
    if isinstance(count, bool) or not isinstance(count, (int, float)):
        raise TypeError(f"count: {count!r} is not a number")
    return say(labels, key, count=count)


def without_bidi_controls(value: Any) -> Any:
    """What a document prints, without the characters that reorder text around them."""
    if not isinstance(value, str) or value.isascii() or _BIDI_SEARCH(value) is None:
        return value  # the same text: none to drop (searching is 10-30x faster than translating)
    return value.translate(_BIDI_CONTROLS)


def md_escape(value: Any) -> str:
    """Account data in Markdown: its *, _, <, | ... are text, not formatting or HTML."""
    text = str(value)
    return text if _MD_SEARCH(text) is None else text.translate(_MD_SPECIAL)  # searching is cheaper


def _num(value: Any, lang: str = "en") -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return format_number(value, lang)


def template_names(project: Project) -> list[str]:
    folder = project.root / "templates"
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p.name.endswith(TEMPLATE_SUFFIXES))


def template_syntax_problems(root: Path, shown: Path | None = None) -> list[Problem]:
    """Parse every template and the labels of a project folder; needs no valid YAML, so
    `kam validate` reports template errors together with YAML errors."""
    folder = Path(root) / "templates"
    if not folder.is_dir():
        return []
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    problems: list[Problem] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(TEMPLATE_SUFFIXES)
                       and outside(p, Path(root)) is None):  # load_project reports the links out
        rel = path.relative_to(root)
        display = str((shown if shown is not None else Path(root)) / rel)
        try:
            env.parse(path.read_text("utf-8"), str(rel), str(path))
        except TemplateSyntaxError as exc:
            problems.append(Problem(display, exc.lineno or 0, 1, f"template syntax: {exc.message}"))
        except RecursionError:  # the parser recurses once per level: '{{ ((((...'
            problems.append(Problem(display, 0, 0, "template syntax: nested too deeply"))
        except UnicodeDecodeError:
            problems.append(Problem(display, 0, 0, "template is not UTF-8 text"))
    return problems + load_labels(Path(root), shown)[1]


def check_templates(project: Project, shown: Path | None = None) -> None:
    """Every template parses and renders made-up results in every language of the labels,
    every document the project writes has its templates, every playbook's template exists,
    and the labels are complete; raise all problems at once."""
    problems = template_syntax_problems(project.root, shown)
    names = template_names(project)
    for pb in project.playbooks.values():
        if not any(n.startswith(pb.template + ".") for n in names):
            problems.append(Problem(pb.where.path, pb.where.line, pb.where.col,
                                    f"playbook '{pb.id}' → template: no templates/{pb.template}.md.j2 "
                                    f"or .html.j2"))
    for doc in DOCUMENTS:
        for fmt in project.documents:
            if f"{doc}.{fmt}.j2" not in names:
                problems.append(Problem(str((shown or project.root) / "templates"), 0, 0,
                                        f"missing {doc}.{fmt}.j2 (kam.yaml settings.documents has {fmt})"))
    labels, _ = load_labels(project.root, shown)  # its problems are already in the list
    problems += text_problems(project, shown)  # every text in every language, no hard-coded threshold
    if labels is not None:
        problems += role_problems(project, labels)
        if project.language not in labels.by_lang:
            problems.append(Problem(labels.path, 0, 0, f"no labels for the project language "
                                                       f"'{project.language}' (kam.yaml)"))
    if not problems and labels is not None:
        env = environment(project)
        for lang in labels.by_lang:
            samples = sample_results(project, lang)
            try:  # results with plan states (a run with a store) and without
                _render_all(project, env, labels, lang, samples, None)
                _render_all(project, env, labels, lang, without_store(samples), None)
            except KamError as exc:
                base = shown if shown is not None else project.root
                problems += [Problem(str(base / p.path), p.line, p.col,
                                     f"{p.message} (rendering sample data, {lang})") for p in exc.problems]
    if problems:
        raise KamError(problems)


def write_documents(project: Project, results: list[dict[str, Any]], out: Path, lang: str,
                    progress: Callable[[int, int], None] | None = None) -> None:
    """plans/<account>.*, digests/<manager>.* and summary.* for every format of the project;
    `progress(files written, files in all)` after each document. (A run renders plans where
    their chunk is, see PlanRenderer, and the rest with write_overview_of.)"""
    labels, problems = load_labels(project.root)
    if problems or labels is None:
        raise KamError(problems)
    # the results (and all else alive) outlive the rendering: out of the cyclic collector's
    # way, which otherwise walks them again and again as the views are built (~20% of the time)
    gc.freeze()
    try:
        _render_all(project, environment(project), labels, lang, results, out, progress)
    finally:
        gc.unfreeze()


class PlanRenderer:
    """The plans of one chunk, in whichever process holds it: the environment, the compiled
    templates and the words are made once per process (see plan_renderer)."""

    def __init__(self, project: Project, lang: str):
        labels, problems = load_labels(project.root)
        if problems or labels is None:
            raise KamError(problems)
        self.project, self.lang = project, lang
        self.words = views.Words(project, lang, labels.get(lang))
        self.base = {"project": {"name": project.name, "currency": project.currency}, "lang": lang,
                     "labels": self.words.labels}
        self.formats = project.documents
        try:
            self.templates = {f: load(environment(project), f"plan.{f}.j2") for f in self.formats}
        except TemplateError as exc:
            raise KamError(_problem(project, exc)) from None

    def render(self, result: dict[str, Any]) -> list[tuple[str, str]]:
        """(format, text) of the account's plan."""
        view = views.plan(self.words, result)
        out = []
        for fmt in self.formats:
            try:
                out.append((fmt, render(self.templates[fmt], {**self.base, "ext": fmt, "account": result,
                                                              "plan": view})))
            except TemplateError as exc:
                raise KamError(_problem(self.project, exc)) from None
        return out

    def write(self, results: list[dict[str, Any]], stems: Mapping[str, str], folder: Path | None
              ) -> tuple[int, list[tuple[str, str]]]:
        """Render the plans of `results` named in `stems` (account id -> file stem, made by
        safe_name: no separators). Into `folder` when given (files written, []), else handed
        back as (relative path, text) for the caller to write."""
        written, texts = 0, []
        for r in results:
            stem = stems.get(r["account_id"])
            if stem is None:
                continue
            assert "/" not in stem and "\\" not in stem and stem not in (".", "..")
            for fmt, text in self.render(r):
                if folder is not None:
                    (folder / f"{stem}.{fmt}").write_text(text, "utf-8")
                    written += 1
                else:
                    texts.append((f"plans/{stem}.{fmt}", text))
        return written, texts


_RENDERERS: dict[tuple[int, str], PlanRenderer] = {}


def plan_renderer(project: Project, lang: str) -> PlanRenderer:
    """This process's PlanRenderer for the project (one Project object per process)."""
    key = (id(project), lang)
    r = _RENDERERS.get(key)
    if r is None or r.project is not project:
        _RENDERERS.clear()
        r = _RENDERERS[key] = PlanRenderer(project, lang)
    return r


def overview(project: Project, lang: str) -> Aggregates:
    """What a run adds every account's facts to (account_facts, in the worker that renders its
    plan), for the digests, the summary and the report (write_overview_of)."""
    labels, problems = load_labels(project.root)
    if problems or labels is None:
        raise KamError(problems)
    return Aggregates(project, lang, views.Words(project, lang, labels.get(lang)))


def write_overview_of(project: Project, agg: Aggregates, out: Path, lang: str,
                      progress: Callable[[int, int], None] | None = None) -> int:
    """digests/<manager>.*, summary.* and portfolio.html from a run's aggregates; returns the
    files written. One manager's digest in memory at a time."""
    from ..report import write_report_view
    env = environment(project)
    words = agg.w
    base = {"project": {"name": project.name, "currency": project.currency}, "lang": lang,
            "labels": words.labels}
    formats = project.documents
    try:
        templates = {(d, f): load(env, f"{d}.{f}.j2") for d in ("digest", "summary") for f in formats}
    except TemplateError as exc:
        raise KamError(_problem(project, exc)) from None
    owners = agg.digest_owners()
    files = (len(owners) + 1) * len(formats)
    written = 0

    def emit(doc: str, folder: Path, stem: str, **context: Any) -> None:
        nonlocal written
        folder.mkdir(exist_ok=True)
        for fmt in formats:
            try:
                text = render(templates[(doc, fmt)], {**base, "ext": fmt, **context})
            except TemplateError as exc:
                raise KamError(_problem(project, exc)) from None
            inside(folder, f"{stem}.{fmt}").write_text(text, "utf-8")
        written += len(formats)
        if progress is not None:
            progress(written, files)

    digests: dict[str, str] = {}
    taken: set[str] = set()
    for owner in owners:
        digests[owner] = stem = safe_name(owner, taken)
        emit("digest", out / "digests", stem, digest=agg.digest(owner))
    emit("summary", out, "summary", summary=agg.summary(digests))
    if write_report_view(project, lambda _words: agg.report(), out, lang) is not None:
        written += 1
    return written


def _render_all(project: Project, env: LimitedSandbox, labels: Labels, lang: str,
                results: list[dict[str, Any]], out: Path | None,
                progress: Callable[[int, int], None] | None = None,
                plan_files: Mapping[str, str] | None = None) -> int:
    """Render every document; write them under `out` (None: render only, to check templates).
    With `plan_files` the plans are already written (under those stems): only the rest."""
    words = views.Words(project, lang, labels.get(lang))
    base = {"project": {"name": project.name, "currency": project.currency}, "lang": lang,
            "labels": words.labels}
    formats = project.documents
    try:
        templates = {(d, f): load(env, f"{d}.{f}.j2") for d in DOCUMENTS for f in formats
                     if not (plan_files is not None and d == "plan")}
    except TemplateError as exc:
        raise KamError(_problem(project, exc)) from None

    with_plan = [r for r in results if r["playbooks"]]
    unassigned = words.labels["unassigned"]
    owners: dict[str, list[Mapping[str, Any]]] = {}
    closed: dict[str, list[Mapping[str, Any]]] = {}  # accounts whose plans this run closed
    quiet: dict[str, int] = {}
    for r in results:
        owner = r.get("owner") or unassigned
        if r["playbooks"]:
            owners.setdefault(owner, []).append(r)
        else:
            quiet[owner] = quiet.get(owner, 0) + 1
        if r.get("resolved_plans"):
            closed.setdefault(owner, []).append(r)
    files = ((0 if plan_files is not None else len(with_plan)) + len(owners.keys() | closed.keys()) + 1) \
        * len(formats)
    written = 0

    def emit(doc: str, folder: str, stem: str, **context: Any) -> None:
        nonlocal written
        for fmt in formats:
            try:
                text = render(templates[(doc, fmt)], {**base, "ext": fmt, **context})
            except TemplateError as exc:
                raise KamError(_problem(project, exc)) from None
            if out is not None:
                target = out / folder if folder else out
                target.mkdir(exist_ok=True)
                inside(target, f"{stem}.{fmt}").write_text(text, "utf-8")
        written += len(formats)
        if progress is not None:
            progress(written, files)

    if plan_files is None:
        plan_files = {}
        taken: set[str] = set()
        for r in with_plan:
            plan_files[r["account_id"]] = stem = safe_name(r["account_id"], taken)
            emit("plan", "plans", stem, account=r, plan=views.plan(words, r))
    tracked = states.tracked(results)
    digests: dict[str, str] = {}
    taken = set()
    for owner in sorted(owners.keys() | closed.keys()):  # a manager whose plans all closed hears so
        digests[owner] = stem = safe_name(owner, taken)
        emit("digest", "digests", stem,
             digest=views.digest(words, owner, owners.get(owner, []), plan_files, quiet.get(owner, 0),
                                 closed.get(owner, []), tracked))
    emit("summary", "", "summary", summary=views.summary(words, results, digests, plan_files))
    return written


def _problem(project: Project, exc: TemplateError) -> Problem:
    """Where in which template a render failed: the innermost template frame of the traceback."""
    folder = (project.root / "templates").resolve()
    name, line = getattr(exc, "name", None) or getattr(exc, "filename", None), getattr(exc, "lineno", None)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if path.suffix == ".j2" and path.resolve().is_relative_to(folder):
            name, line = str(path.resolve().relative_to(folder)), frame.lineno
            break
    return Problem(f"templates/{name or '?'}", line or 0, 1 if line else 0,
                   f"template: {exc.message or exc}")
