"""kam validate and the project's words (issue 14): every text in every language of kam.yaml,
no threshold's value written out by hand, and texts that follow a threshold that moves."""
from __future__ import annotations

import datetime
import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from cli import main
from engine.project.load import load_project
from engine.project.texts import numbers_in

ROOT = Path(__file__).resolve().parent.parent


def copy_project(dest: Path) -> Path:
    for name in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copy(ROOT / "kam.yaml", dest / "kam.yaml")
    return dest


def validate(root: Path):
    return CliRunner().invoke(main, ["validate", "--project", str(root)], catch_exceptions=False)


def test_the_default_project_is_valid():
    r = validate(ROOT)
    assert r.exit_code == 0, r.output


def test_a_missing_translation_fails_validate_with_file_line_and_field(tmp_path):
    root = copy_project(tmp_path)
    qbr = root / "playbooks" / "qbr.yaml"
    text = qbr.read_text("utf-8")
    # delete the Russian title of the QBR meeting step
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.strip() == "- id: hold_qbr")
    j = next(n for n in range(i, len(lines)) if lines[n].strip().startswith("ru:"))
    del lines[j]
    qbr.write_text("\n".join(lines) + "\n", "utf-8")
    r = validate(root)
    assert r.exit_code == 1
    assert re.search(r"playbooks/qbr\.yaml:\d+:\d+: steps → hold_qbr → title: no text in 'ru' "
                     r"\(kam.yaml languages: en, ru\)", r.output), r.output


def test_a_plain_string_is_english_only(tmp_path):
    root = copy_project(tmp_path)
    f = root / "rules" / "risk.yaml"
    f.write_text(re.sub(r"    description:\n      en: (.*)\n      ru: .*\n", r"    description: \1\n",
                        f.read_text("utf-8"), count=1), "utf-8")
    r = validate(root)
    assert r.exit_code == 1
    assert "rules → risk_medium → description: no text in 'ru'" in r.output


def test_a_project_in_one_language_needs_no_other(tmp_path):
    root = copy_project(tmp_path)
    kam = root / "kam.yaml"
    kam.write_text(kam.read_text("utf-8").replace("languages: [en, ru]", "languages: [en]"), "utf-8")
    f = root / "rules" / "risk.yaml"
    f.write_text(re.sub(r"\n      ru: .*", "", f.read_text("utf-8")), "utf-8")
    assert validate(root).exit_code == 0


def test_a_language_without_labels_is_reported(tmp_path):
    root = copy_project(tmp_path)
    labels = root / "templates" / "labels.yaml"
    labels.write_text(labels.read_text("utf-8").split("\nru:\n")[0] + "\n", "utf-8")
    r = validate(root)
    assert r.exit_code == 1 and "no labels for 'ru', a language of the project" in r.output


def test_a_hard_coded_threshold_fails_validate(tmp_path):
    root = copy_project(tmp_path)
    f = root / "playbooks" / "financial_response.yaml"
    text = f.read_text("utf-8").replace("more than {thresholds.payment_overdue_days} days overdue",
                                        "more than 30 days overdue", 1)
    f.write_text(text, "utf-8")
    r = validate(root)
    assert r.exit_code == 1
    assert re.search(r"playbooks/financial_response\.yaml:\d+:\d+: steps → credit_control → description \(en\): "
                     r"30 is the value of threshold 'payment_overdue_days': write "
                     r"\{thresholds\.payment_overdue_days\}", r.output), r.output


def test_a_rule_description_naming_its_threshold_fails_validate(tmp_path):
    root = copy_project(tmp_path)
    f = root / "rules" / "signals.yaml"
    f.write_text(f.read_text("utf-8").replace("NPS below {thresholds.nps_min} (a missing", "NPS below 7 (a missing", 1),
                 "utf-8")
    r = validate(root)
    assert r.exit_code == 1
    assert "rules → low_nps → description (en): 7 is the value of threshold 'nps_min'" in r.output


