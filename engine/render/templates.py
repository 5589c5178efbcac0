"""The project's templates/ folder as Jinja2 sees it: the sandboxed environment every
document renders in (its loader, filters and finalize), the templates there, their syntax
problems, and where in which template a render failed.

Below every document of the rendering stage (plans, digests, summary, the portfolio report),
so each of them can render without importing the modules that drive them.
"""
from __future__ import annotations

import re
import traceback
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateSyntaxError, select_autoescape
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import Problem
from ..i18n import format_number
from ..project.load import outside
from ..project.model import Project
from .labels import load_labels, say
from .limits import COMPILED, LimitedSandbox

TEMPLATE_SUFFIXES = (".md.j2", ".html.j2")
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



def template_problem(project: Project, exc: TemplateError) -> Problem:
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
