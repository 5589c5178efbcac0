"""Text for the store's commands: a run's plan summary, the plan list, an account's history."""
from __future__ import annotations

from pathlib import Path
from typing import Any

ORDER = ("new", "escalated", "ongoing", "resolved", "snoozed", "cooldown")


def run_summary(info: Any, shown: Path) -> dict[str, Any]:
    """The store's part of `kam evaluate --json`."""
    return {"store": str(shown), "run_id": info.run_id, "as_of": info.as_of, "replayed": info.replayed,
            "dry_run": info.dry_run, "states": {k: info.states.get(k, 0) for k in ORDER},
            "pending_rules": info.pending_rules}


def run_line(info: Any, shown: Path) -> str:
    counts = ", ".join(f"{info.states[k]} {k}" for k in ORDER if info.states.get(k))
    pending = f"; {info.pending_rules} rule firing(s) held back by for_runs" if info.pending_rules else ""
    body = f"plans: {counts or 'none'}{pending}"
    if info.dry_run:
        return f"{body} (dry run: {shown} not changed)"
    if info.replayed:
        return f"{body} (same rules, date and input as run {info.run_id}: nothing recorded, its output reproduced)"
    return f"{body} (run {info.run_id} recorded in {shown})"


def _when(v: dict[str, Any]) -> str:
    if v["status"] == "snoozed":
        return f"snoozed until {v['snoozed_until']}: {v['snooze_reason']}"
    if v["status"] == "done":
        return f"done {v['done_on']}"
    if v["status"] == "resolved":
        return f"resolved {v['resolved_on']}"
    due = f"next due {v['next_due']}" if v["next_due"] else "all steps done"
    return due + (" OVERDUE" if v["overdue"] else "") + (" (trigger cleared, kept open)" if v["kept_open"] else "")


def plan_lines(views: list[dict[str, Any]], status: str) -> list[str]:
    if not views:
        return [f"no {status} plans"]
    rows = [(str(v["plan_id"]), v["account_id"] + (f" ({v['account_name']})" if v["account_name"] else ""),
             v["playbook"], v["state"] if v["status"] == "open" else v["status"], f"opened {v['opened']}",
             _when(v), v["owner"] or "-") for v in views]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 2)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + f"  {r[-2]}  [{r[-1]}]" for r in rows]


def history_lines(data: dict[str, Any]) -> list[str]:
    name = f" ({data['name']})" if data.get("name") else ""
    lines = [f"{data['account_id']}{name}, manager {data.get('owner') or '-'}", ""]
    for r in data["runs"]:
        pending = f"  (held back: {', '.join(r['pending_rules'])})" if r["pending_rules"] else ""
        lines.append(f"  {r['as_of']}  run {r['run_id']:<4} risk {r['risk_level']:<8} "
                     f"signals: {', '.join(r['signals']) or '-'}{pending}")
    if data["plans"]:
        lines += ["", "Plans:"]
        for p in data["plans"]:
            lines.append(f"  plan {p['plan_id']} {p['playbook']}: opened {p['opened']}, "
                         f"{p['state'] if p['status'] == 'open' else p['status']}; {_when(p)}")
            for e in p["events"]:
                run = f" (run {e['run_id']})" if e["run_id"] else ""
                detail = f": {e['detail']}" if e["detail"] else ""
                lines.append(f"      {e['at']}  {e['event']}{run}{detail}")
    return lines
