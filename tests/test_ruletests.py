"""`kam test`: rule tests of the default project, failures shown as a diff with the rule
chain, and errors in test files with their positions."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.project.load import load_project
from engine.tools.rule_tests import coverage, find_test_files, load_cases, run_cases

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = ("defaults: {status: active, revenue_share_pct: 5, revenue_current: 100, revenue_previous: 100, "
           "payment_overdue_days: 0, nps: 9}\n")


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the default project (with its rule tests) to break."""
    root = tmp_path / "proj"
    for name in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "kam.yaml", root / "kam.yaml")
    for f in find_test_files(ROOT):
        dest = root / f.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    return root


def write_tests(root: Path, body: str, name: str = "extra.yaml") -> Path:
    f = root / "tests" / name
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("kind: tests\n" + body, "utf-8")
    return f


def test_default_project_rule_tests_pass():
    r = run("test", "--project", ROOT)
    assert r.exit_code == 0, r.output
    files = find_test_files(ROOT)
    n = sum(len(re.findall(r"^  - name:", f.read_text("utf-8"), re.M)) for f in files)
    assert n >= 60
    assert r.output.strip().splitlines()[-1] == f"{n} cases, 0 failed"
    assert "FAIL" not in r.output and "note:" not in r.output


def test_every_default_rule_fires_in_a_case_and_is_held_silent_in_another():
    """The coverage property: a rule added to the default project without a test fails here."""
    project = load_project(ROOT)
    outcomes = run_cases(project, load_cases(project, find_test_files(ROOT)))
    assert all(o.passed for o in outcomes), [o.mismatches for o in outcomes if not o.passed]
    cov = coverage(project, outcomes)
    assert set(cov) == {r.id for r in project.rules}
    never_fired = sorted(r for r, (fired, _) in cov.items() if not fired)
    never_silent = sorted(r for r, (_, silent) in cov.items() if not silent)
    assert never_fired == [], f"rules no rule test makes fire: {never_fired}"
    assert never_silent == [], f"rules no rule test shows silent: {never_silent}"


def test_a_broken_expectation_fails_with_a_diff_and_the_rule_chain(project):
    f = write_tests(project, HEALTHY + """\
cases:
  - name: two categories but said to be medium
    account: {payment_overdue_days: 31, nps: 3, revenue_current: 85}
    expect: {signals: [payment_delay, purchase_drop], risk_level: medium, playbooks: [financial_response]}
""")
    r = run("test", "--project", project, f)
    assert r.exit_code == 1
    out = r.output
    assert f"FAIL {f}:4:5: two categories but said to be medium" in out
    assert "signals: missing purchase_drop; unexpected low_nps (got low_nps, payment_delay)" in out
    assert "risk level: expected medium, got high" in out
    assert ("playbooks: unexpected anti_crisis, emotional_response "
            "(got anti_crisis, emotional_response, financial_response)") in out
    # the chain that produced it, in order, with the values behind each step
    chain = out[out.index("fired, in chain order:"):]
    assert chain.index("low_nps: when nps < thresholds.nps_min") < chain.index("risk_high: when") \
        < chain.index("assign_anti_crisis: when risk.high")
    assert "nps = 3, thresholds.nps_min = 7" in chain
    # why the expected signal is missing: exactly at the threshold
    assert ("signal.purchase_drop not asserted: rule purchase_drop: purchase_drop_pct > "
            "thresholds.purchase_drop_pct is false (purchase_drop_pct = 15, "
            "thresholds.purchase_drop_pct = 15)") in out
    assert out.strip().splitlines()[-1] == "1 cases, 1 failed"


def test_changing_a_threshold_breaks_the_boundary_test(project):
    """The safety net: moving payment_overdue_days from 30 to 29 fails the default tests."""
    t = project / "rules" / "thresholds.yaml"
    t.write_text(t.read_text("utf-8").replace("{id: payment_overdue_days, value: 30,",
                                              "{id: payment_overdue_days, value: 29,"), "utf-8")
    r = run("test", "--project", project)
    assert r.exit_code == 1
    assert "payment_delay is silent at 30 days" in r.output
    assert "signals: unexpected payment_delay (got payment_delay)" in r.output
    last = r.output.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ cases, [1-9]\d* failed", last)


