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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from ..project.model import Portfolio, Project

Num = float | None
DECIMALS = 6  # computed values are rounded: float noise never decides a boundary


@dataclass(frozen=True)
class PortfolioColumns:
    """The pass's output, one list per field, aligned with the input rows."""

    revenue_share_pct: list[Num]
    abc: list[str | None]
    dependency: list[str]
    key_account: list[bool]
    criteria_score: list[Num]
    kaism_value: list[Num]
    kaism_attractiveness: list[Num]
    kaism: list[str | None]

    def row(self, i: int) -> dict[str, Any]:
        return {name: getattr(self, name)[i] for name in self.__dataclass_fields__}


_BLOCK = 1 << 16  # floats turned into Python integers at a time (bounded memory)


def _scale(values: np.ndarray) -> int:
    """k such that every value is an integer multiple of 2**-k (floats are binary fractions)."""
    if len(values) == 0:
        return 0
    _, exponent = np.frexp(values)  # values = mantissa * 2**exponent, 53-bit mantissa
    return max(0, 53 - int(exponent.min()))


def _integers(values: np.ndarray, k: int) -> list[int]:
    """values * 2**k, exactly, as Python integers."""
    mantissa, exponent = np.frexp(values)
    ints = (mantissa * 2.0 ** 53).astype(np.int64).tolist()  # exact: 53 bits
    shifts = (exponent.astype(np.int64) - 53 + k).tolist()
    return [m << e if e >= 0 else m >> -e for m, e in zip(ints, shifts)]  # >> drops zero bits only


def exact_sum(values: Iterable[float]) -> Fraction:
    """The exact sum of floats, as a fraction: whatever the order, the chunking or the
    machine that adds them, the same accounts give the same total - no last-bit noise
    deciding a boundary."""
    array = values if isinstance(values, np.ndarray) else np.fromiter(values, dtype=np.float64)
    k = _scale(array)
    return Fraction(sum(sum(_integers(array[i:i + _BLOCK], k)) for i in range(0, len(array), _BLOCK)), 1 << k)


def revenue_total(revenue: Iterable[Num] | np.ndarray) -> Fraction:
    """What shares and ABC divide by: the exact sum of the known, non-negative revenues."""
    if isinstance(revenue, np.ndarray):
        return exact_sum(revenue[revenue > 0])  # NaN (missing) compares false: left out
    return exact_sum(r for r in revenue if r is not None and r > 0)


def share_of(revenue: Num, given: Num, total: float) -> Num:
    """An account's % of the portfolio's revenue (`total` as a float); a given share wins."""
    if given is not None:
        return float(given)
    if revenue is None or total <= 0:
        return None
    return round(max(revenue, 0.0) / total * 100, DECIMALS)


def shares(revenue: Sequence[Num], given: Sequence[Num] | None = None) -> list[Num]:
    """Each account's % of the portfolio's revenue; a share given in the input wins."""
    total = float(revenue_total(revenue))
    return [share_of(r, given[i] if given is not None else None, total) for i, r in enumerate(revenue)]


class ByPosition(Protocol):
    """Account ids by position: a list, or engine/run/read.py's view of every chunk's ids."""

    def __getitem__(self, position: int) -> Any: ...


