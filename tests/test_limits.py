"""Issue 17, hostile projects and environments: each case ends evaluated correctly, rejected
with its reason, or refused before anything is written - exit 1 and a message naming the
file (and line) and what to do. The limits are listed in docs/limits.md."""
from __future__ import annotations

import re
import shutil
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.errors import KamError
from engine.project.load import load_project
from engine.rules.compile import compile_project
from engine.rules.durable import check_ruleset

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-23"
LINKED_OUT = ("a link to {real}, outside the project: kam reads only files inside the project folder "
              "(copy the file in instead of linking it)")


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def said(r) -> str:  # noqa: ANN001 - a click Result
    """What a command printed, less the progress lines of `kam evaluate` (a line per phase done)."""
    return "".join(line for line in r.output.splitlines(keepends=True) if not PHASE_DONE.fullmatch(line.rstrip("\n")))


PHASE_DONE = re.compile(r"\w+: [\d,]+ \w+ in \d+\.\d s")


def copy_project(dest: Path) -> Path:
    for part in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / part, dest / part)
    shutil.copy(ROOT / "kam.yaml", dest / "kam.yaml")
    return dest


def accounts(tmp_path: Path, n: int = 40) -> Path:
    lines = (ROOT / "examples" / "accounts.csv").read_text("utf-8").splitlines(keepends=True)
    f = tmp_path / "a.csv"
    f.write_text("".join(lines[:n + 1]), "utf-8")
    return f


# ---- 3: files linked out of the project --------------------------------------------------------

@pytest.fixture
def secret(tmp_path: Path) -> Path:
    f = tmp_path / "secret.txt"
    f.write_text("root:x:0:0:the secret\n", "utf-8")
    return f


@pytest.mark.parametrize("link", ["templates/leak.md.j2", "templates/labels.yaml", "rules/extra.yaml",
                                  "playbooks/qbr.yaml", "kam.yaml", "templates"])
def test_a_project_file_linked_out_of_the_project_is_refused(tmp_path, monkeypatch, secret, link):
    monkeypatch.chdir(tmp_path)
    proj = copy_project(tmp_path / "proj")
    target = proj / link
    real = secret if link != "templates" else proj.parent / "elsewhere"
    if link == "templates":
        shutil.move(str(proj / "templates"), real)
    target.unlink(missing_ok=True)
    target.symlink_to(real)
    expected = f"proj/{link}: " + LINKED_OUT.format(real=real.resolve())
    r = run("validate", "--project", "proj")
    assert r.exit_code == 1 and expected in r.output.splitlines(), r.output
    r = run("evaluate", accounts(tmp_path), "--project", "proj", "--out", "out", "--as-of", AS_OF)
    assert r.exit_code == 1 and expected in r.output.splitlines(), r.output
    assert not (tmp_path / "out").exists() and "the secret" not in r.output


def test_a_link_inside_the_project_is_read(tmp_path):
    proj = copy_project(tmp_path / "proj")
    (proj / "templates" / "shared").mkdir()
    shutil.move(str(proj / "templates" / "plan.md.j2"), proj / "templates" / "shared" / "plan.md.j2")
    (proj / "templates" / "plan.md.j2").symlink_to(Path("shared") / "plan.md.j2")
    r = run("validate", "--project", proj)
    assert r.exit_code == 0, r.output


def test_an_include_through_a_link_made_after_loading_is_refused(tmp_path, secret):
    import engine.render

    proj = copy_project(tmp_path / "proj")
    plan = proj / "templates" / "plan.md.j2"
    plan.write_text(plan.read_text("utf-8") + "{% include 'sub/secret.txt' %}\n", "utf-8")
    (proj / "templates" / "sub").mkdir()
    project = load_project(proj)
    (proj / "templates" / "sub").rmdir()
    (proj / "templates" / "sub").symlink_to(secret.parent)  # a folder linked out, after the check
    with pytest.raises(KamError) as exc:
        engine.render.check_templates(project)
    line = plan.read_text("utf-8").count("\n")
    assert [str(p) for p in exc.value.problems] == [
        f"{proj}/templates/plan.md.j2:{line}:1: template: 'sub/secret.txt' is a link to "
        f"{secret.resolve()}, outside the project: copy the file into templates/ instead of linking it "
        f"(rendering sample data, {lang})" for lang in ("en", "ru")]


# ---- 7: NaN and infinity where a number is declared -----------------------------------------

def replaced(proj: Path, rel: str, old: str, new: str) -> str:
    text = (proj / rel).read_text("utf-8")
    assert old in text
    (proj / rel).write_text(text.replace(old, new, 1), "utf-8")
    return (proj / rel).read_text("utf-8")


@pytest.mark.parametrize("rel, old, new, message", [
    ("rules/thresholds.yaml", "id: purchase_drop_pct, value: 15,", "id: purchase_drop_pct, value: .nan,",
     "threshold 'purchase_drop_pct' → value: .nan is not a number; write a finite number"),
    ("rules/thresholds.yaml", "value: 15,", "value: 15, segments: {key: .inf},",
     "threshold 'purchase_drop_pct' → segments → key: .inf is not a number; write a finite number"),
    ("rules/metrics.yaml", "min: 0, max: 100,", "min: 0, max: .Inf,",
     "metric 'revenue_share_pct' → max: .inf is not a number; write a finite number"),
    ("rules/metrics.yaml", "contract_term_ended: 0.6", "contract_term_ended: .NaN",
     "metric 'win_probability' → default_by → values → contract_term_ended: .nan is not a number; "
     "write a finite number"),
    ("rules/portfolio.yaml", "key_account_share_pct: 10", "key_account_share_pct: -.inf",
     "boundaries → key_account_share_pct: -.inf is not a number; write a finite number"),
    ("rules/priority.yaml", "medium: 0.2", "medium: .nan",
     "risk_weights → medium: .nan is not a number; write a finite number"),
    ("rules/priority.yaml", "factor: 3", "factor: .inf",
     "boost 'key_account' → factor: .inf is not a number; write a finite number"),
])
def test_nan_or_infinity_in_a_project_file_is_a_validation_error(tmp_path, rel, old, new, message):
    proj = copy_project(tmp_path / "proj")
    text = replaced(proj, rel, old, new)
    line = text[:text.index(new)].count("\n") + 1
    with pytest.raises(KamError) as exc:
        load_project(proj)
    found = [p for p in exc.value.problems if "not a number" in p.message]
    assert [(p.path, p.line, p.message) for p in found] == [(str(proj / rel), line, message)]


