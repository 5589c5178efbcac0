"""Digests, the run summary and the portfolio report from aggregates, never from the list of
every result of a run (at 1,000,000 accounts that list is ~12 GiB).

Where a plan is rendered (a worker), `account_facts` reduces the account's final result to a
small picklable record: what the digest, the summary and the report need of it, already in
words - its digest entry, its rows for "this week", "needs attention" and "closed", its rows
of the summary's tables, the numbers that are counted and summed, and the report's
`report.data.Account`. The main process adds the records in input order
(`Aggregates.add`) and keeps, flat in the number of accounts:

- counts and sums per owner, risk level, category, ABC class, KAISM quadrant and role week;
- top-N lists (`_Top`) ordered by a total key that ends with the account's input position,
  so ties fall as in the stable sorts of views/ and report/data.py and no list depends on how
  the run was chunked;
- for the Pareto curve, one float and one byte per account (revenue; ABC class and key
  account), sorted once at the end.

The same bytes as views.digest, views.summary and, for the report, report.data.figures (one
function, report/view.py, puts either's figures into words), below the caps: every sum
adds its values in input order with the arithmetic of the code it stands for - builtin
sum() (compensated since Python 3.12: `_Sum`) where that code calls sum(), plain `+` where
it loops - so a total is the same float whichever way the run was chunked. Above a cap
(a manager with 40,000 plans), a list stops at its most urgent entries and a line says how
many more there are (labels more_accounts, more_attention, more_closed, more_lost).

This assumes one as_of for the whole run (the evaluator's): an account's "this week" rows
are picked by its own as_of.
"""
from __future__ import annotations

import math
import pickle
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from ..i18n import format_day_month
from ..project.model import NO_RISK, QUADRANTS, Project, text_in
from ..result import Result
from . import views
from .labels import say
from .report.charts import CONCENTRATION_BARS, MAX_POINTS
from .report.data import (
    MAX_ROWS,
    MAX_WARNINGS,
    Account,
    Figures,
    Kpis,
    RetentionMetric,
    accounts,
    kpi_rows,
    owner_rank,
    pct,
)
from .report.view import view as report_view
from .views import states
from .views.context import (
    AttentionRow,
    ClosedRow,
    DigestAccount,
    DigestView,
    LostRow,
    PlanView,
    SummaryView,
    ThisWeekRow,
    TopAccount,
    Workload,
    WorkloadRow,
)
from .views.digests import _week_end as week_end

MAX_ACCOUNTS = 300  # a digest's accounts with a plan, most urgent first
MAX_ATTENTION = 300  # a digest's "needs attention" rows
MAX_CLOSED = 300  # a digest's plans closed since the last run
MAX_LOST = 300  # the summary's lost clients, most urgent first
TOP_ACCOUNTS = 15  # the summary's most urgent accounts (views.summary's `top`)


# ---- one account ------------------------------------------------------------------------

class Facts(NamedTuple):
    """What the digest, the summary and the report need of one account (see account_facts)."""

    owner: str  # as documents name the manager: the unassigned label when there is none
    as_of: str
    risk: str
    with_plan: bool
    urgency: tuple[Any, ...]  # views.urgency_key
    revenue: Any  # revenue_current or 0, as views.summary adds it
    expected_loss: Any  # expected_loss or 0.0
    signals: tuple[str, ...]  # signal ids
    playbooks: tuple[str, ...]  # playbook ids
    tracked: bool  # a store reconciled the result ("resolved_plans" in it)
    closing: bool  # this run closed plans of the account
    plan_states: tuple[int, ...] | None  # plans per states.COUNTED; None when all are 0
    workload: tuple[tuple[str, str], ...]  # (capacity role, Monday of the week) per open step
    entry: DigestAccount | None  # the digest's entry (views.digest's "accounts" item)
    this_week: tuple[ThisWeekRow, ...]  # the manager's steps this week (views.this_week), soonest first
    # states.attention's rows with their states.attention_rank, in their order (those a bar let in)
    attention: tuple[tuple[int, AttentionRow], ...]
    closed: tuple[ClosedRow, ...]  # states.closed_rows
    top: TopAccount | None  # a row of the summary's top_accounts (a plan, not lost)
    lost: LostRow | None  # a row of the summary's lost clients (a win-back decision)
    account: Account  # the report's record
    # what a bar (Bars) kept the worker from building: the entry is then None, and these are
    # the attention rows' ranks (states.attention_rank), counted but not built
    skipped_attention: tuple[int, ...] = ()


