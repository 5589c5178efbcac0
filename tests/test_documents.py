"""The documents a manager reads, pinned as golden files, and what must hold for any of them.

Golden files: tests/golden/<lang>/<account>.md|html, rendered from tests/golden/accounts.csv
by the default project at 2026-11-23 with a fresh state store, as `kam evaluate` runs it (so
every plan is new). After a deliberate change to templates, labels or
playbooks, regenerate them with

    KAM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_documents.py

and read the diff before committing it.
"""
from __future__ import annotations

import contextlib
import csv
import datetime
import json
import os
import re
from pathlib import Path

import pytest

from engine.errors import KamError
from engine.plans.store import Store
from engine.project.load import load_project
from engine.render import check_templates, write_documents
from engine.render.samples import sample_results
from engine.run import evaluate_portfolio

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
AS_OF = datetime.date(2026, 11, 23)
UPDATE = os.environ.get("KAM_UPDATE_GOLDEN") == "1"
# high risk with several signals; lost with a win-back decision; key account due for a QBR
ACCOUNTS = ("G-HIGH", "G-LOST", "G-KEY")


@pytest.fixture(scope="module")
def project():
    return load_project(ROOT)


@pytest.fixture(scope="module")
def rendered(project, tmp_path_factory):
    outs = {}
    for lang in ("en", "ru"):
        out = tmp_path_factory.mktemp(f"docs-{lang}") / "out"
        with Store.open(out.parent / "state.sqlite") as store:
            evaluate_portfolio(project, [GOLDEN / "accounts.csv"], out, AS_OF, lang,
                               write_documents=write_documents, store=store)
        outs[lang] = out
    return outs


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("account", ACCOUNTS)
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_plan_matches_golden(rendered, lang, account, fmt):
    text = (rendered[lang] / "plans" / f"{account}.{fmt}").read_text("utf-8")
    golden = GOLDEN / lang / f"{account}.{fmt}"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, "utf-8")
    assert text == golden.read_text("utf-8"), f"{golden} differs (KAM_UPDATE_GOLDEN=1 to regenerate)"


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_digest_matches_golden(rendered, lang, fmt):
    """Anna Petrova's digest: her own steps to start this week first, then her accounts by priority."""
    text = (rendered[lang] / "digests" / f"Anna_Petrova.{fmt}").read_text("utf-8")
    golden = GOLDEN / lang / f"digest-Anna_Petrova.{fmt}"
    if UPDATE:
        golden.write_text(text, "utf-8")
    assert text == golden.read_text("utf-8"), f"{golden} differs (KAM_UPDATE_GOLDEN=1 to regenerate)"


def test_only_accounts_with_a_playbook_get_a_plan(rendered):
    plans = sorted(p.name for p in (rendered["en"] / "plans").iterdir())
    assert plans == sorted(f"{a}.{f}" for a in ACCOUNTS for f in ("md", "html"))


def test_russian_plan_uses_russian_dates_and_numbers(rendered):
    text = (rendered["ru"] / "plans" / "G-HIGH.md").read_text("utf-8")
    assert "23 ноября 2026" in text and "26 ноября 2026" in text
    assert "22,5\u00a0%" in text or "22,5 %" in text
    assert "3\u00a0100\u00a0000" in text
    en = (rendered["en"] / "plans" / "G-HIGH.md").read_text("utf-8")
    assert "23 November 2026" in en and "3,100,000" in en


def test_winback_section_shows_computation_and_decision(rendered):
    en = (rendered["en"] / "plans" / "G-LOST.md").read_text("utf-8")
    assert "**Decision: pursue.**" in en
    assert "1,488,000" in en and "420,000" in en  # 12.4 M × 24 % × 0.5 against the cost
    assert "lack of attention on our side" in en
    ru = (rendered["ru"] / "plans" / "G-LOST.md").read_text("utf-8")
    assert "**Решение: добиваться возвращения.**" in ru and "недостаток внимания" in ru


def test_negotiation_preparation_only_for_plans_with_meetings(rendered, project):
    for account in ACCOUNTS:
        text = (rendered["en"] / "plans" / f"{account}.md").read_text("utf-8")
        assert "## Negotiation preparation" in text  # anti_crisis, win_back, qbr all have meetings
    assert project.playbooks["financial_response"].negotiation is None


