"""Shared fixtures: a small valid project written to tmp_path, and the default project."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_FILES: dict[str, str] = {
    "kam.yaml": "kind: project\nname: test\n",
    "rules/metrics.yaml": """\
kind: metrics
metrics:
  - {id: account_id, type: text, required: true}
  - {id: nps, type: integer, min: 0, max: 10}
  - {id: strategic, type: boolean}
  - {id: status, type: text, values: [active, lost]}
  - {id: revenue_current, type: number, min: 0}
  - {id: revenue_previous, type: number, min: 0}
  - {id: drop_pct, type: number, formula: "pct_drop(revenue_current, revenue_previous)"}
""",
    "rules/thresholds.yaml": """\
kind: thresholds
thresholds:
  - {id: nps_min, value: 7}
  - {id: drop, value: 15}
""",
    "rules/facts.yaml": """\
kind: facts
categories:
  - {id: fin, title: Financial}
  - {id: emo, title: Emotional}
signals:
  - {id: low_nps, category: emo, severity: medium, title: Low NPS}
  - {id: drop, category: fin, severity: high, title: Purchases dropped}
classes:
  - {id: key, title: Key account}
  - {id: watch, title: Watch list}
risk_levels:
  - {id: medium, title: Medium}
  - {id: high, title: High}
""",
    "rules/rules.yaml": """\
kind: rules
rules:
  - id: low_nps
    when: nps < thresholds.nps_min
    then: {signal: low_nps}
  - id: drop
    when: drop_pct > thresholds.drop
    then: {signal: drop}
  - id: key
    when: strategic
    then: {class: key}
  - id: risk_medium
    when: count(category.*) == 1
    then: {risk: medium}
  - id: risk_high
    when: count(category.*) >= 2
    then: {risk: high}
  - id: respond
    when: risk.high and status == "active"
    then: {playbook: respond}
""",
    "playbooks/respond.yaml": """\
kind: playbook
id: respond
title: Respond to a high risk
steps:
  - {id: call, title: Call the client, owner: kam, due_days: 7}
""",
}


def locate(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, col) of the n-th occurrence of `needle` in `text`."""
    start = -1
    for _ in range(occurrence):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    return line, col


@pytest.fixture
def make_project(tmp_path: Path):
    """make_project({"rules/rules.yaml": text_or_dict_or_None, ...}, extra_rules="...") -> root.

    Each given file replaces the default one (None deletes it; a dict is dumped as YAML);
    `extra_rules` is appended to the default rules/rules.yaml (indented list items).
    """

    def make(files: dict[str, str | dict | None] | None = None, extra_rules: str = "") -> Path:
        contents: dict[str, str | dict | None] = dict(DEFAULT_FILES)
        if extra_rules:
            contents["rules/rules.yaml"] = DEFAULT_FILES["rules/rules.yaml"] + extra_rules
        contents.update(files or {})
        for rel, text in contents.items():
            if text is None:
                continue
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(text, dict):
                text = yaml.safe_dump(text, sort_keys=False, allow_unicode=True)
            path.write_text(text, encoding="utf-8")
        return tmp_path

    return make


@pytest.fixture(scope="session", autouse=True)
def _session_state_store(tmp_path_factory: pytest.TempPathFactory):
    """Module- and session-scoped fixtures run before function-scoped ones: they too must
    never write the developer's ./.kam/state.sqlite."""
    old = os.environ.get("KAM_STORE")
    os.environ["KAM_STORE"] = str(tmp_path_factory.mktemp("session-store") / "state.sqlite")
    yield
    if old is None:
        os.environ.pop("KAM_STORE", None)
    else:
        os.environ["KAM_STORE"] = old


@pytest.fixture(autouse=True)
def _private_state_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`kam evaluate` keeps plans in a state store (default ./.kam/state.sqlite for the bundled
    project): every test gets its own, never the developer's."""
    monkeypatch.setenv("KAM_STORE", str(tmp_path_factory.mktemp("store") / "state.sqlite"))


@pytest.fixture
def default_root() -> Path:
    return REPO_ROOT
