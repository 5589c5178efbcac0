"""No way in through a YAML or template file, no way out of the output folder, and an
interrupted run leaves the previous output as it was."""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

import engine.render
from cli import main
from engine.errors import KamError
from engine.io.writers import MARKER, AtomicDir, inside, safe_name
from engine.project.load import load_project
from engine.project.loader import load_text
from engine.rules.evaluate import Evaluator

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-23"


def run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def copy_project(dest: Path) -> Path:
    for part in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / part, dest / part)
    shutil.copy(ROOT / "kam.yaml", dest / "kam.yaml")
    return dest


def example_rows(n: int = 30) -> tuple[list[str], list[dict[str, str]]]:
    with (ROOT / "examples" / "accounts.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = [r for _, r in zip(range(n), reader)]
    return list(rows[0]), rows


def write_csv(path: Path, cols: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def planned_row(tmp_path_factory) -> tuple[list[str], dict[str, str]]:
    """An example account that gets a playbook (so it gets a plan document)."""
    tmp = tmp_path_factory.mktemp("planned")
    cols, rows = example_rows()
    r = run("evaluate", write_csv(tmp / "a.csv", cols, rows), "--out", tmp / "out", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    results = [json.loads(x) for x in (tmp / "out" / "results.jsonl").read_text("utf-8").splitlines()]
    with_plan = {x["account_id"] for x in results if x["playbooks"]}
    return cols, next(row for row in rows if row["account_id"] in with_plan)


# ---- YAML ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['touch {flag}']\n",
    "a: !!python/object/apply:os.system\n  args: ['touch {flag}']\n",
    "a: !!python/object/new:os.system ['touch {flag}']\n",
    "a: !!python/name:os.system\n",
    "a: !!python/object:pathlib.Path {{}}\n",
    "a: !!python/module:os\n",
    "a: !custom [1]\n",
])
def test_yaml_cannot_construct_python_objects(tmp_path, text):
    flag = tmp_path / "PWNED"
    with pytest.raises(KamError) as exc:
        load_text(text.format(flag=flag), "rules/x.yaml")
    [p] = exc.value.problems
    assert (p.path, p.line) == ("rules/x.yaml", 1) and "tag" in p.message
    assert not flag.exists()


def lol_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 9) -> str:
    """Merge keys copy pairs eagerly, before any value is built: 10**levels pairs."""
    node = "{a: 1, b: 2, c: 3}"
    for i in range(1, levels + 1):
        node = f"{{<<: [&m{i} {node}" + f", *m{i}" * 9 + "]}"
    return "x: " + node + "\n"


