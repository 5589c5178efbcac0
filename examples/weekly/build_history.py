"""A sample plan history for `kam outcomes`: eight weekly runs of the bundled project before
`make demo`'s own run, with managers marking steps done between them (deterministic: seed 19).

    python examples/weekly/build_history.py [--store .kam/state.sqlite]

`make demo` calls it before its run as of 2026-11-23. It builds the store only when there is
none, or when the store holds nothing but the demo's own runs (then it is rebuilt whole); a
store with other runs is left alone. Run twice, it gives the same store.

How the weeks are made, so that what `kam outcomes` says can be judged:
- every account of examples/accounts.csv starts healthy: the columns the warning rules read
  are set to calm values (no overdue payment, NPS 9, contacts and complaints as last period...);
- 45 % of the accounts get into trouble for a while: a payment 45 days late (a financial
  signal), for one in two also an NPS of 4 (an emotional one), from a week between the first
  and the sixth;
- each troubled account's manager is diligent or not (one in two). Between runs, a diligent
  manager does every step due by the next run on time (the CRM's export of done steps goes
  through `kam plans done --from`, as a manager's would); the others do an overdue step now
  and then, late, and leave the rest;
- the trouble lasts 1-3 weeks for a diligent manager's account and 3-8 for the others, and one
  in six of the others' accounts is lost while its plans are open.

So the sample is made so that plans done on time see the risk fall sooner. It shows what the
report looks like; it is no evidence that the playbooks work. Only real runs are.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import random
import sqlite3
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

WEEKS = [date(2026, 9, 28) + timedelta(weeks=i) for i in range(8)]  # the demo's run follows on 2026-11-23
DEMO_DAY = date(2026, 11, 23)
SEED = 19
CALM = {"status": "active", "payment_overdue_days": "0", "restructuring_requests_90d": "0",
        "tenders_not_invited_90d": "0", "pricing_policy_changed": "no", "decision_maker_changed": "no",
        "buyer_changed": "no", "excluded_from_meetings": "no", "bypassing_contractors": "no",
        "competitor_mentions_90d": "0", "dissatisfaction_noted": "no", "nps": "9", "days_since_qbr": "30",
        "lost_reason": "", "expected_annual_revenue": "", "winback_cost": "", "concessions_cost": "",
        "win_probability": "",
        # the optional columns of issue 14's signals (a sample without them reads them as missing)
        "concession_requests_90d": "0", "failed_deals_90d": "0", "ownership_changed": "no",
        "competitor_joint_projects": "no", "competitor_mentions_prev_90d": "0", "days_since_client_reply": "3"}
SAME_AS_BEFORE = {"revenue_current": "revenue_previous", "approval_days_current": "approval_days_previous",
                  "client_contacts_current": "client_contacts_previous", "complaints_current": "complaints_previous",
                  "margin_pct_previous": "margin_pct"}


class Story:
    """One account's weeks: when its trouble starts and ends, how, and its manager's habits."""

    def __init__(self, index: int):
        rng = random.Random(SEED * 100_003 + index)
        self.troubled = rng.random() < 0.45
        self.start = rng.randrange(0, 6)
        self.emotional = rng.random() < 0.5
        self.diligent = rng.random() < 0.5
        self.end = self.start + (rng.randint(1, 3) if self.diligent else rng.randint(3, 8))
        self.lost_at = self.start + rng.randint(1, 3) if not self.diligent and rng.random() < 1 / 6 else None
        self.rng = rng

    def row(self, base: dict[str, str], week: int) -> dict[str, str]:
        row = {**base, **CALM}
        for now, before in SAME_AS_BEFORE.items():
            row[now] = base[before]
        if self.lost_at is not None and week >= self.lost_at:
            row.update(status="lost", lost_reason="lack of attention", revenue_current="0")
        if self.troubled and self.start <= week < self.end:
            row["payment_overdue_days"] = "45"
            if self.emotional:
                row["nps"] = "4"
        return row


def _snapshots() -> tuple[list[str], list[tuple[date, str]], list[Story], list[dict[str, str]]]:
    """The columns, each week's CSV text, the accounts' stories and the accounts."""
    with (ROOT / "examples" / "accounts.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns, accounts = list(reader.fieldnames or []), list(reader)
    stories = [Story(i) for i in range(len(accounts))]
    weeks = []
    for week, day in enumerate(WEEKS):
        buf = io.StringIO()
        w = csv.DictWriter(buf, columns, lineterminator="\n")
        w.writeheader()
        w.writerows(s.row(a, week) for a, s in zip(accounts, stories))
        weeks.append((day, buf.getvalue()))
    return columns, weeks, stories, accounts


def _is_demo_store(path: Path) -> bool:
    """Whether the store holds only this history and `make demo`'s own runs, by the contents of
    their inputs (so it may be rebuilt)."""
    ours = {hashlib.sha256((ROOT / "examples" / "accounts.csv").read_bytes()).hexdigest()}
    ours |= {hashlib.sha256(text.encode("utf-8")).hexdigest() for _, text in _snapshots()[1]}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        shas = {s for s, in conn.execute("SELECT DISTINCT sha256 FROM run_inputs")}
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return shas <= ours


def _has_history(path: Path) -> bool:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        days = {d for d, in conn.execute("SELECT DISTINCT as_of FROM runs")}
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return {d.isoformat() for d in WEEKS} <= days


def build(store_path: Path) -> int:
    from engine.plans.store import Store
    from engine.plans.store.done_import import import_done
    from engine.project.load import load_project
    from engine.run import evaluate_portfolio

    project = load_project(ROOT)
    _, weeks, stories, accounts = _snapshots()
    diligent = {a["account_id"]: s.diligent for a, s in zip(accounts, stories)}
    rng = random.Random(SEED)
    marked = 0
    with tempfile.TemporaryDirectory(prefix="kam-history-") as tmp:
        for day, text in weeks:
            snapshot = Path(tmp) / f"week-{day.isoformat()}.csv"
            snapshot.write_text(text, "utf-8")
            with Store.open(store_path) as store:
                evaluate_portfolio(project, [snapshot], Path(tmp) / "out", day, store=store)
                # the week after the run: what each manager gets done, as the CRM exports it
                nxt = day + timedelta(days=7)
                rows = []
                for plan_id, account, step, due in store.all(
                        "SELECT p.plan_id, p.account_id, s.step_id, s.due FROM plans p JOIN plan_steps s "
                        "USING (plan_id) WHERE p.status = 'open' AND s.done_on IS NULL AND s.due < ? "
                        "ORDER BY p.plan_id, s.position", (nxt.isoformat(),)):
                    due_day = date.fromisoformat(due)
                    if diligent.get(account):
                        on = max(day + timedelta(days=1), min(due_day, day + timedelta(days=6)))
                    elif due_day <= day and rng.random() < 0.3:
                        on = day + timedelta(days=rng.randint(1, 6))  # an overdue step, done late
                    else:
                        continue
                    rows.append({"plan_id": plan_id, "step_id": step, "done_on": on.isoformat()})
                if rows:
                    done_csv = Path(tmp) / f"done-{day.isoformat()}.csv"
                    with done_csv.open("w", newline="", encoding="utf-8") as f:
                        w = csv.DictWriter(f, ["plan_id", "step_id", "done_on"])
                        w.writeheader()
                        w.writerows(rows)
                    marked += import_done(store, done_csv, day)["steps_marked"]
    return marked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=str(Path(".kam") / "state.sqlite"))
    args = parser.parse_args()
    path = Path(args.store)
    if path.exists():
        if not _is_demo_store(path):
            print(f"{path}: holds runs other than the demo's; the sample history is not added "
                  "(move the store away to get it)", file=sys.stderr)
            return 0
        if _has_history(path):
            return 0  # built before: the same store again
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    marked = build(path)
    print(f"{path}: a sample history of {len(WEEKS)} weekly runs ({WEEKS[0]} to {WEEKS[-1]}), "
          f"{marked} steps marked done between them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
