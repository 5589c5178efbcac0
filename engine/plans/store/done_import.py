"""`kam plans done --from FILE`: the steps a CRM says are done, read back from its export.

The file needs a plan id and a step id per row (tasks.csv's plan_id and step_id columns, or
its task_id), and may say when (done_on) and whether (state) the step was done; a CRM's own
column names are matched ignoring case and spaces (Plan ID, Done date, Status, ...). CSV,
.xlsx, JSON Lines or Parquet, as `kam evaluate` reads them.

Which rows count: a row with a done date, or whose state says done (done, completed,
closed, выполнено, ...); a file without either column lists done steps only. Other rows (a
whole tasks.csv sent back, its open steps still open) are skipped and counted by state.

Every row is checked before anything is written: an unknown plan or step, or a bad id or
date, is reported with its file, line and column, and then nothing is applied. Otherwise all
the steps are marked done in one transaction; a plan whose steps are then all done is done
(as `kam plans done PLAN_ID` makes it). A step of a plan already resolved or done is recorded
as done on its date, and the plan stays as it is.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ...errors import KamError, Problem
from ...hints import did_you_mean
from ...io.dates import parse_date
from ...io.readers import read_table
from ...io.table import Layout
from ...project.date_range import in_range
from ..reconcile import ACTIVE
from .db import Store
from .plans import _batches, _marks

PLAN_ID, STEP_ID, TASK_ID, DONE_ON, STATE = "plan_id", "step_id", "task_id", "done_on", "state"
# column names as CRMs and spreadsheets write them -> ours (matched ignoring case and spaces)
ALIASES = {
    "plan": PLAN_ID, "plan id": PLAN_ID, "plan no": PLAN_ID, "plan number": PLAN_ID,
    "step": STEP_ID, "step id": STEP_ID,
    "task id": TASK_ID, "external id": TASK_ID,
    "done": DONE_ON, "done on": DONE_ON, "done date": DONE_ON, "date done": DONE_ON, "done_date": DONE_ON,
    "completed": DONE_ON, "completed on": DONE_ON, "completed date": DONE_ON, "completion date": DONE_ON,
    "date completed": DONE_ON, "completed_on": DONE_ON, "completed_date": DONE_ON, "completion_date": DONE_ON,
    "status": STATE, "task status": STATE,
}
KNOWN = (PLAN_ID, STEP_ID, TASK_ID, DONE_ON, STATE)
DONE_WORDS = frozenset({"done", "completed", "complete", "closed", "finished", "resolved as done", "yes", "true",
                        "1", "x", "✓", "✔", "выполнено", "выполнен", "выполнена", "сделано", "завершено",
                        "завершена", "завершён", "закрыто", "закрыта", "да"})
_TASK = re.compile(r"kam-plan-(\d+)-([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class DoneRow:
    line: int
    plan_id: int
    step_id: str
    on: date


def _fold(text: Any) -> str:
    return " ".join(str(text).split()).casefold()


def _plan_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value > 0 else None
    text = str(value).strip()
    return int(text) if text.isdigit() and 0 < int(text) < 2**63 else None


def read_done(path: Path, default_day: date) -> tuple[list[DoneRow], Counter[str], list[Problem], dict[str, int]]:
    """The done rows of the file, the skipped ones counted by state, every problem, and the
    column (1-based) of each field."""
    table = read_table(Path(path), ALIASES, KNOWN, layout=Layout(required=frozenset({PLAN_ID, STEP_ID})))
    src, cols = table.source, table.columns
    row = table.header_row or 1
    col = {c: cols.index(c) + 1 for c in cols}  # 1-based, as editors count (the file's own order)
    if not ({PLAN_ID, STEP_ID} <= set(cols) or TASK_ID in cols):
        raise KamError(Problem(src, row, 1, "no plan_id and step_id columns (or task_id): expected the columns "
                                            "of tasks.csv (plan_id,step_id[,done_on][,state]), a row per done step"))
    with_date, with_state = DONE_ON in cols, STATE in cols
    rows: list[DoneRow] = []
    skipped: Counter[str] = Counter()
    problems: list[Problem] = []
    for rec in table.records:
        line = rec.row
        if rec.problem:
            problems.append(Problem(src, line, 1, rec.problem))
            continue
        cells = rec.cells
        if all(v is None or str(v).strip() == "" for v in cells.values()):
            continue  # a blank line
        raw_day = cells.get(DONE_ON)
        has_day = raw_day is not None and str(raw_day).strip() != ""
        state = _fold(cells.get(STATE) or "")
        if (with_date or with_state) and not has_day and state not in DONE_WORDS:
            skipped[state or "(empty)"] += 1
            continue
        on = default_day
        if has_day:
            try:
                on = in_range(parse_date(raw_day))
            except ValueError as exc:
                problems.append(Problem(src, line, col[DONE_ON], f"{DONE_ON}: {exc}"))
                continue
        plan_cell, step_cell = cells.get(PLAN_ID), cells.get(STEP_ID)
        if (plan_cell is None or str(plan_cell).strip() == "") and (step_cell is None or str(step_cell).strip() == ""):
            task = str(cells.get(TASK_ID) or "").strip()
            m = _TASK.fullmatch(task)
            if m is None:
                where = col.get(TASK_ID, col.get(PLAN_ID, 1))
                problems.append(Problem(src, line, where, f"{TASK_ID}: expected kam-plan-N-step_id, got {task[:60]!r}"
                                        + (" (a task of a run without a store: no plan to mark)"
                                           if task.startswith("kam-account-") else "")))
                continue
            rows.append(DoneRow(line, int(m[1]), m[2], on))
            continue
        plan_id = _plan_id(plan_cell) if plan_cell is not None else None
        if plan_id is None:
            shown = "" if plan_cell is None else str(plan_cell).strip()[:40]
            problems.append(Problem(src, line, col.get(PLAN_ID, 1),
                                    f"{PLAN_ID}: expected a plan number, got {shown!r}" if shown
                                    else f"{PLAN_ID}: required value is missing"))
            continue
        step = "" if step_cell is None else str(step_cell).strip()
        if not step:
            problems.append(Problem(src, line, col.get(STEP_ID, 1), f"{STEP_ID}: required value is missing"))
            continue
        rows.append(DoneRow(line, plan_id, step, on))
    return rows, skipped, problems, col


def import_done(store: Store, path: Path, default_day: date, dry_run: bool = False) -> dict[str, Any]:
    """Check every row, then mark them all done in one transaction (nothing with a problem)."""
    rows, skipped, problems, col = read_done(path, default_day)
    plan_col, step_col = col.get(PLAN_ID, col.get(TASK_ID, 1)), col.get(STEP_ID, col.get(TASK_ID, 1))
    src = str(path)
    with store.transaction():
        plans: dict[int, Any] = {}
        steps: dict[int, dict[str, Any]] = {}
        ids = sorted({r.plan_id for r in rows})
        for batch in _batches(ids):
            for p in store.all(f"SELECT plan_id, account_id, playbook, status FROM plans "
                               f"WHERE plan_id IN ({_marks(len(batch))})", batch):
                plans[p["plan_id"]] = p
            for s in store.all(f"SELECT plan_id, step_id, done_on FROM plan_steps "
                               f"WHERE plan_id IN ({_marks(len(batch))}) ORDER BY plan_id, position", batch):
                steps.setdefault(s["plan_id"], {})[s["step_id"]] = s
        span = store.one("SELECT count(*) AS n, min(plan_id) AS lo, max(plan_id) AS hi FROM plans")
        for r in rows:
            plan = plans.get(r.plan_id)
            if plan is None:
                held = f"it has plans {span['lo']} to {span['hi']}" if span["n"] else "it has no plans yet"
                problems.append(Problem(src, r.line, plan_col,
                                        f"{PLAN_ID}: no plan {r.plan_id} in {store.path} ({held})"))
            elif r.step_id not in steps.get(r.plan_id, {}):
                known = list(steps.get(r.plan_id, {}))
                hint = did_you_mean(r.step_id, known, otherwise=f"; its steps: {', '.join(known)}")
                problems.append(Problem(src, r.line, step_col, f"{STEP_ID}: plan {r.plan_id} ({plan['account_id']}, "
                                                        f"{plan['playbook']}) has no step '{r.step_id}'{hint}"))
        if problems:
            raise KamError(problems)
        # one mark per step: the earliest date a row gives it
        first: dict[tuple[int, str], DoneRow] = {}
        for r in rows:
            key = (r.plan_id, r.step_id)
            if key not in first or r.on < first[key].on:
                first[key] = r
        marked, already, closed_plans = 0, 0, set()
        touched: dict[int, list[str]] = {}
        for (plan_id, step_id), r in first.items():
            if steps[plan_id][step_id]["done_on"] is not None:
                already += 1
                continue
            day = r.on.isoformat()
            store.conn.execute("UPDATE plan_steps SET done_on = ? WHERE plan_id = ? AND step_id = ?",
                               (day, plan_id, step_id))
            store.conn.execute("INSERT INTO plan_events (plan_id, run_id, at, event, detail) VALUES (?, NULL, ?, ?, ?)",
                               (plan_id, day, "step_done", f"{step_id} (from {Path(path).name} line {r.line})"))
            marked += 1
            touched.setdefault(plan_id, []).append(day)
            if plans[plan_id]["status"] not in ACTIVE:
                closed_plans.add(plan_id)
        completed = []
        for plan_id in touched:
            if plans[plan_id]["status"] not in ACTIVE:
                continue
            left = store.one("SELECT count(*) AS n FROM plan_steps WHERE plan_id = ? AND done_on IS NULL",
                             (plan_id,))["n"]
            if left:
                continue
            last = store.one("SELECT max(done_on) AS d FROM plan_steps WHERE plan_id = ?", (plan_id,))["d"]
            store.conn.execute("UPDATE plans SET status = 'done', done_on = ?, snoozed_until = NULL, "
                               "snooze_reason = NULL, snooze_risk = NULL WHERE plan_id = ?", (last, plan_id))
            store.conn.execute("INSERT INTO plan_events (plan_id, run_id, at, event, detail) VALUES (?, NULL, ?, ?, ?)",
                               (plan_id, last, "done", f"all steps done (from {Path(path).name})"))
            completed.append(plan_id)
        if dry_run:
            store.rollback()
    return {"file": src, "rows": len(rows), "steps_marked": marked, "already_done": already,
            "plans": len(touched), "plans_done": sorted(completed), "closed_plans": sorted(closed_plans),
            "skipped": dict(sorted(skipped.items())), "dry_run": dry_run}


def report_lines(report: dict[str, Any]) -> list[str]:
    n = report["steps_marked"]
    head = (f"{report['file']}: {'would mark' if report['dry_run'] else 'marked'} {n} step{'s' if n != 1 else ''} "
            f"done in {report['plans']} plan{'s' if report['plans'] != 1 else ''}")
    lines = [head + (" (dry run: the store is unchanged)" if report["dry_run"] else "")]
    if report["plans_done"]:
        lines.append(f"plans now done (every step done): {', '.join(map(str, report['plans_done']))}")
    if report["closed_plans"]:
        lines.append(f"steps recorded in plans already closed (resolved or done), which stay as they are: "
                     f"{', '.join(map(str, report['closed_plans']))}")
    if report["already_done"]:
        lines.append(f"{report['already_done']} step(s) were already done: left as recorded")
    if report["skipped"]:
        lines.append("skipped rows not marked done (no done date, state not done): "
                     + ", ".join(f"{k} {v}" for k, v in report["skipped"].items()))
    return lines
