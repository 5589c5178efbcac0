"""Backtest (`kam backtest`): replay the rules on a history of account snapshots and measure,
against the accounts that were really lost, how well each signal and risk level warned.

Definitions (also in docs/changing-rules.md):
- every snapshot date is evaluated as its own portfolio, with as_of = that date; snapshots on
  or after an account's loss are not evaluated for it (there is nothing left to predict);
- recall = lost accounts for which the target fired at some snapshot before the loss / lost
  accounts that have a snapshot before their loss;
- a firing at date d is *confirmed* when the account was lost within the horizon after it
  (d < lost_date <= d + horizon); it is *judged* when confirmed or when d + horizon is not
  after the end of observation (the later of the last snapshot and the last loss); firings
  too recent to judge are left out of precision;
- precision = accounts with a confirmed firing / accounts with a judged firing;
- base rate = the precision of warning about every account at every snapshot it is
  evaluated at: accounts with a snapshot followed by the loss within the horizon / accounts
  with a judged snapshot (same rules as for firings). It is per account, as precision is:
  a per-snapshot rate (the share of judged (account, date) pairs followed by the loss) is
  much lower once accounts have several snapshots each, and a target that fires for nearly
  every account would look better than chance against it;
- lift = precision / base rate: how many times more often an account the target flagged is
  lost than an account picked at random. Its 95 % interval is the Wilson score interval of
  the precision divided by the base rate. The base rate's own sampling error is ignored: it
  is measured on all the judged accounts, the flagged ones among them, so it is much steadier
  than a precision, and the two are not independent samples (which a Katz log-ratio interval
  would assume). A target whose precision is at or below the base rate (lift <= 1) warns no
  better than chance;
- lead time = days from the first firing before the loss to the loss, median over the
  lost accounts the target caught;
- a risk level target `risk.medium` means "medium or higher".
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from ..hints import did_you_mean
from ..io.dates import parse_date
from ..io.readers import read_table
from ..io.records import normalize
from ..io.totals import keyword
from ..project import expr
from ..project.cells import LOST_DATE, SNAPSHOT_DATE
from ..project.date_range import in_range
from ..project.model import Project
from ..rules.evaluate import Evaluator
from ..run.accounts import read_input
from ..run.portfolio import measure

MAX_SWEEP = 100
Z95 = 1.959963984540054  # the standard normal's 97.5th percentile: two-sided 95 %


@dataclass
class History:
    source: str
    snapshots: dict[date, list[dict[str, Any]]]  # typed values, per snapshot date
    losses: dict[str, date]  # account_id -> lost_date, for accounts seen in the history
    records: int = 0
    rejected: list[str] = field(default_factory=list)  # "file row N: reason"
    unknown_losses: int = 0  # lost accounts that never appear in the history

    @property
    def accounts(self) -> set[str]:
        return {v["account_id"] for vs in self.snapshots.values() for v in vs}

    @property
    def end(self) -> date:
        return max([max(self.snapshots)] + list(self.losses.values()))


def read_history(project: Project, path: Path, losses_path: Path) -> History:
    """Snapshots (the account columns plus snapshot_date) and losses (account_id,lost_date).
    The history is read as `kam evaluate` reads its input (engine/run/accounts.py read_input:
    titles above the header, percent cells, the project's columns), and its totals rows are
    rejected by their words, not evaluated as accounts."""
    table = read_input(project, Path(path), also=(SNAPSHOT_DATE,))
    if SNAPSHOT_DATE not in table.columns:
        raise KamError(Problem(table.source, 1, 1, f"no '{SNAPSHOT_DATE}' column: a history has one "
                                                   "row per account and snapshot date"))
    snapshots: dict[date, list[dict[str, Any]]] = defaultdict(list)
    seen: set[tuple[date, str]] = set()
    records, rejected = 0, []
    for rec in table.records:
        records += 1
        where = f"{rec.source} row {rec.row}"
        words = keyword(rec.cells)
        if words is not None:
            rejected.append(f"{where}: {words}")
            continue
        try:
            when = in_range(parse_date(rec.cells.get(SNAPSHOT_DATE)))
        except ValueError as exc:
            rejected.append(f"{where}: {SNAPSHOT_DATE}: {exc}")
            continue
        if rec.problem:
            rejected.append(f"{where}: {rec.problem}")
            continue
        values, errors = normalize(project, rec.cells, table.decimal_comma)
        if errors:
            reasons = [f"{e.field}: {e.reason}" for e in errors]
            rejected.append(f"{where}: {'; '.join(reasons)}")
            continue
        key = (when, values["account_id"])
        if key in seen:
            rejected.append(f"{where}: account '{key[1]}' appears twice in snapshot {when}")
            continue
        seen.add(key)
        snapshots[when].append(values)
    if not snapshots:
        raise KamError(Problem(table.source, 0, 0, "no usable snapshot in the history"
                                                   + (f" (first problem: {rejected[0]})" if rejected else "")))
    losses = read_losses(losses_path, project.columns)
    accounts = {aid for _, aid in seen}
    history = History(table.source, dict(sorted(snapshots.items())),
                      {a: d for a, d in sorted(losses.items()) if a in accounts}, records, rejected)
    history.unknown_losses = len(set(losses) - accounts)
    return history


def read_losses(path: Path, columns: Mapping[str, str] | None = None) -> dict[str, date]:
    """account_id -> lost_date; `columns`: kam.yaml's mapping, as for the history."""
    table = read_table(Path(path), columns)
    for col in ("account_id", LOST_DATE):
        if col not in table.columns:
            raise KamError(Problem(table.source, 1, 1, f"no '{col}' column: expected account_id,{LOST_DATE}"))
    losses: dict[str, date] = {}
    problems: list[Problem] = []
    id_col, date_col = (table.columns.index(c) + 1 for c in ("account_id", LOST_DATE))
    for rec in table.records:
        if rec.problem:
            problems.append(Problem(table.source, rec.row, 1, rec.problem))
            continue
        aid = str(rec.cells.get("account_id", "")).strip()
        try:
            when = in_range(parse_date(rec.cells.get(LOST_DATE)))
        except ValueError as exc:
            problems.append(Problem(table.source, rec.row, date_col, f"{LOST_DATE}: {exc}"))
            continue
        if not aid:
            problems.append(Problem(table.source, rec.row, id_col, "account_id: required value is missing"))
        elif aid in losses:
            problems.append(Problem(table.source, rec.row, id_col, f"account '{aid}' is lost twice"))
        else:
            losses[aid] = when
    if problems:
        raise KamError(problems)
    return losses


# -- replay and measure -------------------------------------------------------------------

def replay(project: Project, history: History) -> dict[str, dict[str, list[date]]]:
    """target ('signal.x', 'risk.y') -> account -> snapshot dates it fired (before any loss).
    One compiled ruleset for the whole history."""
    fired: dict[str, dict[str, list[date]]] = defaultdict(lambda: defaultdict(list))
    levels = [r.id for r in project.risk_levels]
    evaluator = Evaluator(project, min(history.snapshots), project.language)
    try:
        for when, accounts in history.snapshots.items():
            values = [dict(v) for v in accounts]
            measure(project, values)  # each snapshot is the portfolio as it was that day
            evaluator.as_of = when  # only due dates read it; the compiled rules stay
            for v in values:
                lost = history.losses.get(v["account_id"])
                if lost is not None and when >= lost:
                    continue
                result = evaluator.evaluate(v)
                for s in result["signals"]:
                    fired[f"signal.{s['id']}"][v["account_id"]].append(when)
                rank = project.risk_rank(result["risk_level"])
                for level in levels[:rank]:
                    fired[f"risk.{level}"][v["account_id"]].append(when)
    finally:
        evaluator.close()
    return fired


def evaluated(history: History) -> dict[str, list[date]]:
    """account -> the snapshot dates it is evaluated at (those before its loss): where a target
    that warned about every account every time would fire."""
    dates: dict[str, list[date]] = defaultdict(list)
    for when, accounts in history.snapshots.items():
        for v in accounts:
            lost = history.losses.get(v["account_id"])
            if lost is None or when < lost:
                dates[v["account_id"]].append(when)
    return dates


def judge(firings: dict[str, list[date]], history: History, horizon: int) -> tuple[int, int]:
    """(accounts with a confirmed firing, accounts with a judged firing)."""
    window = timedelta(days=horizon)
    confirmed = judged = 0
    for a, dates in firings.items():
        loss = history.losses.get(a)
        ok = loss is not None and any(d < loss <= d + window for d in dates)
        confirmed += ok
        judged += ok or any(d + window <= history.end for d in dates)
    return confirmed, judged


def base_rate(history: History, horizon: int) -> tuple[int, int]:
    """(confirmed, judged) of warning about every account at every evaluated snapshot."""
    return judge(evaluated(history), history, horizon)


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of k successes in n > 0 trials: unlike p ± z·se it stays in
    [0, 1] and keeps a width at k = 0 and k = n, where signals with few firings often sit."""
    p, zz = k / n, z * z / n
    centre = (p + zz / 2) / (1 + zz)
    half = z * math.sqrt(p * (1 - p) / n + zz / (4 * n)) / (1 + zz)
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def lift(confirmed: int, judged: int, base: tuple[int, int]) -> dict[str, float | None]:
    """base_rate, lift = precision / base rate and its 95 % interval (None when either rate is
    undefined or the base rate is 0)."""
    rate = base[0] / base[1] if base[1] else None
    out: dict[str, float | None] = {"base_rate": None if rate is None else round(rate, 4),
                                    "lift": None, "lift_low": None, "lift_high": None}
    if judged and rate:
        low, high = wilson(confirmed, judged)
        out.update(lift=round(confirmed / judged / rate, 4), lift_low=round(low / rate, 4),
                   lift_high=round(high / rate, 4))
    return out


def no_better_than_chance(row: dict[str, Any], history: dict[str, Any]) -> bool:
    """Precision at or below the base rate, compared on the counts (rounding could tip a tie)."""
    return row["lift"] is not None and \
        row["confirmed"] * history["base_judged"] <= history["base_confirmed"] * row["judged"]


def score(firings: dict[str, list[date]], history: History, horizon: int,
          base: tuple[int, int]) -> dict[str, Any]:
    """Recall, precision, lift against `base` (from base_rate), median lead time and counts
    for one target."""
    first_seen: dict[str, date] = {}
    for when, accounts in history.snapshots.items():
        for v in accounts:
            first_seen.setdefault(v["account_id"], when)
    lost = {a: d for a, d in history.losses.items() if first_seen.get(a, d) < d}
    caught = {a: d for a, d in lost.items() if firings.get(a)}
    leads = [(d - min(firings[a])).days for a, d in caught.items()]
    lead = statistics.median(leads) if leads else None
    lead = int(lead) if lead is not None and lead == int(lead) else lead
    confirmed, judged = judge(firings, history, horizon)
    return {"recall": round(len(caught) / len(lost), 4) if lost else None,
            "precision": round(confirmed / judged, 4) if judged else None,
            **lift(confirmed, judged, base),
            "median_lead_days": lead,
            "flagged": len(firings), "judged": judged, "confirmed": confirmed,
            "lost_caught": len(caught), "lost": len(lost)}


def targets(project: Project) -> list[str]:
    return [f"signal.{s}" for s in project.signals] + [f"risk.{r.id}" for r in project.risk_levels]


def backtest(project: Project, history: History, horizon: int = 180) -> dict[str, Any]:
    fired = replay(project, history)
    base = base_rate(history, horizon)
    rows = [{"target": t, **score(fired.get(t, {}), history, horizon, base)} for t in targets(project)]
    return {"history": summary(history, horizon, base), "targets": rows}


def summary(history: History, horizon: int, base: tuple[int, int]) -> dict[str, Any]:
    dates = list(history.snapshots)
    return {"source": history.source, "accounts": len(history.accounts), "snapshots": len(dates),
            "first": dates[0].isoformat(), "last": dates[-1].isoformat(), "records": history.records,
            "rejected": len(history.rejected), "lost": len(history.losses),
            "lost_not_in_history": history.unknown_losses,
            "base_rate": round(base[0] / base[1], 4) if base[1] else None,
            "base_confirmed": base[0], "base_judged": base[1],
            "horizon_days": horizon, "observed_until": history.end.isoformat()}


# -- threshold sweep ----------------------------------------------------------------------

class SweepError(ValueError):
    """A --sweep that cannot be run (a usage error)."""


def parse_sweep(spec: str, project: Project) -> tuple[str, list[float]]:
    """'thresholds.purchase_drop_pct=5:30:5' (or without 'thresholds.') -> (id, [5, 10, ..., 30])."""
    name, eq, rng = spec.partition("=")
    name = name.strip()
    tid = name.split(".", 1)[1] if name.startswith("thresholds.") else name
    if not eq:
        raise SweepError(f"expected NAME=START:STOP:STEP, got {spec!r}")
    if tid not in project.thresholds:
        compared = sorted({r.parts[1] for rule in project.rules if any(
            x.parts == (tid,) for x in expr.refs(rule.when))
            for r in expr.refs(rule.when) if r.parts[0] == "thresholds" and len(r.parts) == 2})
        if tid in project.metrics and compared:
            raise SweepError(f"'{tid}' is a metric; sweep the threshold it is compared with: "
                             + ", ".join(f"thresholds.{c}" for c in compared))
        raise SweepError(f"unknown threshold '{tid}'" + did_you_mean(tid, project.thresholds))
    try:
        start, stop, step = (Decimal(x.strip()) for x in rng.split(":"))
    except (ValueError, InvalidOperation):
        raise SweepError(f"expected START:STOP:STEP numbers, got {rng!r}") from None
    if step <= 0 or stop < start:
        raise SweepError("expected START <= STOP and STEP > 0")
    if (stop - start) / step >= MAX_SWEEP:
        raise SweepError(f"at most {MAX_SWEEP} values")
    values, v = [], start
    while v <= stop:  # decimals: 0.1 steps land exactly on STOP
        values.append(int(v) if v == v.to_integral_value() else float(v))
        v += step
    return tid, values


def default_target(project: Project, tid: str) -> str:
    """The signal the rules reading this threshold assert, when there is exactly one;
    else the lowest risk level (any risk at all)."""
    signals = sorted({i for r in project.rules for k, i in r.asserts if k == "signal"
                      and any(x.parts == ("thresholds", tid) for x in expr.refs(r.when))})
    if len(signals) == 1:
        return f"signal.{signals[0]}"
    return f"risk.{project.risk_levels[0].id}" if project.risk_levels else f"signal.{signals[0]}"


def resolve_target(project: Project, text: str) -> str:
    """'purchase_drop', 'signal.purchase_drop', 'risk.high' or 'high' -> a target id."""
    options = targets(project)
    for candidate in (text, f"signal.{text}", f"risk.{text}"):
        if candidate in options:
            return candidate
    raise SweepError(f"unknown target {text!r}: a signal id or risk.<level>" + did_you_mean(text, options))


def with_threshold(project: Project, tid: str, value: float) -> Project:
    """The project with one threshold set to `value` for every segment (no YAML written).
    A portfolio boundary (key_account_share_pct, dependency_risky_pct, ...) is both a
    threshold the rules read and a setting of the portfolio pass: both move."""
    t = replace(project.thresholds[tid], value=value, segments={})
    changed = replace(project, thresholds={**project.thresholds, tid: t})
    if tid in project.portfolio.boundaries:
        bounds = {**project.portfolio.boundaries, tid: float(value)}
        changed = replace(changed, portfolio=replace(project.portfolio, boundaries=bounds))
    return changed


def sweep(project: Project, history: History, tid: str, values: list[float], target: str,
          horizon: int = 180) -> dict[str, Any]:
    rows, base = [], base_rate(history, horizon)
    for value in values:
        fired = replay(with_threshold(project, tid, value), history)
        rows.append({"value": value, **score(fired.get(target, {}), history, horizon, base)})
    t = project.thresholds[tid]
    return {"threshold": tid, "current": t.value, "segment_overrides_ignored": sorted(t.segments),
            "target": target, "rows": rows}


# -- text ---------------------------------------------------------------------------------

def _ratio(value: float | None, num: int, den: int) -> str:
    return "n/a" if value is None else f"{value:.2f} ({num}/{den})"


def _lead(days: float | int | None) -> str:
    return "n/a" if days is None else f"{days:g} days"


def _label(target: str) -> str:
    kind, ident = target.split(".", 1)
    return f"risk ≥ {ident}" if kind == "risk" else ident


def _lift(row: dict[str, Any]) -> str:
    if row["lift"] is None:
        return "n/a"
    return f"{row['lift']:.2f} ({row['lift_low']:.2f}–{row['lift_high']:.2f})"


CHANCE = "≤ chance"  # marks a row whose precision is at or below the base rate


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]], left: int) -> list[str]:
    """Columns right-aligned but the first `left`; the marker column's blanks leave no trailing space."""
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    return ["  ".join(c.ljust(w) if i < left else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in [head] + rows]


def history_lines(h: dict[str, Any]) -> list[str]:
    rate = _ratio(h["base_rate"], h["base_confirmed"], h["base_judged"])
    lines = [f"history: {h['source']}: {h['accounts']} accounts, {h['snapshots']} snapshots "
             f"({h['first']} … {h['last']}), {h['records']} records"
             + (f", {h['rejected']} rejected" if h["rejected"] else ""),
             f"losses: {h['lost']} lost accounts ({h['lost'] / h['accounts'] * 100:.1f} % of the accounts); "
             f"a firing counts when the loss follows within {h['horizon_days']} days; "
             f"observed until {h['observed_until']}",
             f"base rate: {rate}, the precision of warning about every account at every snapshot; "
             f"lift = precision / base rate"]
    if h["lost_not_in_history"]:
        lines.append(f"note: {h['lost_not_in_history']} lost accounts are not in the history (ignored)")
    return lines


def text_lines(report: dict[str, Any], rejected: list[str] | None = None) -> list[str]:
    h = report["history"]
    lines = history_lines(h)
    for r in (rejected or [])[:5]:
        lines.append(f"rejected: {r}")
    chance = [_label(t["target"]) for t in report["targets"] if no_better_than_chance(t, h)]
    rows: list[tuple[str, ...]] = [(_label(t["target"]), _ratio(t["recall"], t["lost_caught"], t["lost"]),
             _ratio(t["precision"], t["confirmed"], t["judged"]), _lift(t), _lead(t["median_lead_days"]),
             str(t["flagged"]), CHANCE if _label(t["target"]) in chance else "") for t in report["targets"]]
    head = ("signal / risk level", "recall", "precision", "lift (95 %)", "median lead", "flagged", "")
    lines += [""] + _table(head, rows, left=1)
    if chance:
        what = "signal or risk level warns" if len(chance) == 1 else "signals or risk levels warn"
        lines += ["", f"{len(chance)} {what} no better than chance (precision ≤ base rate): "
                      f"{', '.join(chance)}"]
    return lines


def sweep_lines(s: dict[str, Any], history: dict[str, Any]) -> list[str]:
    lines = [f"sweep of thresholds.{s['threshold']} (now {s['current']:g}), scored on "
             f"{_label(s['target'])}:"]
    if s["segment_overrides_ignored"]:
        lines.append(f"note: the sweep sets one value for every segment; the overrides for "
                     f"{', '.join(s['segment_overrides_ignored'])} are left out")
    head = ("value", "recall", "precision", "lift (95 %)", "median lead", "flagged", "")
    rows: list[tuple[str, ...]] = [(f"{r['value']:g}" + (" *" if r["value"] == s["current"] else ""),
             _ratio(r["recall"], r["lost_caught"], r["lost"]),
             _ratio(r["precision"], r["confirmed"], r["judged"]), _lift(r), _lead(r["median_lead_days"]),
             str(r["flagged"]), CHANCE if no_better_than_chance(r, history) else "") for r in s["rows"]]
    lines += _table(head, rows, left=0)
    lines.append("(* the current value" + (f"; {CHANCE}: precision at or below the base rate)"
                                           if any(r[-1] for r in rows) else ")"))
    return lines


Sweep = tuple[str, list[float], str]  # (threshold id, values, target), from parse_sweep and a target


def run_backtest(project: Project, history_path: Path, losses_path: Path, horizon: int,
                 sweep_plan: Sweep | None = None) -> tuple[dict[str, Any], list[str]]:
    """`kam backtest`: the report (with the history's rejected rows, and the sweep when asked)
    and its text lines."""
    past = read_history(project, history_path, losses_path)
    report = backtest(project, past, horizon)
    if sweep_plan is not None:
        report["sweep"] = sweep(project, past, *sweep_plan, horizon=horizon)
    lines = text_lines(report, past.rejected)
    if sweep_plan is not None:
        lines += [""] + sweep_lines(report["sweep"], report["history"])
    return {**report, "rejected": past.rejected}, lines