def test_numbers_match_thresholds_by_unit_and_skip_list_numbers():
    assert [(v, u) for v, u, _ in numbers_in("1. Results: 30 % of 30 days, 30 hours, 30 people")] == \
        [(30, "%"), (30, "days"), (30, "other"), (30, "")]
    assert [(v, u) for v, u, _ in numbers_in("просрочка 45 дн., рост на 7,5 % и {thresholds.nps_min}")] == \
        [(45, "days"), (7.5, "%")]


def test_unrelated_numbers_are_not_flagged(tmp_path):
    # "90 days" in the restructuring evidence is the metric's window, not the QBR threshold
    root = copy_project(tmp_path)
    assert validate(root).exit_code == 0
    assert "90 days" in (root / "rules" / "facts.yaml").read_text("utf-8")


def test_unknown_or_metric_placeholders_in_a_checklist_are_problems(tmp_path):
    root = copy_project(tmp_path)
    f = root / "playbooks" / "qbr.yaml"
    text = f.read_text("utf-8").replace("{thresholds.nps_min} is a warning",
                                        "{thresholds.nps_mn} is a warning {nps}", 1)
    f.write_text(text, "utf-8")
    r = validate(root)
    assert r.exit_code == 1
    assert "unknown threshold 'nps_mn' in placeholder (did you mean 'nps_min'?)" in r.output
    assert "{nps}: only a signal's evidence names an account's values" in r.output


def test_checklists_follow_a_moved_threshold(tmp_path):
    """After payment_overdue_days moves from 30 to 45, the credit-control step says 45, and a
    segment's own value wins for that segment."""
    from engine.render import plan_renderer
    from engine.rules.evaluate import Evaluator
    root = copy_project(tmp_path)
    f = root / "rules" / "thresholds.yaml"
    changed = f.read_text("utf-8").replace("{id: payment_overdue_days, value: 30, unit: days,",
                                           "{id: payment_overdue_days, value: 45, segments: {smb: 60}, unit: days,", 1)
    f.write_text(changed, "utf-8")
    project = load_project(root)
    ev = Evaluator(project, datetime.date(2026, 11, 23), "en")
    try:
        for segment, days in (("enterprise", "45"), ("smb", "60")):
            result = ev.evaluate({"account_id": f"A-{segment}", "segment": segment, "status": "active",
                                  "revenue_current": 100.0, "revenue_previous": 100.0, "revenue_share_pct": 5.0,
                                  "payment_overdue_days": 90})
            docs = dict(plan_renderer(project, "en").render(result))
            md = docs["md"]
            assert f"A payment more than {days} days overdue" in md, md
            assert "30 days" not in md
    finally:
        ev.close()


def test_labels_made_before_issue_14_still_work(tmp_path):
    """A project's labels.yaml without the keys issue 14 added (techniques, KPIs, counted
    accounts, plan counts) validates and renders: the default project's words stand in."""
    root = copy_project(tmp_path)
    labels = root / "templates" / "labels.yaml"
    new = ("techniques", "stage", "technique", "how", "kpis", "kpis_hint", "kpi_manager", "kpi_active", "kpi_repeat",
           "kpi_deals", "kpi_churn", "kpi_all", "report_accounts_count", "signals_count", "in_areas", "why_line",
           "steps_count", "steps_line")
    lines, skip = [], False
    for line in labels.read_text("utf-8").splitlines():
        key = re.match(r"^  ([a-z_]+):", line)
        if key:
            skip = key.group(1) in new
        elif not line.startswith("    "):
            skip = False
        if not skip:
            lines.append(line)
    labels.write_text("\n".join(lines) + "\n", "utf-8")
    assert "report_accounts_count" not in labels.read_text("utf-8")
    r = validate(root)
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["evaluate", str(ROOT / "tests" / "golden" / "accounts.csv"), "--project", str(root),
                                  "--out", str(out), "--as-of", "2026-11-23", "--no-store", "--lang", "ru"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "8 сигналов в 3 областях." in (out / "plans" / "G-HIGH.md").read_text("utf-8")
