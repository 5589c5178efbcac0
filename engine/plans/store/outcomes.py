"""`kam outcomes`: what became of the plans, from the store alone (issue 19).

For each group of plans (by playbook, manager or segment), opened on or after --since:

- how each plan ended up: resolved (its trigger cleared), lost while open (the account's
  status turned 'lost' in a run while the plan was open), done (every step marked done: closed
  by hand, trigger or not), still open, snoozed. Each plan counts in exactly one, in that order;
- the median runs and days from opening to resolution, over the resolved plans (runs: the
  account's own runs after the opening one, up to the one that resolved it);
- its steps: done on or before their due date, done late, never done (the plan closed first),
  not done yet (the plan is open);
- did the risk fall? For plans whose account had a risk level when the plan opened and at
  least N runs after it: whether a later run within those N had a lower level, for plans whose
  steps due by the N-th run (and while the plan was open) were all done on time against plans
  where one was late or never done, per starting level, with a 95 % Wilson interval. Plans
  with fewer than N runs after opening, or no step due within them, are counted as not compared. This is an observation:
  accounts whose managers do the steps on time may differ in other ways too.

A run computes this every night for the portfolio report, so no account's whole history is
read: per plan, SQL counts its steps, asks the few lost account runs (an index of them alone)
and, for a resolved plan, counts the runs up to its resolution; the plan's start run and the
`within` runs after it come from one index range (see _WINDOWS_SQL). The time is flat in the
number of runs once a plan has its window. Memory holds one plan and the counters.
"""
from __future__ import annotations

import math
import tempfile
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from ...errors import KamError
from .db import Store

