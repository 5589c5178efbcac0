"""Working days (engine/project/workdays.py): the calendar of kam.yaml, due dates that count working
days, and recurring steps that show their next date run after run."""
from __future__ import annotations

import json
import sqlite3
from calendar import monthrange
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_project import FILES, Weekly, write_project

from cli import main
from engine.errors import KamError
from engine.plans.store import Store
from engine.plans.store.actions import list_plans
from engine.project.load import load_project
from engine.project.workdays import WorkCalendar
from engine.rules.evaluate import Evaluator

ROOT = Path(__file__).resolve().parent.parent
WEEKENDS = WorkCalendar()
RU = WorkCalendar("RU")


def d(text: str) -> date:
    return date.fromisoformat(text)


# -- the calendar ------------------------------------------------------------------------------

def test_working_days_skip_the_weekend():
    fri, sat, sun, mon = d("2026-11-27"), d("2026-11-28"), d("2026-11-29"), d("2026-11-30")
    assert [WEEKENDS.is_working(x) for x in (fri, sat, sun, mon)] == [True, False, False, True]
    assert WEEKENDS.add_working_days(fri, 0) == fri
    assert WEEKENDS.add_working_days(fri, 1) == mon
    assert WEEKENDS.add_working_days(sat, 0) == mon  # a day off counts from the next working day
    assert WEEKENDS.add_working_days(sat, 1) == mon
    assert WEEKENDS.add_working_days(sun, 2) == d("2026-12-01")
    assert WEEKENDS.add_working_days(mon, 10) == d("2026-12-14")
    assert WEEKENDS.next_working_day(sun) == mon and WEEKENDS.next_working_day(fri) == fri
    with pytest.raises(ValueError):
        WEEKENDS.add_working_days(mon, -1)


def test_russian_new_year_holidays_and_transferred_days():
    # 2026-12-31 is a day off moved from Sunday 4 January 2026; 1-8 January 2027 are the New
    # Year holidays, 9-10 January a weekend: the first working day of 2027 is Monday 11 January
    assert not RU.is_working(d("2026-12-31"))
    assert RU.add_working_days(d("2026-12-30"), 1) == d("2027-01-11")
    assert RU.add_working_days(d("2026-12-31"), 1) == d("2027-01-11")
    assert RU.add_working_days(d("2026-12-31"), 0) == d("2027-01-11")
    assert WEEKENDS.add_working_days(d("2026-12-31"), 1) == d("2027-01-01")
    # Saturday 20 February 2027 is worked so that Monday 22 February is off (23rd: a holiday)
    assert RU.is_working(d("2027-02-20")) and not RU.is_working(d("2027-02-22"))
    assert RU.add_working_days(d("2027-02-19"), 1) == d("2027-02-20")
    assert RU.add_working_days(d("2027-02-20"), 1) == d("2027-02-24")
    # a holiday on a weekend moves to the next working day: 9 May 2026 is a Saturday
    assert not RU.is_working(d("2026-05-11"))


def test_declared_holidays_and_working_days_apply():
    cal = WorkCalendar("RU", extra_holidays=(d("2026-11-24"),), extra_working_days=(d("2026-11-28"),))
    assert not cal.is_working(d("2026-11-24")) and cal.is_working(d("2026-11-28"))
    assert cal.add_working_days(d("2026-11-23"), 1) == d("2026-11-25")
    assert cal.add_working_days(d("2026-11-27"), 1) == d("2026-11-28")
    assert cal.add_working_days(d("2026-11-23"), 4) == d("2026-11-28")
    friday_off = WorkCalendar(weekend=(4, 5))
    assert friday_off.add_working_days(d("2026-11-26"), 1) == d("2026-11-29")  # Thursday -> Sunday


def test_long_spans_stay_exact():
    # one working day at a time agrees with a jump of any length, across many years
    start, day = d("2026-11-23"), d("2026-11-23")
    for n in range(1, 3651):
        day = RU.add_working_days(day, 1)
        if n in (1, 250, 251, 1000, 3650):
            assert RU.add_working_days(start, n) == day
    assert day.year == 2041