def test_a_nan_threshold_fails_validate_not_every_account(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    proj = copy_project(tmp_path / "proj")
    replaced(proj, "rules/thresholds.yaml", "value: 15,", "value: .nan,")
    expected = ("proj/rules/thresholds.yaml:7:36: threshold 'purchase_drop_pct' → value: .nan is not a "
                "number; write a finite number")
    for args in (["validate"], ["evaluate", accounts(tmp_path), "--out", "out", "--as-of", AS_OF]):
        r = run(*args, "--project", "proj")
        assert (r.exit_code, r.output) == (1, expected + "\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("number", ["1e400", "9" * 5000])
def test_a_number_too_large_in_a_condition_is_a_validation_error(make_project, number):
    root = make_project(extra_rules=f"  - id: huge\n    when: nps < {number}\n    then: {{class: watch}}\n")
    with pytest.raises(KamError) as exc:
        load_project(root)
    text = (root / "rules/rules.yaml").read_text("utf-8")
    line, col = text[:text.index("nps < " + number[:5])].count("\n") + 1, 17
    assert [str(p) for p in exc.value.problems] == [
        f"{root}/rules/rules.yaml:{line}:{col}: rule 'huge' → when: number too large: {number[:20]}"
        + ("..." if len(number) > 20 else "")]


# ---- 12, 9: deep and long conditions -----------------------------------------------------------

TOO_DEEP = ("expression nested too deeply (more than 64 levels of parentheses, 'not', '-' or chained "
            "operators): split it into derived metrics or rules")


@pytest.mark.parametrize("when, offset, message", [
    ("(" * 150 + "nps < 5" + ")" * 150, 64, TOO_DEEP),  # at the 65th parenthesis
    ("not " * 5000 + "nps < 5", 4 * 64, TOO_DEEP),
    ("-" * 500 + "nps < 5", 64, TOO_DEEP),
    ("count(" * 100 + ")" * 100 + " > 1", 6 * 64, TOO_DEEP),
    (" + ".join(["nps"] * 3000) + " < 5", len(" + ".join(["nps"] * 2936)) + 1, TOO_DEEP),  # a chain
    ("segment in [" + ", ".join(f"'s{i}'" for i in range(1000)) + "]",
     len("segment in [" + ", ".join(f"'s{i}'" for i in range(200))) + 2,
     "more than 200 values in a list: split the rule, or map the values to fewer with a derived metric"),
])
def test_deep_or_long_conditions_are_positioned_errors(make_project, when, offset, message):
    root = make_project(extra_rules=f"  - id: deep\n    when: {when}\n    then: {{class: watch}}\n")
    with pytest.raises(KamError) as exc:
        load_project(root)
    text = (root / "rules/rules.yaml").read_text("utf-8")
    line = text.count("\n") - 1
    assert [str(p) for p in exc.value.problems] == [f"{root}/rules/rules.yaml:{line}:{11 + offset}: "
                                                    f"rule 'deep' → when: {message}"]


def test_64_levels_and_200_values_are_fine(make_project):
    from conftest import DEFAULT_FILES

    whens = ["(" * 64 + "nps < 5" + ")" * 64, "account_id in [" + ", ".join(f"'a{i}'" for i in range(200)) + "]"]
    chain = " + ".join(["nps"] * 64)  # a formula 64 levels deep: 63 operators and the leftmost name
    metrics = DEFAULT_FILES["rules/metrics.yaml"] + f"  - {{id: total, type: number, formula: '{chain}'}}\n"
    project = load_project(make_project(
        {"rules/metrics.yaml": metrics},
        extra_rules="".join(f"  - id: r{i}\n    when: {w}\n    then: {{class: watch}}\n" for i, w in enumerate(whens))))
    assert project.metrics["total"].formula is not None


# ---- 11, 9: what durable-rules accepts -----------------------------------------------------------

def rules_file(root: Path) -> str:
    return (root / "rules/rules.yaml").read_text("utf-8")


def at_rule(root: Path, rule_id: str) -> str:
    from conftest import locate

    line, col = locate(rules_file(root), f"id: {rule_id}")
    return f"{root}/rules/rules.yaml:{line}:{col}: rule '{rule_id}': "


def cases(root: Path, body: str) -> None:
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "cases.yaml").write_text("kind: tests\n" + body, "utf-8")


def test_a_rule_of_fourteen_conditions_is_evaluated(make_project):
    """Thirteen worked and fourteen crashed evaluate and test (durable-rules error 113): an and
    inside an and is now one chain of tests."""
    when = " and ".join(f"revenue_current > {i}" for i in range(30))
    root = make_project(extra_rules=f"  - id: many\n    when: {when}\n    then: {{class: watch}}\n")
    cases(root, "cases:\n"
                "  - {name: all hold, account: {revenue_current: 30}, expect: {classes: [watch]}}\n"
                "  - {name: one fails, account: {revenue_current: 29}, expect: {classes: []}}\n")
    check_ruleset(compile_project(load_project(root)))  # what validate does (this project has no templates)
    r = run("test", "--project", root)
    assert r.exit_code == 0 and r.output.strip().splitlines()[-1] == "2 cases, 0 failed", r.output


def test_too_many_or_groups_is_a_validation_error_for_every_command(make_project, tmp_path):
    when = " and ".join(f"(nps == {i} or revenue_current > {i})" for i in range(5))
    root = make_project(extra_rules=f"  - id: knotty\n    when: {when}\n    then: {{class: watch}}\n")
    cases(root, "cases:\n  - {name: any, account: {nps: 1}, expect: {classes: []}}\n")
    expected = at_rule(root, "knotty") + (
        "too complex for durable-rules: 16 and/or groups in one alternative, 15 allowed (an `or` of "
        "comparisons costs one plus one per comparison); split it into rules that assert an "
        "intermediate class\n")
    (tmp_path / "a.csv").write_text("account_id,nps\nA1,1\n", "utf-8")
    for args in (["validate"], ["test"], ["evaluate", tmp_path / "a.csv", "--out", tmp_path / "out"]):
        r = run(*args, "--project", root)
        assert (r.exit_code, said(r)) == (1, expected), args
    assert not (tmp_path / "out").exists()


def test_more_than_512_values_after_one_test_is_refused_not_a_hang(make_project):
    """Three lists of 200 values on one metric: 600 tests under its exists test. The 513th
    made durable-rules' create_ruleset loop forever."""
    rules = "".join(f"  - id: list{k}\n    when: account_id in [{', '.join(repr(f'a{k}_{i}') for i in range(200))}]\n"
                    f"    then: {{class: watch}}\n" for k in range(3))
    root = make_project(extra_rules=rules)
    r = run("validate", "--project", root)
    assert (r.exit_code, r.output) == (1, at_rule(root, "list2") + (
        "with it, more than 512 different tests follow the same test (many rules or long `in` lists on "
        "one metric), on which durable-rules hangs: merge such rules, or map the values to fewer with a "
        "derived metric\n"))


def test_more_than_128_absence_tests_after_one_test_is_refused(make_project):
    metrics = "".join(f"  - {{id: m{i}, type: number}}\n" for i in range(129))
    from conftest import DEFAULT_FILES

    rules = "".join(f"  - id: gone{i}\n    when: not present(m{i})\n    then: {{class: watch}}\n" for i in range(129))
    root = make_project({"rules/metrics.yaml": DEFAULT_FILES["rules/metrics.yaml"] + metrics}, extra_rules=rules)
    r = run("validate", "--project", root)
    last = sorted(f"gone{i}" for i in range(129))[-1]  # rules compile in the order of their ids
    assert (r.exit_code, r.output) == (1, at_rule(root, last) + (
        "with it, more than 128 or-branches and absence tests end at the same test (durable-rules error "
        "107): split its `or`s into rules\n"))


def test_more_than_256_rules_ending_at_one_test_is_refused(make_project):
    rules = "".join(f"  - id: same{i:03}\n    when: strategic\n    then: {{class: watch}}\n" for i in range(256))
    root = make_project(extra_rules=rules)
    r = run("validate", "--project", root)
    # the default rule `key` tests `strategic` too: the 257th pattern is same255's
    assert (r.exit_code, r.output) == (1, at_rule(root, "same255") + (
        "with it, more than 256 rules end at the same test (durable-rules error 108): merge rules that "
        "test the same thing\n"))


def test_what_durable_rules_refuses_beyond_the_known_limits_names_the_rule(make_project, monkeypatch, tmp_path):
    """validate builds the ruleset in durable-rules: were a limit unknown to the compiler
    (here: the compiler's check switched off), the engine's refusal still names the rule."""
    import engine.rules.compile

    monkeypatch.setattr(engine.rules.compile, "MAX_GROUPS", 99)
    when = " and ".join(f"(nps == {i} or revenue_current > {i})" for i in range(5))
    root = make_project(extra_rules=f"  - id: knotty\n    when: {when}\n    then: {{class: watch}}\n")
    expected = at_rule(root, "knotty") + ("durable-rules refuses it (Could not create ruleset, error code: "
                                          "113); simplify or split the rule\n")
    (tmp_path / "a.csv").write_text("account_id,nps\nA1,1\n", "utf-8")
    for args in (["validate"], ["evaluate", tmp_path / "a.csv", "--out", tmp_path / "out", "--no-store"]):
        r = run(*args, "--project", root)
        assert (r.exit_code, said(r)) == (1, expected), args


# ---- 9, 12: what a template may compute --------------------------------------------------------

def render_text(source: str, **context) -> str:
    from jinja2 import DictLoader, StrictUndefined

    from engine.render.limits import LimitedSandbox, load, render

    env = LimitedSandbox(loader=DictLoader({"t.md.j2": source}), undefined=StrictUndefined)
    return render(load(env, "t.md.j2"), context)


def too_big(what: str, size: int) -> str:
    return f"{what} would be {size} characters or items long; a template may build at most 1000000"


@pytest.mark.parametrize("source, message", [
    ("{{ 'x' * 10**9 }}", too_big("'*'", 10**9)),
    ("{{ [0] * 10**7 }}", too_big("'*'", 2 * 10**7)),  # the list and its item, 10**7 times
    ("{{ ['x' * 600000] * 2 }}", too_big("'*'", 1200002)),  # short list, long text
    ("{{ 'x' * 600000 + 'y' * 600000 }}", too_big("'+'", 1200000)),
    ("{{ 'x' * 600000 ~ 'y' * 600000 }}", too_big("'~'", 1200000)),
    ("{{ ['x' * 600000, 'y' * 600000] }}", too_big("printing this value", 1200001)),
    ("{{ 9**(9**9) }}", "'**' would make a number of more than 4300 digits"),
    ("{{ (10**3000) * (10**3000) }}", "'*' would make a number of more than 4300 digits"),
    ("{{ 10.0 ** 400 }}", "'**' makes a number too large"),
    ("{{ '%0999999999d' % 1 }}", too_big("a %-format", 999999999)),
    ("{{ '%*d' % (10**9, 1) }}", too_big("a %-format", 10**9)),
    ("{{ '%0999999999d'|format(1) }}", too_big("a %-format", 999999999)),
    ("{{ '{:>999999999}'.format(1) }}", too_big("a format", 999999999)),
    ("{{ 'x'.center(10**9) }}", too_big("str.center", 10**9)),
    ("{{ ('\t' * 1000).expandtabs(10**6) }}", too_big("str.expandtabs", 1000001000)),
    ("{{ ('x' * 100000).replace('x', 'y' * 100000) }}", too_big("replace", 10**10)),
    ("{{ ('x' * 100000)|replace('x', 'y' * 100000) }}", too_big("replace", 10**10)),
    ("{{ (',' * 100).join(['x' * 999] * 1000) }}", too_big("join", 1098900)),
    ("{{ range(100000)|join(',' * 1000) }}", too_big("filter 'join'", 100487890)),
    ("{{ 'x'|center(10**9) }}", too_big("filter 'center'", 10**9)),
    ("{{ 'x'|indent(10**9, true) }}", too_big("filter 'indent'", 10**9)),
    ("{{ ('x\n' * 500000)|indent(1000) }}", too_big("filter 'indent'", 501001000)),
    ("{{ [1]|batch(10**9, 0)|list }}", too_big("filter 'batch'", 10**9)),
    ("{{ ('x' * 10**6)|wordwrap(1, wrapstring='y' * 10**6) }}", too_big("filter 'wordwrap'", 1000002000000)),
    ("{{ ('x' * 10**6)|list|tojson }}", too_big("filter 'tojson'", 1000001)),
    ("{{ lipsum(10**6) }}", too_big("lipsum", 10**8)),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     too_big("'~'", 2**20)),
    ("{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s|length }}{% endmacro %}{{ d('x', 40) }}",
     too_big("'~'", 2**20)),
    ("{% macro m() %}{% for i in range(99999) %}{% for j in range(99999) %}{{ 'x' * 1000 }}{% endfor %}"
     "{% endfor %}{% endmacro %}{{ m()|length }}",
     "the template wrote more than 20000000 characters for one document"),
    ("{% for i in range(30000) %}{{ 'x' * 1000 }}{% endfor %}",
     "the template wrote more than 20000000 characters for one document"),
    ("{% for i in range(30000) %}<b>{{ 'x' * 1000 }}</b>{% endfor %}",  # text and values yielded as one
     "the template wrote more than 20000000 characters for one document"),
    ("{% set s = 'x' * 999999 %}" + "<p>{{ s }}</p>" * 40,  # one line of 40 MB is not built
     "the template wrote more than 20000000 characters for one document"),
])
def test_templates_cannot_build_huge_values(source, message):
    from engine.render.limits import TemplateLimitError

    started = time.perf_counter()
    with pytest.raises(TemplateLimitError) as exc:
        render_text(source)
    assert exc.value.message == message
    assert time.perf_counter() - started < 3