@pytest.mark.parametrize("text, message", [
    (lol_bomb(), "alias bomb"),
    (merge_bomb(), "alias bomb"),
    ("a: &a [1, *a]\n", "recursive YAML alias"),
    ("a: &a {b: *a}\n", "recursive YAML alias"),
])
def test_yaml_bombs_are_refused_fast_and_small(text, message):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(KamError) as exc:
            load_text(text, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 3
    assert peak < 100_000_000, peak
    assert message in str(exc.value) and str(exc.value).startswith("bomb.yaml")


def test_deep_nesting_is_an_error_not_a_crash():
    started = time.perf_counter()
    with pytest.raises(KamError, match=r"bomb\.yaml: YAML nesting is too deep"):
        load_text("[" * 20000 + "]" * 20000 + "\n", "bomb.yaml")
    assert time.perf_counter() - started < 10


def test_a_bomb_in_a_project_file_is_a_validation_error(tmp_path):
    proj = copy_project(tmp_path / "proj")
    (proj / "rules" / "bomb.yaml").write_text("kind: rules\n" + merge_bomb(), "utf-8")
    r = run("validate", "--project", proj)
    assert r.exit_code == 1
    assert "rules/bomb.yaml:" in r.output and "alias bomb" in r.output and "Traceback" not in r.output


def test_duplicate_keys_in_kam_yaml_are_errors(tmp_path):
    proj = copy_project(tmp_path / "proj")
    (proj / "kam.yaml").write_text((proj / "kam.yaml").read_text("utf-8") + "name: again\n", "utf-8")
    with pytest.raises(KamError) as exc:
        load_project(proj)
    assert any(p.path.endswith("kam.yaml") and p.message == "duplicate key 'name'" for p in exc.value.problems)


# ---- templates -------------------------------------------------------------------------------

@pytest.mark.parametrize("payload, says", [
    ("{{ ''.__class__.__mro__ }}", "unsafe"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    ("{{ cycler.__init__.__globals__.os.system('touch PWNED') }}", "unsafe"),
    ("{{ lipsum.__globals__['os'] }}", "unsafe"),
    ("{{ account.__class__.__init__.__globals__ }}", "unsafe"),
    ("{{ account.update({'risk_level': 'none'}) }}", "unsafe"),  # immutable sandbox: no mutation
    ("{% include '../kam.yaml' %}", "kam.yaml"),
    ("{% include '/etc/passwd' %}", "passwd"),
])
def test_a_template_cannot_reach_python_or_files(tmp_path, planned_row, monkeypatch, payload, says):
    monkeypatch.chdir(tmp_path)
    proj = copy_project(tmp_path / "proj")
    plan = proj / "templates" / "plan.md.j2"
    plan.write_text(plan.read_text("utf-8") + payload + "\n", "utf-8")
    cols, row = planned_row
    r = run("evaluate", write_csv(tmp_path / "a.csv", cols, [row]), "--project", proj, "--out", tmp_path / "out",
            "--as-of", AS_OF)
    assert r.exit_code == 1, r.output
    assert "template" in r.output and says in r.output and "plan.md.j2" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "PWNED").exists()


def test_html_plans_show_hostile_text_as_text(tmp_path, planned_row):
    cols, row = planned_row
    hostile = dict(row, name="<script>alert(1)</script>", owner='"><img src=x onerror=alert(2)>')
    r = run("evaluate", write_csv(tmp_path / "a.csv", cols, [hostile]), "--out", tmp_path / "out", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    pages = [p.read_text("utf-8") for p in (tmp_path / "out").rglob("*.html")]
    plan = (tmp_path / "out" / "plans" / f"{row['account_id']}.html").read_text("utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in plan
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page


# ---- file names ------------------------------------------------------------------------------

HOSTILE_IDS = ["../../x", "/etc/passwd", "..", ".", "CON", "con.txt", "Nul", "COM1", "lpt9.md",
               "a/b", "a_b", "C:\\Windows\\system32", "~root", "Acme", "ACME", "acme",
               # the longest ids an account may have (engine/io/limits.py MAX_ID), longer than a file name
               "\u202egnp.exe", "x" * 256, "Ж" * 256, "\U0001f600" * 100, "x" * 255 + "y"]


def test_safe_names_are_plain_unique_and_bounded():
    taken: set[str] = set()
    names = [safe_name(i, taken) for i in HOSTILE_IDS]
    assert len({n.casefold() for n in names}) == len(names)
    for n in names:
        assert n and "/" not in n and "\\" not in n and not n.startswith(".") and ".." not in n
        assert len((n + ".html").encode("utf-8")) <= 255
        assert n.split(".")[0].upper() not in {"CON", "NUL", "COM1", "LPT9", "PRN", "AUX"}
    assert names[0] == "x" and names[HOSTILE_IDS.index("ACME")] == "ACME-2"


def test_inside_refuses_paths_that_leave_the_folder(tmp_path):
    assert inside(tmp_path, "plans/a.md") == (tmp_path / "plans" / "a.md").resolve()
    for bad in ("../x", "/etc/passwd", "plans/../../x"):
        with pytest.raises(KamError, match="leaves the output folder"):
            inside(tmp_path, bad)


def test_plans_for_hostile_ids_stay_inside_the_output_folder(tmp_path, planned_row, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cols, row = planned_row
    rows = [dict(row, account_id=i) for i in HOSTILE_IDS]
    r = run("evaluate", write_csv(tmp_path / "a.csv", cols, rows), "--out", work / "out", "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert f"{len(HOSTILE_IDS)} accounts read: {len(HOSTILE_IDS)} evaluated" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "work"]
    assert sorted(p.name for p in work.iterdir()) == ["out"]
    out = (work / "out").resolve()
    for p in out.rglob("*"):
        assert p.resolve().is_relative_to(out)
    stems = {p.stem for p in (out / "plans").iterdir()}
    assert len(stems) == len(HOSTILE_IDS)  # one plan per account, none overwritten
    assert len({s.casefold() for s in stems}) == len(stems)


# ---- atomic output ---------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if any(k in p.name for k in (".staging-", ".old-", ".deleting-")))


@pytest.fixture
def previous(tmp_path) -> tuple[Path, Path, dict[str, bytes]]:
    cols, rows = example_rows()
    accounts = write_csv(tmp_path / "a.csv", cols, rows)
    out = tmp_path / "out"
    r = run("evaluate", accounts, "--out", out, "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    before = snapshot(out)
    assert "results.jsonl" in before and any(k.startswith("plans/") for k in before)
    return accounts, out, before


@pytest.mark.parametrize("error, code", [(RuntimeError("disk full"), 3), (KeyboardInterrupt(), 130)])
def test_a_failure_while_writing_documents_leaves_the_previous_output(previous, monkeypatch, error, code):
    accounts, out, before = previous

    def broken(project, results, folder, lang, *args, **kwargs):
        (folder / "plans").mkdir(exist_ok=True)
        (folder / "plans" / "half.md").write_text("half a document", "utf-8")
        raise error

    monkeypatch.setattr(engine.render, "write_documents", broken)
    r = run("evaluate", accounts, "--out", out, "--as-of", "2027-01-01")
    assert r.exit_code == code, r.output
    assert snapshot(out) == before
    assert leftovers(out.parent) == []


def test_a_failure_while_evaluating_leaves_the_previous_output(previous, monkeypatch):
    accounts, out, before = previous
    calls = {"n": 0}
    real = Evaluator.evaluate

    def flaky(self, values):
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("power cut")
        return real(self, values)

    monkeypatch.setattr(Evaluator, "evaluate", flaky)
    r = run("evaluate", accounts, "--out", out, "--as-of", "2027-01-01")
    assert r.exit_code == 3 and "power cut" in r.output
    assert calls["n"] == 10
    assert snapshot(out) == before and leftovers(out.parent) == []


def test_leftovers_of_a_killed_run_are_swept(tmp_path):
    out = tmp_path / "out"
    dead = tmp_path / ".out.staging-999999999"  # no such process
    dead.mkdir()
    (dead / MARKER).write_text("x")
    with AtomicDir(out) as staging:
        (staging / "results.jsonl").write_text("", "utf-8")
    assert leftovers(tmp_path) == [] and (out / "results.jsonl").exists()


def test_a_large_previous_output_is_removed_in_the_background(tmp_path, monkeypatch):
    """Past DETACH_AT entries the previous output is renamed .deleting-<pid> and a detached rm
    removes it after the run; the new output is in place when the run returns."""
    import engine.io.writers as writers
    monkeypatch.setattr(writers, "DETACH_AT", 3)
    detached = []
    real = writers._remove_detached
    monkeypatch.setattr(writers, "_remove_detached",
                        lambda folder: detached.append((folder.name, real(folder))) or True)
    out = tmp_path / "out"
    for week in range(2):
        with AtomicDir(out) as staging:
            for k in range(5):
                (staging / f"plan-{k}.md").write_text(f"week {week}", "utf-8")
    assert (out / "plan-0.md").read_text("utf-8") == "week 1"
    assert detached == [(f".out.deleting-{os.getpid()}", True)]
    deadline = time.monotonic() + 30
    while leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path) == []


def test_an_interrupted_background_removal_is_finished_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    doomed = tmp_path / ".out.deleting-4242"  # the rm was killed half-way: no marker left
    (doomed / "plans").mkdir(parents=True)
    (doomed / "plans" / "a.md").write_text("old", "utf-8")
    with AtomicDir(out) as staging:
        (staging / "results.jsonl").write_text("", "utf-8")
    assert leftovers(tmp_path) == [] and not doomed.exists()


def test_a_folder_that_is_not_kam_output_is_never_replaced(tmp_path):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.docx").write_text("precious", "utf-8")
    cols, rows = example_rows(3)
    r = run("evaluate", write_csv(tmp_path / "a.csv", cols, rows), "--out", mine, "--as-of", AS_OF)
    assert r.exit_code == 1 and "not a kam output folder" in r.output
    assert snapshot(mine) == {"thesis.docx": b"precious"} and leftovers(tmp_path) == []


# ---- workbooks are XML: entity tricks ----------------------------------------------------------

def workbook_with_sheet_xml(path: Path, sheet_xml: str) -> Path:
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["account_id"])
    book.active.append(["A1"])
    plain = path.with_suffix(".plain.xlsx")
    book.save(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = sheet_xml.encode() if item.filename == "xl/worksheets/sheet1.xml" else src.read(item)
            dst.writestr(item, data)
    return path


SHEET = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
         '<row r="1"><c r="A1" t="inlineStr"><is><t>account_id</t></is></c></row>'
         '<row r="2"><c r="A2" t="inlineStr"><is><t>&x;</t></is></c></row></sheetData></worksheet>')


@pytest.mark.parametrize("doctype", [
    # billion laughs: 10**9 characters from a few hundred bytes
    '<!DOCTYPE w [<!ENTITY a "lollollollollollollollollollol">'
    + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(8))
    + '<!ENTITY x "&i;">]>',
    '<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>',  # external entity
])
def test_workbook_xml_entities_cannot_explode_or_read_files(tmp_path, doctype):
    from reading import read_inputs

    f = workbook_with_sheet_xml(tmp_path / "evil.xlsx", '<?xml version="1.0"?>' + doctype + SHEET)
    project = load_project(ROOT)
    started = time.perf_counter()
    try:
        loaded = read_inputs(project, [f])
    except KamError as exc:
        assert str(exc).startswith(str(f))
    else:  # read, but the entity was not expanded into a value
        values = [v.get("account_id", "") for v in loaded.values]
        assert all("root:" not in v and len(v) < 1000 for v in values)
    assert time.perf_counter() - started < 5