class Bars(NamedTuple):
    """Where the capped lists of the aggregates stand when a chunk is sent to a worker: for
    each manager whose list is full, the largest key it keeps, without the input position -
    the digest entries' and "this week" rows' urgency, the attention rows' (rank, urgency) -
    and the summary's top accounts' urgency (None while a list is not full). The chunk's
    accounts come after every account added so far, so one of them can enter a list only
    with a smaller key than its bar: the worker builds no entry or row that could not (at
    1,000,000 accounts a digest keeps 300 of ~40,000 entries). Bars only fall as accounts
    are added, so a bar some chunks old drops less, never more."""

    owners: dict[str, tuple[Any, Any, Any]]  # manager -> (entries, this week, attention) bars
    top: Any = None


def account_facts(w: views.Words, result: Result, plan_file: str = "", view: PlanView | None = None,
                  bars: Bars | None = None) -> Facts:
    """The account's facts, from its final result (plan states in, when there is a store).
    `plan_file`: the stem of its plan's files under plans/ ('' when it has no plan); `view`:
    its plan's views.plan, whose step rows the digest entry takes; `bars`: what the capped
    lists keep so far (Aggregates.bars), past which nothing is built. Pure: runs where the
    plan is rendered."""
    r, p = result, w.project
    aid = r["account_id"]
    unassigned = w.labels["unassigned"]
    owner = r.get("owner") or unassigned
    with_plan = bool(r["playbooks"])
    closing = bool(r.get("resolved_plans"))
    urgency = views.urgency_key(p, r)
    entry: DigestAccount | None = None
    this_week: tuple[ThisWeekRow, ...] = ()
    attention: list[tuple[int, AttentionRow]] = []
    skipped: list[int] = []
    closed: tuple[ClosedRow, ...] = ()
    if closing:
        closed = tuple(states.closed_rows(w, [r]))
    if with_plan:  # views.digest's parts, on this account alone
        entry_bar, week_bar, attention_bar = (bars.owners.get(owner) if bars is not None else None) \
            or (None, None, None)
        files = {aid: plan_file} if plan_file else {}
        rows = view["next_steps"] if view is not None else None
        if entry_bar is None or urgency < entry_bar:
            entry = views.account_entry(w, r, files, rows)
        if r["as_of"] and (week_bar is None or urgency < week_bar):
            this_week = tuple(views.this_week(w, [r], r["as_of"], [rows] if rows is not None else None))
        link = None
        ranked = [(rank, pb) for pb in r["playbooks"] if (rank := states.attention_rank(pb)) is not None]
        for rank, pb in sorted(ranked, key=itemgetter(0)):
            if attention_bar is None or (rank, urgency) < attention_bar:
                link = link or states.account_link(r, files)
                attention.append((rank, states.attention_row(w, link, pb)))
            else:
                skipped.append(rank)
    # as states.counts adds them up
    n = dict.fromkeys(states.COUNTED, 0)
    for pb in r["playbooks"]:
        if pb.get("state") in n:
            n[pb["state"]] += 1
        n["overdue"] += bool(pb.get("overdue"))
    n["resolved"] += len(r.get("resolved_plans") or ())
    n["held"] += len(r.get("held_plans") or ())
    # as views.workload counts them
    capacity = p.capacity
    workload = tuple((s["owner"], _monday(max(s["due"], r["as_of"])))
                     for pb in r["playbooks"] for s in pb["steps"]
                     if s["owner"] in capacity and not s.get("done")) if capacity else ()
    # rows of views.summary's tables
    top: TopAccount | None = {
        "title": r.get("name") or aid, "account_id": aid, "owner": owner,
        "risk": w.risk(r["risk_level"]), "risk_id": r["risk_level"], "signals": len(r["signals"]),
        "at_stake": w.money(views.at_stake(r)), "expected_loss": w.money(r.get("expected_loss")),
        "priority": w.num(r.get("priority"), 0), "abc": r.get("abc") or "", "plan": plan_file} \
        if with_plan and r.get("status") != "lost" and (bars is None or bars.top is None or urgency < bars.top) \
        else None
    wb = r.get("winback")
    lost: LostRow | None = {
        "title": r.get("name") or aid, "account_id": aid, "owner": owner,
        "decision_id": wb["decision"], "decision": w.labels[f"decision_{wb['decision']}"],
        "benefit": w.money(wb["value"]), "cost": w.money(wb["cost"]), "plan": plan_file} if wb else None
    return Facts(
        owner, r.get("as_of", ""), r["risk_level"], with_plan, urgency,
        r.get("revenue_current") or 0, r.get("expected_loss") or 0.0,
        tuple(s["id"] for s in r["signals"]), tuple(pb["id"] for pb in r["playbooks"]),
        "resolved_plans" in r, closing, tuple(n.values()) if any(n.values()) else None, workload,
        entry, this_week, tuple(attention), closed, top, lost, accounts([r])[0], tuple(skipped))


