"""Words: what a view needs to speak (the project, the language, its labels), with what
depends only on them worked out once per run."""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...i18n import format_date, format_money, format_number, format_value
from ...project import expr
from ...project.checks import MetricRef, resolve
from ...project.model import NO_RISK, Project, text_in, value_key
from ...result import Result
from ...rules.evidence import threshold_text
from ..labels import say
from .context import UnknownRow


@dataclass(frozen=True)
class PlaybookWords:
    """What a plan says of a playbook whatever the account: its description, and each
    step's description and checklist, in one language."""

    description: str
    steps: Mapping[str, tuple[str, list[str]]]  # step id -> (description, checklist)


@dataclass(frozen=True)
class Words:
    """Everything a view needs to speak: the project, the language and its labels.

    What depends only on these (a date's words, a role's, a playbook's texts) is worked
    out once and kept: a run renders tens of thousands of plans of a few playbooks, whose
    steps fall on a few hundred dates. Views share what is kept (lists included); nothing
    changes a view once built, and the sandbox lets no template change one."""

    project: Project
    lang: str
    labels: Mapping[str, Any]
    _dates: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _roles: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _risks: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _every: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def date(self, iso: str) -> str:
        text = self._dates.get(iso)
        if text is None:
            text = self._dates[iso] = format_date(iso, self.lang)
        return text

    def num(self, value: Any, decimals: int = 2) -> str:
        return "—" if value is None else format_number(value, self.lang, decimals)

    def money(self, value: Any) -> str:
        if value is None:
            return "—"
        code = self.project.currency
        return format_money(value, self.lang, code, self.labels.get("currencies", {}).get(code))

    def metric(self, mid: str, value: Any) -> str:
        m = self.project.metrics.get(mid)
        unit = m.unit if m is not None else ""
        if unit == "money":
            return self.money(value)
        if value is not None and not unit and m is not None and (m.min, m.max) == (0, 1):
            return f"{format_number(value * 100, self.lang, 1)}\u00a0%"  # a probability
        text = format_value(value, self.lang, unit)
        return f"{text}\u00a0%" if unit == "%" and value is not None else text

    def metric_title(self, mid: str) -> str:
        m = self.project.metrics.get(mid)
        return (text_in(m.description, self.lang) if m is not None else "") or mid

    def role(self, owner: str) -> str:
        text = self._roles.get(owner)
        if text is None:
            text = self._roles[owner] = self.labels["roles"].get(owner, owner.replace("_", " "))
        return text

    def risk(self, level: str) -> str:
        text = self._risks.get(level)
        if text is None:
            text = self._risks[level] = self._risk(level)
        return text

    def _risk(self, level: str) -> str:
        for r in self.project.risk_levels:
            if r.id == level:
                return text_in(r.title, self.lang)
        return self.labels["risk_none"] if level == NO_RISK else level

    def every(self, every: str, iso: str) -> str:
        """'every month, next: 23 December 2026'."""
        text = self._every.get((every, iso))
        if text is None:
            text = self._every[(every, iso)] = say(self.labels, f"every_{every}", date=self.date(iso))
        return text

    def text(self, value: Any, segment: Any = None) -> str:
        """A project text in the reader's language, its {thresholds.name} filled in with the
        segment's values (a checklist says "more than 45 days" once the threshold is 45)."""
        text = text_in(value, self.lang)
        if "{" not in text:
            return text
        key = ("text", text, segment)
        out = self._memo.get(key)
        if out is None:
            out = self._memo[key] = threshold_text(self.project, text, self.lang, segment)
        return out

    def playbook(self, pid: str, segment: Any = None) -> PlaybookWords:
        """The texts of playbook `pid` that are the same for every account of a segment."""
        key = ("playbook", pid, segment if segment in self.project_segments else None)
        words = self._memo.get(key)
        if words is None:
            pb, seg = self.project.playbooks[pid], key[2]
            words = self._memo[key] = PlaybookWords(
                self.text(pb.description, seg),
                {s.id: (self.text(s.description, seg), [self.text(c, seg) for c in s.checklist])
                 for s in pb.steps})
        return words

    @functools.cached_property
    def project_segments(self) -> frozenset[str]:
        """The segments some threshold has its own value for: the others read the defaults."""
        return frozenset(s for t in self.project.thresholds.values() for s in t.segments)

    def category(self, cid: str) -> str:
        key = ("category", cid)
        text = self._memo.get(key)
        if text is None:
            c = self.project.categories.get(cid)
            text = self._memo[key] = text_in(c.title, self.lang) if c is not None else cid
        return text

    def segment(self, value: Any) -> str:
        return "—" if value in (None, "") else self.labels["segments"].get(value, str(value))

    @functools.cached_property
    def signal_inputs(self) -> frozenset[str]:
        """Raw metrics the signal rules read (through formulas): the inputs whose absence
        keeps a warning from firing, which a plan asks the manager to find out."""
        p = self.project
        signal_rules = [r for r in p.rules if any(k == "signal" for k, _ in r.asserts)]
        seen: set[str] = set()
        stack = [ref for r in signal_rules for ref in expr.refs(r.when)]
        out: set[str] = set()
        while stack:
            ref = stack.pop()
            try:
                target = resolve(p, ref)
            except expr.ExprError:
                continue
            if not isinstance(target, MetricRef) or target.id in seen:
                continue
            seen.add(target.id)
            m = p.metrics[target.id]
            if m.formula is not None:
                stack += expr.refs(m.formula)
            else:
                out.add(target.id)
        return frozenset(out)

    def unknown(self, result: Result) -> list[UnknownRow]:
        """What the plan cannot see because an input is empty, with what to do about it."""
        missing = result.get("missing") or ()
        key = ("unknown", tuple(missing))
        rows = self._memo.get(key)
        if rows is None:
            ask = self.labels["ask"]
            rows = self._memo[key] = [
                (self.metric_title(m),
                 ask.get(m) or say(self.labels, "unknown_input", metric=lower_first(self.metric_title(m))))
                for m in missing if m in self.signal_inputs]
        return [{"metric": metric, "text": text} for metric, text in rows]

    def lost_reason(self, value: Any) -> str:
        if value in (None, ""):
            unknown: str = self.labels["lost_reason_unknown"]
            return unknown
        reason: str = self.labels["lost_reasons"].get(value_key(value), str(value))
        return reason


def lower_first(text: str) -> str:
    """'Days since …' -> 'days since …', but 'NPS …' stays."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
