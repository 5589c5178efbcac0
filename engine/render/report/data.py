"""The numbers of the portfolio report, from the results of a run (plus a few input values):
risk by count and revenue, revenue at risk by category and manager, the Pareto curve, the
KAISM points and the retention metrics of domain.md §6 the data allows. Plain functions over
a list of small records, so they can be fed from results.jsonl as well as from memory;
`figures` gathers them for the view (render/aggregate.py adds the same up for a run)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ...project.model import NO_RISK, QUADRANTS, Portfolio, Project
from ...result import Result

if TYPE_CHECKING:  # views/ imports this module: the type only, no import at run time
    from ..views.context import KpiRow

Num = float | None

MAX_ROWS = 100  # key accounts the report lists, largest first
MAX_WARNINGS = 300  # dependency warnings it lists, largest share first; the page says how many more


class Account(NamedTuple):  # a tuple: cheap to build for every account of a large run
    id: str
    name: str
    owner: str | None
    status: str | None
    risk: str
    categories: frozenset[str]
    key: bool
    dependency: str
    abc: str | None
    kaism: str | None
    criteria_score: Num
    revenue: float  # 0 when missing: sums only
    share: Num
    value: Num
    attractiveness: Num
    nps: Num
    days_since_qbr: Num
    revenue_previous: Num
    # the account manager's KPIs (source 003): this period's orders, repeat orders and deals
    orders: Num = None
    repeat_orders: Num = None
    deals: Num = None

    @property
    def at_risk(self) -> bool:
        return self.risk != NO_RISK


def accounts(results: Iterable[Result]) -> list[Account]:
    """One record per result (a line of results.jsonl), in result order."""
    return [Account(
        str(r.get("account_id")), str(r.get("name") or r.get("account_id")), r.get("owner"),
        r.get("status"), r.get("risk_level") or NO_RISK,
        frozenset(s["category"] for s in r.get("signals", ())), bool(r.get("key_account")),
        r.get("dependency") or "none", r.get("abc"), r.get("kaism"), r.get("criteria_score"),
        float(r.get("revenue_current") or 0.0), r.get("revenue_share_pct"), r.get("kaism_value"),
        r.get("kaism_attractiveness"), r.get("nps"), r.get("days_since_qbr"), r.get("revenue_previous"),
        r.get("orders_current"), r.get("repeat_orders_current"), r.get("deals_current"))
        for r in results]


class Kpis:
    """One manager's key indicators (source 003 "Внедрите систему оценки клиентских менеджеров"):
    active clients, the share of repeat orders, deals per client and the churn rate. Whole
    numbers only, so a total is the same however a run was chunked."""

    __slots__ = ("accounts", "active", "deals", "lost", "orders", "repeat", "with_deals")

    def __init__(self) -> None:
        self.accounts = self.active = self.lost = self.orders = self.repeat = self.deals = self.with_deals = 0

    def add(self, status: str | None, orders: Num, repeat: Num, deals: Num) -> None:
        self.accounts += 1
        if status == "lost":
            self.lost += 1
            return
        self.active += 1
        if orders is not None and repeat is not None and orders > 0:
            self.orders += int(orders)
            self.repeat += int(min(repeat, orders))
        if deals is not None:
            self.deals += int(deals)
            self.with_deals += 1

    def merge(self, other: Kpis) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def manager_kpis(rows: Sequence[Account], unassigned: str) -> dict[str, Kpis]:
    """Manager (the unassigned label for none) -> their KPIs, over every account of the run."""
    out: dict[str, Kpis] = {}
    for a in rows:
        k = out.get(a.owner or unassigned)
        if k is None:
            k = out[a.owner or unassigned] = Kpis()
        k.add(a.status, a.orders, a.repeat_orders, a.deals)
    return out


def kpi_rows(by_owner: Mapping[str, Kpis], labels: Mapping[str, Any], num: Any) -> list[KpiRow]:
    """The KPI table: one row per manager by name, then the whole portfolio. `num(value,
    decimals)` writes a number in the reader's language; '—' where the data has nothing."""
    def row(name: str, k: Kpis, total: bool) -> KpiRow:
        return {"owner": name, "total": total, "accounts": k.accounts, "active": k.active,
                "repeat_share": num(pct(k.repeat, k.orders), 0) if k.orders else "—",
                "deals_per_client": num(k.deals / k.with_deals, 1) if k.with_deals else "—",
                "churn": num(pct(k.lost, k.accounts), 1) if k.accounts else "—"}
    rows = [row(name, by_owner[name], False) for name in sorted(by_owner)]
    if len(by_owner) > 1:
        whole = Kpis()
        for name in sorted(by_owner):
            whole.merge(by_owner[name])
        rows.append(row(labels["kpi_all"], whole, True))
    return rows


