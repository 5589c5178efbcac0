"""`kam validate`: load, compile and render-check a project, reporting every problem at once."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import KamError
from ..project.load import load_project
from ..render import check_templates
from ..render.templates import template_syntax_problems
from ..rules.compile import compile_project
from ..rules.durable import check_ruleset


@dataclass(frozen=True)
class Validated:
    """What a valid project holds, for the one line `kam validate` prints."""

    name: str
    metrics: int
    thresholds: int
    signals: int
    rules: int
    engine_rules: int  # durable-rules rules the compiler made of them
    strata: int  # evaluation levels (a rule reads only facts of the levels below it)
    playbooks: int

    def line(self) -> str:
        return (f"{self.name}: valid — {self.metrics} metrics, {self.thresholds} thresholds, {self.signals} "
                f"signals, {self.rules} rules ({self.engine_rules} engine rules, {self.strata} strata), "
                f"{self.playbooks} playbooks")


def validate_project(root: Path, shown: Path) -> Validated:
    """The project at `root` (named `shown` in messages) loaded, compiled into a durable-rules
    ruleset and its templates checked; a KamError lists every problem found. Template syntax
    problems are added to the YAML ones, so a broken project is reported in one go."""
    try:
        project = load_project(root, shown)
    except KamError as exc:
        raise KamError(exc.problems + template_syntax_problems(root, shown)) from None
    compiled = compile_project(project)
    check_ruleset(compiled)
    check_templates(project, shown)
    return Validated(project.name, len(project.metrics), len(project.thresholds), len(project.signals),
                     len(project.rules), len(compiled.definition) - 1, len(compiled.phases) + 1,
                     len(project.playbooks))