def test_digest_per_manager_sorted_by_priority(rendered):
    digests = rendered["en"] / "digests"
    assert sorted(p.name for p in digests.iterdir()) == ["Anna_Petrova.html", "Anna_Petrova.md",
                                                         "Ivan_Sokolov.html", "Ivan_Sokolov.md"]
    anna = (digests / "Anna_Petrova.md").read_text("utf-8")
    with (rendered["en"] / "results.jsonl").open(encoding="utf-8") as f:
        mine = [r for r in map(json.loads, f) if r["owner"] == "Anna Petrova" and r["playbooks"]]
    assert len(mine) == 2 and mine[0]["priority"] != mine[1]["priority"]
    ranked = sorted(mine, key=lambda r: -r["priority"])
    assert anna.index(f"## 1. {ranked[0]['name']}") < anna.index(f"## 2. {ranked[1]['name']}")
    assert "(../plans/G-HIGH.md)" in anna
    ivan = (digests / "Ivan_Sokolov.md").read_text("utf-8")
    assert "Helios Energy" in ivan and "Blue Harbor" not in ivan  # no plan, no entry
    assert "1 other account is quiet: no action needed." in ivan  # the plural form of 1


def test_summary_counts_and_expected_loss(rendered):
    md = (rendered["en"] / "summary.md").read_text("utf-8")
    with (rendered["en"] / "results.jsonl").open(encoding="utf-8") as f:
        results = list(map(json.loads, f))
    # the headline is the expected loss of the accounts with a plan, not all their revenue
    expected = sum(r["expected_loss"] for r in results if r["playbooks"])
    assert 0 < expected < sum(r["revenue_current"] for r in results if r["playbooks"])
    assert f"- **Expected loss:** RUB\u00a0{expected:,.0f} across the accounts with a plan" in md
    assert "| High | 1 | RUB\u00a03,100,000 |" in md and "| Medium | 1 | RUB\u00a00 |" in md
    assert "| No risk | 2 | RUB\u00a050,700,000 |" in md
    assert "| Payment overdue | Financial | 1 |" in md
    assert (rendered["en"] / "summary.html").is_file()


def test_results_carry_the_signal_sentence_in_the_run_language(rendered):
    with (rendered["ru"] / "results.jsonl").open(encoding="utf-8") as f:
        high = next(r for r in map(json.loads, f) if r["account_id"] == "G-HIGH")
    texts = {s["id"]: s["text"] for s in high["signals"]}
    assert texts["payment_delay"] == "оплата просрочена на 45 дн.; реагируем после 30 дн."
    assert texts["low_nps"] == "NPS — 5 из 10; ниже 7 — низкий"


def test_html_is_self_contained(rendered):
    for path in (rendered["en"] / "plans").glob("*.html"):
        html = path.read_text("utf-8")
        assert "<style>" in html
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), path
        assert "<script" not in html and "<link" not in html


def test_account_data_is_escaped(project, tmp_path):
    evil = "<script>alert(1)</script>"
    src = tmp_path / "evil.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "name", "owner", "status", "nps", "lost_reason", "segment"])
        w.writerow(["X-1", evil, evil, "lost", "3", evil, "<b>seg</b>"])
    out = tmp_path / "out"
    evaluate_portfolio(project, [src], out, AS_OF, "en", write_documents=write_documents)
    for html in [out / "plans" / "X-1.html", out / "summary.html", *(out / "digests").glob("*.html")]:
        text = html.read_text("utf-8")
        assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text, html
    plan_html = (out / "plans" / "X-1.html").read_text("utf-8")
    assert "<b>seg</b>" not in plan_html and "&lt;b&gt;seg&lt;/b&gt;" in plan_html
    md = (out / "plans" / "X-1.md").read_text("utf-8")
    assert "<script>" not in md and r"\<script\>alert(1)\</script\>" in md


# ---- templates and labels are checked up front -------------------------------------------------

