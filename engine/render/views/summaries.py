"""The view of the run summary (templates/summary.*.j2)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from ...i18n import format_day_month
from ...project.model import NO_RISK, text_in
from ...result import Result
from ..report.data import accounts, kpi_rows, manager_kpis
from . import states
from .context import SummaryView, Workload, WorkloadRow
from .steps import at_stake, urgency_key
from .words import Words


def summary(w: Words, results: list[Result], digests: Mapping[str, str],
            plan_files: Mapping[str, str], top: int = 15) -> SummaryView:
    p = w.project
    levels = [r.id for r in reversed(p.risk_levels)] + [NO_RISK]
    by_level = {lvl: [r for r in results if r["risk_level"] == lvl] for lvl in levels}
    at_risk = [r for r in results if r["risk_level"] != NO_RISK]
    total_revenue = sum(r.get("revenue_current") or 0 for r in results)
    signal_counts = Counter(s["id"] for r in results for s in r["signals"])
    playbook_counts = Counter(pr["id"] for r in results for pr in r["playbooks"])
    n = len(results) or 1
    owners: dict[str, list[Result]] = {}
    for r in results:
        owners.setdefault(r.get("owner") or w.labels["unassigned"], []).append(r)
    lost = sorted(((r, wb) for r in results if (wb := r.get("winback"))), key=lambda rw: urgency_key(p, rw[0]))
    expected = sum(r.get("expected_loss") or 0.0 for r in results if r["playbooks"])
    return {
        "expected_loss": w.money(expected),
        "expected_loss_share": w.num(expected / total_revenue * 100, 1) if total_revenue else "0",
        "workload": workload(w, results),
        "accounts": len(results),
        "with_plan": sum(1 for r in results if r["playbooks"]),
        "plan_states": states.counts(w, results),
        "by_risk": [{"id": lvl, "title": w.risk(lvl), "count": len(rs),
                     "revenue": w.money(sum(r.get("revenue_current") or 0 for r in rs))}
                    for lvl, rs in by_level.items()],
        "revenue_at_risk": w.money(sum(r.get("revenue_current") or 0 for r in at_risk)),
        "revenue_at_risk_share": w.num(sum(r.get("revenue_current") or 0 for r in at_risk)
                                       / total_revenue * 100, 1) if total_revenue else "0",
        "total_revenue": w.money(total_revenue),
        "signals": [{"title": text_in(p.signals[sid].title, w.lang),
                     "category": text_in(p.categories[p.signals[sid].category].title, w.lang)
                     if p.signals[sid].category in p.categories else p.signals[sid].category,
                     "count": c, "share": w.num(c / n * 100, 1)}
                    for sid, c in sorted(signal_counts.items(), key=lambda kv: (-kv[1], kv[0]))],
        "playbooks": [{"title": text_in(p.playbooks[pid].title, w.lang), "count": c}
                      for pid, c in sorted(playbook_counts.items(),
                                           key=lambda kv: (-kv[1], p.playbooks[kv[0]].priority, kv[0]))],
        "owners": [{"owner": o, "accounts": len(rs), "digest": digests.get(o, ""),
                    "levels": [sum(1 for r in rs if r["risk_level"] == lvl) for lvl in levels[:-1]],
                    "revenue_at_risk": w.money(sum(r.get("revenue_current") or 0 for r in rs
                                                   if r["risk_level"] != NO_RISK)),
                    "expected_loss": w.money(sum(r.get("expected_loss") or 0.0 for r in rs if r["playbooks"]))}
                   for o, rs in sorted(owners.items())],
        "level_titles": [w.risk(lvl) for lvl in levels[:-1]],
        "kpis": kpi_rows(manager_kpis(accounts(results), w.labels["unassigned"]), w.labels, w.num),
        "top_accounts": [{"title": r.get("name") or r["account_id"], "account_id": r["account_id"],
                          "owner": r.get("owner") or w.labels["unassigned"], "risk": w.risk(r["risk_level"]),
                          "risk_id": r["risk_level"], "signals": len(r["signals"]),
                          "at_stake": w.money(at_stake(r)), "expected_loss": w.money(r.get("expected_loss")),
                          "priority": w.num(r.get("priority"), 0), "abc": r.get("abc") or "",
                          "plan": plan_files.get(r["account_id"], "")}
                         for r in sorted((r for r in results if r["playbooks"] and r.get("status") != "lost"),
                                         key=lambda r: urgency_key(p, r))[:top]],
        "lost": [{"title": r.get("name") or r["account_id"], "account_id": r["account_id"],
                  "owner": r.get("owner") or w.labels["unassigned"],
                  "decision_id": wb["decision"], "decision": w.labels[f"decision_{wb['decision']}"],
                  "benefit": w.money(wb["value"]), "cost": w.money(wb["cost"]),
                  "plan": plan_files.get(r["account_id"], "")} for r, wb in lost],
        "more_lost": "",  # every lost client is listed here; aggregate.py stops at a cap and says so
    }


def workload(w: Words, results: Iterable[Result], weeks: int = 6) -> Workload | None:
    """Open steps per week of each role with a capacity (kam.yaml), for the next `weeks` weeks
    and what lies beyond, so the people at the top see their load and the queue."""
    capacity = w.project.capacity
    if not capacity:
        return None
    per: dict[str, Counter[str]] = {role: Counter() for role in capacity}
    first = ""
    for r in results:
        first = first or r["as_of"]
        for pr in r["playbooks"]:
            for s in pr["steps"]:
                if s["owner"] in per and not s.get("done"):
                    d = date.fromisoformat(max(s["due"], r["as_of"]))  # overdue: this week's work
                    per[s["owner"]][(d - timedelta(days=d.weekday())).isoformat()] += 1
    if not first:
        return None
    start = date.fromisoformat(first)
    start -= timedelta(days=start.weekday())
    columns = [(start + timedelta(weeks=i)).isoformat() for i in range(weeks)]
    rows: list[WorkloadRow] = [{"role": w.role(role), "capacity": capacity[role],
                                "weeks": [per[role].get(c, 0) for c in columns],
                                "later": sum(n for k, n in per[role].items() if k > columns[-1]),
                                "last": w.date(max(per[role])) if per[role] else "—"}
                               for role in sorted(capacity)]
    # short column heads (dd.mm): six full dates do not fit a page's width
    return {"columns": [format_day_month(c, w.lang) for c in columns], "rows": rows}


def owners_of(results: Iterable[Result], unassigned: str) -> list[str]:
    return sorted({r.get("owner") or unassigned for r in results})