def abc_codes(revenue: Sequence[Num] | np.ndarray, a_pct: float, b_pct: float,
              ids: ByPosition | None = None) -> bytes:
    """ABC as one byte per account (b"A", b"B", b"C", b" " for none): see abc_classes."""
    rev = np.array([np.nan if r is None else float(r) for r in revenue], dtype=np.float64) \
        if not isinstance(revenue, np.ndarray) else revenue.astype(np.float64, copy=False)
    out = np.full(len(rev), ord(" "), dtype=np.uint8)
    known = np.flatnonzero(~np.isnan(rev))
    clipped = np.maximum(rev[known], 0.0)
    if not clipped.any():  # no revenue to share out: no classes
        return out.tobytes()
    # by revenue, largest first; ties in input order for now (a stable sort)
    ranked = np.argsort(-clipped, kind="stable")
    order, values = known[ranked], clipped[ranked]
    del known, clipped, ranked  # a million accounts: 8 MB each
    letters = letters_in_order(values, Fraction(0), abc_limits(a_pct, b_pct, exact_sum(values)))
    # equal revenues: the smaller id comes first (then input order). Letters by position are
    # right already; only a run of equal revenues that spans two letters is put in id order
    for cut in np.flatnonzero(letters[1:] != letters[:-1]) + 1:
        if values[cut - 1] == values[cut]:
            same = np.flatnonzero(values == values[cut])
            lo, hi = int(same[0]), int(same[-1]) + 1
            order[lo:hi] = sorted(order[lo:hi].tolist(), key=lambda i: (str(ids[i]) if ids is not None else "", i))
    out[order] = letters
    return out.tobytes()


def abc_limits(a_pct: float, b_pct: float, total: Fraction) -> tuple[Fraction, Fraction]:
    """The cumulative revenue below which an account is A, and B: a % and b % of the total."""
    return Fraction(str(a_pct)) * total / 100, Fraction(str(b_pct)) * total / 100