def _monday(iso: str) -> str:
    d = date.fromisoformat(iso)
    return (d - timedelta(days=d.weekday())).isoformat()


# ---- building blocks ----------------------------------------------------------------------

_COMPENSATED = sys.version_info >= (3, 12)  # sum() of floats: Neumaier's compensated sum
_LONG = (-(1 << 63), (1 << 63) - 1)  # sum()'s fast path for ints: a C long


class _Sum:
    """builtin sum() of the values added, one at a time: the same float (or int) as sum()
    over them in that order, on this Python - it starts from the int 0, adds ints exactly,
    and from the first float on adds floats in C doubles (compensated from Python 3.12)."""

    __slots__ = ("c", "mode", "value")

    def __init__(self) -> None:
        self.value: Any = 0
        self.c = 0.0  # the compensation
        self.mode = 0  # 0: ints, 1: floats, 2: anything else (plain +)

    def add(self, x: Any) -> None:
        mode = self.mode
        if mode == 1:
            if type(x) is float:
                f = self.value
                t = f + x
                if _COMPENSATED:
                    if abs(f) >= abs(x):
                        self.c += (f - t) + x
                    else:
                        self.c += (x - t) + f
                self.value = t
            elif isinstance(x, int) and _LONG[0] <= x <= _LONG[1]:
                self.value += float(x)
            else:
                self.value, self.mode = self._float() + x, 2
        elif mode == 0:
            if (type(x) is int or type(x) is bool) and _LONG[0] <= x <= _LONG[1] \
                    and _LONG[0] <= self.value + x <= _LONG[1]:
                self.value += x
            else:  # a float, or past a C long: sum() goes on with Python objects
                self.value = self.value + x
                self.mode = 1 if type(self.value) is float else 2
        else:
            self.value = self.value + x

    def _float(self) -> float:
        if _COMPENSATED and self.c and math.isfinite(self.c):
            compensated: float = self.value + self.c
            return compensated
        total: float = self.value
        return total

    def result(self) -> Any:
        return self._float() if self.mode == 1 else self.value


def _sum_in_order(values: np.ndarray) -> Any:
    """sum() of an array's floats, in the array's order."""
    s = _Sum()
    for i in range(0, len(values), 1 << 16):
        for x in values[i:i + (1 << 16)].tolist():
            s.add(x)
    return s.result()