def pct(part: float, whole: float) -> Num:
    return None if not whole else part / whole * 100


def risk_totals(rows: Sequence[Account], levels: Sequence[str]) -> dict[str, tuple[int, float]]:
    """level -> (accounts, revenue), for `levels` in order (lowest first, 'none' included)."""
    out = {lv: (0, 0.0) for lv in levels}
    for a in rows:
        n, rev = out.get(a.risk, (0, 0.0))
        out[a.risk] = (n + 1, rev + a.revenue)
    return out


def at_risk_by_category(rows: Sequence[Account], categories: Sequence[str]) -> list[tuple[str, float, int]]:
    """(category, revenue of accounts with a signal of it, accounts); an account with signals
    of two categories counts in both."""
    rev: dict[str, float] = defaultdict(float)
    n: dict[str, int] = defaultdict(int)
    for a in rows:
        for c in a.categories:
            rev[c] += a.revenue
            n[c] += 1
    return [(c, rev[c], n[c]) for c in categories]


def at_risk_by_owner(rows: Sequence[Account]) -> list[tuple[str | None, float, dict[str, float]]]:
    """(manager, revenue of all their accounts, risk level -> revenue at that level), most
    revenue at risk first."""
    total: dict[str | None, float] = defaultdict(float)
    risky: dict[str | None, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for a in rows:
        total[a.owner] += a.revenue
        if a.at_risk:
            risky[a.owner][a.risk] += a.revenue
    return sorted(((o, total[o], dict(risky[o])) for o in total), key=owner_rank)


def owner_rank(row: tuple[str | None, float, Mapping[str, float]]) -> tuple[float, float, str]:
    """at_risk_by_owner's order: the most revenue at risk, then the most revenue, then by name."""
    return -sum(row[2].values()), -row[1], row[0] or ""


def pareto(rows: Sequence[Account]) -> list[tuple[float, str]]:
    """(cumulative % of revenue after the account, its ABC class), largest first; accounts
    without a class (no revenue) are left out."""
    ranked = sorted((a for a in rows if a.abc is not None), key=lambda a: (-a.revenue, a.id))
    total = sum(a.revenue for a in ranked)
    out, cumulative = [], 0.0
    for a in ranked:
        cumulative += a.revenue
        out.append((cumulative / total * 100 if total else 0.0, a.abc or "C"))
    return out


@dataclass(frozen=True)
class RetentionMetric:
    """A retention metric against its target (domain.md §6)."""

    id: str
    value: Num
    target: float
    at_most: bool = False  # the target is a ceiling
    count: int = 0  # accounts the value is computed over
    unit: str = "%"

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.target if self.at_most else self.value >= self.target


def retention(rows: Sequence[Account], portfolio: Portfolio) -> list[RetentionMetric]:
    t = portfolio.targets
    scored = [a.nps for a in rows if a.nps is not None]
    promoters = sum(1 for s in scored if s >= 9)
    detractors = sum(1 for s in scored if s <= 6)
    nps = (promoters - detractors) / len(scored) * 100 if scored else None
    keys = [a for a in rows if a.key and a.status != "lost" and a.days_since_qbr is not None]
    covered = sum(1 for a in keys if a.days_since_qbr <= portfolio.qbr_window_days)  # type: ignore[operator,misc]
    lost = sum(1 for a in rows if a.status == "lost")
    both = [a for a in rows if a.revenue_previous is not None]
    before = sum(a.revenue_previous for a in both)  # type: ignore[misc]
    now = sum(a.revenue for a in both)
    return [
        RetentionMetric("portfolio_nps", nps, t["portfolio_nps"], count=len(scored), unit=""),
        RetentionMetric("key_qbr_coverage_pct", pct(covered, len(keys)), t["key_qbr_coverage_pct"], count=len(keys)),
        RetentionMetric("retention_rate_pct", pct(len(rows) - lost, len(rows)), t["retention_rate_pct"],
                        count=len(rows)),
        RetentionMetric("terminations_pct", pct(lost, len(rows)), t["terminations_pct"], at_most=True,
                        count=len(rows)),
        RetentionMetric("revenue_growth_pct", pct(now - before, before), t["revenue_growth_pct"], count=len(both)),
    ]


class Figures(NamedTuple):
    """The portfolio report's numbers, before words and formats (view.py writes them): from
    the list of every account's record (`figures`), or added up account by account for a run
    (render/aggregate.py). The lists hold what the page lists or may draw; the counts say how
    many there are in all."""

    accounts: int
    revenue: float  # of every account (builtin sum(): 0 when there are none)
    at_risk: float  # of the accounts at a risk level
    totals: Mapping[str, tuple[int, float]]  # risk_totals
    categories: Sequence[tuple[str, float, int]]  # at_risk_by_category, in the project's order
    owners: Sequence[tuple[str | None, float, Mapping[str, float]]]  # at_risk_by_owner
    keys: Sequence[Account]  # key accounts, largest first, at most MAX_ROWS
    key_count: int
    key_revenue: float  # of every key account, added largest first
    pareto: Sequence[tuple[float, str]]  # pareto's points
    spans: Mapping[str, tuple[int, int, int]] | None  # charts.class_spans of the points; None: not worked out
    warnings: Sequence[Account]  # accounts with a dependency, largest share first, capped
    warning_count: int
    biggest: Account | None  # the largest share (the first of equals by id)
    unscored: int  # accounts off the KAISM matrix (a score missing)
    placed: Sequence[Account]  # those the KAISM matrix may draw: it draws the largest scored ones
    quadrants: Mapping[str, tuple[int, float]]  # KAISM quadrant -> (accounts, revenue)
    abc: Mapping[str, tuple[int, float]]  # ABC class -> (accounts, revenue)
    concentration: Sequence[Account]  # those the concentration chart may draw: the largest shares
    retention: Sequence[RetentionMetric]
    kpis: Mapping[str, Kpis]  # manager_kpis


def figures(project: Project, rows: Sequence[Account], unassigned: str) -> Figures:
    """The report's numbers from every account's record, in result order; `unassigned`: the
    label of the accounts without a manager."""
    keys = sorted((a for a in rows if a.key), key=lambda a: (-a.revenue, a.id))
    warnings = sorted((a for a in rows if a.dependency != "none"), key=lambda a: (-(a.share or 0), a.id))
    return Figures(
        accounts=len(rows), revenue=sum(a.revenue for a in rows), at_risk=sum(a.revenue for a in rows if a.at_risk),
        totals=risk_totals(rows, [NO_RISK] + [r.id for r in project.risk_levels]),
        categories=at_risk_by_category(rows, list(project.categories)), owners=at_risk_by_owner(rows),
        keys=keys[:MAX_ROWS], key_count=len(keys), key_revenue=sum(a.revenue for a in keys),
        pareto=pareto(rows), spans=None, warnings=warnings[:MAX_WARNINGS], warning_count=len(warnings),
        biggest=max(rows, key=lambda a: (a.share or 0, a.id), default=None),
        unscored=sum(1 for a in rows if a.value is None or a.attractiveness is None), placed=rows,
        quadrants={q: (sum(1 for a in rows if a.kaism == q), sum(a.revenue for a in rows if a.kaism == q))
                   for q in QUADRANTS},
        abc={c: (sum(1 for a in rows if a.abc == c), sum(a.revenue for a in rows if a.abc == c)) for c in "ABC"},
        concentration=rows, retention=retention(rows, project.portfolio), kpis=manager_kpis(rows, unassigned))