def test_dates_past_9999_are_a_clear_error():
    assert WEEKENDS.add_working_days(d("9999-12-30"), 1) == d("9999-12-31")
    with pytest.raises(KamError, match="past the year 9999"):
        WEEKENDS.add_working_days(d("9999-12-30"), 2)
    with pytest.raises(KamError, match="past the year 9999"):
        RU.add_working_days(d("2026-11-23"), 10_000_000)
    with pytest.raises(KamError, match="past the year 9999"):
        WEEKENDS.next_occurrence("quarter", d("9999-11-01"), d("9999-12-31"))


def test_week_start_is_monday():
    assert WEEKENDS.week_start(d("2026-11-29")) == d("2026-11-23")
    assert WEEKENDS.week_start(d("2026-11-23")) == d("2026-11-23")


def test_next_occurrence_is_the_first_working_date_of_the_series_on_or_after_the_day():
    first = d("2026-11-30")  # Monday
    assert RU.next_occurrence("month", first, d("2026-11-23")) == first
    assert RU.next_occurrence("month", first, first) == first
    assert RU.next_occurrence("month", first, d("2026-12-01")) == d("2026-12-30")
    assert RU.next_occurrence("month", first, d("2026-12-30")) == d("2026-12-30")
    # 30 January 2027 is a Saturday
    assert RU.next_occurrence("month", first, d("2026-12-31")) == d("2027-02-01")
    assert RU.next_occurrence("quarter", first, d("2026-12-01")) == d("2027-03-01")  # 2 March is a Tuesday
    assert RU.next_occurrence("week", first, d("2026-12-29")) == d("2027-01-11")  # 4 January: holidays
    # the 31st of a month: the last day of shorter months, and the 31st again after them
    jan31 = d("2025-01-31")
    assert WEEKENDS.next_occurrence("month", jan31, d("2025-02-01")) == d("2025-02-28")
    assert WEEKENDS.next_occurrence("month", jan31, d("2025-03-01")) == d("2025-03-31")
    # a date before the day that moves onto it counts: Saturday 31 January -> Monday 2 February
    assert WEEKENDS.next_occurrence("month", d("2026-01-31"), d("2026-02-01")) == d("2026-02-02")
    with pytest.raises(ValueError):
        WEEKENDS.next_occurrence("day", first, first)


def test_next_occurrence_agrees_with_walking_the_series():
    anchor = d("2026-11-30")
    for every, step in (("week", 7), ("month", 0), ("quarter", 0)):
        series = []
        for k in range(30):
            if step:
                raw = anchor + timedelta(days=step * k)
            else:
                y, m = divmod(anchor.month - 1 + k * (1 if every == "month" else 3), 12)
                raw = date(anchor.year + y, m + 1, min(anchor.day, monthrange(anchor.year + y, m + 1)[1]))
            series.append(RU.next_working_day(raw))
        for offset in range(0, 200, 3):
            day = anchor + timedelta(days=offset)
            assert RU.next_occurrence(every, anchor, day) == min(x for x in series if x >= day), (every, day)


# -- kam.yaml ----------------------------------------------------------------------------------

def test_the_default_project_counts_russian_working_days():
    assert load_project(ROOT).calendar == WorkCalendar("RU")


def test_kam_yaml_declares_the_calendar(make_project):
    root = make_project({"kam.yaml": "kind: project\nname: t\ncalendar:\n  country: RU\n"
                                     "  weekend: [friday, saturday]\n  holidays: [2026-11-24]\n"
                                     "  working_days: ['2026-11-27']\n"})
    project = load_project(root)
    assert project.calendar == WorkCalendar("RU", None, (4, 5), (d("2026-11-24"),), (d("2026-11-27"),))
    ev = Evaluator(project, d("2026-11-23"))
    try:  # the call is 7 working days out: 25, 26, 27 (declared working), 29, 30 November, 1, 2 December
        result = ev.evaluate({"account_id": "A", "nps": 3, "status": "active", "revenue_current": 50.0,
                              "revenue_previous": 100.0})
    finally:
        ev.close()
    assert result["playbooks"][0]["steps"][0]["due"] == "2026-12-02"