BY = ("playbook", "owner", "segment")
ENDS = ("resolved", "lost", "done", "open", "snoozed")  # in the order a plan is counted
STEPS = ("on_time", "late", "never", "pending")
WITHIN = 4  # runs: did the risk fall within them
Z95 = 1.959963984540054
NONE_GROUP = "-"  # a plan with no manager, or an account with no segment


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n (None for n = 0)."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at k = 0 or k = n the bound is exactly 0 or 1 (floating point leaves 1e-17)
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def median(counts: Counter[Any]) -> float | None:
    """The median of a multiset given as value -> count."""
    n = sum(counts.values())
    if not n:
        return None
    wanted = [(n - 1) // 2, n // 2]
    found, seen = [], 0
    for value in sorted(counts):
        c = counts[value]
        while wanted and wanted[0] < seen + c:
            found.append(value)
            wanted.pop(0)
        seen += c
    middle: float = (found[0] + found[1]) / 2
    return middle


@dataclass
class _Tally:
    ends: Counter[Any] = field(default_factory=Counter)
    runs: Counter[Any] = field(default_factory=Counter)  # runs to resolution -> plans
    days: Counter[Any] = field(default_factory=Counter)
    steps: Counter[Any] = field(default_factory=Counter)
    fell: dict[tuple[str, bool], list[int]] = field(default_factory=dict)  # (start level, on time?) -> [plans, fell]
    not_compared: Counter[Any] = field(default_factory=Counter)

    def view(self, levels: Sequence[str]) -> dict[str, Any]:
        compared = []
        for level in reversed(levels):  # the highest first
            sides = {}
            for key, on_time in (("on_time", True), ("not_on_time", False)):
                n, k = self.fell.get((level, on_time), (0, 0))
                ci = wilson(k, n)
                sides[key] = {"plans": n, "fell": k, "share": round(k / n, 4) if n else None,
                              "ci95": [round(ci[0], 4), round(ci[1], 4)] if ci else None}
            if sides["on_time"]["plans"] or sides["not_on_time"]["plans"]:
                compared.append({"start_level": level, **sides})
        return {"opened": sum(self.ends.values()), **{e: self.ends[e] for e in ENDS},
                "median_runs_to_resolution": median(self.runs), "median_days_to_resolution": median(self.days),
                "steps": {s: self.steps[s] for s in STEPS}, "risk_fell": compared,
                "not_compared": {"window_incomplete": self.not_compared["window_incomplete"],
                                 "no_step_due": self.not_compared["no_step_due"],
                                 "no_starting_risk": self.not_compared["no_starting_risk"]}}


# an account's run, as the cursor gives it: (as_of, risk_level, status, segment)
_Run = tuple[str, str, "str | None", "str | None"]


class _Plan(NamedTuple):
    """A plan with what SQL counted of it, one row per plan.

    Its steps: `first_due` is the earliest due date of a step the plan asked for (done, or not
    done while the plan was open); `first_bad`, of those, the earliest not done on time. A
    window that ends before `first_due` had no step due; one that ends on or after
    `first_bad` had a step late or never done.

    Its account's runs after it opened: `lost_later` whether one up to the closing date saw
    the account lost; `runs_to_resolution`, for a resolved plan, how many there were up to
    the resolution."""
    plan_id: int
    account_id: str
    playbook: str
    owner: str | None
    status: str
    opened: str
    closed: str | None  # resolved_on or done_on
    resolved_on: str | None
    on_time: int
    late: int
    undone: int
    first_due: str | None
    first_bad: str | None
    lost_later: int
    runs_to_resolution: int | None


_CLOSED = "coalesce(p.resolved_on, p.done_on)"
_PLANS_SQL = f"""
SELECT p.plan_id, p.account_id, p.playbook, p.owner, p.status, p.opened, {_CLOSED}, p.resolved_on,
       count(CASE WHEN s.done_on <= s.due THEN 1 END),
       count(CASE WHEN s.done_on > s.due THEN 1 END),
       count(CASE WHEN s.due IS NOT NULL AND s.done_on IS NULL THEN 1 END),
       min(CASE WHEN s.done_on IS NOT NULL OR {_CLOSED} IS NULL OR s.due <= {_CLOSED} THEN s.due END),
       min(CASE WHEN s.done_on > s.due
                     OR (s.done_on IS NULL AND ({_CLOSED} IS NULL OR s.due <= {_CLOSED})) THEN s.due END),
       EXISTS (SELECT 1 FROM account_runs l INDEXED BY account_runs_lost  -- a few rows, not the history
               WHERE l.account_id = p.account_id AND l.current = 1 AND l.status = 'lost'
                     AND l.as_of > p.opened AND ({_CLOSED} IS NULL OR l.as_of <= {_CLOSED})),
       CASE WHEN p.status = 'resolved' THEN
           (SELECT count(*) FROM account_runs c WHERE c.account_id = p.account_id AND c.current = 1
                                                  AND c.as_of > p.opened AND c.as_of <= p.resolved_on) END
FROM plans p LEFT JOIN plan_steps s ON s.plan_id = p.plan_id {{where}}
GROUP BY p.plan_id ORDER BY p.plan_id
"""

# each plan's account runs from the last run date on or before its opening (`lo`) to the
# `within`-th run date after it (`hi`), in the store's runs: an account in every run has
# exactly its start and its window there, and no plan reads more, however long the history.
# The bounds, one row per opening date, are a temporary table: its key makes the join a
# lookup per plan (a CTE was scanned whole for every plan)
_WINDOWS_SQL = """
SELECT p.plan_id, r.as_of, r.risk_level, r.status, r.segment
FROM plans p JOIN temp.kam_outcome_bounds b ON b.opened = p.opened
     LEFT JOIN account_runs r ON r.account_id = p.account_id AND r.current = 1
                                 AND r.as_of >= b.lo AND r.as_of <= b.hi {where}
ORDER BY p.plan_id  -- a plan's runs: one range of an index, sorted below
"""


def _plans(store: Store, since: str | None, within: int) -> Iterator[tuple[_Plan, list[_Run]]]:
    """Each plan opened on or after `since`, in plan order, with its account's runs around its
    opening (see _WINDOWS_SQL), oldest first."""
    where, args = ("WHERE p.opened >= ?", (since,)) if since else ("", ())
    dates = [d for (d,) in store.conn.execute("SELECT DISTINCT as_of FROM runs ORDER BY as_of")]
    bounds = []
    for (opened,) in store.conn.execute(f"SELECT DISTINCT opened FROM plans p {where}", args):
        at = bisect_right(dates, opened)
        bounds.append((opened, dates[at - 1] if at else opened,
                       dates[min(at + within - 1, len(dates) - 1)] if at < len(dates) else opened))
    store.conn.execute("CREATE TEMP TABLE IF NOT EXISTS kam_outcome_bounds "
                       "(opened TEXT PRIMARY KEY, lo TEXT NOT NULL, hi TEXT NOT NULL) WITHOUT ROWID")
    try:
        store.conn.execute("DELETE FROM temp.kam_outcome_bounds")
        store.conn.executemany("INSERT INTO temp.kam_outcome_bounds VALUES (?, ?, ?)", bounds)
        windows = store.conn.execute(_WINDOWS_SQL.format(where=where), args)
        row = next(windows, None)
        for plan in map(_Plan._make, store.conn.execute(_PLANS_SQL.format(where=where), args)):
            runs: list[_Run] = []
            while row is not None and row[0] == plan.plan_id:
                if row[1] is not None:
                    runs.append(row[1:])
                row = next(windows, None)
            runs.sort()
            yield plan, runs
    finally:
        store.conn.execute("DELETE FROM temp.kam_outcome_bounds")


def _days(a: str, b: str) -> int:
    return (date.fromisoformat(b) - date.fromisoformat(a)).days


def outcomes(store: Store, levels: Sequence[str], by: str = "playbook", since: date | None = None,
             within: int = WITHIN) -> dict[str, Any]:
    """The report `kam outcomes --json` prints (see the module). `levels`: the risk levels,
    lowest first ('none' and unknown levels rank below them all)."""
    if by not in BY:
        raise KamError(f"--by: one of {', '.join(BY)}, not {by!r}")
    rank = {lv: i + 1 for i, lv in enumerate(levels)}
    groups: dict[str, _Tally] = {}
    whole = _Tally()
    first_last = store.one("SELECT count(*) AS n, min(as_of) AS lo, max(as_of) AS hi FROM runs")
    for plan, runs in _plans(store, since.isoformat() if since else None, within):
        at = bisect_right([r[0] for r in runs], plan.opened)  # runs[at:] came after the opening
        if not at or (len(runs) - at < within and runs[-1][0] != first_last["hi"]):
            # the account missed a run inside the bounds: read its runs one by one
            runs, at = _runs_around(store, plan, within)
        start = runs[at - 1] if at else None
        key = (plan.playbook if by == "playbook" else plan.owner or NONE_GROUP if by == "owner"
               else (start[3] if start is not None else None) or NONE_GROUP)
        group = groups.get(key)
        if group is None:  # not setdefault: a _Tally is six Counters, made for every plan
            group = groups[key] = _Tally()
        window = runs[at:at + within]
        for tally in (group, whole):
            _count(tally, plan, start, window, rank, within)
    unknown = store.one("SELECT count(*) AS n FROM account_runs INDEXED BY account_runs_no_status "
                        "WHERE current = 1 AND status IS NULL")["n"]
    return {"store": str(store.path), "runs": first_last["n"], "first_run": first_last["lo"],
            "last_run": first_last["hi"], "since": since.isoformat() if since else None, "by": by,
            "within_runs": within, "account_runs_without_status": unknown,
            "groups": [{"group": k, **groups[k].view(levels)} for k in sorted(groups)],
            "all": whole.view(levels)}


def _runs_around(store: Store, plan: _Plan, within: int) -> tuple[list[_Run], int]:
    """The plan's start run (if any) and the first `within` runs after it opened, with the
    index of the first of those: for an account that was not in every run."""
    query = ("SELECT as_of, risk_level, status, segment FROM account_runs WHERE account_id = ? AND current = 1 "
             "AND as_of {} ? ORDER BY as_of {} LIMIT ?")
    start = store.conn.execute(query.format("<=", "DESC"), (plan.account_id, plan.opened, 1)).fetchall()
    later = store.conn.execute(query.format(">", "ASC"), (plan.account_id, plan.opened, within)).fetchall()
    return [tuple(r) for r in start + later], len(start)


def _count(t: _Tally, plan: _Plan, start: _Run | None, window: list[_Run], rank: dict[str, int],
           within: int) -> None:
    """Count one plan: `start` its account's run when it opened, `window` the first `within`
    runs after."""
    lost = start is not None and start[2] != "lost" and bool(plan.lost_later)
    end = "lost" if lost else plan.status
    t.ends[end] += 1
    if end == "resolved":
        assert plan.resolved_on is not None
        t.runs[plan.runs_to_resolution] += 1
        t.days[_days(plan.opened, plan.resolved_on)] += 1
    if plan.on_time:
        t.steps["on_time"] += plan.on_time
    if plan.late:
        t.steps["late"] += plan.late
    if plan.undone:
        t.steps["pending" if end in ("open", "snoozed") else "never"] += plan.undone
    start_rank = rank.get(start[1], 0) if start is not None else 0
    if not start_rank:
        t.not_compared["no_starting_risk"] += 1
        return
    if len(window) < within:
        t.not_compared["window_incomplete"] += 1
        return
    # the steps due within the window; one left undone that fell due only after the plan had
    # closed (its warning cleared first) was never asked for (see _Plan)
    window_end = window[-1][0]
    if plan.first_due is None or plan.first_due > window_end:
        t.not_compared["no_step_due"] += 1
        return
    on_time = plan.first_bad is None or plan.first_bad > window_end
    fell = any(rank.get(r[1], 0) < start_rank for r in window)
    assert start is not None  # start_rank is 0 without a start
    cell = t.fell.setdefault((start[1], on_time), [0, 0])
    cell[0] += 1
    cell[1] += int(fell)


def stored_levels(store: Store) -> list[str] | None:
    """The risk levels of the latest run's rules, as the store keeps them (None when they
    cannot be read back: no run, or a rules version this kam cannot load)."""
    from ...project.load import load_project
    from .blobs import extract_rules
    run = store.one("SELECT rules_digest FROM runs ORDER BY as_of DESC, run_id DESC LIMIT 1")
    if run is None:
        return None
    with tempfile.TemporaryDirectory(prefix="kam-outcomes-") as tmp:
        try:
            folder = extract_rules(store, run["rules_digest"], Path(tmp) / "project")
            return [r.id for r in load_project(folder, Path("stored")).risk_levels]
        except KamError:
            return None


# ---- text -------------------------------------------------------------------------------------

def _pct(v: float) -> str:
    return f"{v * 100:.0f} %"


def _median(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    return f"{v:g} {unit if v != 1 else unit[:-1]}"


def text_lines(report: dict[str, Any]) -> list[str]:
    by = report["by"]
    if not report["runs"]:
        return [f"no runs recorded in {report['store']}"]
    since = f", plans opened since {report['since']}" if report["since"] else ""
    lines = [f"Plan outcomes from {report['store']}: {report['runs']} run{'s' if report['runs'] != 1 else ''}, "
             f"{report['first_run']} to {report['last_run']}{since}, by {by}", ""]
    rows = [(g["group"], g) for g in report["groups"]] + [("all", report["all"])]
    if not report["all"]["opened"]:
        return lines[:1] + ["no plans" + (f" opened since {report['since']}" if report["since"] else "")]
    head = (by, "opened", "resolved", "lost", "done", "open", "snoozed", "to resolution", "steps on time",
            "late", "never", "not yet")
    table = [head] + [(name, *(str(g[k]) for k in ("opened",) + ENDS),
                       (f"{_median(g['median_runs_to_resolution'], 'runs')}, "
                        f"{_median(g['median_days_to_resolution'], 'days')}"
                        if g["median_runs_to_resolution"] is not None else "-"),
                       *(str(g["steps"][s]) for s in STEPS)) for name, g in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        if i == len(table) - 1:
            lines.append("  ".join("-" * w for w in widths))
        lines.append("  ".join(c.ljust(widths[0]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)).rstrip())
    lines += ["", "resolved: the warning that opened the plan cleared; lost: the account was lost while the plan "
              "was open; done: every step marked done; to resolution: the median over the resolved plans "
              "(runs of the account after opening, and days)."]
    n = report["within_runs"]
    lines += ["", f"Did the risk fall within {n} run{'s' if n != 1 else ''} after the plan opened? "
              "Plans by the account's risk level "
              "then, with the steps due in those runs all done on time, or not.",
              "An observation with 95 % Wilson intervals, not a cause: accounts whose steps are done on time "
              "may differ in other ways."]
    any_compared = False
    for name, g in rows:
        if not g["risk_fell"] and name != "all":
            continue
        lines.append(f"  {name}")
        for c in g["risk_fell"]:
            any_compared = True
            parts = []
            for key, label in (("on_time", "on time"), ("not_on_time", "not on time")):
                side = c[key]
                if side["plans"]:
                    lo, hi = side["ci95"]
                    parts.append(f"{label}: fell in {side['fell']} of {side['plans']} ({_pct(side['share'])}, "
                                 f"95 % CI {lo * 100:.0f}-{hi * 100:.0f} %)")
                else:
                    parts.append(f"{label}: no plans")
            lines.append(f"    from {c['start_level']}: " + "; ".join(parts))
        nc = g["not_compared"]
        left = [f"{nc['window_incomplete']} with fewer than {n} run{'s' if n != 1 else ''} after opening"
                if nc["window_incomplete"] else "",
                f"{nc['no_step_due']} with no step due within them" if nc["no_step_due"] else "",
                f"{nc['no_starting_risk']} opened at no risk level" if nc["no_starting_risk"] else ""]
        left = [x for x in left if x]
        if left:
            lines.append("    not compared: " + ", ".join(left))
    if not any_compared:
        lines.append(f"  no plan has {n} run{'s' if n != 1 else ''} after opening yet (--within N: fewer runs)")
    if report["account_runs_without_status"]:
        lines += ["", f"note: {report['account_runs_without_status']} account runs were recorded before kam kept the "
                      "account's status and segment: a loss in them is not seen, their segment is '-'."]
    return lines