@pytest.mark.parametrize("source, error, message", [
    ("{{ 1 / 0 }}", "TemplateRuntimeError", "'/': division by zero"),
    ("{{ 'a' - 1 }}", "TemplateRuntimeError", "'-': unsupported operand type(s) for -: 'str' and 'int'"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "TemplateLimitError",
     "recursion too deep (a macro or include that calls itself?)"),
    ("{% include 't.md.j2' %}", "TemplateLimitError", "recursion too deep (a macro or include that calls itself?)"),
    ("{{ 1" + " + 1" * 3000 + " }}", "TemplateSyntaxError", "nested too deeply to compile"),
])
def test_template_arithmetic_and_recursion_are_template_errors(source, error, message):
    with pytest.raises(Exception) as exc:
        render_text(source)
    assert (type(exc.value).__name__, exc.value.message) == (error, message)


def test_a_template_that_runs_too_long_is_stopped(monkeypatch):
    from engine.render import limits

    monkeypatch.setattr(limits, "RENDER_SECONDS", 0.3)
    started = time.perf_counter()
    with pytest.raises(limits.TemplateLimitError) as exc:  # no output, no call: only the loops tick
        render_text("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}")
    assert exc.value.message == "rendering took more than 0.3 s (a loop or recursion that does not end?)"
    assert time.perf_counter() - started < 2


