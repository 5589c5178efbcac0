"""Documents from Jinja2 templates that sales ops may edit: an action plan per account with
a playbook, a digest per account manager and a run summary, in Markdown and HTML.

The environment is sandboxed, an undefined variable fails the render (StrictUndefined) and
HTML is autoescaped (templates.py). The words come from templates/labels.yaml (see labels.py);
what each document shows is computed in views/, for a whole run from aggregates
(aggregate.py); the portfolio report is report/.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2.exceptions import TemplateError

from ..errors import KamError, Problem
from ..io.writers import FolderFiles, inside, safe_name
from ..project.model import Project
from ..project.texts import text_problems
from ..result import Result
from . import views
from .aggregate import Aggregates
from .labels import Labels, load_labels, role_problems
from .limits import LimitedSandbox, load, render
from .report.page import write_report_view
from .samples import sample_results, without_store
from .templates import environment, template_names, template_problem, template_syntax_problems
from .views import states
from .views.context import PlanView

DOCUMENTS = ("plan", "digest", "summary")


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


def write_documents(project: Project, results: list[Result], out: Path, lang: str,
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
            raise KamError(template_problem(project, exc)) from None

    def render(self, result: Result, view: PlanView | None = None) -> list[tuple[str, str]]:
        """(format, text) of the account's plan (`view`: its views.plan, when made already)."""
        if view is None:
            view = views.plan(self.words, result)
        out = []
        for fmt in self.formats:
            try:
                out.append((fmt, render(self.templates[fmt], {**self.base, "ext": fmt, "account": result,
                                                              "plan": view})))
            except TemplateError as exc:
                raise KamError(template_problem(self.project, exc)) from None
        return out

    def write(self, results: list[Result], stems: Mapping[str, str], folder: Path | None,
              each: Callable[[Result, PlanView | None], None] | None = None
              ) -> tuple[int, list[tuple[str, str]]]:
        """Render the plans of `results` named in `stems` (account id -> file stem, made by
        safe_name: no separators). Into `folder` when given (files written, []), else handed
        back as (relative path, text) for the caller to write. `each(result, its plan's view
        or None)` is called for every result, in order: what else is made of an account
        takes the view's words instead of making them again."""
        written, texts = 0, []
        with contextlib.ExitStack() as stack:
            files = stack.enter_context(FolderFiles(folder)) if folder is not None else None
            for r in results:
                stem = stems.get(r["account_id"])
                if stem is None:
                    if each is not None:
                        each(r, None)
                    continue
                assert "/" not in stem and "\\" not in stem and stem not in (".", "..")
                view = views.plan(self.words, r)
                for fmt, text in self.render(r, view):
                    if files is not None:
                        files.write(f"{stem}.{fmt}", text)
                        written += 1
                    else:
                        texts.append((f"plans/{stem}.{fmt}", text))
                if each is not None:
                    each(r, view)
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
    env = environment(project)
    words = agg.w
    base = {"project": {"name": project.name, "currency": project.currency}, "lang": lang,
            "labels": words.labels}
    formats = project.documents
    try:
        templates = {(d, f): load(env, f"{d}.{f}.j2") for d in ("digest", "summary") for f in formats}
    except TemplateError as exc:
        raise KamError(template_problem(project, exc)) from None
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
                raise KamError(template_problem(project, exc)) from None
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
                results: list[Result], out: Path | None,
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
        raise KamError(template_problem(project, exc)) from None

    with_plan = [r for r in results if r["playbooks"]]
    unassigned = words.labels["unassigned"]
    owners: dict[str, list[Result]] = {}
    closed: dict[str, list[Result]] = {}  # accounts whose plans this run closed
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
                raise KamError(template_problem(project, exc)) from None
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