class _Top:
    """The `cap` items with the smallest keys, in key order, and how many were offered. Keys
    are unique (they end with the input position), so what is kept is the same whatever the
    order of the offers; once `cap` are kept, an offer above the last is dropped at once.
    `packed`: items are kept pickled (a digest entry: ~1 KB instead of ~5 KB of objects, for
    every manager until the end of the run)."""

    __slots__ = ("bar", "cap", "packed", "rows", "seen")

    def __init__(self, cap: int, packed: bool = False):
        self.cap = cap
        self.rows: list[tuple[tuple[Any, ...], Any]] = []
        self.seen = 0
        self.bar: tuple[Any, ...] | None = None  # the largest key kept, once `cap` are
        self.packed = packed

    def add(self, key: tuple[Any, ...], item: Any) -> None:
        self.seen += 1
        if self.bar is not None and not key < self.bar:
            return
        self.rows.append((key, pickle.dumps(item, pickle.HIGHEST_PROTOCOL) if self.packed else item))
        if len(self.rows) > self.cap + self.cap // 4 + 8:
            self._cut()

    def passed(self, key: tuple[Any, ...]) -> None:
        """An item a worker did not build, its key past the bar it was given (Bars): counted
        as offered, as add() would count and drop it."""
        self.seen += 1
        if self.bar is None or key < self.bar:
            raise AssertionError(f"an item was left out that the list keeps: {key!r}")

    def _cut(self) -> None:
        self.rows.sort(key=itemgetter(0))
        del self.rows[self.cap:]
        if self.cap and len(self.rows) == self.cap:
            self.bar = self.rows[-1][0]

    def items(self) -> list[Any]:
        self._cut()
        if self.packed:
            return [pickle.loads(item) for _, item in self.rows]
        return [item for _, item in self.rows]

    @property
    def more(self) -> int:
        """Offered but not kept."""
        return max(0, self.seen - self.cap)


class _Owner:
    """One manager's part of the digests and the summary."""

    __slots__ = (
        "accounts",
        "at_risk",
        "attention",
        "closed",
        "closing",
        "entries",
        "expected",
        "lead",
        "levels",
        "quiet",
        "this_week",
    )

    def __init__(self, caps: tuple[int, int, int]):
        self.accounts = 0
        self.levels: dict[str, int] = {}  # risk level -> accounts
        self.at_risk = _Sum()  # revenue of the accounts at risk
        self.expected = _Sum()  # expected loss of the accounts with a plan
        self.quiet = 0  # accounts without a plan
        self.closing = False  # this run closed a plan of one of the accounts
        self.lead: tuple[tuple[Any, ...], str] | None = None  # (key, as_of) of the most urgent account
        self.entries = _Top(caps[0], packed=True)
        self.this_week = _Top(views.THIS_WEEK)
        self.attention = _Top(caps[1], packed=True)
        self.closed = _Top(caps[2], packed=True)


class _Ranked(Sequence[Any]):
    """report.data.pareto's points, (cumulative % of revenue, ABC class), read on demand."""

    def __init__(self, pcts: np.ndarray, classes: np.ndarray):
        self.pcts, self.classes = pcts, classes

    def __len__(self) -> int:
        return len(self.pcts)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return float(self.pcts[i]), "ABC"[self.classes[i] - 1]


_ABC_CODES = {"A": 1, "B": 2, "C": 3, "": 3}  # report.data.pareto: a class, else "C"
_KEY = 4  # the code's bit for a key account


# ---- the run ------------------------------------------------------------------------------