def test_the_limits_leave_ordinary_templates_alone():
    source = ("{% macro row(a) %}| {{ a.name|e }} | {{ '%.1f'|format(a.share) }} |{% endmacro %}"
              "{% for a in accounts|sort(attribute='name') %}{{ loop.index }}/{{ loop.length }} {{ row(a) }}\n"
              "{% endfor %}{{ '-' * 20 }} {{ ', '.join(names) }} {{ 2 ** 10 }} {{ 7 // 2 }} {{ 'x'|center(9) }}")
    accounts = [{"name": f"A{i}", "share": i / 3} for i in range(3)]
    assert render_text(source, accounts=accounts, names=["a", "b"]) == (
        "1/3 | A0 | 0.0 |\n2/3 | A1 | 0.3 |\n3/3 | A2 | 0.7 |\n-------------------- a, b 1024 3     x    ")


@pytest.mark.parametrize("source", [
    "{{ d.title }}", "{{ d['title'] }}", "{{ d.items }}", "{{ d.items()|list }}", "{{ d.get('title') }}",
    "{{ d.keys()|list }}", "{{ d['items'] }}", "{{ d.values }}", "{{ d.missing }}", "{{ d.__class__ }}",
    "{{ d.__dict__ }}", "{{ d._private }}", "{{ d.update }}", "{{ d.pop('title') }}", "{{ d.clear() }}",
    "{{ d.mro }}", "{{ d.nested.title }}", "{{ d.nested.keys }}", "{{ d[1] }}", "{{ d.copy()|length }}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "{{ nothere.title }}", "{{ d.title.upper() }}",
    "{% for x in [1, 2] %}{{ loop.index }}{{ loop.last }}{{ loop.cycle('a', 'b') }}{{ loop.length }}"
    "{{ loop.revindex }}{{ loop.changed(x) }}{{ loop.previtem }}{% endfor %}",
    "{% for x in [1] %}{{ loop._iterator }}{% endfor %}", "{% for x in [1] %}{{ loop.__class__ }}{% endfor %}",
    "{% macro m(a) %}{{ a.title }}{{ a.items }}{% endmacro %}{{ m(d) }}",
])
def test_a_dict_reads_as_in_jinjas_own_sandbox(source):
    """The sandbox reads kam's plain dicts without asking Python for the attribute first
    (limits.py: getattr, and inline code for `name.attr`), and `loop` attributes without
    the sandbox's checks: what a template gets, or the error it gets, is the same as in
    Jinja's immutable sandbox, methods and unsafe names included."""
    from jinja2 import DictLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    d = {"title": "T", "items": "I", "__dict__": "D", "_private": "P", "mro": "M", 1: "one",
         "nested": {"title": "N", "keys": "K"}}

    def outcome(text):
        try:
            return "ok", text()
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__, str(exc)

    jinja = ImmutableSandboxedEnvironment(loader=DictLoader({"t.md.j2": source}), undefined=StrictUndefined)
    assert outcome(lambda: render_text(source, d=d)) == outcome(lambda: jinja.get_template("t.md.j2").render(d=d))


