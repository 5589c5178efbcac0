"""The project's words, checked by `kam validate`: every text in every language the project
declares (kam.yaml `languages:`), and no number that is really a threshold's value written
out by hand.

Texts are found in the YAML as written, so each problem names its file, line and field:

    playbooks/qbr.yaml:30:9: steps → hold_qbr → checklist 2: no text in 'ru'

A text is a mapping of two-letter languages to strings ({en: ..., ru: ...}), or a plain
string under a key that holds words (title, description, ...), which is English alone.

A number written in a text may not equal the value of a threshold the text is about: after
the threshold moves from 30 to 45 days the text would still say 30. Write
{thresholds.payment_overdue_days} instead; the documents fill it in from the account's segment.
"The text is about" means: a rule's description and the thresholds in its condition; a
signal's texts and the thresholds of the rules that assert it; a playbook's texts and the
thresholds behind the facts that assign it (through signals, categories, classes and risk
levels), a step with a condition those behind its condition; a threshold's description and
that threshold; priority and portfolio texts every threshold (labels none: they cannot name one). A number
matches a threshold when it has the same unit: "30 %" a threshold in %, "30 days" one in
days, a bare "30" one without either; "1." opening an item of a numbered list is no number.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from ..hints import did_you_mean
from ..i18n import placeholders
from . import expr
from .checks import FactRef, ThresholdRef, derived_from, resolve
from .load import project_files
from .loader import Document, load_file
from .model import DERIVED_KINDS, Project, Threshold

# keys whose value is words (a text, or a list of texts)
TEXT_KEYS = frozenset({"title", "description", "evidence", "role", "wants", "problem", "remedy", "advice",
                       "question", "say"})
TEXT_LISTS = frozenset({"checklist", "mistakes", "questions", "phrases"})
_LANG = re.compile(r"^[a-z]{2}$")
# a number as texts write it: 30, 7.5, 7,5, 1 000 (not inside a word or an id such as B2B)
_NUMBER = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)?)(?![\w])")
_PERCENT = re.compile(r"^[\s\u00a0]*(%|процент|percent)", re.IGNORECASE)
_DAYS = re.compile(r"^[\s\u00a0-]*(рабоч\w*\s+)?(working\s+)?(days?\b|дн\.?|дня\b|дней\b|день\b|сут)", re.IGNORECASE)
_OTHER_UNIT = re.compile(r"^[\s\u00a0-]*(hours?\b|h\b|ч\b|час|weeks?\b|недел|months?\b|месяц|years?\b|год|лет\b|"
                         r"minutes?\b|мин)", re.IGNORECASE)
_ORDINAL = re.compile(r"^\s*\d+[.)]\s")


def _unit_class(unit: str) -> str:
    if unit == "%":
        return "%"
    if unit in ("days", "day"):
        return "days"
    return ""


def _number_unit(text: str, end: int) -> str:
    rest = text[end:end + 40]
    if _PERCENT.match(rest):
        return "%"
    if _DAYS.match(rest):
        return "days"
    if _OTHER_UNIT.match(rest):
        return "other"
    return ""


def numbers_in(text: str) -> Iterator[tuple[float, str, int]]:
    """(value, unit class, offset) of every number a text writes, placeholders left out."""
    found, _ = placeholders(text)
    for p in reversed(found):  # blank the placeholders, keeping offsets
        text = text[:p.start] + " " * (p.end - p.start) + text[p.end:]
    skip_first = _ORDINAL.match(text) is not None
    for i, m in enumerate(_NUMBER.finditer(text)):
        if i == 0 and skip_first:
            continue
        yield float(m.group(1).replace(",", ".")), _number_unit(text, m.end()), m.start()


# ---- what a text is about ---------------------------------------------------------------------

class _Relations:
    """The thresholds behind a fact or a condition, through the rules that assert facts."""

    def __init__(self, project: Project):
        self.project = project
        self.asserted_by: dict[tuple[str, str], list[Any]] = {}
        for r in project.rules:
            for k in r.asserts:
                self.asserted_by.setdefault(k, []).append(r)
        self._memo: dict[tuple[str, str], frozenset[str]] = {}

    def condition(self, node: expr.Node | None) -> frozenset[str]:
        if node is None:
            return frozenset()
        out: set[str] = set()
        for ref in expr.refs(node):
            try:
                r = resolve(self.project, ref)
            except expr.ExprError:
                continue
            if isinstance(r, ThresholdRef):
                out.add(r.id)
            elif isinstance(r, FactRef):
                ids = self.project.fact_ids(r.kind) if r.id == "*" else (r.id,)
                for i in ids:
                    out |= self.fact((r.kind, i))
        return frozenset(out)

    def fact(self, key: tuple[str, str]) -> frozenset[str]:
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = frozenset()  # a cycle adds nothing
        out: set[str] = set()
        if key[0] in DERIVED_KINDS:
            for k in derived_from(self.project, key):
                out |= self.fact(k)
        for rule in self.asserted_by.get(key, ()):
            out |= self.condition(rule.when)
        self._memo[key] = frozenset(out)
        return self._memo[key]


def _about(project: Project, rel: _Relations, kind: str, data: Any, path: tuple[Any, ...]) -> frozenset[str] | None:
    """The thresholds the text at `path` of a file of `kind` is about; None for every threshold."""
    if kind == "rules" and len(path) >= 2 and path[0] == "rules":
        rid = data["rules"][path[1]].get("id")
        rule = next((r for r in project.rules if r.id == rid), None)
        return rel.condition(rule.when) if rule else frozenset()
    if kind == "facts" and len(path) >= 2 and path[0] in ("signals", "classes", "risk_levels"):
        fid = data[path[0]][path[1]].get("id")
        fkind = {"signals": "signal", "classes": "class", "risk_levels": "risk"}[path[0]]
        return rel.fact((fkind, fid))
    if kind == "thresholds" and len(path) >= 2 and path[0] == "thresholds":
        return frozenset({data["thresholds"][path[1]].get("id")})
    if kind == "playbook":
        pb = project.playbooks.get(data.get("id"))
        if pb is None:
            return frozenset()
        if len(path) >= 2 and path[0] == "steps":
            step = next((s for s in pb.steps if s.id == data["steps"][path[1]].get("id")), None)
            if step is not None and step.when is not None:
                return rel.condition(step.when)
        return rel.fact(("playbook", pb.id))
    if kind in ("metrics", "facts", "project"):
        return frozenset()  # inputs and categories define words, not limits
    return None


# ---- walking the YAML ------------------------------------------------------------------------

def _is_text(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and _LANG.match(k) and isinstance(v, str) for k, v in value.items())


def texts(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], dict[str, str] | str]]:
    """(path, text) of every text in a YAML document: a {lang: str} mapping anywhere, or a
    plain string under a key that holds words."""
    if _is_text(data):
        yield path, data
        return
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, str) and k in TEXT_KEYS:
                yield path + (k,), v
            elif isinstance(v, list) and k in TEXT_LISTS:
                for i, item in enumerate(v):
                    if isinstance(item, str):
                        yield path + (k, i), item
                    else:
                        yield from texts(item, path + (k, i))
            else:
                yield from texts(v, path + (k,))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from texts(item, path + (i,))


def crumb(data: Any, path: tuple[Any, ...]) -> str:
    """'steps → hold_qbr → checklist 2' for ("steps", 3, "checklist", 1): list items by their id
    where they have one, else by their number from 1."""
    parts: list[str] = []
    node = data
    for key in path:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and key < len(node) else None
            ident = item.get("id") if isinstance(item, dict) else None
            parts.append(str(ident) if isinstance(ident, str) else str(key + 1))
            node = item
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    out: list[str] = []
    for i, p in enumerate(parts):  # "checklist 2", not "checklist → 2"
        if out and p.isdigit() and not parts[i - 1].isdigit():
            out[-1] += f" {p}"
        else:
            out.append(p)
    return " → ".join(out)


def _documents(project: Project, shown: Path) -> Iterator[tuple[Document, str]]:
    root = project.root
    for f in project_files(root):
        if not f.is_file():
            continue
        try:
            doc = load_file(f, str(shown / f.relative_to(root)))
        except KamError:
            continue  # load_project reported it
        kind = doc.data.get("kind", "project") if isinstance(doc.data, dict) else None
        yield doc, kind or "project"


def text_problems(project: Project, shown: Path | None = None) -> list[Problem]:
    """Every text missing in a language of the project, every placeholder a text may not have,
    and every number in a text that is the value of a threshold it is about."""
    shown = shown if shown is not None else project.root
    rel = _Relations(project)
    problems: list[Problem] = []
    docs = list(_documents(project, shown))
    labels = project.root / "templates" / "labels.yaml"
    if labels.is_file():
        try:
            doc = load_file(labels, str(shown / "templates" / "labels.yaml"))
            docs.append((doc, "labels"))
            have = doc.data if isinstance(doc.data, dict) else {}
            for lang in project.languages:
                if lang not in have:
                    problems.append(doc.problem((), f"no labels for '{lang}', a language of the project "
                                                    f"(kam.yaml languages: {', '.join(project.languages)})"))
        except KamError:
            pass  # labels.py reports it
    for doc, kind in docs:
        if kind == "labels":
            continue  # a block per language: labels.py checks that each has every key
        for path, text in texts(doc.data):
            by_lang = text if isinstance(text, dict) else {"en": text}
            missing = [lang for lang in project.languages if not by_lang.get(lang, "").strip()]
            if missing:
                problems.append(doc.problem(path, f"{crumb(doc.data, path)}: no text in "
                                                  f"{', '.join(repr(m) for m in missing)} (kam.yaml languages: "
                                                  f"{', '.join(project.languages)})"))
            if "evidence" not in path:  # evidence takes metrics too: evidence.py checks it
                for lang, words in by_lang.items():
                    problems += _placeholder_problems(project, doc, path, lang, words, kind)
    for doc, kind in docs:
        for path, text, about in _with_about(project, rel, doc, kind):
            for lang, words in text.items():
                problems += _hardcoded(project, doc, path, lang, words, about)
    return problems


def _with_about(project: Project, rel: _Relations, doc: Document, kind: str
                ) -> Iterator[tuple[tuple[Any, ...], dict[str, str], Iterable[Threshold]]]:
    if kind == "labels":
        return  # labels take no threshold placeholders: a number there is the code's own words
    for path, text in texts(doc.data):
        ids = _about(project, rel, kind, doc.data, path)
        about = project.thresholds.values() if ids is None else [project.thresholds[t] for t in sorted(ids)
                                                                  if t in project.thresholds]
        yield path, (text if isinstance(text, dict) else {"en": text}), about


def _label_texts(block: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(block, str):
        yield path, block
    elif isinstance(block, dict):
        for k, v in block.items():
            yield from _label_texts(v, path + (k,))
    elif isinstance(block, list):
        for i, v in enumerate(block):
            yield from _label_texts(v, path + (i,))


def _placeholder_problems(project: Project, doc: Document, path: tuple[Any, ...], lang: str, text: str,
                          kind: str) -> list[Problem]:
    """A text other than evidence may name thresholds, filled in for the account's segment, and
    nothing else: it reads the same for every account of the segment. A title takes none but
    a priority boost's (a plan says what raised its priority in the boost's title)."""
    found, bad = placeholders(text)
    where = f"{crumb(doc.data, path)} ({lang})"
    out = [doc.problem(path, f"{where}: {message}") for _, message in bad]
    for p in found:
        if path and path[-1] == "title" and kind != "priority":
            out.append(doc.problem(path, f"{where}: a title takes no placeholder ({{{p.name}}}): name the "
                                         "threshold in the description"))
        elif p.kind == "metric":
            out.append(doc.problem(path, f"{where}: {{{p.name}}}: only a signal's evidence names an account's "
                                         "values; here write {thresholds.name}"))
        elif p.name not in project.thresholds:
            hint = did_you_mean(p.name, project.thresholds)
            out.append(doc.problem(path, f"{where}: unknown threshold '{p.name}' in placeholder{hint}"))
    return out


def _hardcoded(project: Project, doc: Document, path: tuple[Any, ...], lang: str, text: str,
               about: Iterable[Threshold]) -> list[Problem]:
    out = []
    about = list(about)
    for value, unit, _ in numbers_in(text):
        for t in about:
            values = {t.value, *t.segments.values()}
            if value in values and unit == _unit_class(t.unit):
                out.append(doc.problem(path, f"{crumb(doc.data, path)} ({lang}): {_shown(value)} is the value of "
                                             f"threshold '{t.id}': write {{thresholds.{t.id}}}, so the text "
                                             "follows the threshold when it changes"))
                break
    return out


def _shown(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
