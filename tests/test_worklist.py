"""Steps where people work (issue 19): calendar/<owner>.ics and tasks.csv, and
`kam plans done --from` reading a CRM's export back."""
from __future__ import annotations

import csv
import sqlite3
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from store_project import Weekly, write_accounts, write_project

from cli import main
from engine.plans.store import Store
from engine.plans.store.actions import mark_done
from engine.render.worklist.rows import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
W1, W2, W3 = "2026-11-02", "2026-11-09", "2026-11-16"


def kam(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def events(out: Path, owner: str = "Olga") -> dict[str, dict]:
    """The owner's calendar as the library parses it: UID -> the event's properties."""
    cal = Calendar.from_ical((out / "calendar" / f"{owner}.ics").read_bytes())
    assert cal["version"] == "2.0" and cal["prodid"]
    seen = {}
    for ev in cal.walk("VEVENT"):
        uid = str(ev["uid"])
        assert uid not in seen, f"UID {uid} twice"
        seen[uid] = {"status": str(ev["status"]), "sequence": int(ev["sequence"]), "dtstamp": ev["dtstamp"].dt,
                     "start": ev["dtstart"].dt, "summary": str(ev["summary"]), "description": str(ev["description"])}
    return seen


def tasks(out: Path) -> list[dict[str, str]]:
    with (out / "tasks.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows


def by_step(rows: list[dict[str, str]]) -> dict[tuple[str, str, str], dict[str, str]]:
    return {(r["account_id"], r["playbook"], r["step_id"]): r for r in rows}


def test_calendars_parse_and_a_later_run_updates_the_same_events(tmp_path):
    w = Weekly(tmp_path)
    w.run(W1, {"A": {"late_days": 45}, "B": {"late_days": 45, "nps": 3}, "C": {}})
    first = events(w.out)
    rows = by_step(tasks(w.out))
    assert list(tasks(w.out)[0]) == list(COLUMNS)
    # A: respond (call, visit); B: respond and crisis (meet); C: nothing
    assert set(rows) == {("A", "respond", "call"), ("A", "respond", "visit"), ("B", "respond", "call"),
                         ("B", "respond", "visit"), ("B", "crisis", "meet")}
    assert {f"{r['task_id']}@kam" for r in rows.values()} == set(first)
    for r in rows.values():  # the store's plan id and the step id
        assert r["task_id"] == f"kam-plan-{r['plan_id']}-{r['step_id']}" and r["state"] == "open"
        ev = first[f"{r['task_id']}@kam"]
        assert ev["status"] == "CONFIRMED" and ev["start"] == date.fromisoformat(r["due"])
        assert ev["sequence"] == 1 and ev["dtstamp"] == datetime(2026, 11, 2, tzinfo=timezone.utc)
    assert first[f"{rows['B', 'crisis', 'meet']['task_id']}@kam"]["summary"] == "Company B: Meet top management"

    with Store.open(w.store_path) as store:  # A calls the client; B's crisis plan is done whole
        mark_done(store, int(rows["A", "respond", "call"]["plan_id"]), "call", date(2026, 11, 4))
        mark_done(store, int(rows["B", "crisis", "meet"]["plan_id"]), None, date(2026, 11, 5))
    # a week on: B's NPS is back, so its crisis trigger has cleared (the done plan is not shown)
    w.run(W2, {"A": {"late_days": 45}, "B": {"late_days": 45}, "C": {}})
    second = events(w.out)
    assert set(first) <= set(second), "a later run adds no second event for a step"
    for ev in second.values():
        assert ev["sequence"] == 2 and ev["dtstamp"] == datetime(2026, 11, 9, tzinfo=timezone.utc)
    now = by_step(tasks(w.out))
    assert now["A", "respond", "call"]["state"] == "done" and now["A", "respond", "call"]["done_on"] == "2026-11-04"
    assert second[f"{now['A', 'respond', 'call']['task_id']}@kam"]["status"] == "CANCELLED"
    assert now["B", "crisis", "meet"]["state"] == "done"
    assert second[f"{now['B', 'crisis', 'meet']['task_id']}@kam"]["status"] == "CANCELLED"
    assert [k for k, r in now.items() if r["state"] in ("open", "overdue")] == [
        ("A", "respond", "visit"), ("B", "respond", "call"), ("B", "respond", "visit")]
    assert all(second[f"{r['task_id']}@kam"]["status"] == "CONFIRMED" for r in now.values()
               if r["state"] in ("open", "overdue"))

    # A recovers: its plan is resolved and its undone step leaves the calendar
    w.run(W3, {"A": {}, "B": {"late_days": 45}, "C": {}})
    third = by_step(tasks(w.out))
    assert third["A", "respond", "visit"]["state"] == "resolved"
    assert events(w.out)[f"{third['A', 'respond', 'visit']['task_id']}@kam"]["status"] == "CANCELLED"
    assert "Cancelled: the warning that opened the plan has cleared." in \
        events(w.out)[f"{third['A', 'respond', 'visit']['task_id']}@kam"]["description"].replace("\n", " ")


def test_closed_steps_leave_the_calendar_for_four_weeks_then_the_file(tmp_path):
    w = Weekly(tmp_path)
    w.run(W1, {"A": {"late_days": 45}})
    w.run(W2, {"A": {}})  # resolved on W2
    assert {r["state"] for r in tasks(w.out)} == {"resolved"}
    for day in ("2026-11-23", "2026-11-30", "2026-12-07"):  # within 28 days of W2: still cancelled
        w.run(day, {"A": {}})
        assert {r["state"] for r in tasks(w.out)} == {"resolved"}
        assert {e["status"] for e in events(w.out).values()} == {"CANCELLED"}
    w.run("2026-12-14", {"A": {}})
    assert tasks(w.out) == [] and not (w.out / "calendar").exists()


def test_without_a_store_the_ids_come_from_account_playbook_and_step(tmp_path):
    from engine.project.load import load_project
    from engine.run import evaluate_portfolio
    root = write_project(tmp_path / "project")
    project = load_project(root)
    csv_path = write_accounts(tmp_path / "in.csv", {"A": {"late_days": 45}, "B ; =1+1": {"nps": 2}})
    seen = []
    for i, day in enumerate((W1, W2)):
        out = tmp_path / f"out{i}"
        evaluate_portfolio(project, [csv_path], out, date.fromisoformat(day),
                           write_documents=lambda *a, **k: None)
        seen.append((tasks(out), events(out)))
    (rows1, ev1), (rows2, ev2) = seen
    assert set(ev1) == set(ev2) and len(ev1) == 4
    assert all(r["plan_id"] == "" and r["task_id"].startswith("kam-account-") for r in rows1)
    assert [r["task_id"] for r in rows1] == [r["task_id"] for r in rows2]
    assert {e["sequence"] for e in ev2.values()} == {0}
    assert {e["dtstamp"] for e in ev2.values()} == {datetime(2026, 11, 9, tzinfo=timezone.utc)}
    # a cell a spreadsheet would run as a formula is written as text
    assert {r["account_name"] for r in rows1 if r["account_id"] == "B ; =1+1"} == {"Company B ; =1+1"}
    evil = write_accounts(tmp_path / "evil.csv", {"=HYPERLINK(1)": {"late_days": 45, "name": "@SUM(A1)"}})
    evaluate_portfolio(project, [evil], tmp_path / "evil", date.fromisoformat(W1), write_documents=lambda *a, **k: None)
    row = tasks(tmp_path / "evil")[0]
    assert row["account_id"] == "'=HYPERLINK(1)" and row["account_name"] == "'@SUM(A1)"


def _default_run(tmp_path: Path, day: str, n: int) -> Path:
    """The default project on the sample, with the store tmp_path/state.sqlite."""
    out = tmp_path / f"out{n}"
    r = kam("evaluate", ROOT / "examples" / "accounts.csv", "--out", out, "--as-of", day,
            "--store", tmp_path / "state.sqlite")
    assert r.exit_code == 0, r.output
    return out


def _steps(store: Path) -> dict[tuple[int, str], str | None]:
    conn = sqlite3.connect(store)
    try:
        return {(p, s): d for p, s, d in conn.execute("SELECT plan_id, step_id, done_on FROM plan_steps")}
    finally:
        conn.close()


def _write(path: Path, rows: list[dict[str, str]], fields=None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fields or list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def default_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roundtrip")
    out = _default_run(tmp, "2026-11-23", 1)
    return tmp, out


def test_tasks_csv_round_trips_through_plans_done_from(default_job, tmp_path):
    import shutil
    tmp, out = default_job
    store = tmp_path / "state.sqlite"
    shutil.copy(tmp / "state.sqlite", store)
    rows = tasks(out)
    assert len(rows) > 300 and {r["state"] for r in rows} == {"open"}
    assert all((out / r["link"]).is_file() for r in rows)  # the plan document each row links to
    # the manager marks three steps done in the CRM, one with the day it was done, one by its
    # state, one by both; the CRM sends every row back
    rows[0]["done_on"] = "2026-11-24"
    rows[1]["state"] = "Completed"
    rows[2]["state"], rows[2]["done_on"] = "done", "25.11.2026"
    back = _write(tmp_path / "back.csv", rows)
    before = _steps(store)
    r = kam("plans", "done", "--from", back, "--store", store, "--on", "2026-11-26")
    assert r.exit_code == 0, r.output
    assert "marked 3 steps done" in r.output and f"open {len(rows) - 3}" in r.output
    after = _steps(store)
    changed = {k: v for k, v in after.items() if before[k] != v}
    assert changed == {(int(rows[0]["plan_id"]), rows[0]["step_id"]): "2026-11-24",
                       (int(rows[1]["plan_id"]), rows[1]["step_id"]): "2026-11-26",
                       (int(rows[2]["plan_id"]), rows[2]["step_id"]): "2026-11-25"}
    # the next run shows them done, in tasks.csv and as cancelled events
    out2 = _default_run(tmp_path, "2026-11-30", 2)
    now = {r["task_id"]: r for r in tasks(out2)}
    for row, day in ((rows[0], "2026-11-24"), (rows[1], "2026-11-26"), (rows[2], "2026-11-25")):
        assert now[row["task_id"]]["state"] == "done" and now[row["task_id"]]["done_on"] == day
    cal = events(out2, rows[0]["owner"].replace(" ", "_"))
    assert cal[rows[0]["task_id"] + "@kam"]["status"] == "CANCELLED"
    # the same file again changes nothing
    r = kam("plans", "done", "--from", back, "--store", store, "--json")
    assert '"steps_marked": 0' in r.output and '"already_done": 3' in r.output


def test_unknown_ids_are_reported_by_file_line_and_field_and_nothing_is_applied(default_job, tmp_path):
    import shutil
    tmp, out = default_job
    store = tmp_path / "state.sqlite"
    shutil.copy(tmp / "state.sqlite", store)
    rows = tasks(out)[:5]
    rows[1]["plan_id"] = "99999"
    rows[3]["step_id"] = "call_the_ceo"
    done = [{"Plan ID": r["plan_id"], "Step": r["step_id"], "Completed on": "2026-11-24"} for r in rows]
    done.append({"Plan ID": "seven", "Step": "x", "Completed on": "2026-11-24"})
    done.append({"Plan ID": rows[0]["plan_id"], "Step": rows[0]["step_id"], "Completed on": "31.02.2026"})
    path = _write(tmp_path / "crm.csv", done)
    before = _steps(store)
    r = kam("plans", "done", "--from", path, "--store", store)
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert lines == [  # every problem, in the file's order
        f"{path}:3:1: plan_id: no plan 99999 in {store} (it has plans 1 to {max(p for p, _ in before)})",
        f"{path}:5:2: step_id: plan {rows[3]['plan_id']} ({rows[3]['account_id']}, {rows[3]['playbook']}) has no "
        f"step 'call_the_ceo'" + lines[1].split("'call_the_ceo'", 1)[1],
        f"{path}:7:1: plan_id: expected a plan number, got 'seven'",
        f"{path}:8:3: done_on: '31.02.2026' is not a date: February 2026 has no day 31",
    ]
    assert _steps(store) == before, "nothing applied"
    # fixed, the same file applies whole, in one go
    del done[-2:]
    done[1]["Plan ID"], done[3]["Step"] = tasks(out)[1]["plan_id"], tasks(out)[3]["step_id"]
    r = kam("plans", "done", "--from", _write(path, done), "--store", store)
    assert r.exit_code == 0 and "marked 5 steps done" in r.output
    assert sum(1 for k, v in _steps(store).items() if v != before[k]) == 5


def test_a_plan_whose_steps_are_all_done_is_done_and_a_closed_plan_keeps_its_status(tmp_path):
    w = Weekly(tmp_path)
    w.run(W1, {"A": {"late_days": 45}, "B": {"late_days": 45}})
    rows = by_step(tasks(w.out))
    w.run(W2, {"A": {"late_days": 45}, "B": {}})  # B's plan resolves
    back = _write(tmp_path / "done.csv", [
        {"plan_id": rows["A", "respond", "call"]["plan_id"], "step_id": "call", "done_on": "2026-11-03"},
        {"plan_id": rows["A", "respond", "visit"]["plan_id"], "step_id": "visit", "done_on": "2026-11-06"},
        {"plan_id": rows["B", "respond", "call"]["plan_id"], "step_id": "call", "done_on": "2026-11-04"}])
    r = kam("plans", "done", "--from", back, "--store", w.store_path, "--json")
    assert r.exit_code == 0, r.output
    conn = sqlite3.connect(w.store_path)
    status = dict(conn.execute("SELECT account_id, status || ' ' || coalesce(done_on, resolved_on) FROM plans"))
    conn.close()
    assert status == {"A": "done 2026-11-06", "B": "resolved 2026-11-09"}
    assert '"plans_done": [\n    1\n  ]' in r.output and '"closed_plans": [\n    2\n  ]' in r.output


def test_a_file_without_the_id_columns_is_refused(tmp_path):
    w = Weekly(tmp_path)
    w.run(W1, {"A": {"late_days": 45}})
    path = tmp_path / "x.csv"
    path.write_text("account,subject\nA,call\n", "utf-8")
    r = kam("plans", "done", "--from", path, "--store", w.store_path)
    assert r.exit_code == 1 and f"{path}:1:1: no plan_id and step_id columns (or task_id)" in r.output
    r = kam("plans", "done", "1", "--from", path, "--store", w.store_path)
    assert r.exit_code == 2 and "not both" in r.output


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=120), title=st.text(min_size=1, max_size=200), owner=st.text(max_size=40),
       state=st.sampled_from(["open", "overdue", "done", "resolved", "snoozed", "dropped"]),
       due=st.dates(date(2000, 1, 1), date(2199, 12, 30)), seq=st.integers(0, 10**6),
       plan=st.one_of(st.none(), st.integers(1, 2**62)))
def test_an_event_is_the_bytes_the_library_writes_for_it(name, title, owner, state, due, seq, plan):
    """ics.event puts shared lines together for speed: byte for byte the library's component."""
    from engine.render.labels import optional_words
    from engine.render.worklist.ics import event, event_component
    from engine.render.worklist.rows import Spec, Task
    words = optional_words({}, "ru")
    t = Task(f"kam-plan-{plan}-call" if plan else "kam-account-0123456789abcdef-respond-call", plan, "call",
             "ACC-1", name, owner, due.isoformat(), title, "plans/ACC-1.html", state, "respond", "Менеджер",
             "2026-11-20" if state == "done" else "", title[:30])
    spec = Spec(date(2026, 11, 23), seq, "html")
    assert event(t, spec, words) == event_component(t, spec, words).to_ical()


# escapes, carets, and characters of one to four octets, where the folding decisions are
_FOLD_TEXT = st.text(alphabet=st.sampled_from(list("ab ,;:\\^N\n\r") + ["é", "Ж", "€", "😀"]),
                     min_size=60, max_size=400)


@settings(max_examples=500, deadline=None)
@given(value=_FOLD_TEXT, name=st.sampled_from(["SUMMARY", "DESCRIPTION", "UID"]))
def test_a_text_line_is_escaped_and_folded_as_the_library_does(value, name):
    """ics._text does on bytes what icalendar's vText and foldline do a character at a time."""
    from icalendar import vText
    from icalendar.parser import Contentline

    from engine.render.worklist.ics import _text
    line = f"{name}:{vText(value).to_ical().decode('utf-8')}"
    assert _text(name, value) == Contentline(line).to_ical() + b"\r\n"


# cells as a CRM or an Excel user fills them: commas, quotes, line breaks, formula starts, NUL
_CELL = st.text(alphabet=st.sampled_from(list("ab ,\"'\r\n=+-@\t;\x00") + ["é", "Ж", "«", "😀"]), max_size=12)


@settings(max_examples=500, deadline=None)
@given(rows=st.lists(st.tuples(_CELL, _CELL, _CELL, _CELL, st.one_of(st.none(), st.integers(0, 10**6))),
                     max_size=6))
def test_tasks_csv_lines_are_what_csv_writer_writes(rows):
    """rows.csv_lines joins a plain row itself: the same bytes as csv.writer's, row for row."""
    import io

    from engine.render.worklist.rows import Task, _cell, csv_lines
    tasks = [Task(f"kam-plan-{plan}-x", plan, "x", aid, name, owner, "2026-11-23", title, "plans/a.html", "open",
                  "respond", "Менеджер", "", "Respond") for aid, name, owner, title, plan in rows]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for t in tasks:
        w.writerow([t.task_id, "" if t.plan_id is None else t.plan_id, t.step_id, _cell(t.account_id),
                    _cell(t.account_name), _cell(t.owner), t.due, _cell(t.title), t.link, t.state, t.playbook,
                    _cell(t.role), t.done_on])
    assert csv_lines(tasks) == buf.getvalue().encode("utf-8")
