"""Frozen, typed records of a validated project; nothing downstream sees raw YAML dicts."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import expr
from .workdays import WorkCalendar

Text = Mapping[str, str]  # language -> text
FACT_KINDS = ("signal", "class", "risk", "playbook")
# facts derived from the signals that fired, one per category: category.<id> holds with any
# signal of the category, severe.<id> with one at least as severe as the project's severe_from
DERIVED_KINDS = ("category", "severe")
NO_RISK = "none"


def value_key(value: object) -> str:
    """A text value as a lookup key: lower case, spaces and hyphens as underscores
    ('Price pressure', 'price-pressure' -> 'price_pressure')."""
    return "_".join(str(value).lower().replace("-", " ").split())


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
class DefaultBy:
    """An input left empty takes the value this map gives for another metric's value
    (normalised by value_key), e.g. the chance of winning a client back by why it left."""

    metric: str
    values: Mapping[str, object]
    where: Where  # of `metric:`, the other metric's name
    value_where: Mapping[str, Where] = field(default_factory=dict)  # key -> position


@dataclass(frozen=True)
class ValueMap:
    """kam.yaml `values:` for one metric: a value as an export writes it -> the metric's value,
    matched ignoring case and runs of spaces, before the value is typed."""

    metric: str
    values: Mapping[str, object]
    where: Where  # of the metric's entry
    value_where: Mapping[str, Where] = field(default_factory=dict)  # value as written -> position


@dataclass(frozen=True)
class Metric:
    id: str
    type: str  # number | integer | boolean | text
    where: Where
    unit: str = ""
    description: Text = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    required: bool = False
    default: object = None
    formula: expr.Node | None = None
    formula_text: str = ""
    decimals: int = 6
    default_by: DefaultBy | None = None
    fractions: bool = False  # percent: {fractions: true}: a bare number is a fraction of 1 (0.15 = 15 %)

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
    # the sentence a plan shows, with {metric} / {thresholds.name} placeholders (engine/i18n.py)
    evidence: Text = field(default_factory=dict)
    evidence_where: Mapping[str, Where] = field(default_factory=dict)  # language -> position


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
    for_runs: int = 1  # the condition must hold this many consecutive runs (store) before it counts


@dataclass(frozen=True)
class Step:
    id: str
    title: Text
    owner: str
    due_days: int  # working days of the project's calendar
    description: Text = field(default_factory=dict)
    checklist: tuple[Text, ...] = ()
    # the step is in an account's plan only when this holds (signals, classes, decisions, values)
    when: expr.Node | None = None
    when_text: str = ""
    when_where: Where | None = None
    # steps of one account that share an action (across its playbooks) become one step
    action: str = ""
    every: str | None = None  # week | month | quarter: a recurring step
    where: Where = Where("")  # the step in its playbook file: problems of a step point at it


@dataclass(frozen=True)
class Technique:
    """A negotiation technique (source 002) at the stage of the conversation it is for."""

    id: str
    stage: Text
    title: Text
    how: Text
    signals: tuple[str, ...] = ()  # shown only where one of these fired; () always
    steps: tuple[str, ...] = ()  # shown only when one of these meetings is in the plan; () any
    where: Where = Where("")


@dataclass(frozen=True)
class Negotiation:
    """Preparation for the meetings of a playbook (source 002)."""

    participants: tuple[tuple[Text, Text], ...] = ()  # (role on the client's side, what it wants)
    # (common problem, remedy, the signals that call for it: () in every plan)
    problems: tuple[tuple[Text, Text, tuple[str, ...]], ...] = ()
    mistakes: tuple[Text, ...] = ()
    # the playbook's steps that are meetings with the client: the preparation shows only in a
    # plan that has one of them (kept or merged); empty: whenever the playbook is there
    meetings: tuple[str, ...] = ()
    meetings_where: Where | None = None
    techniques: tuple[Technique, ...] = ()


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
    negotiation: Negotiation | None = None
    keep_open_runs: int = 0  # a plan stays open this many runs after its trigger cleared (store)


@dataclass(frozen=True)
class Criterion:
    """A key-account criterion (or a matrix-only score), scored 1-10 in column score_<id>."""

    id: str
    title: Text
    where: Where
    weight: float = 1.0  # in the weighted criteria score; matrix-only scores have none
    description: Text = field(default_factory=dict)

    @property
    def column(self) -> str:
        return f"score_{self.id}"


@dataclass(frozen=True)
class Axis:
    """One KAISM axis: a weighted mean of scores on the 1-10 scale; at or above cutoff is high."""

    id: str  # value | attractiveness
    title: Text = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)  # criterion/score id -> weight
    cutoff: float = 5.5
    where: Where | None = None


QUADRANTS = ("key", "prospective", "maintaining", "low_priority")
BOUNDARIES = {"key_account_share_pct": 10.0, "dependency_risky_pct": 20.0, "dependency_mono_pct": 50.0,
              "abc_a_pct": 80.0, "abc_b_pct": 95.0}
TARGETS = {"portfolio_nps": 50.0, "key_qbr_coverage_pct": 100.0, "retention_rate_pct": 80.0,
           "terminations_pct": 5.0, "revenue_growth_pct": 10.0}


@dataclass(frozen=True)
class Portfolio:
    """rules/portfolio.yaml (kind portfolio); the defaults apply when a project has none."""

    boundaries: Mapping[str, float] = field(default_factory=lambda: dict(BOUNDARIES))
    criteria: tuple[Criterion, ...] = ()
    scores: tuple[Criterion, ...] = ()  # scored inputs only the KAISM axes use
    value: Axis = field(default_factory=lambda: Axis("value"))
    attractiveness: Axis = field(default_factory=lambda: Axis("attractiveness"))
    quadrants: Mapping[str, Text] = field(default_factory=dict)  # id -> title
    quadrant_notes: Mapping[str, Text] = field(default_factory=dict)  # id -> description
    qbr_window_days: int = 90
    targets: Mapping[str, float] = field(default_factory=lambda: dict(TARGETS))
    where: Where | None = None

    def boundary(self, key: str) -> float:
        return float(self.boundaries.get(key, BOUNDARIES[key]))

    def scored(self) -> dict[str, Criterion]:
        """Every scored input by id: the criteria and the matrix-only scores."""
        return {c.id: c for c in self.criteria + self.scores}


@dataclass(frozen=True)
class Boost:
    """A priority multiplier for accounts we can least afford to lose."""

    id: str
    when: expr.Node
    when_text: str
    factor: float
    title: Text
    where: Where


RISK_WEIGHTS = {"none": 0.05, "medium": 0.2, "high": 0.5}


@dataclass(frozen=True)
class Priority:
    """rules/priority.yaml: which account comes first.

    expected loss = money at stake × margin × the chance of losing it at the account's risk level
    (a lost client: the net benefit of winning it back); priority = expected loss × every boost
    whose condition holds."""

    at_stake: str = "revenue_current"
    margin: str = "margin_pct"
    default_margin_pct: float = 100.0
    risk_weights: Mapping[str, float] = field(default_factory=lambda: dict(RISK_WEIGHTS))
    lost_unknown_chance: float = 0.2  # a lost client whose cost-benefit cannot be weighed yet
    boosts: tuple[Boost, ...] = ()
    where: Where | None = None


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
    columns_where: Mapping[str, Where] = field(default_factory=dict)  # column name -> position
    values: Mapping[str, ValueMap] = field(default_factory=dict)  # metric id -> kam.yaml values:
    header_row: int | None = None  # kam.yaml header_row: where input headers start (else found)
    documents: tuple[str, ...] = ("md", "html")
    currency: str = ""
    max_rejected: float = 5.0  # % of input records a run may reject before it fails (kam.yaml settings)
    yaml_digest: str = ""  # hash of every YAML and template file, identifies a rules version
    portfolio: Portfolio = field(default_factory=Portfolio)
    priority: Priority = field(default_factory=Priority)
    capacity: Mapping[str, int] = field(default_factory=dict)  # role -> steps per week
    calendar: WorkCalendar = field(default_factory=WorkCalendar)  # kam.yaml calendar:, counts due_days
    # rules/facts.yaml severe_from: a signal this severe or more makes its category severe
    severe_from: str = "low"
    languages: tuple[str, ...] = ()  # kam.yaml languages: every text exists in each (kam validate)

    def severe(self, signal: Signal) -> bool:
        return SEVERITY_RANK.get(signal.severity, 0) >= SEVERITY_RANK.get(self.severe_from, 0)

    def derived(self, key: tuple[str, str]) -> list[tuple[str, str]]:
        """The facts a fired signal makes hold besides itself: its category, and its category
        as severe when it is severe enough."""
        s = self.signals.get(key[1]) if key[0] == "signal" else None
        if s is None:
            return []
        return [("category", s.category)] + ([("severe", s.category)] if self.severe(s) else [])

    def derived_by(self, key: tuple[str, str]) -> list[tuple[str, str]]:
        """The signals that make a derived fact (category.x, severe.x) hold."""
        if key[0] == "category":
            return [("signal", s.id) for s in self.signals.values() if s.category == key[1]]
        if key[0] == "severe":
            return [("signal", s.id) for s in self.signals.values() if s.category == key[1] and self.severe(s)]
        return []

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
        if kind in DERIVED_KINDS:
            return tuple(self.categories)
        raise KeyError(kind)