def copy_project(tmp_path: Path) -> Path:
    import shutil
    root = tmp_path / "proj"
    root.mkdir()
    for name in ("kam.yaml", "rules", "playbooks", "templates"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    return root


def test_default_templates_render_sample_results_in_every_language(project):
    check_templates(project)  # raises KamError on any problem


def test_sample_results_have_the_shape_of_real_results(project, rendered):
    with (rendered["en"] / "results.jsonl").open(encoding="utf-8") as f:
        real = [json.loads(line) for line in f]
    sample = sample_results(project, "en")
    assert set(sample[0]) <= set(real[0])
    assert set(sample[0]["signals"][0]) == set(real[0]["signals"][0])
    assert set(sample[0]["playbooks"][0]) == set(real[0]["playbooks"][0])
    lost = next(r for r in real if r["winback"])
    assert set(sample[-1]["winback"]) == set(lost["winback"])


def test_a_missing_label_is_reported_with_its_template_line(tmp_path):
    root = copy_project(tmp_path)
    plan = root / "templates" / "plan.md.j2"
    lines = plan.read_text("utf-8").splitlines(keepends=True)
    lines.insert(5, "{{ labels.no_such_label }}\n")
    plan.write_text("".join(lines), "utf-8")
    with pytest.raises(KamError) as exc:
        check_templates(load_project(root))
    problems = exc.value.problems
    assert {(p.path, p.line) for p in problems} == {(str(root / "templates" / "plan.md.j2"), 6)}
    assert all("no_such_label" in p.message for p in problems)
    assert {p.message.rsplit(", ", 1)[1] for p in problems} == {"en)", "ru)"}  # rendered in each language


def test_labels_problems_name_file_line_and_key(tmp_path):
    root = copy_project(tmp_path)
    labels = root / "templates" / "labels.yaml"
    en, ru = labels.read_text("utf-8").split("\nru:\n")
    ru = re.sub(r"\n  decision_pursue: .*", "", ru, count=1)
    en = re.sub(r"\n  more_steps: .*", '\n  more_steps: {one: "{cnt} more step", other: "{count} more steps"}',
                en, count=1)
    ru = re.sub(r"\n  more_steps: .*",
                '\n  more_steps: {one: "ещё {count} шаг", many: "ещё {count} шагов", other: "ещё {count}", two: "x"}',
                ru, count=1)
    en = re.sub(r"\n    finance: .*", "", en, count=1)
    labels.write_text(en + "\nru:\n" + ru, "utf-8")
    with pytest.raises(KamError) as exc:
        check_templates(load_project(root))
    messages = [f"{p.line}: {p.message}" for p in exc.value.problems]
    assert any("ru: missing label 'decision_pursue'" in m for m in messages), messages
    assert any("en → more_steps: unknown placeholder {cnt}" in m for m in messages), messages
    assert any("ru → more_steps: missing the plural form 'few' (ru has one, few, many, other)" in m
               for m in messages), messages
    assert any("ru → more_steps → two: not a plural form of ru" in m for m in messages), messages
    assert any("en → roles: missing 'finance' (it is in 'ru')" in m for m in messages), messages
    assert all(p.line > 0 for p in exc.value.problems)


def test_a_step_owner_without_a_name_is_a_problem(tmp_path):
    root = copy_project(tmp_path)
    labels = root / "templates" / "labels.yaml"
    text = labels.read_text("utf-8")
    text = re.sub(r"\n    finance: .*", "", text)
    labels.write_text(text, "utf-8")
    with pytest.raises(KamError) as exc:
        check_templates(load_project(root))
    problems = exc.value.problems
    assert {p.path.rsplit("/", 1)[1] for p in problems} == {"financial_response.yaml"}
    assert {p.message.split(" has no name")[0] for p in problems} == {
        "playbook 'financial_response' → step 'credit_control': owner 'finance'",
        "playbook 'financial_response' → step 'analyse_project_margins': owner 'finance'"}


def test_unknown_placeholder_in_signal_evidence_is_a_problem(tmp_path):
    root = copy_project(tmp_path)
    facts = root / "rules" / "facts.yaml"
    text = facts.read_text("utf-8")
    text = text.replace("a payment is {payment_overdue_days} days overdue", "a payment is {payment_overdue} days", 1)
    text = text.replace("реагируем на падение больше {thresholds.purchase_drop_pct} %",
                        "реагируем на падение больше {thresholds.purchase_drop} %", 1)
    facts.write_text(text, "utf-8")
    with pytest.raises(KamError) as exc:
        load_project(root)
    lines = facts.read_text("utf-8").splitlines()
    got = {(p.line, p.message) for p in exc.value.problems}
    en_line = next(i for i, t in enumerate(lines, 1) if "{payment_overdue}" in t)
    ru_line = next(i for i, t in enumerate(lines, 1) if "{thresholds.purchase_drop}" in t)
    assert (en_line, "signal 'payment_delay' → evidence (en): unknown metric 'payment_overdue' in placeholder "
                     "(did you mean 'payment_overdue_days'?)") in got
    assert (ru_line, "signal 'purchase_drop' → evidence (ru): unknown threshold 'purchase_drop' in placeholder "
                     "(did you mean 'purchase_drop_pct'?)") in got


# ---- numbers, dates and placeholders -----------------------------------------------------------

def test_numbers_follow_the_language():
    from engine.i18n import format_number, format_value
    assert format_number(1234567.5, "en") == "1,234,567.5"
    assert format_number(1234567.5, "ru") == "1\u00a0234\u00a0567,5"
    assert format_number(22.456, "ru") == "22,46" and format_number(15, "en") == "15"
    assert format_number(-0.001, "en") == "0" and format_number(-1500.25, "ru") == "-1\u00a0500,25"
    assert format_value(171384096.85, "en", "money") == "171,384,097"
    assert (format_value(True, "ru"), format_value(False, "en"), format_value(None, "en")) == ("да", "no", "—")
    # whole numbers take a shortcut (no rounding through float) to the same text
    for n in (0, -7, 1234567, 10**15 - 1, -(10**15) + 1, 10**15, 3 * 10**16):
        for lang in ("en", "ru"):
            assert format_number(n, lang) == format_number(float(n), lang)



def test_dates_follow_the_language(project):
    from engine.i18n import format_date
    assert format_date("2026-11-23", "ru") == "23 ноября 2026"  # CLDR's genitive month (Babel)
    assert format_date(datetime.date(2027, 1, 7), "en") == "7 January 2027"


def test_money_and_plurals_follow_the_language():
    from engine.i18n import format_money, format_money_compact, plural_category, say
    assert format_money(3_100_000.4, "ru", "RUB") == "3\u00a0100\u00a0000\u00a0₽"
    assert format_money(3_100_000.4, "en", "RUB") == "RUB\u00a03,100,000"
    assert format_money(-1500, "en", "EUR") == "-€1,500"
    assert format_money_compact(48_200_000, "ru", "RUB") == "48,2\u00a0млн\u00a0₽"
    assert format_money_compact(48_200_000, "en", "RUB") == "RUB\u00a048.2M"
    assert [plural_category("ru", n) for n in (1, 2, 5, 11, 21, 22, 25)] == \
        ["one", "few", "many", "many", "one", "few", "many"]
    forms = {"one": "ещё {count} шаг", "few": "ещё {count} шага", "many": "ещё {count} шагов",
             "other": "ещё {count} шага"}
    words = {"_lang": "ru", "more": forms}
    assert [say(words, "more", count=n) for n in (1, 3, 5, 21, 1000)] == \
        ["ещё 1 шаг", "ещё 3 шага", "ещё 5 шагов", "ещё 21 шаг", "ещё 1\u00a0000 шагов"]


def test_placeholders_are_substituted_never_evaluated():
    from engine.i18n import fill, placeholder_problems
    values = {("metric", "nps"): "5", ("threshold", "nps_min"): "7"}
    text = "NPS {nps} below {thresholds.nps_min}; {nps.__class__} {0} {{nps}}"
    assert fill(text, lambda kind, name: values[(kind, name)]) == \
        "NPS 5 below 7; {nps.__class__} {0} {5}"
    problems = [m for _, m in placeholder_problems(text, {"nps": 1}, {"nps_min": 1})]
    assert problems == ["placeholder {nps.__class__}: write {metric} or {thresholds.name}",
                        "placeholder {0}: write {metric} or {thresholds.name}",
                        "unmatched '{' (a placeholder is {metric} or {thresholds.name})",
                        "unmatched '}' (a placeholder is {metric} or {thresholds.name})"]
    assert placeholder_problems("{npss} {thresholds.nps}", {"nps": 1}, {"nps_min": 1}) == [
        (0, "unknown metric 'npss' in placeholder (did you mean 'nps'?)"),
        (7, "unknown threshold 'nps' in placeholder (did you mean 'nps_min'?)")]


def test_readme_excerpt_is_real_output(project, tmp_path):
    """The plan and digest quoted in docs/output.md ("What a manager receives") are what `make demo`
    writes (with its store: plan ids), and the Russian plan what `--lang ru --no-store` writes."""
    readme = (ROOT / "docs" / "output.md").read_text("utf-8")
    section = readme[readme.index("## What a manager receives"):]
    account = re.search(r"out/demo/plans/([\w-]+)\.md", section).group(1)
    digest = re.search(r"out/demo/digests/([\w-]+)\.md", section).group(1)
    blocks = re.findall(r"((?:\n    .*|\n)+)", section[section.index("after `make demo`"):])
    quoted = [b for b in blocks if b.strip()]
    assert len(quoted) == 3
    runs = {}
    for lang, stored in (("en", True), ("ru", False)):
        out = tmp_path / lang
        with Store.open(tmp_path / f"{lang}.sqlite") if stored else contextlib.nullcontext() as store:
            evaluate_portfolio(project, [ROOT / "examples" / "accounts.csv"], out, AS_OF, lang,
                               write_documents=write_documents, store=store)
        runs[lang] = out
    files = [runs["en"] / "plans" / f"{account}.md", runs["en"] / "digests" / f"{digest}.md",
             runs["ru"] / "plans" / f"{account}.md"]
    for path, block in zip(files, quoted):
        # the docs show non-breaking spaces as plain ones
        written = path.read_text("utf-8").replace("\u00a0", " ").splitlines()
        for line in block.splitlines():
            line = line[4:].replace("\u00a0", " ")
            if line.strip() and line.strip() != "…":
                assert line in written, (path.name, line)