def letters_in_order(values: np.ndarray, before: Fraction, limits: tuple[Fraction, Fraction]) -> np.ndarray:
    """ABC letters (bytes) of accounts sorted by revenue, largest first, whose predecessors
    had `before` in revenue: A while the revenue before an account is below limits[0], B
    below limits[1], C after - compared exactly. A dataframe partition of a sorted portfolio
    passes the exact sum of the partitions before it."""
    k = _scale(values)
    letters = np.full(len(values), ord("C"), dtype=np.uint8)
    # before + s/2**k < limit  <=>  s < ceil((limit - before) * 2**k), s an integer partial sum
    ends = [_run_length(values, k, -((before - limit) * (1 << k) // 1)) for limit in limits]
    letters[:ends[0]] = ord("A")
    letters[ends[0]:max(ends)] = ord("B")
    return letters


def _run_length(values: np.ndarray, k: int, bound: int) -> int:
    """How many leading positions have (sum of the values before them) * 2**k < bound."""
    before = 0
    for i in range(0, len(values), _BLOCK):
        for j, v in enumerate(_integers(values[i:i + _BLOCK], k)):
            if before >= bound:
                return i + j
            before += v
    return len(values)


def abc_classes(revenue: Sequence[Num], a_pct: float, b_pct: float,
                ids: Sequence[Any] | None = None) -> list[str | None]:
    """Accounts sorted by revenue (ties by id, else input order): A while the cumulative share
    before the account is below a_pct, B below b_pct, C after. So the account that crosses
    80 % is still A (a single 90 % client is A), and the one starting at exactly 80 % is B.
    Cumulative shares are compared exactly (fractions), never through rounded floats.
    Missing revenue: no class."""
    return [None if c == " " else c for c in abc_codes(revenue, a_pct, b_pct, ids).decode("ascii")]


def dependency_of(share: Num, risky_pct: float, mono_pct: float) -> str:
    return "none" if share is None or share <= risky_pct else ("mono" if share > mono_pct else "risky")


def dependency_classes(share: Sequence[Num], risky_pct: float, mono_pct: float) -> list[str]:
    """'risky' above risky_pct, 'mono' above mono_pct (strict), 'none' otherwise or unknown."""
    return [dependency_of(s, risky_pct, mono_pct) for s in share]


def key_accounts(share: Sequence[Num], strategic: Sequence[Any] | None, key_pct: float) -> list[bool]:
    """Share above key_pct (strict), or flagged strategic by hand."""
    return [(s is not None and s > key_pct) or bool(strategic is not None and strategic[i])
            for i, s in enumerate(share)]


def weighted_of(scores: Sequence[Num], weights: Sequence[float], total_weight: float) -> Num:
    """sum(weight × score) / sum(weight) on the scores' 1-10 scale; missing when any is."""
    if not weights or any(v is None for v in scores):
        return None
    return round(sum(w * v for w, v in zip(weights, scores)) / total_weight, DECIMALS)  # type: ignore[operator,misc]


def weighted(scores: Mapping[str, Sequence[Num]], weights: Mapping[str, float], n: int) -> list[Num]:
    """sum(weight × score) / sum(weight) per row, on the scores' 1-10 scale. Missing when any
    weighted score is missing: a partial mean would rank an account by its best-known
    criteria, and a missing value is never a low one either."""
    if not weights:
        return [None] * n
    total_weight = sum(weights.values())
    columns = [scores.get(c) for c in weights]
    w = list(weights.values())
    return [weighted_of([col[i] if col is not None else None for col in columns], w, total_weight)
            for i in range(n)]


def quadrant_of(value: Num, attractiveness: Num, value_cut: float, attractiveness_cut: float) -> str | None:
    if value is None or attractiveness is None:
        return None
    if value >= value_cut:
        return "key" if attractiveness >= attractiveness_cut else "prospective"
    return "maintaining" if attractiveness >= attractiveness_cut else "low_priority"


def quadrants(value: Sequence[Num], attractiveness: Sequence[Num], value_cut: float,
              attractiveness_cut: float) -> list[str | None]:
    """KAISM quadrant: high value and high attractiveness = key; valuable but we are weak
    there = prospective; we are attractive but they are small = maintaining; else low_priority."""
    return [quadrant_of(v, a, value_cut, attractiveness_cut) for v, a in zip(value, attractiveness)]


def measure_columns(config: Portfolio, revenue: Sequence[Num], share: Sequence[Num] | None = None,
                    strategic: Sequence[Any] | None = None,
                    scores: Mapping[str, Sequence[Num]] | None = None,
                    ids: Sequence[Any] | None = None) -> PortfolioColumns:
    """The whole pass over columns. `scores` maps criterion id -> its 1-10 column."""
    n = len(revenue)
    scores = scores or {}
    share_out = shares(revenue, share)
    value = weighted(scores, config.value.weights, n)
    attractiveness = weighted(scores, config.attractiveness.weights, n)
    return PortfolioColumns(
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


class RowPass:
    """The per-account rest of the pass, once the whole portfolio gave its two results
    (the total revenue and each account's ABC class): what a worker runs over its chunk,
    with the same helpers as measure_columns."""

    def __init__(self, config: Portfolio):
        scored = config.scored()

        def axis(weights: Mapping[str, float]) -> tuple[list[str | None], list[float], float]:
            return ([scored[c].column if c in scored else None for c in weights], list(weights.values()),
                    sum(weights.values()))
        self.criteria = axis({c.id: c.weight for c in config.criteria})
        self.value = axis(config.value.weights)
        self.attractiveness = axis(config.attractiveness.weights)
        self.risky, self.mono = config.boundary("dependency_risky_pct"), config.boundary("dependency_mono_pct")
        self.cuts = (config.value.cutoff, config.attractiveness.cutoff)

    def apply(self, values: dict[str, Any], total: float, abc: str | None) -> None:
        """Write the pass's values (WRITTEN) into an account's values, in place."""
        get = values.get
        share = share_of(get("revenue_current"), get("revenue_share_pct"), total)

        def score(axis: tuple[list[str | None], list[float], float]) -> Num:
            columns, weights, total_weight = axis
            return weighted_of([get(c) if c is not None else None for c in columns], weights, total_weight)
        value, attractiveness = score(self.value), score(self.attractiveness)
        values["revenue_share_pct"] = share
        values["abc"] = abc
        values["dependency"] = dependency_of(share, self.risky, self.mono)
        values["criteria_score"] = score(self.criteria)
        values["kaism_value"] = value
        values["kaism_attractiveness"] = attractiveness
        values["kaism"] = quadrant_of(value, attractiveness, *self.cuts)


def measure(project: Project, accounts: list[dict[str, Any]]) -> PortfolioColumns:
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
