"""A small project for plans across runs, and a helper that runs it week after week."""
from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

FILES = {
    "kam.yaml": "kind: project\nname: weekly\n",
    "rules/metrics.yaml": """\
kind: metrics
metrics:
  - {id: account_id, type: text, required: true}
  - {id: name, type: text}
  - {id: owner, type: text}
  - {id: status, type: text, values: [active, lost]}
  - {id: revenue_current, type: number, min: 0}
  - {id: nps, type: integer, min: 0, max: 10}
  - {id: late_days, type: integer, min: 0}
  - {id: complaints, type: integer, min: 0}
  - {id: strategic, type: boolean}
  - {id: days_since_qbr, type: integer, min: 0}
  - {id: watch_flag, type: boolean}
""",
    "rules/thresholds.yaml": "kind: thresholds\nthresholds:\n  - {id: nps_min, value: 7}\n",
    "rules/facts.yaml": """\
kind: facts
categories:
  - {id: fin, title: Financial}
  - {id: emo, title: Emotional}
signals:
  - {id: low_nps, category: emo, severity: medium, title: Low NPS}
  - {id: late, category: fin, severity: high, title: Late payment}
  - {id: complaints, category: emo, severity: low, title: Complaints}
classes:
  - {id: key, title: Key account}
risk_levels:
  - {id: medium, title: Medium}
  - {id: high, title: High}
""",
    "rules/rules.yaml": """\
kind: rules
rules:
  - {id: low_nps, when: "nps < thresholds.nps_min", then: {signal: low_nps}}
  - {id: late, when: "late_days > 30", then: {signal: late}}
  - {id: complaints, when: "complaints > 3", for_runs: 2, then: {signal: complaints}}
  - {id: risk_medium, when: "count(category.*) == 1", then: {risk: medium}}
  - {id: risk_high, when: "count(category.*) >= 2", then: {risk: high}}
  - {id: respond, when: "risk.medium or risk.high", then: {playbook: respond}}
  - {id: crisis, when: "risk.high", then: {playbook: crisis}}
  - {id: key, when: strategic, then: {class: key}}
  - {id: qbr, when: "class.key and days_since_qbr > 90", then: {playbook: qbr}}
  - {id: watch, when: watch_flag, then: {playbook: watch}}
""",
    "playbooks/respond.yaml": """\
kind: playbook
id: respond
title: Respond
priority: 2
steps:
  - {id: call, title: Call the client, owner: kam, due_days: 7}
  - {id: visit, title: Visit the client, owner: kam, due_days: 30}
""",
    "playbooks/crisis.yaml": """\
kind: playbook
id: crisis
title: Crisis
priority: 1
steps:
  - {id: meet, title: Meet top management, owner: director, due_days: 3}
""",
    "playbooks/qbr.yaml": """\
kind: playbook
id: qbr
title: QBR
priority: 4
cooldown_days: 90
steps:
  - {id: review, title: Review the quarter, owner: kam, due_days: 14}
""",
    "playbooks/watch.yaml": """\
kind: playbook
id: watch
title: Watch
keep_open_runs: 1
steps:
  - {id: look, title: Look closer, owner: kam, due_days: 5}
""",
}

COLUMNS = ["account_id", "name", "owner", "status", "revenue_current", "nps", "late_days", "complaints",
           "strategic", "days_since_qbr", "watch_flag"]
HEALTHY = {"status": "active", "revenue_current": 100, "nps": 9, "late_days": 0, "complaints": 0,
           "strategic": "no", "days_since_qbr": 10, "watch_flag": "no"}


def write_project(root: Path, changes: dict[str, str] | None = None) -> Path:
    for rel, text in {**FILES, **(changes or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return root


def write_accounts(path: Path, accounts: dict[str, dict[str, Any]]) -> Path:
    """accounts: id -> changes from a healthy account."""
    extra = sorted({k for changes in accounts.values() for k in changes} - set(COLUMNS))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS + extra)
        w.writeheader()
        for aid, changes in accounts.items():
            w.writerow({**HEALTHY, "account_id": aid, "name": f"Company {aid}", "owner": "Olga", **changes})
    return path


class Weekly:
    """Runs the project with a store, one call per week; keeps what documents were given."""

    def __init__(self, tmp: Path, project_root: Path | None = None):
        from engine.project.load import load_project
        self.tmp = tmp
        self.root = project_root or write_project(tmp / "project")
        self.project = load_project(self.root)
        self.store_path = tmp / "state" / "state.sqlite"
        self.documents: list[dict[str, Any]] = []
        self.n = 0

    def run(self, day: str, accounts: dict[str, dict[str, Any]], dry_run: bool = False,
            write_documents: Callable[..., None] | None = None, out: Path | None = None) -> dict[str, dict]:
        from engine.plans.store import Store
        from engine.run import evaluate_portfolio
        self.n += 1
        csv_path = write_accounts(self.tmp / f"accounts-{self.n}.csv", accounts)
        out = out or self.tmp / f"out-{self.n}"

        def capture(project, results, staging, lang, progress):  # noqa: ANN001 - the renderer's signature
            self.documents = [json.loads(json.dumps(r)) for r in results]
            (staging / "documents.json").write_text(json.dumps(results, ensure_ascii=False), "utf-8")

        with Store.open(self.store_path, dry_run=dry_run) as store:
            evaluate_portfolio(self.project, [csv_path], out, date.fromisoformat(day),
                               write_documents=write_documents or capture, store=store)
            self.last = store.last_run
        self.out = out
        lines = (out / "results.jsonl").read_text("utf-8").splitlines()
        return {r["account_id"]: r for r in map(json.loads, lines)}


def states(result: dict[str, Any]) -> dict[str, str]:
    return {p["id"]: p["state"] for p in result["playbooks"]}


def dump(path: Path) -> list[str]:
    """The store's content, independent of how SQLite lays it out in the file."""
    import sqlite3
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
