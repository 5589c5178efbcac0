"""Why an account got its result: the rules that fired, with the values behind each step,
and the rules that did not, each with the part of its condition that failed."""
from __future__ import annotations

from typing import Any

from ..project import expr
from ..project.model import Project, text_in
from ..result import Result
from ..rules.evidence import threshold_text
from ..rules.interpreter import Context, failing_part, operand_values, truth
from ..rules.planning import Planner


def show(v: Any) -> str:
    if v is None:
        return "missing"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return expr.fmt_number(v)
    return repr(v)


def money(v: float) -> str:
    """Money with thousands separators and at most two decimals."""
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def show_values(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {show(v)}" for k, v in d.items())


def fired_chain(project: Project, fired_ids: list[str], ctx: Context, levels: dict[str, int],
                indent: str = "  ") -> list[str]:
    """The rules that fired, in the order they build on each other, with their values."""
    rules = {r.id: r for r in project.rules}
    lines: list[str] = []
    for rid in sorted(fired_ids, key=lambda r: (levels.get(r, 0), r)):
        r = rules[rid]
        lines.append(f"{indent}[{levels.get(rid, 0) + 1}] {rid}: when {r.when_text}")
        if r.description:  # in words, its thresholds those of the account's segment
            said = threshold_text(project, text_in(r.description, 'en'), 'en', ctx.values.get('segment'))
            lines.append(f"{indent}      {said}")
        shown = operand_values(r.when, ctx)
        if shown:
            lines.append(f"{indent}      {show_values(shown)}")
        lines.append(f"{indent}      => {', '.join(f'{k}.{i}' for k, i in r.asserts)}")
    return lines


def explain(project: Project, values: dict[str, Any], result: Result,
            levels: dict[str, int]) -> list[str]:
    """Readable lines; `values` include derived metrics, `result` is the engine's result."""
    facts = {tuple(a.split(".", 1)) for f in result["fired"] for a in f["asserts"]}
    ctx = Context(project, values, facts)
    fired_ids = [f["rule"] for f in result["fired"]]
    name = f" ({result['name']})" if result.get("name") else ""
    lines = [f"Account {result['account_id']}{name}: risk level {result['risk_level']}"]
    if result["missing"]:
        lines.append(f"Missing inputs (conditions on them are not true): {', '.join(result['missing'])}")
    lines.append("")
    lines.append("Fired, in order of the chain:" if fired_ids else "No rule fired.")
    lines += fired_chain(project, fired_ids, ctx, levels)
    lines += severity_lines(project, result)
    lines += priority_lines(project, values, result, ctx)
    lines += step_lines(project, result, ctx)
    not_fired = [r for r in project.rules if r.id not in fired_ids]
    if not_fired:
        lines.append("")
        lines.append("Did not fire:")
    for r in not_fired:
        lines.append(f"  {r.id}: when {r.when_text}")
        for part, value in failing_part(r.when, ctx)[:4]:
            seen = operand_values(part, ctx)
            why = "unknown (a value is missing)" if value is None else "false"
            lines.append(f"        {expr.to_text(part)} is {why}" + (f": {show_values(seen)}" if seen else ""))
    return lines


def severity_lines(project: Project, result: Result) -> list[str]:
    """Each category's signals with their severity, and which categories they made severe
    (severe.<category>, which the risk rules count)."""
    if not result["signals"]:
        return []
    lines = ["", f"Signals by category and severity (a signal of severity {project.severe_from} or higher "
                 "makes its category severe: severe_from in rules/facts.yaml):"]
    for cid in project.categories:
        found = [s for s in result["signals"] if s["category"] == cid]
        if not found:
            continue
        severe = any(s["id"] in project.signals and project.severe(project.signals[s["id"]]) for s in found)
        lines.append(f"  {cid}: " + ", ".join(f"{s['id']} ({s['severity']})" for s in found)
                     + (f" => severe.{cid}" if severe else " (not severe)"))
    return lines


def priority_lines(project: Project, values: dict[str, Any], result: Result, ctx: Context) -> list[str]:
    """How the account's priority was worked out (rules/priority.yaml)."""
    parts = Planner(project).priority(values, ctx, result["risk_level"], result.get("winback"))
    pr = project.priority
    boosts = " × ".join(f"{show(f)} ({b})" for b, f in parts.boosts)
    lines = ["", f"Priority {money(parts.priority)} = expected loss {money(parts.expected_loss)}"
             + (f" × {boosts}" if boosts else " (no boost applies)")]
    if parts.margin_pct is None:
        lines.append(f"  expected loss = win-back value − cost = {money(parts.money)} "
                     "(a lost client worth winning back)")
    else:
        margin = (f"{pr.margin} {show(parts.margin_pct)} %" if parts.margin_known
                  else f"default_margin_pct {show(parts.margin_pct)} % ({pr.margin} is missing)")
        at = pr.at_stake if result.get("status") != "lost" else "expected annual revenue"
        chance = (f"chance {show(parts.chance)} at risk level {result['risk_level']}" if result.get("status") != "lost"
                  else f"lost_unknown_chance {show(parts.chance)}")
        lines.append(f"  expected loss = {at} {money(parts.money)} × {margin} × {chance}")
    for b in pr.boosts:
        if b.id not in dict(parts.boosts):
            lines.append(f"  boost {b.id} ×{show(b.factor)} does not apply: when {b.when_text}")
    return lines


def step_lines(project: Project, result: Result, ctx: Context) -> list[str]:
    """Steps the account's conditions left out, and steps merged into another (same action)."""
    lines: list[str] = []
    shown = {(p["id"], s["id"]) for p in result["playbooks"] for s in p["steps"]}
    merged = {(m["playbook"], m["step"]): (p["id"], s["id"]) for p in result["playbooks"] for s in p["steps"]
              for m in s.get("merged") or ()}
    for p in result["playbooks"]:
        pb = project.playbooks.get(p["id"])
        if pb is None:
            continue
        for st in pb.steps:
            key = (pb.id, st.id)
            if key in shown:
                continue
            if key in merged:
                into = merged[key]
                lines.append(f"  {pb.id}/{st.id}: merged into {into[0]}/{into[1]} (action {st.action})")
            elif st.when is not None:
                v = truth(st.when, ctx)
                lines.append(f"  {pb.id}/{st.id}: left out, when {st.when_text} is "
                             f"{'false' if v is False else 'unknown'}")
    return ["", "Steps shaped by conditions and merging:", *lines] if lines else []