def test_expect_at_least_and_absent(project):
    f = write_tests(project, HEALTHY + """\
cases:
  - name: at least allows more
    account: {payment_overdue_days: 31, nps: 3}
    expect_at_least: {signals: [payment_delay], playbooks: [anti_crisis]}
  - name: absent is checked
    account: {payment_overdue_days: 31}
    absent: {signals: [payment_delay], risk_levels: [medium]}
""")
    r = run("test", "--project", project, "-v", f)
    assert r.exit_code == 1
    assert "ok   " in r.output and "at least allows more" in r.output
    assert "signals: unexpected payment_delay (got payment_delay)" in r.output
    assert "risk level: got medium, which must be absent" in r.output
    assert r.output.strip().splitlines()[-1] == "2 cases, 1 failed"


def test_errors_in_a_test_file_name_file_line_and_column(project):
    f = write_tests(project, HEALTHY + """\
cases:
  - name: typos
    account: {npss: 3}
    expect: {signals: [low_nsp]}
""")
    g = write_tests(project, "cases:\n  - name: a key typo\n    expectt: {signals: []}\n", "other.yaml")
    r = run("test", "--project", project, f, g)
    assert r.exit_code == 1
    assert f"{f}:5:21: case 'typos' → account: unknown metric 'npss' (did you mean 'nps'?)" in r.output
    assert f"{f}:6:24: case 'typos' → expect → signals: unknown signal 'low_nsp' " \
           "(did you mean 'low_nps'?)" in r.output
    assert f"{g}:4:14: cases → [0] → expectt: unknown key 'expectt' (did you mean 'expect'?)" in r.output
    assert "Traceback" not in r.output


def test_semantic_errors_once_the_schema_is_satisfied(project):
    f = write_tests(project, HEALTHY + """\
cases:
  - name: nothing to check
    account: {nps: 3}
  - name: out of range
    account: {nps: 11}
    expect: {risk_level: hihg}
  - name: bad value
    account: {payment_overdue_days: soon}
    expect: {signals: []}
""")
    r = run("test", "--project", project, f)
    assert r.exit_code == 1
    assert f"{f}:4:5: case 'nothing to check': says nothing to check" in r.output
    assert "unknown risk level 'hihg' (did you mean 'high'?)" in r.output
    assert f"{f}:10:37: case 'bad value' → payment_overdue_days: expected a number, got 'soon'" in r.output


def test_no_rule_tests_is_an_error(tmp_path):
    root = tmp_path / "p"
    for name in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "kam.yaml", root / "kam.yaml")
    (root / "tests").mkdir()
    (root / "tests" / "fixture.yaml").write_text("kind: rules\nrules: []\n", "utf-8")  # not a test file
    r = run("test", "--project", root)
    assert r.exit_code == 1
    assert "no rule tests found" in r.output


def test_a_rule_test_file_among_the_rules_is_a_validate_error(project):
    (project / "rules" / "misplaced.yaml").write_text("kind: tests\ncases: []\n", "utf-8")
    r = run("validate", "--project", project)
    assert r.exit_code == 1
    assert "misplaced.yaml:1:7: rule tests belong in the project's tests/ folder" in r.output


def test_portfolio_values_a_case_sets_are_flagged_when_replaced(project):
    f = write_tests(project, HEALTHY + """\
cases:
  - name: dependency is computed, not given
    account: {dependency: mono}
    expect: {classes: [dependency_mono]}
""")
    r = run("test", "--project", project, f)
    assert r.exit_code == 1
    assert "note: the portfolio pass computes dependency" in r.output


def test_the_readme_example_is_a_passing_rule_test(project):
    """The example file of docs/changing-rules.md, run as written."""
    readme = (ROOT / "docs" / "changing-rules.md").read_text("utf-8")
    section = readme[readme.index("## Rule tests"):]
    block = section[section.index("```yaml\n") + 8:]
    block = block[:block.index("```")]
    assert "kind: tests" in block
    f = project / "tests" / "readme" / "example.yaml"
    f.parent.mkdir(parents=True)
    f.write_text(block, "utf-8")
    r = run("test", "--project", project, f)
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "3 cases, 0 failed"
