"""`kam backtest`: replaying the rules on snapshots against real losses; threshold sweeps."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "history"
HEADER = "snapshot_date,account_id,revenue_current,revenue_previous,revenue_share_pct,payment_overdue_days,nps\n"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def snapshot(when: str, aid: str, overdue: int = 0, nps: int | str = 9, current: float = 100) -> str:
    return f"{when},{aid},{current},100,5,{overdue},{nps}\n"


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """Three monthly snapshots. payment_delay fires before both losses (L1 first on 02-28,
    lost 04-20: 51 days; L2 on 01-31, lost 04-10: 69 days) and once for an account that
    stays (H2 on 01-31). L1 also has a snapshot after its loss, which must not count."""
    rows = [snapshot("2025-01-31", "L1"), snapshot("2025-01-31", "L2", overdue=45),
            snapshot("2025-01-31", "H1"), snapshot("2025-01-31", "H2", overdue=40),
            snapshot("2025-02-28", "L1", overdue=35), snapshot("2025-02-28", "L2", overdue=75),
            snapshot("2025-02-28", "H1"), snapshot("2025-02-28", "H2"),
            snapshot("2025-03-31", "L1", overdue=65, nps=3), snapshot("2025-03-31", "L2", overdue=90),
            snapshot("2025-03-31", "H1"), snapshot("2025-03-31", "H2"),
            snapshot("2025-04-30", "L1", overdue=95, nps=2, current=10)]  # after the loss
    history = tmp_path / "history.csv"
    history.write_text(HEADER + "".join(rows), "utf-8")
    losses = tmp_path / "losses.csv"
    losses.write_text("account_id,lost_date\nL1,2025-04-20\nL2,2025-04-10\nGONE,2025-01-01\n", "utf-8")
    return history, losses


def target(report: dict, name: str) -> dict:
    return next(t for t in report["targets"] if t["target"] == name)


def test_a_signal_that_always_precedes_the_loss_has_recall_one_and_the_right_lead(tiny):
    history, losses = tiny
    r = run("backtest", history, "--losses", losses, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    h = report["history"]
    assert (h["accounts"], h["snapshots"], h["lost"], h["lost_not_in_history"]) == (4, 4, 2, 1)
    assert h["observed_until"] == "2025-04-30"
    delay = target(report, "signal.payment_delay")
    assert delay["recall"] == 1.0 and (delay["lost_caught"], delay["lost"]) == (2, 2)
    assert delay["median_lead_days"] == 60  # median of 51 and 69
    # H2's firing on 01-31 is too recent to judge with a 180-day horizon: precision 2/2
    assert (delay["confirmed"], delay["judged"], delay["precision"]) == (2, 2, 1.0)
    assert delay["flagged"] == 3
    # low NPS fired for L1 only on 03-31 (the 04-30 snapshot is after the loss)
    nps = target(report, "signal.low_nps")
    assert (nps["recall"], nps["median_lead_days"]) == (0.5, 20)
    assert target(report, "risk.medium")["recall"] == 1.0
    assert target(report, "risk.high")["lost_caught"] == 1
    assert target(report, "signal.purchase_drop")["flagged"] == 0  # the 90 % drop came after the loss


def test_a_short_horizon_judges_early_firings_as_false_alarms(tiny):
    history, losses = tiny
    report = json.loads(run("backtest", history, "--losses", losses, "--horizon", "30", "--json").output)
    delay = target(report, "signal.payment_delay")
    # L1 (03-31 -> 04-20) is confirmed; L2 (last firing 03-31, lost 04-10) too; H2 (01-31) is judged
    assert (delay["confirmed"], delay["judged"]) == (2, 3)
    assert delay["precision"] == round(2 / 3, 4)
    assert delay["recall"] == 1.0


def test_text_report(tiny):
    history, losses = tiny
    r = run("backtest", history, "--losses", losses)
    assert r.exit_code == 0, r.output
    out = r.output
    assert "4 accounts, 4 snapshots (2025-01-31 … 2025-04-30)" in out
    assert "2 lost accounts (50.0 % of the accounts)" in out
    assert "note: 1 lost accounts are not in the history (ignored)" in out
    line = next(x for x in out.splitlines() if x.startswith("payment_delay "))
    assert "1.00 (2/2)" in line and "60 days" in line
    assert next(x for x in out.splitlines() if x.startswith("risk ≥ medium"))


@pytest.fixture
def counted(tmp_path: Path) -> tuple[Path, Path]:
    """For lift, scored with --horizon 90. Quarterly snapshots, observed until 07-31 (the last
    snapshot): a date is judged when d + 90 <= 07-31, so 01-31 and 04-30 are (04-30 + 90 = 07-29)
    and 07-31 is not. Eight accounts have a judged snapshot: L1 (lost 03-15, 43 days after 01-31)
    and L2 (lost 06-01, 32 days after 04-30; 01-31 + 90 = 05-01 is too early) are confirmed,
    H1..H6 stay. N1 only shows on 07-31: not judged. Base rate 2/8 = 0.25.
    payment_delay (overdue > 30): L1 01-31, L2 04-30 (confirmed), H1 01-31 -> 2/3, lift 8/3.
    low_nps (nps < 7): L1 01-31 (confirmed), H2 and H5 01-31, H3 04-30 -> 1/4 = the base rate;
    H4 fires on 07-31 only, too recent: flagged, not judged.
    risk >= medium (either): 2/6, lift 4/3. risk >= high (both at once): L1 only, 1/1, lift 4."""
    rows = [snapshot("2025-01-31", "L1", overdue=45, nps=5), snapshot("2025-01-31", "L2"),
            snapshot("2025-04-30", "L2", overdue=75)]
    quiet = {"H1": {"2025-01-31": {"overdue": 45}}, "H2": {"2025-01-31": {"nps": 5}},
             "H3": {"2025-04-30": {"nps": 5}}, "H4": {"2025-07-31": {"nps": 5}},
             "H5": {"2025-01-31": {"nps": 5}}, "H6": {}}
    for aid, odd in quiet.items():
        rows += [snapshot(when, aid, **odd.get(when, {})) for when in ("2025-01-31", "2025-04-30", "2025-07-31")]
    rows.append(snapshot("2025-07-31", "N1"))
    history = tmp_path / "history.csv"
    history.write_text(HEADER + "".join(rows), "utf-8")
    losses = tmp_path / "losses.csv"
    losses.write_text("account_id,lost_date\nL1,2025-03-15\nL2,2025-06-01\n", "utf-8")
    return history, losses


def test_wilson_interval_matches_the_published_values():
    from engine.tools.backtest import wilson
    assert tuple(round(x, 4) for x in wilson(8, 10)) == (0.4902, 0.9433)
    assert tuple(round(x, 4) for x in wilson(0, 10)) == (0.0, 0.2775)  # keeps a width at 0 ...
    assert tuple(round(x, 4) for x in wilson(10, 10)) == (0.7225, 1.0)  # ... and at n out of n


def test_base_rate_and_lift_on_a_hand_counted_history(counted):
    history, losses = counted
    report = json.loads(run("backtest", history, "--losses", losses, "--horizon", 90, "--json").output)
    h = report["history"]
    assert (h["base_confirmed"], h["base_judged"], h["base_rate"]) == (2, 8, 0.25)
    lifts = {t["target"]: (t["confirmed"], t["judged"], t["precision"], t["base_rate"], t["lift"],
                           t["lift_low"], t["lift_high"]) for t in report["targets"]}
    # the bounds are the Wilson interval of the precision (2/3: 0.2077-0.9385) over the base rate
    assert lifts["signal.payment_delay"] == (2, 3, 0.6667, 0.25, 2.6667, 0.8306, 3.754)
    assert lifts["signal.low_nps"] == (1, 4, 0.25, 0.25, 1.0, 0.1823, 2.7974)
    assert target(report, "signal.low_nps")["flagged"] == 5  # H4 counted as flagged, not judged
    assert lifts["risk.medium"] == (2, 6, 0.3333, 0.25, 1.3333, 0.3871, 2.8)
    assert lifts["risk.high"] == (1, 1, 1.0, 0.25, 4.0, 0.8262, 4.0)
    assert lifts["signal.purchase_drop"] == (0, 0, None, 0.25, None, None, None)  # never fired


def test_a_target_no_better_than_chance_is_called_out(counted):
    history, losses = counted
    r = run("backtest", history, "--losses", losses, "--horizon", 90)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "base rate: 0.25 (2/8), the precision of warning about every account at every snapshot" in r.output
    assert "lift (95 %)" in next(x for x in lines if x.startswith("signal / risk level"))
    delay = next(x for x in lines if x.startswith("payment_delay "))
    assert "2.67 (0.83–3.75)" in delay and not delay.endswith("≤ chance")
    nps = next(x for x in lines if x.startswith("low_nps "))
    assert "1.00 (0.18–2.80)" in nps and nps.endswith("≤ chance")  # equal to the base rate counts
    assert not next(x for x in lines if x.startswith("purchase_drop ")).endswith("≤ chance")  # n/a
    assert lines[-1] == "1 signal or risk level warns no better than chance (precision ≤ base rate): low_nps"


def test_the_sweep_shows_lift_and_warning_everyone_scores_the_base_rate(counted):
    history, losses = counted
    common = ("backtest", history, "--losses", losses, "--horizon", 90)
    s = json.loads(run(*common, "--sweep", "payment_overdue_days=30:60:30", "--json").output)["sweep"]
    assert [(r["value"], r["confirmed"], r["judged"], r["lift"], r["lift_low"], r["lift_high"])
            for r in s["rows"]] == [(30, 2, 3, 2.6667, 0.8306, 3.754), (60, 1, 1, 4.0, 0.8262, 4.0)]
    # nps < 10 fires for every account at every snapshot: precision is the base rate, lift 1
    s = json.loads(run(*common, "--sweep", "nps_min=7:10:3", "--target", "low_nps", "--json").output)["sweep"]
    assert [(r["value"], r["confirmed"], r["judged"], r["lift"]) for r in s["rows"]] == [(7, 1, 4, 1.0),
                                                                                         (10, 2, 8, 1.0)]
    text = run(*common, "--sweep", "payment_overdue_days=30:60:30").output
    table = text[text.index("sweep of thresholds.payment_overdue_days"):].splitlines()
    assert "lift (95 %)" in table[1]
    assert "2.67 (0.83–3.75)" in table[2] and table[2].lstrip().startswith("30 *")
    assert "4.00 (0.83–4.00)" in table[3] and table[-1] == "(* the current value)"
    text = run(*common, "--sweep", "nps_min=7:10:3", "--target", "low_nps").output
    table = text[text.index("sweep of thresholds.nps_min"):].splitlines()
    assert all(row.endswith("≤ chance") for row in table[2:4])
    assert table[-1] == "(* the current value; ≤ chance: precision at or below the base rate)"


def test_sweep_prints_one_row_per_value_and_recall_falls_as_the_drop_threshold_rises():
    r = run("backtest", SAMPLE / "snapshots.csv", "--losses", SAMPLE / "losses.csv",
            "--sweep", "thresholds.purchase_drop_pct=5:30:5", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    s = report["sweep"]
    assert s["threshold"] == "purchase_drop_pct" and s["target"] == "signal.purchase_drop"
    assert [row["value"] for row in s["rows"]] == [5, 10, 15, 20, 25, 30]
    recall = [row["recall"] for row in s["rows"]]
    flagged = [row["flagged"] for row in s["rows"]]
    assert recall == sorted(recall, reverse=True) and recall[0] > recall[-1]
    assert flagged == sorted(flagged, reverse=True) and flagged[0] > flagged[-1]
    # the row at the current value is the main report's
    current = next(row for row in s["rows"] if row["value"] == 15)
    main_row = target(report, "signal.purchase_drop")
    assert {k: current[k] for k in main_row if k != "target"} == {k: v for k, v in main_row.items()
                                                                  if k != "target"}

    text = run("backtest", SAMPLE / "snapshots.csv", "--losses", SAMPLE / "losses.csv",
               "--sweep", "purchase_drop_pct=5:30:5").output
    table = text[text.index("sweep of thresholds.purchase_drop_pct (now 15), scored on purchase_drop:"):]
    rows = [x for x in table.splitlines()[2:] if x and not x.startswith("(")]
    assert len(rows) == 6
    assert rows[2].lstrip().startswith("15 *")


def test_the_sample_history_shows_signals_ahead_of_losses():
    report = json.loads(run("backtest", SAMPLE / "snapshots.csv", "--losses", SAMPLE / "losses.csv",
                            "--json").output)
    h = report["history"]
    assert h["accounts"] == 300 and h["snapshots"] == 8 and 0.1 < h["base_rate"] < 0.3
    drop = target(report, "signal.purchase_drop")
    assert drop["recall"] > 0.5 and drop["precision"] > h["base_rate"]
    assert drop["median_lead_days"] > 30
    assert drop["lift_low"] > 1.5  # clearly better than chance
    # risk >= medium flags nearly every account: no better than warning about everyone
    medium = target(report, "risk.medium")
    assert medium["flagged"] > 0.9 * h["accounts"] and medium["lift"] < 1


def test_the_sample_is_what_its_script_generates(tmp_path):
    subprocess.run([sys.executable, str(SAMPLE / "generate_history.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("snapshots.csv", "losses.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    assert (SAMPLE / "snapshots.csv").stat().st_size < 2_000_000


@pytest.mark.parametrize("spec, message", [
    ("npss=1:3:1", "unknown threshold 'npss'"),
    ("nps=1:3:1", "'nps' is a metric; sweep the threshold it is compared with: thresholds.nps_min"),
    ("purchase_drop_pct=30:5:5", "expected START <= STOP and STEP > 0"),
    ("purchase_drop_pct=5:x:5", "expected START:STOP:STEP numbers"),
    ("purchase_drop_pct", "expected NAME=START:STOP:STEP"),
    ("purchase_drop_pct=0:1000:1", "at most 100 values"),
])
def test_a_bad_sweep_is_a_usage_error(tiny, spec, message):
    history, losses = tiny
    r = run("backtest", history, "--losses", losses, "--sweep", spec)
    assert r.exit_code == 2
    assert message in r.output


def test_sweep_values_with_decimal_steps(tiny):
    history, losses = tiny
    report = json.loads(run("backtest", history, "--losses", losses, "--sweep", "nps_min=6:7:0.5",
                            "--target", "low_nps", "--json").output)
    assert [row["value"] for row in report["sweep"]["rows"]] == [6, 6.5, 7]
    assert report["sweep"]["target"] == "signal.low_nps"


def test_bad_history_and_losses(tmp_path, tiny):
    history, losses = tiny
    no_date = tmp_path / "no_date.csv"
    no_date.write_text("account_id,nps\nA,5\n", "utf-8")
    r = run("backtest", no_date, "--losses", losses)
    assert r.exit_code == 1 and "no 'snapshot_date' column" in r.output
    bad_losses = tmp_path / "bad_losses.csv"
    bad_losses.write_text("account_id,lost_date\nL1,31.04.2025\nL2,03/04/2025\n", "utf-8")
    r = run("backtest", history, "--losses", bad_losses)
    assert r.exit_code == 1
    assert f"{bad_losses}:2:2: lost_date: '31.04.2025' is not a date: April 2025 has no day 31" in r.output
    assert (f"{bad_losses}:3:2: lost_date: '03/04/2025' is ambiguous: day/month or month/day? "
            "Write it as 2025-MM-DD or DD.MM.2025") in r.output
    # a bad row is rejected and reported; the rest is still scored
    rows = history.read_text("utf-8") + "2025-03-31,H3,1,1,1,0,11\nsoon,H4,1,1,1,0,5\n"
    history.write_text(rows, "utf-8")
    r = run("backtest", history, "--losses", losses)
    assert r.exit_code == 0
    assert "2 rejected" in r.output
    assert "rejected: " in r.output and "nps: 11 is above the maximum 10" in r.output
    assert (f"rejected: {history} row 16: snapshot_date: expected a date (2026-11-23, 23.11.2026, "
            "23 ноября 2026, 23 Nov 2026), got 'soon'") in r.output


GENITIVE = {1: "января", 2: "февраля", 3: "марта", 4: "апреля"}
ABBR = {1: "Jan", 2: "Feb", 3: "Mar", 4: "Apr"}


def _report(*args: object) -> dict:
    r = run("backtest", *args, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    del report["history"]["source"]
    return report


def test_dates_as_exports_write_them_give_the_same_backtest(tiny, tmp_path):
    """A Russian CRM export (';', its own headers mapped in kam.yaml, dd.mm.yyyy and month
    names) and an .xlsx with date cells replay exactly as the ISO history."""
    import openpyxl
    history, losses = tiny
    want = _report(history, "--losses", losses)
    rows = [line.split(",") for line in history.read_text("utf-8").splitlines()[1:]]
    forms = [lambda d: d.strftime("%d.%m.%Y"), lambda d: f"{d.day} {GENITIVE[d.month]} {d.year} г.",
             lambda d: d.strftime("%d.%m.%y"), lambda d: f"{d.day}-{ABBR[d.month]}-{d.year}",
             lambda d: f"{ABBR[d.month]} {d.day}, {d.year}", lambda d: f"{d.isoformat()} 0:00:00"]
    project = tmp_path / "project"
    for part in ("rules", "playbooks", "templates"):
        shutil.copytree(ROOT / part, project / part)
    (project / "kam.yaml").write_text((ROOT / "kam.yaml").read_text("utf-8") + (
        "columns:\n  Дата среза: snapshot_date\n  ИД клиента: account_id\n  Дата ухода: lost_date\n"), "utf-8")
    crm = tmp_path / "история.csv"
    head = HEADER.strip().replace("snapshot_date", "Дата среза").replace("account_id", "ИД клиента")
    crm.write_text("\n".join([head.replace(",", ";")] + [
        ";".join([forms[i % len(forms)](date.fromisoformat(r[0]))] + r[1:]) for i, r in enumerate(rows)]) + "\n",
        "utf-8-sig")
    crm_losses = tmp_path / "ушедшие.csv"
    crm_losses.write_text("ИД клиента;Дата ухода\nL1;20 апреля 2025\nL2;10.04.2025\nGONE;1 Jan 2025\n", "utf-8")
    assert _report(crm, "--losses", crm_losses, "--project", project) == want

    book = openpyxl.Workbook()
    book.active.append(HEADER.strip().split(","))
    for r in rows:
        book.active.append([datetime.fromisoformat(r[0])] + [r[1]] + [float(x) for x in r[2:]])
    sheet = tmp_path / "history.xlsx"
    book.save(sheet)
    book = openpyxl.Workbook()
    book.active.append(["account_id", "lost_date"])
    for aid, when in (("L1", date(2025, 4, 20)), ("L2", datetime(2025, 4, 10, 9, 30)), ("GONE", date(2025, 1, 1))):
        book.active.append([aid, when])
    sheet_losses = tmp_path / "losses.xlsx"
    book.save(sheet_losses)
    assert _report(sheet, "--losses", sheet_losses) == want


def test_sweeping_a_portfolio_boundary_moves_the_portfolio_pass_too():
    from engine.project.load import load_project
    from engine.run.portfolio import measure
    from engine.tools.backtest import with_threshold
    project = load_project(ROOT)
    changed = with_threshold(project, "dependency_risky_pct", 5)
    assert changed.thresholds["dependency_risky_pct"].value == 5
    accounts = [{"account_id": "A", "revenue_current": 6.0, "revenue_share_pct": 6.0}]
    measure(changed, accounts)
    assert accounts[0]["dependency"] == "risky"
    measure(project, accounts)
    assert accounts[0]["dependency"] == "none"
    assert project.thresholds["dependency_risky_pct"].value == 20  # the original is untouched


def test_a_history_kept_in_excel_reads_as_evaluate_reads_its_input(tiny, tmp_path):
    """A workbook as an Excel user keeps it: a title and a blank row above the header, shares
    in percent-formatted cells (0.05 shown as 5 %), a totals row with its date. kam backtest
    reads it as kam evaluate reads input: the header found, 5 % is 5, the totals row rejected
    by its words instead of replayed as an account; the scores are the CSV history's."""
    import openpyxl

    from engine.project.load import find_project, load_project
    from engine.tools.backtest import read_history
    history, losses = tiny
    want = _report(history, "--losses", losses)
    rows = [line.split(",") for line in history.read_text("utf-8").splitlines()[1:]]
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Срезы клиентов на конец месяца (выгрузка из CRM)"])
    ws.append([])
    ws.append(HEADER.strip().split(","))
    for r in rows:
        ws.append([datetime.fromisoformat(r[0]), r[1], float(r[2]), float(r[3]), float(r[4]) / 100,
                   float(r[5]), float(r[6])])
        ws.cell(ws.max_row, 5).number_format = "0%"
    ws.append([datetime(2025, 3, 31), "Итого", sum(float(r[2]) for r in rows), sum(float(r[3]) for r in rows),
               None, None, None])
    sheet = tmp_path / "срезы.xlsx"
    book.save(sheet)

    past = read_history(load_project(find_project(str(ROOT))), sheet, losses)
    assert {v["revenue_share_pct"] for vs in past.snapshots.values() for v in vs} == {5.0}
    assert past.records == len(rows) + 1
    assert past.rejected == [f"{sheet} row {len(rows) + 4}: totals row ('Итого' in account_id)"]
    got = _report(sheet, "--losses", losses)
    assert got["targets"] == want["targets"]
    assert got["rejected"] == past.rejected