@pytest.mark.parametrize("source", [
    "{{ [1, 2]|join(', ') }}", "{{ ['a', 'b']|join(d='-') }}", "{{ [1, 2]|join }}", "{{ 'x'|center(5) }}",
    "{{ 'x'|indent(2, true) }}", "{{ 'a b'|replace('a', 'c') }}", "{{ 'a b'|replace('a') }}",
    "{{ 'x'|center(5, 6, 7) }}", "{{ 'x'|center(width=5) }}", "{{ 'a b c'|wordwrap(3) }}",
    "{{ '%s-%s'|format(1, 2) }}", "{{ [1, 2, 3]|batch(2)|list }}", "{{ [1, 2, 3]|slice(2)|list }}",
    "{{ {'a': 1}|tojson }}", "{{ [1]|sum(start=2) }}", "{{ 'x'|e }}", "{{ 5|string }}", "{{ 'x'|urlencode }}",
])
def test_limited_filters_answer_as_jinjas_own(source):
    """The filters limits.py measures (given their arguments by position without
    signature.bind) give what Jinja's sandbox gives, errors included."""
    from jinja2 import DictLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def outcome(text):
        try:
            return "ok", text()
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__, str(exc)

    jinja = ImmutableSandboxedEnvironment(loader=DictLoader({"t.md.j2": source}), undefined=StrictUndefined)
    assert outcome(lambda: render_text(source)) == outcome(lambda: jinja.get_template("t.md.j2").render())


def test_templates_are_compiled_once_per_process_and_again_when_they_change(tmp_path):
    from jinja2 import DictLoader

    from engine.render import environment
    from engine.render.limits import COMPILED, LimitedSandbox, load, render

    proj = copy_project(tmp_path / "proj")
    project = load_project(proj)
    first = load(environment(project), "plan.md.j2")
    known = len(COMPILED.codes)
    again = load(environment(project), "plan.md.j2")
    assert again is not first and again.root_render_func.__code__ is first.root_render_func.__code__
    assert len(COMPILED.codes) == known
    plan = proj / "templates" / "plan.md.j2"
    plan.write_text("changed {{ lang }}\n", "utf-8")  # read again at each load: compiled again
    assert render(load(environment(project), "plan.md.j2"), {"lang": "en"}) == "changed en\n"
    # the same name and source in an environment set up otherwise: compiled for it
    source = "{{ v }}"
    outputs = {render(load(LimitedSandbox(loader=DictLoader({"t.html.j2": source}), bytecode_cache=COMPILED,
                                          autoescape=autoescape), "t.html.j2"), {"v": "<b>"})
               for autoescape in (True, False, True)}
    assert outputs == {"&lt;b&gt;", "<b>"}


@pytest.mark.parametrize("ext", ["html", "md"])
@pytest.mark.parametrize("source", [
    "{{ v }}", "<b>{{ v }}</b>{{ v }}", "{% set x %}<i>{{ v }}</i>{% endset %}{{ x }}|{{ x|length }}",
    "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m(v) }}", "{{ v ~ '<&>' }}", "{{ v|string }}",
    "{% autoescape false %}{{ v }}{% endautoescape %}{{ v }}", "{% filter upper %}{{ v }}{% endfilter %}",
    "{{ [v, v] }}",
])
@pytest.mark.parametrize("value", ["plain", "<a href='x'>&amp;</a>", "Ольга\u202e «Вектор»", 12.5, 7, True, None,
                                   ["<li>", 1]])