@pytest.mark.parametrize("calendar, line, message", [
    ("  country: Rusia\n", 4, "calendar → country: unknown country code 'Rusia' (did you mean 'RU'?"),
    ("  country: ru\n", 4, "unknown country code 'ru' (did you mean 'RU'?"),
    ("  country: RU\n  subdivision: MOW\n", 5, "unknown subdivision 'MOW' of RU (the holidays package has none"),
    ("  country: US\n  subdivision: ca\n", 5, "unknown subdivision 'ca' of US (did you mean 'CA'?)"),
    ("  subdivision: CA\n", 4, "calendar → subdivision: needs a country"),
    ("  holidays: [2026-02-30]\n", 4, "calendar → holidays: '2026-02-30' is not a date"),
    ("  holidays: [2026-11-28]\n  working_days: [2026-11-28]\n", 5, "2026-11-28 is also in calendar → holidays"),
    ("  weekend: [monday, tuesday, wednesday, thursday, friday, saturday, sunday]\n", 4, "leaves no working day"),
    ("  contry: RU\n", 4, "unknown key 'contry' (did you mean 'country'?)"),
])
def test_a_bad_calendar_is_a_validation_error_with_file_line_and_hint(make_project, calendar, line, message):
    root = make_project({"kam.yaml": "kind: project\nname: t\ncalendar:\n" + calendar})
    with pytest.raises(KamError) as exc:
        load_project(root)
    (problem,) = exc.value.problems
    assert problem.path == str(root / "kam.yaml") and problem.line == line
    assert message in problem.message, problem.message


# -- due dates of runs -------------------------------------------------------------------------

def test_every_due_date_of_the_sample_is_a_working_day(tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["evaluate", str(ROOT / "examples" / "accounts.csv"), "--out", str(out),
                                  "--as-of", "2026-11-23", "--store", str(tmp_path / "state.sqlite"),
                                  "--no-documents"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    results = [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8").splitlines()]
    steps = [s for r in results for p in r["playbooks"] for s in p["steps"]]
    assert len({s["due"] for s in steps}) > 5
    assert all(RU.is_working(d(s["due"])) for s in steps)
    # the monthly step: its first date, 5 working days after Monday 23 November
    turnover = [s for s in steps if s["id"] == "track_turnover_monthly"]
    assert turnover and all(s["due"] == "2026-11-30" and s["every"] == "month" for s in turnover)
    assert all("every" not in s for s in steps if s["id"] == "analyse_project_margins")


RECURRING = (FILES["playbooks/respond.yaml"]
             + "  - {id: report, title: Report turnover, owner: kam, due_days: 5, every: month}\n")


def test_a_recurring_step_shows_its_next_date_run_after_run(tmp_path):
    root = write_project(tmp_path / "project", {"kam.yaml": "kind: project\nname: weekly\ncalendar: {country: RU}\n",
                                                "playbooks/respond.yaml": RECURRING})
    w = Weekly(tmp_path, root)
    low = {"A": {"nps": 5}}

    def steps(result: dict) -> dict[str, tuple]:
        (plan,) = result["playbooks"]
        return {s["id"]: (s["due"], s.get("every"), s["overdue"]) for s in plan["steps"]}

    # opened on Monday 23 November: the series starts 5 working days later
    assert steps(w.run("2026-11-23", low)["A"]) == {
        "call": ("2026-12-02", None, False), "visit": ("2027-01-13", None, False),
        "report": ("2026-11-30", "month", False)}
    assert steps(w.run("2026-11-30", low)["A"])["report"] == ("2026-11-30", "month", False)
    # past its first date the step is not overdue: it shows the next one, 30 December
    assert steps(w.run("2026-12-01", low)["A"])["report"] == ("2026-12-30", "month", False)
    later = steps(w.run("2026-12-31", low)["A"])
    assert later["call"] == ("2026-12-02", None, True)  # a one-off step stays overdue
    assert later["report"] == ("2027-02-01", "month", False)  # 30 January 2027 is a Saturday
    with Store.open(w.store_path) as store:
        (listed,) = list_plans(store, d("2026-12-31"))
    assert {s["id"]: s["due"] for s in listed["steps"]}["report"] == "2027-02-01"
    assert listed["next_due"] == "2026-12-02" and listed["overdue"]
    conn = sqlite3.connect(w.store_path)
    try:
        dues = dict(conn.execute("SELECT step_id, due FROM plan_steps"))
    finally:
        conn.close()
    assert dues == {"call": "2026-12-02", "visit": "2027-01-13", "report": "2027-02-01"}

