"""Frozen, typed records of a validated project; nothing downstream sees raw YAML dicts."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from . import expr

Text = Mapping[str, str]  # language -> text
FACT_KINDS = ("signal", "class", "risk", "playbook")
NO_RISK = "none"


def text_in(value: Text | None, lang: str) -> str:
    """The text in `lang`, else English, else any language; '' when absent."""
    if not value:
        return ""
    return value.get(lang) or value.get("en") or next(iter(value.values()))


@dataclass(frozen=True)
class Where:
    """Where an object was declared, for messages."""

    path: str
    line: int = 0
    col: int = 0


@dataclass(frozen=True)
class Metric:
    id: str
    type: str  # number | integer | boolean | text
    where: Where
    unit: str = ""
    description: Text = field(default_factory=dict)
    min: Optional[float] = None
    max: Optional[float] = None
    values: tuple[str, ...] = ()
    required: bool = False
    default: object = None
    formula: Optional[expr.Node] = None
    formula_text: str = ""
    decimals: int = 6

    @property
    def derived(self) -> bool:
        return self.formula is not None

    @property
    def numeric(self) -> bool:
        return self.type in ("number", "integer")


@dataclass(frozen=True)
class Threshold:
    id: str
    value: float
    where: Where
    unit: str = ""
    description: Text = field(default_factory=dict)
    segments: Mapping[str, float] = field(default_factory=dict)

    def for_segment(self, segment: object) -> float:
        if isinstance(segment, str) and segment in self.segments:
            return self.segments[segment]
        return self.value


@dataclass(frozen=True)
class Named:
    """A category, class or risk level: an id with a title."""

    id: str
    title: Text
    where: Where
    description: Text = field(default_factory=dict)


@dataclass(frozen=True)
class Signal:
    id: str
    category: str
    severity: str  # low | medium | high
    title: Text
    where: Where
    description: Text = field(default_factory=dict)


SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class Rule:
    id: str
    when_text: str
    when: expr.Node
    asserts: tuple[tuple[str, str], ...]  # (kind, id), kind in FACT_KINDS
    where: Where
    when_where: Where
    description: Text = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    id: str
    title: Text
    owner: str
    due_days: int
    description: Text = field(default_factory=dict)
    checklist: tuple[Text, ...] = ()


@dataclass(frozen=True)
class Playbook:
    id: str
    title: Text
    steps: tuple[Step, ...]
    where: Where
    description: Text = field(default_factory=dict)
    priority: int = 5
    template: str = "plan"
    cooldown_days: int = 0


@dataclass(frozen=True)
class Project:
    name: str
    root: Path
    language: str
    metrics: Mapping[str, Metric]
    thresholds: Mapping[str, Threshold]
    categories: Mapping[str, Named]
    signals: Mapping[str, Signal]
    classes: Mapping[str, Named]
    risk_levels: tuple[Named, ...]  # lowest first; "none" is implicit below them
    rules: tuple[Rule, ...]  # sorted by id: file order never matters
    playbooks: Mapping[str, Playbook]
    columns: Mapping[str, str] = field(default_factory=dict)
    documents: tuple[str, ...] = ("md", "html")
    currency: str = ""
    yaml_digest: str = ""  # hash of every YAML and template file, identifies a rules version

    def risk_rank(self, level: str) -> int:
        for i, r in enumerate(self.risk_levels, start=1):
            if r.id == level:
                return i
        return 0

    def fact_ids(self, kind: str) -> tuple[str, ...]:
        if kind == "signal":
            return tuple(self.signals)
        if kind == "class":
            return tuple(self.classes)
        if kind == "risk":
            return tuple(r.id for r in self.risk_levels)
        if kind == "playbook":
            return tuple(self.playbooks)
        if kind == "category":
            return tuple(self.categories)
        raise KeyError(kind)