def test_what_prints_is_what_jinjas_own_sandbox_prints(source, value, ext):
    """limits.py prints `{{ x }}` through print_html/print_text (finalize, then escape or
    str, in one call; finalize_keeps_ascii: not for ASCII text): the document is the same
    as Jinja's sandbox with the same finalize and autoescape writes."""
    from jinja2 import DictLoader, StrictUndefined, select_autoescape
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from markupsafe import Markup

    from engine.render.limits import LimitedSandbox, load, render
    from engine.render.templates import without_bidi_controls

    name = f"t.{ext}.j2"
    options = dict(loader=DictLoader({name: source}), undefined=StrictUndefined, finalize=without_bidi_controls,
                   autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False))
    for v in (value, Markup(value) if isinstance(value, str) else value):
        jinjas = ImmutableSandboxedEnvironment(**options).get_template(name).render(v=v)
        for keeps_ascii in (False, True):
            assert render(load(LimitedSandbox(**options, finalize_keeps_ascii=keeps_ascii), name), {"v": v}) == jinjas


@pytest.mark.parametrize("payload, message", [
    ("{{ 'x' * 10**9 }}", too_big("'*'", 10**9)),
    ("{{ 9**(9**9) }}", "'**' would make a number of more than 4300 digits"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
     "recursion too deep (a macro or include that calls itself?)"),
])
def test_validate_and_evaluate_refuse_a_hostile_template_fast(tmp_path, monkeypatch, payload, message):
    monkeypatch.chdir(tmp_path)
    proj = copy_project(tmp_path / "proj")
    plan = proj / "templates" / "plan.md.j2"
    plan.write_text(plan.read_text("utf-8") + payload + "\n", "utf-8")
    line = plan.read_text("utf-8").count("\n")
    at = f"proj/templates/plan.md.j2:{line}:1: template: {message}"
    started = time.perf_counter()
    r = run("validate", "--project", "proj")
    assert (r.exit_code, r.output) == (1, f"{at} (rendering sample data, en)\n{at} (rendering sample data, ru)\n")
    r = run("evaluate", accounts(tmp_path), "--project", "proj", "--out", "out", "--as-of", AS_OF)
    assert (r.exit_code, said(r)) == (1, at.removeprefix("proj/") + "\n")  # evaluate names it in the project
    assert not (tmp_path / "out").exists()
    assert time.perf_counter() - started < 20


def test_a_template_nested_too_deeply_to_parse_is_a_syntax_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    proj = copy_project(tmp_path / "proj")
    (proj / "templates" / "plan.md.j2").write_text("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}\n", "utf-8")
    r = run("validate", "--project", "proj")
    assert (r.exit_code, r.output) == (1, "proj/templates/plan.md.j2: template syntax: nested too deeply\n")


# ---- 10: dates -------------------------------------------------------------------------------

OUT_OF_RANGE = "{day} is outside the dates kam works with, 1900-01-01 to 2199-12-31"


@pytest.fixture
def store_with_a_plan(tmp_path) -> Path:
    store = tmp_path / "state.sqlite"
    r = run("evaluate", accounts(tmp_path), "--out", tmp_path / "out", "--as-of", AS_OF, "--store", store)
    assert r.exit_code == 0, r.output
    return store


@pytest.mark.parametrize("args, option, day", [
    (["plans", "done", "1", "--on", "9999-12-31"], "--on", "9999-12-31"),
    (["plans", "snooze", "1", "--until", "2200-01-01", "--reason", "later"], "--until", "2200-01-01"),
    (["plans", "--as-of", "0001-01-01"], "--as-of", "0001-01-01"),
    (["evaluate", "{accounts}", "--out", "{out}", "--as-of", "9999-12-31"], "--as-of", "9999-12-31"),
])
def test_dates_out_of_range_are_refused_before_anything_is_written(tmp_path, store_with_a_plan, args, option, day):
    before = store_with_a_plan.read_bytes()
    args = [a.format(accounts=tmp_path / "a.csv", out=tmp_path / "out2") for a in args]
    r = run(*args, "--store", store_with_a_plan)
    assert r.exit_code == 2
    assert r.output.splitlines()[-1] == f"Error: Invalid value for {option}: " + OUT_OF_RANGE.format(day=day)
    assert store_with_a_plan.read_bytes() == before and not (tmp_path / "out2").exists()


def test_a_cooldown_longer_than_ten_years_is_a_validation_error(make_project):
    playbook = ("kind: playbook\nid: respond\ntitle: Respond\ncooldown_days: 3000000\n"
                "steps:\n  - {id: call, title: Call, owner: kam, due_days: 7}\n")
    root = make_project({"playbooks/respond.yaml": playbook})
    with pytest.raises(KamError) as exc:
        load_project(root)
    assert f"{root}/playbooks/respond.yaml:4:16: cooldown_days: 3000000 is greater than the maximum of 3650" in [
        str(p) for p in exc.value.problems]  # (with: rule 'respond' → then: unknown playbook 'respond')


def test_a_plan_done_on_the_last_day_python_knows_cools_down_forever():
    """A store written before --on was checked may hold done_on 9999-12-31: its cooldown
    ends past the last date Python has, which is never, not an OverflowError every run."""
    from engine.plans.reconcile import Plan, PlanStep, Policy, reconcile

    done = Plan(7, "qbr", "done", "2026-01-05", (PlanStep("review", "2026-01-19", "9999-12-31"),), done_on="9999-12-31")
    out = reconcile(date(2026, 11, 23), "medium", ["qbr"], [done], [], {"qbr": Policy(cooldown_days=90)},
                    ["medium"])
    assert out.changes == () and [(h.plan_id, h.state, h.until) for h in out.held] == [(7, "cooldown", "9999-12-31")]


