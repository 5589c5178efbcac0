"""Documents from Jinja2 templates that sales ops may edit: a sandboxed environment,
StrictUndefined (a missing field fails the render), HTML autoescaped."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateSyntaxError, select_autoescape
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import KamError, Problem
from .io.writers import inside, safe_name
from .model import Project, text_in

TEMPLATE_SUFFIXES = (".md.j2", ".html.j2")
LABELS = {
    "en": {"plan": "Action plan", "owner": "Owner", "segment": "Segment", "as_of": "As of",
           "risk": "Risk level", "why": "Why", "plan_steps": "What to do", "due": "Due",
           "checklist": "Checklist", "summary": "Run summary", "accounts": "Accounts",
           "none": "none", "medium": "medium", "high": "high", "signal": "Signal",
           "evidence": "Evidence", "threshold": "threshold", "count": "Count"},
    "ru": {"plan": "План действий", "owner": "Ответственный", "segment": "Сегмент",
           "as_of": "Дата оценки", "risk": "Уровень риска", "why": "Почему", "plan_steps": "Что делать",
           "due": "Срок", "checklist": "Чек-лист", "summary": "Итоги прогона", "accounts": "Клиенты",
           "none": "нет", "medium": "средний", "high": "высокий", "signal": "Сигнал",
           "evidence": "Основание", "threshold": "порог", "count": "Количество"},
}


def environment(project: Project) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(project.root / "templates")),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = _num
    return env


def _num(value: Any, lang: str = "en") -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
        if lang == "ru":
            text = text.replace(",", "\u00a0").replace(".", ",")
        return text
    return str(value)


def template_names(project: Project) -> list[str]:
    folder = project.root / "templates"
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p.name.endswith(TEMPLATE_SUFFIXES))


def template_syntax_problems(root: Path, shown: Path | None = None) -> list[Problem]:
    """Parse every template of a project folder; needs no valid YAML, so `kam validate`
    reports template errors together with YAML errors."""
    folder = Path(root) / "templates"
    if not folder.is_dir():
        return []
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    problems: list[Problem] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(TEMPLATE_SUFFIXES)):
        rel = path.relative_to(root)
        display = str((shown if shown is not None else Path(root)) / rel)
        try:
            env.parse(path.read_text("utf-8"), str(rel), str(path))
        except TemplateSyntaxError as exc:
            problems.append(Problem(display, exc.lineno or 0, 1, f"template syntax: {exc.message}"))
        except UnicodeDecodeError:
            problems.append(Problem(display, 0, 0, "template is not UTF-8 text"))
    return problems


def check_templates(project: Project) -> None:
    """Every template parses, and every playbook's template exists; raise all problems."""
    problems = template_syntax_problems(project.root)
    names = template_names(project)
    for pb in project.playbooks.values():
        if not any(n.startswith(pb.template + ".") for n in names):
            problems.append(Problem(pb.where.path, pb.where.line, pb.where.col,
                                    f"playbook '{pb.id}' → template: no templates/{pb.template}.md.j2 "
                                    f"or .html.j2"))
    if problems:
        raise KamError(problems)


def _context(project: Project, lang: str) -> dict[str, Any]:
    return {"project": {"name": project.name, "currency": project.currency}, "lang": lang,
            "labels": LABELS.get(lang, LABELS["en"]),
            "playbooks": {pid: {"title": text_in(p.title, lang), "description": text_in(p.description, lang),
                                "steps": {s.id: {"checklist": [text_in(c, lang) for c in s.checklist],
                                                 "description": text_in(s.description, lang)}
                                          for s in p.steps}}
                          for pid, p in project.playbooks.items()}}


def write_documents(project: Project, results: list[dict[str, Any]], out: Path, lang: str) -> None:
    """An action plan per account with at least one playbook (each format), and a summary."""
    env = environment(project)
    base = _context(project, lang)
    plans = out / "plans"
    plans.mkdir()
    taken: set[str] = set()
    templates = {}
    try:
        for fmt in project.documents:
            templates[fmt] = env.get_template(f"plan.{fmt}.j2")
        for r in results:
            if not r["playbooks"]:
                continue
            stem = safe_name(r["account_id"], taken)
            for fmt, tpl in templates.items():
                inside(plans, f"{stem}.{fmt}").write_text(tpl.render(**base, account=r), "utf-8")
        summary = env.get_template("summary.md.j2")
        (out / "summary.md").write_text(summary.render(**base, results=results), "utf-8")
    except TemplateError as exc:
        raise KamError(Problem(f"templates/{getattr(exc, 'name', '') or ''}",
                               getattr(exc, "lineno", 0) or 0, 0, f"template: {exc}")) from None
