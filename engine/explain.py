"""Why an account got its result: the rules that fired, with the values behind each step,
and the rules that did not, each with the part of its condition that failed."""
from __future__ import annotations

from typing import Any

from . import expr
from .model import Project
from .reference import Context, failing_part, operand_values


def show(v: Any) -> str:
    if v is None:
        return "missing"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return expr.fmt_number(v)
    return repr(v)


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
        shown = operand_values(r.when, ctx)
        if shown:
            lines.append(f"{indent}      {show_values(shown)}")
        lines.append(f"{indent}      => {', '.join(f'{k}.{i}' for k, i in r.asserts)}")
    return lines


def explain(project: Project, values: dict[str, Any], result: dict[str, Any],
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
    not_fired = [r for r in project.rules if r.id not in fired_ids]
    if not_fired:
        lines.append("")
        lines.append("Did not fire:")
    for r in not_fired:
        lines.append(f"  {r.id}: when {r.when_text}")
        for part, truth in failing_part(r.when, ctx)[:4]:
            seen = operand_values(part, ctx)
            why = "unknown (a value is missing)" if truth is None else "false"
            lines.append(f"        {expr.to_text(part)} is {why}" + (f": {show_values(seen)}" if seen else ""))
    return lines