def test_a_history_date_out_of_range_is_a_rejected_row(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("snapshot_date,account_id,nps\n2026-01-05,A1,9\n9999-12-31,A1,3\n", "utf-8")
    losses = tmp_path / "losses.csv"
    losses.write_text("account_id,lost_date\nA1,2026-03-01\n", "utf-8")
    from engine.tools.backtest import read_history

    past = read_history(load_project(ROOT), history, losses)
    assert past.rejected == [f"{history} row 3: snapshot_date: " + OUT_OF_RANGE.format(day="9999-12-31")]
    assert list(past.snapshots) == [date(2026, 1, 5)]


# ---- 13: the environment: output folder, store, init, plan ids --------------------------------

def oserror(code: int, path: Path) -> OSError:
    import os

    return OSError(code, os.strerror(code), str(path))


@pytest.mark.parametrize("code, message", [
    (13, "cannot write the output folder (Permission denied): choose another --out"),
    (30, "cannot write the output folder (Read-only file system): choose another --out"),
    (28, "cannot write the output folder (No space left on device): free some space or choose another --out"),
])
def test_an_output_folder_that_cannot_be_written_is_a_user_error(tmp_path, monkeypatch, code, message):
    """Read-only, or full half way: nothing is left behind, the previous output stays."""
    import engine.run.evaluation

    out = tmp_path / "out"
    r = run("evaluate", accounts(tmp_path), "--out", out, "--as-of", AS_OF, "--no-store")
    assert r.exit_code == 0, r.output
    before = sorted(p.name for p in out.iterdir())

    def failing(path: Path, rejected: object) -> None:
        raise oserror(code, path)

    monkeypatch.setattr(engine.run.evaluation, "_write_rejected", failing)  # rejected.jsonl, inside the staging folder
    r = run("evaluate", tmp_path / "a.csv", "--out", out, "--as-of", AS_OF, "--no-store")
    assert (r.exit_code, said(r)) == (1, f"{out}: {message}\n")
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "out"]


def test_an_output_folder_in_a_read_only_place_is_a_user_error(tmp_path, monkeypatch):
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args, **kwargs) -> None:
        if ".staging-" in self.name:
            raise oserror(13, self)
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    r = run("evaluate", accounts(tmp_path), "--out", tmp_path / "out", "--as-of", AS_OF, "--no-store")
    assert (r.exit_code, r.output) == (
        1, f"{tmp_path / 'out'}: cannot write the output folder (Permission denied): choose another --out\n")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_output_folder_under_proc_is_a_user_error(tmp_path):
    r = run("evaluate", accounts(tmp_path), "--out", "/proc/x", "--as-of", AS_OF, "--no-store")
    assert (r.exit_code, r.output) == (
        1, "/proc/x: cannot write the output folder (No such file or directory): choose another --out\n")


