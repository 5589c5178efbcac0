"""The portfolio report's page: templates/portfolio.html.j2 rendered into the output folder."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2.exceptions import TemplateError

from ...errors import KamError, Problem
from ...io.writers import inside
from ...project.model import Project
from ...result import Result
from ..labels import load_labels
from ..limits import load, render
from ..templates import environment
from .data import accounts
from .view import accounts_view

TEMPLATE = "portfolio.html.j2"
OUTPUT = "portfolio.html"


def write_report(project: Project, results: Sequence[Result], out: Path, lang: str) -> Path | None:
    """out/portfolio.html; nothing when the project has no templates/portfolio.html.j2."""
    if not (project.root / "templates" / TEMPLATE).is_file():
        return None
    as_of = str(results[0].get("as_of", "")) if results else ""
    return write_report_view(project, lambda words: accounts_view(project, accounts(results), lang, words, as_of),
                             out, lang)


def write_report_view(project: Project, make_view: Any, out: Path, lang: str) -> Path | None:
    """out/portfolio.html from `make_view(words)` (view.accounts_view, or Aggregates.report); nothing
    when the project has no templates/portfolio.html.j2."""
    if not (project.root / "templates" / TEMPLATE).is_file():
        return None
    loaded, problems = load_labels(project.root)
    if loaded is None:
        raise KamError(problems)
    words = loaded.get(lang)
    try:
        html = render(load(environment(project), TEMPLATE), dict(
            lang=lang, labels=words, project={"name": project.name, "currency": project.currency},
            report=make_view(words)))
    except TemplateError as exc:
        raise KamError(Problem(f"templates/{TEMPLATE}", getattr(exc, "lineno", 0) or 0, 0,
                               f"template: {exc}")) from None
    target = inside(out, OUTPUT)
    target.write_text(html, "utf-8")
    return target