class Aggregates:
    """Facts of every account, added in input order; then every manager's digest, the run
    summary and the portfolio report's figures, as views.digest, views.summary and
    report.data.figures give them from the list of results (lists capped: max_*)."""

    def __init__(self, project: Project, lang: str, words: views.Words, *,
                 max_accounts: int = MAX_ACCOUNTS, max_attention: int = MAX_ATTENTION,
                 max_closed: int = MAX_CLOSED, max_lost: int = MAX_LOST,
                 max_warnings: int = MAX_WARNINGS):
        self.project, self.lang, self.w = project, lang, words
        # the store's plan outcomes (engine/plans/store/outcomes.py), set by the run
        self.outcomes: dict[str, Any] | None = None
        self.caps = (max_accounts, max_attention, max_closed)
        self.n = 0
        self.first_as_of: str | None = None  # the first account's
        # the summary
        self.owners: dict[str, _Owner] = {}
        self.with_plan = 0
        self.total = _Sum()
        self.at_risk = _Sum()
        self.expected = _Sum()
        self.by_level: dict[str, list[Any]] = {}  # risk level -> [accounts, revenue]
        self.signal_counts: dict[str, int] = {}
        self.playbook_counts: dict[str, int] = {}
        self.tracked = False
        self.plan_states = [0] * len(states.COUNTED)
        self.work_from = ""  # views.workload's first week: the first as_of
        self.work: dict[str, dict[str, int]] = {role: {} for role in project.capacity}
        self.top = _Top(TOP_ACCOUNTS)
        self.lost = _Top(max_lost)
        # the report
        levels = [NO_RISK] + [r.id for r in project.risk_levels]
        self.totals: dict[str, list[Any]] = {lv: [0, 0.0] for lv in levels}  # risk_totals
        self.revenue = _Sum()
        self.revenue_at_risk = _Sum()
        self.category_revenue: dict[str, float] = {}
        self.category_accounts: dict[str, int] = {}
        self.owner_revenue: dict[str | None, float] = {}  # at_risk_by_owner, by raw owner
        self.owner_at_risk: dict[str | None, dict[str, float]] = {}
        self.keys = _Top(MAX_ROWS)
        self.pareto_revenue = array("d")  # one float and one byte per account
        self.pareto_codes = bytearray()
        self.warnings = _Top(max_warnings)
        self.biggest: tuple[tuple[Any, ...], Account] | None = None
        self.unscored = 0
        self.placed = _Top(MAX_POINTS)  # the KAISM marks drawn
        self.concentration = _Top(CONCENTRATION_BARS)
        self.quadrant_accounts: dict[str, int] = {q: 0 for q in QUADRANTS}
        self.quadrant_revenue = {q: _Sum() for q in QUADRANTS}
        self.abc_accounts = {c: 0 for c in "ABC"}
        self.abc_revenue = {c: _Sum() for c in "ABC"}
        self.nps_scored = self.promoters = self.detractors = 0
        self.key_qbr = self.qbr_covered = self.lost_accounts = self.with_previous = 0
        self.revenue_before = _Sum()
        self.revenue_now = _Sum()
        self.kpis: dict[str, Kpis] = {}  # manager -> report.data.Kpis (source 003)

    # ---- adding -------------------------------------------------------------------------

    def bars(self, owners: Iterable[Any] = ()) -> Bars:
        """The bars of the lists that are full (see Bars), for the managers among `owners`
        (accounts' owner values: none is the unassigned label)."""
        unassigned = self.w.labels["unassigned"]
        out: dict[str, tuple[Any, Any, Any]] = {}
        for raw in set(owners):
            name = raw or unassigned
            o = self.owners.get(name)
            if o is None:
                continue
            entries, week, attention = o.entries.bar, o.this_week.bar, o.attention.bar
            if entries is not None or week is not None or attention is not None:
                out[name] = (entries and entries[0], week and week[0], attention and attention[:2])
        return Bars(out, self.top.bar and self.top.bar[0])

    def add(self, f: Facts) -> None:
        """The next account's facts, in input order."""
        pos = self.n
        self.n = pos + 1
        if pos == 0:
            self.first_as_of = f.as_of
        self._summary_add(f, pos)
        self._report_add(f.account, pos)

    def _summary_add(self, f: Facts, pos: int) -> None:
        o = self.owners.get(f.owner)
        if o is None:
            o = self.owners[f.owner] = _Owner(self.caps)
        revenue, risk = f.revenue, f.risk
        o.accounts += 1
        o.levels[risk] = o.levels.get(risk, 0) + 1
        self.total.add(revenue)
        level = self.by_level.get(risk)
        if level is None:
            level = self.by_level[risk] = [0, _Sum()]
        level[0] += 1
        level[1].add(revenue)
        if risk != NO_RISK:
            self.at_risk.add(revenue)
            o.at_risk.add(revenue)
        key = (f.urgency, pos)
        if f.with_plan:
            self.with_plan += 1
            self.expected.add(f.expected_loss)
            o.expected.add(f.expected_loss)
            if o.lead is None or key < o.lead[0]:
                o.lead = (key, f.as_of)
            if f.entry is not None:
                o.entries.add(key, f.entry)
            else:
                o.entries.passed(key)
            for j, step in enumerate(f.this_week):
                o.this_week.add((f.urgency, pos, j), step)
            for j, (rank, row) in enumerate(f.attention):
                o.attention.add((rank, f.urgency, pos, j), row)
            for rank in f.skipped_attention:
                o.attention.passed((rank, f.urgency, pos))
        else:
            o.quiet += 1
        if f.closing:
            o.closing = True
            for j, gone in enumerate(f.closed):
                o.closed.add((f.urgency, pos, j), gone)
        counts = self.signal_counts
        for sid in f.signals:
            counts[sid] = counts.get(sid, 0) + 1
        counts = self.playbook_counts
        for pid in f.playbooks:
            counts[pid] = counts.get(pid, 0) + 1
        if f.tracked:
            self.tracked = True
        if f.plan_states is not None:
            self.plan_states = [a + b for a, b in zip(self.plan_states, f.plan_states)]
        if not self.work_from:
            self.work_from = f.as_of
        for role, week in f.workload:
            weeks = self.work[role]
            weeks[week] = weeks.get(week, 0) + 1
        if f.top is not None:
            self.top.add(key, f.top)
        if f.lost is not None:
            self.lost.add(key, f.lost)

    def _report_add(self, a: Account, pos: int) -> None:
        (aid, _name, owner, status, risk, categories, key, dependency, abc, kaism, _, rev, share,
         value, attractiveness, nps, days_since_qbr, revenue_previous, orders, repeat, deals) = a
        label = owner or self.w.labels["unassigned"]
        kpis = self.kpis.get(label)
        if kpis is None:
            kpis = self.kpis[label] = Kpis()
        kpis.add(status, orders, repeat, deals)
        t = self.totals.get(risk)
        if t is None:
            t = self.totals[risk] = [0, 0.0]
        t[0] += 1
        t[1] = t[1] + rev
        self.revenue.add(rev)
        owner_revenue = self.owner_revenue
        owner_revenue[owner] = owner_revenue.get(owner, 0.0) + rev
        if risk != NO_RISK:
            self.revenue_at_risk.add(rev)
            by_level = self.owner_at_risk.get(owner)
            if by_level is None:
                by_level = self.owner_at_risk[owner] = {}
            by_level[risk] = by_level.get(risk, 0.0) + rev
        if categories:
            category_revenue, category_accounts = self.category_revenue, self.category_accounts
            for c in categories:
                category_revenue[c] = category_revenue.get(c, 0.0) + rev
                category_accounts[c] = category_accounts.get(c, 0) + 1
        self.pareto_revenue.append(rev)
        self.pareto_codes.append((0 if abc is None else _ABC_CODES.get(abc, 3)) | (_KEY if key else 0))
        if key:
            self.keys.add((-rev, aid, pos), a)
            if status != "lost" and days_since_qbr is not None:  # report.data.retention
                self.key_qbr += 1
                self.qbr_covered += days_since_qbr <= self.project.portfolio.qbr_window_days
        if dependency != "none":
            self.warnings.add((-(share or 0), aid, pos), a)
        biggest = (share or 0, aid)
        if self.biggest is None or biggest > self.biggest[0]:  # max(): the first of equals
            self.biggest = (biggest, a)
        if value is None or attractiveness is None:
            self.unscored += 1
        else:
            self.placed.add((-rev, aid, pos), a)
        if share is not None:
            self.concentration.add((-share, aid, pos), a)
        quadrant = kaism or ""
        self.quadrant_accounts[quadrant] = self.quadrant_accounts.get(quadrant, 0) + 1
        if kaism in self.quadrant_revenue:
            self.quadrant_revenue[kaism].add(rev)
        if abc in self.abc_accounts:
            self.abc_accounts[abc] += 1
            self.abc_revenue[abc].add(rev)
        # report.data.retention
        if nps is not None:
            self.nps_scored += 1
            self.promoters += nps >= 9
            self.detractors += nps <= 6
        if status == "lost":
            self.lost_accounts += 1
        if revenue_previous is not None:
            self.with_previous += 1
            self.revenue_before.add(revenue_previous)
            self.revenue_now.add(rev)

    # ---- the documents ------------------------------------------------------------------

    def _more(self, key: str, count: int) -> str:
        return say(self.w.labels, key, count=count) if count > 0 else ""

    def digest_owners(self) -> list[str]:
        """The managers who get a digest: with an account with a plan, or a plan this run
        closed; sorted (the order _render_all names their files in)."""
        return sorted(o for o, x in self.owners.items() if x.entries.seen or x.closing)

    def digest(self, owner: str) -> DigestView:
        """One manager's digest: views.digest's view, its lists capped."""
        w, o = self.w, self.owners[owner]
        as_of = o.lead[1] if o.lead is not None else ""
        tracked = self.tracked
        return {"owner": owner, "accounts": o.entries.items(), "tracked": tracked,
                "this_week": o.this_week.items() if as_of else [],
                "week_end": w.date(week_end(as_of, weeks=2)) if as_of else "",
                "attention": o.attention.items() if tracked else [],
                "closed": o.closed.items(),
                "quiet": say(w.labels, "no_action", count=o.quiet) if o.quiet else "",
                "more_accounts": self._more("more_accounts", o.entries.more),
                "more_attention": self._more("more_attention", o.attention.more) if tracked else "",
                "more_closed": self._more("more_closed", o.closed.more)}

    def digests(self) -> dict[str, DigestView]:
        """Every manager's digest (digest(owner) builds one at a time)."""
        return {o: self.digest(o) for o in self.digest_owners()}

    def summary(self, digest_files: Mapping[str, str]) -> SummaryView:
        """views.summary's view; `digest_files`: manager -> the stem of their digest's files."""
        w, p = self.w, self.project
        levels = [r.id for r in reversed(p.risk_levels)] + [NO_RISK]
        total_revenue = self.total.result()
        at_risk = self.at_risk.result()
        expected = self.expected.result()
        n = self.n or 1
        empty = [0, _Sum()]
        return {
            "expected_loss": w.money(expected),
            "expected_loss_share": w.num(expected / total_revenue * 100, 1) if total_revenue else "0",
            "workload": self._workload(),
            "accounts": self.n,
            "with_plan": self.with_plan,
            "plan_states": [{"id": k, "title": w.labels["state_counts"].get(k, k), "count": c}
                            for k, c in zip(states.COUNTED, self.plan_states)] if self.tracked else [],
            "by_risk": [{"id": lvl, "title": w.risk(lvl), "count": self.by_level.get(lvl, empty)[0],
                         "revenue": w.money(self.by_level.get(lvl, empty)[1].result())} for lvl in levels],
            "revenue_at_risk": w.money(at_risk),
            "revenue_at_risk_share": w.num(at_risk / total_revenue * 100, 1) if total_revenue else "0",
            "total_revenue": w.money(total_revenue),
            "signals": [{"title": text_in(p.signals[sid].title, w.lang),
                         "category": text_in(p.categories[p.signals[sid].category].title, w.lang)
                         if p.signals[sid].category in p.categories else p.signals[sid].category,
                         "count": c, "share": w.num(c / n * 100, 1)}
                        for sid, c in sorted(self.signal_counts.items(), key=lambda kv: (-kv[1], kv[0]))],
            "playbooks": [{"title": text_in(p.playbooks[pid].title, w.lang), "count": c}
                          for pid, c in sorted(self.playbook_counts.items(),
                                               key=lambda kv: (-kv[1], p.playbooks[kv[0]].priority, kv[0]))],
            "owners": [{"owner": name, "accounts": o.accounts, "digest": digest_files.get(name, ""),
                        "levels": [o.levels.get(lvl, 0) for lvl in levels[:-1]],
                        "revenue_at_risk": w.money(o.at_risk.result()),
                        "expected_loss": w.money(o.expected.result())}
                       for name, o in sorted(self.owners.items())],
            "level_titles": [w.risk(lvl) for lvl in levels[:-1]],
            "top_accounts": self.top.items(),
            "lost": self.lost.items(),
            "more_lost": self._more("more_lost", self.lost.more),
            "kpis": kpi_rows(self.kpis, w.labels, w.num),
        }

    def _workload(self) -> Workload | None:
        """views.workload, from the weeks counted."""
        w = self.w
        capacity = self.project.capacity
        if not capacity or not self.work_from:
            return None
        start = date.fromisoformat(self.work_from)
        start -= timedelta(days=start.weekday())
        columns = [(start + timedelta(weeks=i)).isoformat() for i in range(6)]
        rows: list[WorkloadRow] = [{"role": w.role(role), "capacity": capacity[role],
                                    "weeks": [self.work[role].get(c, 0) for c in columns],
                                    "later": sum(n for k, n in self.work[role].items() if k > columns[-1]),
                                    "last": w.date(max(self.work[role])) if self.work[role] else "—"}
                                   for role in sorted(capacity)]
        return {"columns": [format_day_month(c, self.w.lang) for c in columns], "rows": rows}

    def _pareto(self) -> tuple[_Ranked, dict[str, tuple[int, int, int]], Any]:
        """report.data.pareto's points (read on demand), their class_spans, and the revenue
        of the key accounts as report.data.figures adds it (largest first)."""
        revenue = np.frombuffer(self.pareto_revenue, dtype=np.float64).copy() \
            if self.pareto_revenue else np.zeros(0)
        codes = np.frombuffer(bytes(self.pareto_codes), dtype=np.uint8)
        keys = revenue[(codes & _KEY) != 0]
        key_revenue = _sum_in_order(keys[np.argsort(-keys, kind="stable")])
        classes = codes & 3
        known = classes != 0
        revenue, classes = revenue[known], classes[known]
        # largest first; equal revenues in ABC order, as the portfolio pass gave them out
        # (by id, like report.data.pareto's sort)
        order = np.lexsort((classes, -revenue))
        revenue, classes = revenue[order], classes[order]
        total = _sum_in_order(revenue)
        cumulative = np.cumsum(revenue)  # one addition after another, like pareto's loop
        pcts = cumulative / total * 100 if total else np.zeros(len(revenue))
        spans = {}
        for code, cls in ((1, "A"), (2, "B"), (3, "C")):
            where = np.flatnonzero(classes == code)
            if len(where):
                spans[cls] = (int(where[0]), int(where[-1]) + 1, len(where))
        return _Ranked(pcts, classes), spans, key_revenue

    def report(self, as_of: str | None = None) -> dict[str, Any]:
        """The report's view (view.view) of figures(); `as_of` defaults to the first account's,
        as write_report's."""
        return report_view(self.project, self.figures(), self.lang, self.w.labels,
                           str(self.first_as_of or "") if as_of is None else as_of, self.outcomes)

    def figures(self) -> Figures:
        """data.figures, from what was added up (its lists capped as it caps them)."""
        ranked, spans, key_revenue = self._pareto()
        return Figures(
            accounts=self.n, revenue=self.revenue.result(), at_risk=self.revenue_at_risk.result(),
            totals={lv: (n, rev) for lv, (n, rev) in self.totals.items()},
            categories=[(c, self.category_revenue.get(c, 0.0), self.category_accounts.get(c, 0))
                        for c in self.project.categories],
            owners=sorted(((o, total, dict(self.owner_at_risk.get(o, {}))) for o, total in self.owner_revenue.items()),
                          key=owner_rank),
            keys=self.keys.items(), key_count=self.keys.seen, key_revenue=key_revenue,
            pareto=ranked, spans=spans, warnings=self.warnings.items(), warning_count=self.warnings.seen,
            biggest=self.biggest[1] if self.biggest is not None else None, unscored=self.unscored,
            placed=self.placed.items(),
            quadrants={q: (self.quadrant_accounts[q], self.quadrant_revenue[q].result()) for q in QUADRANTS},
            abc={c: (self.abc_accounts[c], self.abc_revenue[c].result()) for c in "ABC"},
            concentration=self.concentration.items(), retention=self._retention(), kpis=self.kpis)

    def _retention(self) -> list[RetentionMetric]:
        """report.data.retention, from the counts."""
        t = self.project.portfolio.targets
        scored = self.nps_scored
        nps = (self.promoters - self.detractors) / scored * 100 if scored else None
        before, now = self.revenue_before.result(), self.revenue_now.result()
        n, lost = self.n, self.lost_accounts
        return [
            RetentionMetric("portfolio_nps", nps, t["portfolio_nps"], count=scored, unit=""),
            RetentionMetric("key_qbr_coverage_pct", pct(self.qbr_covered, self.key_qbr), t["key_qbr_coverage_pct"],
                            count=self.key_qbr),
            RetentionMetric("retention_rate_pct", pct(n - lost, n), t["retention_rate_pct"], count=n),
            RetentionMetric("terminations_pct", pct(lost, n), t["terminations_pct"], at_most=True, count=n),
            RetentionMetric("revenue_growth_pct", pct(now - before, before), t["revenue_growth_pct"],
                            count=self.with_previous),
        ]