def test_a_linked_output_folder_is_replaced_through_its_link(tmp_path):
    """The link stays and points at the new output; nothing is left beside it (it was moved
    aside as .link.old-PID and left there)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    for _ in range(2):
        r = run("evaluate", accounts(tmp_path), "--out", tmp_path / "link", "--as-of", AS_OF, "--no-store")
        assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "link", "real"]
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "results.jsonl").is_file()


def test_a_store_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "state.sqlite"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    r = run("evaluate", accounts(tmp_path), "--out", tmp_path / "out", "--as-of", AS_OF, "--store", fifo)
    assert (r.exit_code, r.output) == (1, f"{fifo}: the state store is not a regular file (a folder, FIFO or "
                                          "device?): choose another --store\n")
    assert not (tmp_path / "out").exists()


def test_a_text_file_as_store_is_refused(tmp_path):
    junk = tmp_path / "state.sqlite"
    junk.write_text("my notes\n" * 100, "utf-8")
    for args in (["evaluate", accounts(tmp_path), "--out", tmp_path / "out", "--as-of", AS_OF], ["plans"]):
        r = run(*args, "--store", junk)
        assert (r.exit_code, r.output) == (1, f"{junk}: not a kam state store, or a damaged one: choose another "
                                              "--store, or move this file away to start a new one (file is not "
                                              "a database)\n")
    assert junk.read_text("utf-8") == "my notes\n" * 100 and not (tmp_path / "out").exists()


READ_ONLY = ("the state store is read-only: make it (and its folder) writable, or choose another --store "
             "(--dry-run only reads it) (attempt to write a readonly database)")


def test_a_read_only_store_is_a_user_error(tmp_path, monkeypatch, store_with_a_plan):
    import engine.plans.store.db

    real = engine.plans.store.db._connect

    def read_only(target: str, timeout: float, uri: bool = False):
        return real(target if target == ":memory:" else f"file:{target}?mode=ro", timeout, uri=target != ":memory:")

    monkeypatch.setattr(engine.plans.store.db, "_connect", read_only)
    for args in (["evaluate", tmp_path / "a.csv", "--out", tmp_path / "out2", "--as-of", "2026-11-30"],
                 ["plans", "done", "1"]):
        r = run(*args, "--store", store_with_a_plan)
        assert (r.exit_code, said(r)) == (1, f"{store_with_a_plan}: {READ_ONLY}\n"), args
    assert not (tmp_path / "out2").exists()
    r = run("plans", "--store", store_with_a_plan)  # reading works
    assert r.exit_code == 0


def test_a_full_disk_while_changing_a_plan_is_a_user_error(tmp_path, monkeypatch, store_with_a_plan):
    import sqlite3

    import engine.plans.store.actions

    def full(*args) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(engine.plans.store.actions, "_event", full)
    r = run("plans", "done", "1", "--store", store_with_a_plan)
    assert (r.exit_code, r.output) == (1, f"{store_with_a_plan}: the disk holding the state store is full: free "
                                          "some space, or choose another --store (database or disk is full)\n")
    r = run("plans", "--status", "done", "--store", store_with_a_plan)
    assert (r.exit_code, r.output) == (0, "no done plans\n")  # rolled back: plan 1 is not done


def test_a_plan_id_larger_than_the_store_holds_is_no_such_plan(store_with_a_plan):
    r = run("plans", "done", "99999999999999999999", "x", "--store", store_with_a_plan)
    assert r.exit_code == 1
    assert r.output.startswith(f"kam: no plan 99999999999999999999 in {store_with_a_plan}, which has plans 1 to ")


def test_init_onto_a_dangling_link_is_a_user_error(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    r = run("init", tmp_path / "link")
    assert (r.exit_code, r.output) == (1, f"{tmp_path / 'link'}: a link to {tmp_path / 'nowhere'}, which does "
                                          "not exist: remove the link, or give the folder it should point to\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_init_where_nothing_can_be_written_is_a_user_error():
    r = run("init", "/proc/kam-project")
    assert (r.exit_code, r.output) == (1, "/proc/kam-project: cannot create the project here (No such file or "
                                          "directory): choose a folder you can write to\n")


# ---- 13: text that reorders documents ----------------------------------------------------------

def test_bidi_controls_in_account_text_do_not_reach_the_documents(tmp_path):
    import csv

    with (ROOT / "examples" / "accounts.csv").open(encoding="utf-8", newline="") as source:
        rows = list(csv.DictReader(source))[:40]
    rows[0]["name"] = "Acme\u202egnp.exe"
    rows[0]["owner"] = "Olga\u2066 Smirnova\u2069\u200f"
    f = tmp_path / "a.csv"
    with f.open("w", encoding="utf-8", newline="") as out:
        w = csv.DictWriter(out, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    r = run("evaluate", f, "--out", tmp_path / "out", "--as-of", AS_OF, "--no-store")
    assert r.exit_code == 0, r.output
    docs = {p.name: p.read_text("utf-8") for p in (tmp_path / "out").rglob("*") if p.suffix in (".md", ".html")}
    bidi = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    assert not [name for name, text in docs.items() if any(c in text for c in bidi)]
    plan = docs[f"{rows[0]['account_id']}.md"]
    assert "Acmegnp.exe" in plan and "Olga Smirnova" in plan
    assert "Acme\u202egnp.exe" in (tmp_path / "out" / "results.jsonl").read_text("utf-8")  # the data as read


@pytest.mark.parametrize("text", ["Acme", "Acme\u202egnp.exe", "АО «Вектор»", "Ольга\u2066 Смирнова\u2069\u200f",
                                  "\u061c", "", "x" * 300 + "\u2067"])
def test_without_bidi_controls_drops_them_and_only_them(text):
    from markupsafe import Markup

    from engine.render.templates import _BIDI_CONTROLS, without_bidi_controls
    for value in (text, Markup(text)):
        out = without_bidi_controls(value)
        assert (out, type(out)) == (value.translate(_BIDI_CONTROLS), type(value))
    assert without_bidi_controls(12.5) == 12.5


@pytest.mark.parametrize("value", ["Acme", "a_b*c", "АО «Вектор» | #1", "<b>\n", "", "x" * 300 + "]", 7, None])
def test_md_escape_escapes_what_markdown_reads(value):
    from markupsafe import Markup

    from engine.render.templates import _MD_SPECIAL, md_escape
    for v in (value, Markup(value)) if isinstance(value, str) else (value,):
        assert (md_escape(v), type(md_escape(v))) == (str(v).translate(_MD_SPECIAL), str)


def test_the_readme_lists_every_limit_with_its_value():
    from engine.project import date_range, expr, loader
    from engine.render import limits
    from engine.rules import compile as compiler

    readme = (ROOT / "README.md").read_text("utf-8")
    section = (ROOT / "docs" / "limits.md").read_text("utf-8")
    for phrase in [
        f"| {loader.MAX_BYTES:,} bytes; {loader.MAX_NODES:,} values",
        f"| expression depth | {expr.MAX_DEPTH} levels", f"| values in a list | {expr.MAX_LIST} in",
        f"| {compiler.MAX_GROUPS} (a chain", f"| {compiler.MAX_NEXT_TESTS} (across", f"| {compiler.MAX_NEXT_LIST} |",
        f"| {compiler.MAX_PATTERNS_AT_TEST} |", f"| {compiler.MAX_JOINED} |", f"| {compiler.MAX_CONJUNCTS}, after",
        f"| {compiler.MAX_RULES} |", f"| {compiler.MAX_FACT_PROPERTIES} metrics", f"| {compiler.MAX_MATCHING_FACTS} |",
        f"| {limits.MAX_VALUE:,} characters or items |", f"| {limits.MAX_INT_DIGITS} digits |",
        f"| {limits.MAX_TEXT:,} characters,", f"| {limits.RENDER_SECONDS:g} s per document |",
        f"lies from {date_range.FIRST} to {date_range.LAST}",
    ]:
        assert phrase in section, phrase
    codes = readme[readme.index("### Exit codes"):readme.index("### Which project is used")]
    assert [line.split("|")[1].strip() for line in codes.splitlines() if line.startswith("| ")][1:] == [
        "0", "1", "2", "3", "130", "141"]


def test_data_longer_than_what_a_template_may_build_still_prints():
    """The limit on what a template builds is not a limit on the data kam hands it: the
    portfolio report's KAISM chart of 100,000 accounts is over a million characters."""
    from engine.render import environment
    from engine.render.limits import MAX_VALUE, TemplateLimitError
    env = environment(load_project(Path(__file__).resolve().parent.parent))
    chart = "<circle/>" * (MAX_VALUE // 9 + 100)
    text = env.from_string("{{ report.chart }}|{{ rows[0] }}").render(report={"chart": chart}, rows=[chart])
    assert text == f"{chart}|{chart}"
    with pytest.raises(TemplateLimitError):  # building one from it is still refused
        env.from_string("{{ report.chart ~ report.chart }}").render(report={"chart": chart})
