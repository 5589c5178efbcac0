"""templates/labels.yaml: the words of the documents in each language, editable by sales ops.

Loaded with engine.project.loader (safe YAML, duplicate keys are errors) and checked up front:
every language has every key, each key has the right shape, every playbook step owner has
a name, and a {placeholder} appears only where the code fills it in.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from ..i18n import LABELS_LANG as LANG
from ..i18n import plural_tags
from ..i18n import say as say  # re-exported: the views import it from here
from ..project.load import default_project_dir, link_problem
from ..project.loader import Document, load_file
from ..project.model import Project

LABELS_FILE = "labels.yaml"
MAPS = ("roles", "segments", "lost_reasons", "states", "state_counts", "ask")  # id -> words
# optional maps: an ISO currency code -> the sign to print instead of CLDR's (Babel's)
OPTIONAL_MAPS = ("currencies",)
# keys the code fills in, with the placeholders each accepts; any other key takes none
PLACEHOLDERS: dict[str, set[str]] = {
    "revenue_share": {"share"}, "negotiation_for": {"playbooks"},
    "reason_pursue": {"value", "cost", "difference"}, "reason_do_not_pursue": {"value", "cost"},
    "reason_undecided": {"missing"}, "advice_pursue": {"reason"}, "advice_do_not_pursue": {"reason"},
    "defaulted_value": {"value", "by"},
    "more_steps": {"count"}, "no_action": {"count"}, "lost": {"reason"},
    "more_accounts": {"count"}, "more_attention": {"count"}, "more_closed": {"count"}, "more_lost": {"count"},
    "why_dependency_risky": {"share"}, "why_dependency_mono": {"share"},
    "state_new": {"opened"}, "state_ongoing": {"opened"}, "state_escalated": {"opened"},
    "closed_line": {"opened", "resolved"}, "more_overdue": {"count"},
    "snoozed_until": {"until"}, "cooldown_until": {"until"},
    "snoozed_by": {"until", "by", "reason"}, "plan_ref": {"id"}, "ids_hint": {"example"},
    "queued": {"week", "role"}, "also_covers": {"steps"}, "with_roles": {"roles"},
    "agenda_from": {"step", "playbook"}, "priority_raised": {"boosts"}, "score_of_ten": {"score"},
    "unknown_input": {"metric"}, "expected_loss_line": {"loss", "share"}, "this_week_title": {"end"},
    "every_week": {"date"}, "every_month": {"date"}, "every_quarter": {"date"},
}
# keys added since projects were first made from the default one: a project's labels may lack
# them, the default project's words stand in (optional_words); with the placeholders each takes
OPTIONAL: dict[str, set[str]] = {
    "calendar_name": {"owner"}, "calendar_playbook": {"playbook", "role"}, "calendar_step_ref": {"plan", "step"},
    "calendar_document": {"link"}, "calendar_overdue": {"due"}, "calendar_done": {"date"},
    "calendar_resolved": set(), "calendar_snoozed": set(), "calendar_dropped": set(),
    "report_outcomes": set(), "report_outcomes_hint": {"runs", "first", "last"}, "report_outcomes_resolved": set(),
    "report_outcomes_lost": set(), "report_outcomes_done": set(), "report_outcomes_open": set(),
    "report_outcomes_snoozed": set(), "report_outcomes_opened": set(), "report_outcomes_to_resolution": set(),
    "report_outcomes_runs_days": {"runs", "days"}, "report_outcomes_steps": set(), "report_outcomes_fell": {"runs"},
    "report_outcomes_fell_hint": set(), "report_outcomes_from": set(), "report_outcomes_on_time": set(),
    "report_outcomes_not_on_time": set(), "report_outcomes_cell": {"fell", "plans", "share", "low", "high"},
    "report_outcomes_not_compared": {"incomplete", "no_step"},
    # issue 14: negotiation techniques, the account managers' KPIs, counted accounts
    "techniques": set(), "stage": set(), "technique": set(), "how": set(),
    "kpis": set(), "kpis_hint": set(), "kpi_manager": set(), "kpi_active": set(), "kpi_repeat": set(),
    "kpi_deals": set(), "kpi_churn": set(), "kpi_all": set(), "report_accounts_count": {"count"},
    "signals_count": {"count"}, "in_areas": {"count"}, "steps_count": {"count"}, "why_line": {"signals", "areas"},
    "steps_line": {"steps", "date"},
}
# a label with {count} may give one text per plural category of its language (CLDR, Babel):
#   more_steps: {one: "ещё {count} шаг", few: "ещё {count} шага", many: "ещё {count} шагов", other: "ещё {count} шага"}
PLURAL = frozenset(k for k, names in (*PLACEHOLDERS.items(), *OPTIONAL.items()) if "count" in names)
# keys the Python side reads (templates read more; a trial render catches those)
REQUIRED = ("risk_none", "lost_reason_unknown", "threshold", "decision_pursue", "decision_do_not_pursue",
            "decision_undecided", "advice_undecided", "unassigned", "kept_open", *PLACEHOLDERS, *MAPS)
_HOLE = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Labels:
    path: str
    by_lang: Mapping[str, Mapping[str, Any]]

    def get(self, lang: str) -> Mapping[str, Any]:
        if lang not in self.by_lang:
            raise KamError(Problem(self.path, 0, 0, f"no labels for language '{lang}' "
                                                    f"(have: {', '.join(self.by_lang)})"))
        # keys added since a project was made (OPTIONAL) fall back on the default project's words
        return optional_words(self.by_lang[lang], lang)


def labels_path(root: Path) -> Path:
    return Path(root) / "templates" / LABELS_FILE


def load_labels(root: Path, shown: Path | None = None) -> tuple[Labels | None, list[Problem]]:
    """The labels of a project folder and every problem in them (None when unusable)."""
    path = labels_path(root)
    display = str((shown if shown is not None else Path(root)) / "templates" / LABELS_FILE)
    if not path.is_file():
        return None, [Problem(display, 0, 0, "missing: the documents need their words "
                                             "(copy templates/labels.yaml from the default project)")]
    linked = link_problem(path, Path(root), display)
    if linked is not None:
        return None, [linked]
    try:
        doc = load_file(path, display)
    except KamError as exc:
        return None, list(exc.problems)
    problems = _shape_problems(doc)
    if problems:
        return None, problems
    return Labels(display, {lang: {**words, LANG: lang} for lang, words in doc.data.items()}), []


def _shape_problems(doc: Document) -> list[Problem]:
    data = doc.data
    if not isinstance(data, dict) or not data:
        return [doc.problem((), "expected one block per language: en: {...}, ru: {...}")]
    problems: list[Problem] = []
    for lang, words in data.items():
        if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2}", lang):
            problems.append(doc.problem((lang,), f"'{lang}': a language is a two-letter code (en, ru)"))
            continue
        if not isinstance(words, dict):
            problems.append(doc.problem((lang,), f"{lang}: expected a mapping of labels"))
            continue
        for key in REQUIRED:
            if key not in words:
                problems.append(doc.problem((lang,), f"{lang}: missing label '{key}'"))
        for key, value in words.items():
            problems += _value_problems(doc, lang, key, value)
    langs = [k for k, v in data.items() if isinstance(v, dict)]
    for lang in langs:  # a key one language has and another lacks would fail a render
        for other in langs:
            for key in data[other]:
                if key not in data[lang] and key not in REQUIRED:
                    problems.append(doc.problem((lang,), f"{lang}: missing label '{key}' "
                                                         f"(it is in '{other}')"))
            for m in MAPS + OPTIONAL_MAPS:
                mine, theirs = data[lang].get(m), data[other].get(m)
                if isinstance(mine, dict) and isinstance(theirs, dict):
                    for key in theirs:
                        if key not in mine:
                            problems.append(doc.problem((lang, m), f"{lang} → {m}: missing '{key}' "
                                                                   f"(it is in '{other}')"))
    return problems


def _value_problems(doc: Document, lang: str, key: Any, value: Any) -> list[Problem]:
    at = (lang, key)
    if key in MAPS or key in OPTIONAL_MAPS:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return [doc.problem(at, f"{lang} → {key}: expected a mapping of id: words")]
        return []
    if key in PLURAL and isinstance(value, dict):
        return _plural_problems(doc, lang, key, value)
    if not isinstance(value, str):
        more = " (or one text per plural form: one, few, many, other)" if key in PLURAL else ""
        return [doc.problem(at, f"{lang} → {key}: expected text{more}")]
    return _hole_problems(doc, at, lang, key, value)


def _hole_problems(doc: Document, at: tuple[Any, ...], lang: str, key: str, value: str) -> list[Problem]:
    allowed = PLACEHOLDERS.get(key) or OPTIONAL.get(key, set())
    problems = []
    for name in _HOLE.findall(value):
        if name not in allowed:
            accepts = ", ".join("{" + a + "}" for a in sorted(allowed)) or "no placeholders"
            problems.append(doc.problem(at, f"{lang} → {key}: unknown placeholder {{{name}}} "
                                            f"(this label accepts {accepts})"))
    return problems


def _plural_problems(doc: Document, lang: str, key: str, forms: dict[str, Any]) -> list[Problem]:
    """One text per plural category of the language, no other keys."""
    at = (lang, key)
    try:
        tags = plural_tags(lang)
    except (ValueError, LookupError):
        return [doc.problem(at, f"{lang} → {key}: no plural rules known for language '{lang}': write one text")]
    problems = []
    for tag in sorted(tags - set(forms), key=_TAG_ORDER.index):
        problems.append(doc.problem(at, f"{lang} → {key}: missing the plural form '{tag}' "
                                        f"({lang} has {', '.join(sorted(tags, key=_TAG_ORDER.index))})"))
    for tag, text in forms.items():
        if tag not in tags:
            has = ", ".join(sorted(tags, key=_TAG_ORDER.index))
            problems.append(doc.problem(at + (tag,), f"{lang} → {key} → {tag}: not a plural form of "
                                                     f"{lang} (it has {has})"))
        elif not isinstance(text, str):
            problems.append(doc.problem(at + (tag,), f"{lang} → {key} → {tag}: expected text"))
        else:
            problems += _hole_problems(doc, at + (tag,), lang, key, text)
    return problems


_TAG_ORDER = ["zero", "one", "two", "few", "many", "other"]


_DEFAULT_WORDS: dict[str, Mapping[str, Any]] = {}


def optional_words(words: Mapping[str, Any], lang: str) -> Mapping[str, Any]:
    """`words` with the OPTIONAL keys it lacks taken from the default project's labels (in
    `lang`, else English): a project made before those keys existed keeps working."""
    if all(k in words for k in OPTIONAL):
        return words
    if not _DEFAULT_WORDS:
        labels, _ = load_labels(default_project_dir())
        _DEFAULT_WORDS.update(labels.by_lang if labels is not None else {})
    default = _DEFAULT_WORDS.get(lang) or _DEFAULT_WORDS.get("en") or {}
    return {**{k: default[k] for k in OPTIONAL if k in default}, **words}


def role_problems(project: Project, labels: Labels) -> list[Problem]:
    """Every step owner of every playbook needs a name in every language."""
    problems: list[Problem] = []
    for pb in project.playbooks.values():
        for step in pb.steps:
            for lang, words in labels.by_lang.items():
                if step.owner not in words.get("roles", {}):
                    problems.append(Problem(step.where.path, step.where.line, step.where.col,
                                            f"playbook '{pb.id}' → step '{step.id}': owner "
                                            f"'{step.owner}' has no name in {labels.path} ({lang} → roles)"))
    return problems
