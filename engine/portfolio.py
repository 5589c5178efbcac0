"""The whole-portfolio pass, before the rules: revenue shares, ABC classes, dependency.

Its results become ordinary metric values (revenue_share_pct, abc, dependency) that
rules read like any other metric.
"""
from __future__ import annotations

from typing import Any

from .model import Project

DEFAULTS = {"abc_a_pct": 80.0, "abc_b_pct": 95.0, "dependency_risky_pct": 20.0,
            "dependency_mono_pct": 50.0}


def _setting(project: Project, key: str) -> float:
    t = project.thresholds.get(key)
    return float(t.value) if t is not None else DEFAULTS[key]


def measure(project: Project, accounts: list[dict[str, Any]]) -> None:
    """Fill revenue_share_pct (when absent), abc and dependency on every account, in place."""
    revenue = [(a.get("revenue_current") or 0.0) for a in accounts]
    total = float(sum(r for r in revenue if r > 0))
    for a, r in zip(accounts, revenue):
        if a.get("revenue_share_pct") is None and total > 0 and a.get("revenue_current") is not None:
            a["revenue_share_pct"] = round(r / total * 100, 6)
    a_pct, b_pct = _setting(project, "abc_a_pct"), _setting(project, "abc_b_pct")
    order = sorted(range(len(accounts)), key=lambda i: (-revenue[i], str(accounts[i].get("account_id"))))
    cumulative = 0.0
    for i in order:
        before = round(cumulative / total * 100, 6) if total > 0 else 0.0
        # the account that crosses a boundary still belongs to the class below it
        accounts[i]["abc"] = "A" if before < a_pct else ("B" if before < b_pct else "C")
        cumulative += max(revenue[i], 0.0)
    risky, mono = _setting(project, "dependency_risky_pct"), _setting(project, "dependency_mono_pct")
    for a in accounts:
        share = a.get("revenue_share_pct")
        a["dependency"] = ("none" if share is None or share <= risky
                           else "mono" if share > mono else "risky")
