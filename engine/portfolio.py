"""The whole-portfolio pass, before the rules (source 004): revenue share, ABC class,
dependency, key account, the weighted criteria score and the KAISM quadrant.

Written as functions over plain columns (lists of the few fields it needs), so the same
code can run over chunks or dataframe columns of a large portfolio; `measure` is the thin
per-account wrapper the run uses. Its results become ordinary metric values
(revenue_share_pct, abc, dependency, criteria_score, kaism_value, kaism_attractiveness, kaism)
that rules read like any other metric.

Boundaries follow the source's wording: "more than" is strict (a 10 % share is not a key
account, 20 % is not risky, 50 % is not mono); a KAISM axis score at its cut-off is high.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from .model import Portfolio, Project

Num = Optional[float]
DECIMALS = 6  # computed values are rounded: float noise never decides a boundary


@dataclass(frozen=True)
class Columns:
    """The pass's output, one list per field, aligned with the input rows."""

    revenue_share_pct: list[Num]
    abc: list[Optional[str]]
    dependency: list[str]
    key_account: list[bool]
    criteria_score: list[Num]
    kaism_value: list[Num]
    kaism_attractiveness: list[Num]
    kaism: list[Optional[str]]

    def row(self, i: int) -> dict[str, Any]:
        return {name: getattr(self, name)[i] for name in self.__dataclass_fields__}


def shares(revenue: Sequence[Num], given: Sequence[Num] | None = None) -> list[Num]:
    """Each account's % of the portfolio's revenue; a share given in the input wins."""
    total = sum(r for r in revenue if r is not None and r > 0)
    out: list[Num] = []
    for i, r in enumerate(revenue):
        g = given[i] if given is not None else None
        if g is not None:
            out.append(float(g))
        elif r is None or total <= 0:
            out.append(None)
        else:
            out.append(round(max(r, 0.0) / total * 100, DECIMALS))
    return out


def abc_classes(revenue: Sequence[Num], a_pct: float, b_pct: float,
                ids: Sequence[Any] | None = None) -> list[Optional[str]]:
    """Accounts sorted by revenue (ties by id, else input order): A while the cumulative share
    before the account is below a_pct, B below b_pct, C after. So the account that crosses
    80 % is still A (a single 90 % client is A), and the one starting at exactly 80 % is B.
    Missing revenue: no class."""
    known = [i for i, r in enumerate(revenue) if r is not None]
    total = sum(max(revenue[i], 0.0) for i in known)  # type: ignore[arg-type]
    out: list[Optional[str]] = [None] * len(revenue)
    if total <= 0:
        return out
    tie = (lambda i: (str(ids[i]), i)) if ids is not None else (lambda i: ("", i))
    cumulative = 0.0
    for i in sorted(known, key=lambda i: (-revenue[i], tie(i))):  # type: ignore[operator]
        before = round(cumulative / total * 100, DECIMALS)
        out[i] = "A" if before < a_pct else ("B" if before < b_pct else "C")
        cumulative += max(revenue[i], 0.0)  # type: ignore[arg-type]
    return out


def dependency_classes(share: Sequence[Num], risky_pct: float, mono_pct: float) -> list[str]:
    """'risky' above risky_pct, 'mono' above mono_pct (strict), 'none' otherwise or unknown."""
    return ["none" if s is None or s <= risky_pct else ("mono" if s > mono_pct else "risky")
            for s in share]


def key_accounts(share: Sequence[Num], strategic: Sequence[Any] | None, key_pct: float) -> list[bool]:
    """Share above key_pct (strict), or flagged strategic by hand."""
    return [(s is not None and s > key_pct) or bool(strategic is not None and strategic[i])
            for i, s in enumerate(share)]


def weighted(scores: Mapping[str, Sequence[Num]], weights: Mapping[str, float], n: int) -> list[Num]:
    """sum(weight × score) / sum(weight) per row, on the scores' 1-10 scale. Missing when any
    weighted score is missing: a partial mean would rank an account by its best-known
    criteria, and a missing value is never a low one either."""
    if not weights:
        return [None] * n
    total_weight = sum(weights.values())
    columns = [(w, scores.get(c)) for c, w in weights.items()]
    out: list[Num] = []
    for i in range(n):
        row = [(w, col[i] if col is not None else None) for w, col in columns]
        if any(v is None for _, v in row):
            out.append(None)
        else:
            out.append(round(sum(w * v for w, v in row) / total_weight, DECIMALS))  # type: ignore[operator]
    return out


def quadrants(value: Sequence[Num], attractiveness: Sequence[Num], value_cut: float,
              attractiveness_cut: float) -> list[Optional[str]]:
    """KAISM quadrant: high value and high attractiveness = key; valuable but we are weak
    there = prospective; we are attractive but they are small = maintaining; else low_priority."""
    out: list[Optional[str]] = []
    for v, a in zip(value, attractiveness):
        if v is None or a is None:
            out.append(None)
        elif v >= value_cut:
            out.append("key" if a >= attractiveness_cut else "prospective")
        else:
            out.append("maintaining" if a >= attractiveness_cut else "low_priority")
    return out


def measure_columns(config: Portfolio, revenue: Sequence[Num], share: Sequence[Num] | None = None,
                    strategic: Sequence[Any] | None = None,
                    scores: Mapping[str, Sequence[Num]] | None = None,
                    ids: Sequence[Any] | None = None) -> Columns:
    """The whole pass over columns. `scores` maps criterion id -> its 1-10 column."""
    n = len(revenue)
    scores = scores or {}
    share_out = shares(revenue, share)
    value = weighted(scores, config.value.weights, n)
    attractiveness = weighted(scores, config.attractiveness.weights, n)
    return Columns(
        revenue_share_pct=share_out,
        abc=abc_classes(revenue, config.boundary("abc_a_pct"), config.boundary("abc_b_pct"), ids),
        dependency=dependency_classes(share_out, config.boundary("dependency_risky_pct"),
                                      config.boundary("dependency_mono_pct")),
        key_account=key_accounts(share_out, strategic, config.boundary("key_account_share_pct")),
        criteria_score=weighted(scores, {c.id: c.weight for c in config.criteria}, n),
        kaism_value=value,
        kaism_attractiveness=attractiveness,
        kaism=quadrants(value, attractiveness, config.value.cutoff, config.attractiveness.cutoff),
    )


# the values the pass writes into each account (key_account is the rules' decision)
WRITTEN = ("revenue_share_pct", "abc", "dependency", "criteria_score", "kaism_value",
           "kaism_attractiveness", "kaism")


def measure(project: Project, accounts: list[dict[str, Any]]) -> Columns:
    """Run the pass over account records and write its values into them, in place."""
    config = project.portfolio
    scores = {cid: [a.get(c.column) for a in accounts] for cid, c in config.scored().items()}
    cols = measure_columns(config, [a.get("revenue_current") for a in accounts],
                           [a.get("revenue_share_pct") for a in accounts],
                           [a.get("strategic") for a in accounts], scores,
                           [a.get("account_id") for a in accounts])
    for name in WRITTEN:
        for a, v in zip(accounts, getattr(cols, name)):
            a[name] = v
    return cols
