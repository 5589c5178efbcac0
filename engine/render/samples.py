"""Made-up results with every part a document can show, for `kam validate` to render every
template once in every language: a template that reads a missing field or label fails
there, not in the middle of a run. The shape follows engine/evaluate.py (a test keeps
the two in step)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ..evidence import WINBACK_COST, WINBACK_VALUE
from ..model import NO_RISK, Project, text_in


def _playbook(project: Project, pid: str, as_of: date, lang: str) -> dict[str, Any]:
    pb = project.playbooks[pid]
    return {"id": pid, "title": text_in(pb.title, lang), "priority": pb.priority,
            "reason": {"metrics": {}, "thresholds": {}, "rules": []},
            "steps": [{"id": s.id, "title": text_in(s.title, lang), "owner": s.owner,
                       "due": (as_of + timedelta(days=s.due_days)).isoformat()} for s in pb.steps]}


def _result(project: Project, as_of: date, lang: str, account_id: str, **over: Any) -> dict[str, Any]:
    top = project.risk_levels[-1].id if project.risk_levels else NO_RISK
    r: dict[str, Any] = {
        "account_id": account_id, "name": f"<Sample & {account_id}>", "owner": "Sample Manager",
        "segment": "sample", "status": "active", "as_of": as_of.isoformat(), "risk_level": top,
        "signals": [{"id": s.id, "category": s.category, "severity": s.severity,
                     "title": text_in(s.title, lang),
                     "evidence": {"metrics": {}, "thresholds": {}, "rules": []},
                     "text": text_in(s.evidence, lang) or s.id} for s in project.signals.values()],
        "classes": sorted(project.classes),
        "playbooks": [_playbook(project, pid, as_of, lang)
                      for pid in sorted(project.playbooks, key=lambda i: (project.playbooks[i].priority, i))],
        "key_account": True, "dependency": "risky", "abc": "A", "kaism": None,
        "revenue_share_pct": 12.5, "revenue_current": 1234567.89, "missing": [], "winback": None,
        "fired": []}
    r.update(over)
    return r


def _winback(decision: str, missing: list[str]) -> dict[str, Any]:
    inputs = {"expected_annual_revenue": 2_000_000.0, "margin_pct": 25.0, "win_probability": 0.5,
              WINBACK_COST: 100_000.0}
    for m in missing:
        inputs[m] = None
    return {"decision": decision, "value": None if missing else 250_000.0,
            "cost": inputs[WINBACK_COST], "inputs": inputs, "missing": missing,
            "lost_reason": "price pressure"}


def sample_results(project: Project, lang: str, as_of: date = date(2026, 11, 23)) -> list[dict[str, Any]]:
    """An account with everything, a quiet one, and lost ones for each win-back decision."""
    results = [_result(project, as_of, lang, "S-1"),
               _result(project, as_of, lang, "S-2", owner=None, signals=[], playbooks=[], classes=[],
                       risk_level=NO_RISK, revenue_share_pct=None, revenue_current=None)]
    if WINBACK_VALUE in project.metrics:
        for i, (decision, missing) in enumerate((("pursue", []), ("do_not_pursue", []),
                                                 ("undecided", ["win_probability"]))):
            wb = _winback(decision, missing)
            if decision == "do_not_pursue":
                wb["value"], wb["lost_reason"] = 50_000.0, None
            results.append(_result(project, as_of, lang, f"S-L{i}", status="lost", revenue_current=0.0,
                                   winback=wb))
    return results
