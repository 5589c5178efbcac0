"""Steps as RFC 5545 events, written with the icalendar library: one all-day event per step on
its due date, free time (TRANSP:TRANSPARENT: a step is a deadline, not a meeting).

Deterministic, so a run's files are the same bytes however it was cut: DTSTAMP is the run's
as-of date (midnight UTC), SEQUENCE the store's run number, which grows with every recorded
run (a correction on the same date included), so a client that compares versions (RFC 5546
§2.1.5) takes the later run's event."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from icalendar import Calendar, Event

from ...i18n import fill_named
from ..templates import without_bidi_controls
from .rows import DONE, DROPPED, OVERDUE, RESOLVED, SNOOZED, TO_DO, Spec, Task

PRODID = "-//kam//key-account action plans//EN"
UID_DOMAIN = "kam"  # UID: task_id@kam
_GONE = {DONE: "calendar_done", RESOLVED: "calendar_resolved", SNOOZED: "calendar_snoozed",
         DROPPED: "calendar_dropped"}


def _say(words: Mapping[str, Any], key: str, **values: Any) -> str:
    return fill_named(str(words[key]), values)


_FIRST_LINES: dict[tuple[str, str, str], str] = {}  # (the label, playbook, role) -> the line


def _first_line(t: Task, words: Mapping[str, Any]) -> str:
    """The description's first line: the playbook, and the role when the step has one (the
    same for every step of a playbook and role: made once)."""
    if not t.role:
        return t.playbook_title
    key = (str(words["calendar_playbook"]), t.playbook_title, t.role)
    line = _FIRST_LINES.get(key)
    if line is None:
        if len(_FIRST_LINES) > 10_000:
            _FIRST_LINES.clear()
        line = _FIRST_LINES[key] = _say(words, "calendar_playbook", playbook=t.playbook_title, role=t.role)
    return line


def _clean(text: str) -> str:
    clean: str = without_bidi_controls(text)
    return clean


_LINES: dict[tuple[str, str], str] = {}  # (the label, its value) -> the line


def _line(words: Mapping[str, Any], key: str, name: str, value: str) -> str:
    """A description line of one value that many events share: an account's steps its plan
    document, a day's steps the overdue date (made once while they come one after another)."""
    memo = (str(words[key]), value)
    line = _LINES.get(memo)
    if line is None:
        if len(_LINES) > 10_000:
            _LINES.clear()
        line = _LINES[memo] = _say(words, key, **{name: value})
    return line


def _description(t: Task, words: Mapping[str, Any]) -> str:
    lines = [_first_line(t, words)]
    if t.plan_id is not None and t.state in TO_DO:  # how to tell kam it is done
        lines.append(_say(words, "calendar_step_ref", plan=t.plan_id, step=t.step_id))
    if t.link:
        lines.append(_line(words, "calendar_document", "link", t.link))
    if t.state == OVERDUE:
        lines.append(_line(words, "calendar_overdue", "due", t.due))
    elif t.state in _GONE:
        lines.append(_line(words, _GONE[t.state], "date", t.done_on))
    return _clean("\n".join(lines))


def event_component(t: Task, spec: Spec, words: Mapping[str, Any]) -> Event:
    """The step's VEVENT as the library's component (what `event` writes, line for line)."""
    due = date.fromisoformat(t.due)
    ev = Event()
    ev.add("uid", f"{t.task_id}@{UID_DOMAIN}")
    ev.add("dtstamp", datetime(spec.as_of.year, spec.as_of.month, spec.as_of.day, tzinfo=timezone.utc))
    ev.add("sequence", spec.sequence)
    ev.add("dtstart", due)
    ev.add("dtend", due + timedelta(days=1))
    ev.add("summary", _clean(f"{t.account_name or t.account_id}: {t.title}"))
    ev.add("description", _description(t, words))
    ev.add("categories", [_clean(t.playbook_title)])
    ev.add("status", "CONFIRMED" if t.state in TO_DO else "CANCELLED")
    ev.add("transp", "TRANSPARENT")
    return ev


_SHARED: dict[tuple[str, Any], bytes] = {}  # a property's line, for values many events share


def _shared(name: str, value: Any) -> bytes:
    """The line of a property whose value recurs (the run's DTSTAMP, a playbook), serialised
    by the library once per process. (Not the due dates: hundreds of them, at ~1 ms a
    component, were a quarter of the calendars' time.)"""
    key = (name, value)
    line = _SHARED.get(key)
    if line is None:
        if len(_SHARED) > 50_000:
            _SHARED.clear()
        ev = Event()
        ev.add(name, value)
        line = _SHARED[key] = ev.to_ical()[len(b"BEGIN:VEVENT\r\n"):-len(b"END:VEVENT\r\n")]
    return line


_DTSTAMPS: dict[date, bytes] = {}


def _dtstamp(as_of: date) -> bytes:
    """The DTSTAMP line: the run's date at midnight UTC."""
    line = _DTSTAMPS.get(as_of)
    if line is None:
        line = _DTSTAMPS[as_of] = _shared("dtstamp", datetime(as_of.year, as_of.month, as_of.day,
                                                               tzinfo=timezone.utc))
    return line


def _ymd(d: date) -> bytes:
    return b"%04d%02d%02d" % (d.year, d.month, d.day)


_ALL_DAY: dict[str, bytes] = {}


def _all_day(iso: str) -> bytes:
    """The DTSTART and DTEND lines of an all-day event on `iso`, as vDate writes a date (a
    run's steps fall on a few hundred days)."""
    lines = _ALL_DAY.get(iso)
    if lines is None:
        if len(_ALL_DAY) > 10_000:
            _ALL_DAY.clear()
        due = date.fromisoformat(iso)
        lines = _ALL_DAY[iso] = b"DTSTART;VALUE=DATE:%b\r\nDTEND;VALUE=DATE:%b\r\n" % (
            _ymd(due), _ymd(due + timedelta(days=1)))
    return lines


def _escape(text: str) -> str:
    """RFC 5545 TEXT escaping as icalendar's vText writes it: the same replacements in the
    same order (a literal backslash-N is a line break there too)."""
    if "," not in text and ";" not in text and "\\" not in text and "\n" not in text and "\r" not in text:
        return text  # most summaries: nothing to escape (seven replaces cost ~1 us)
    return (text.replace("\\N", "\n").replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: bytes) -> bytes:
    """A content line folded as icalendar's foldline folds it, on the encoded bytes: each
    piece is the longest run of whole characters of at most 74 octets, and a piece that would
    end in an escaping backslash or caret leaves that character to the next.
    The library walks the line a character at a time: that took a tenth of a run's time."""
    if len(line) < 75:
        return line + b"\r\n"
    pieces, start, n = [], 0, len(line)
    while n - start > 74:
        end = start + 74
        while line[end] & 0xC0 == 0x80:  # not a character's first octet: the character goes on
            end -= 1
        if line[end - 1] in b"\\^":  # a piece holds ~70 octets: never that character alone
            end -= 1
        pieces.append(line[start:end])
        start = end
    pieces.append(line[start:])
    return b"\r\n ".join(pieces) + b"\r\n"


def _text(name: str, value: str) -> bytes:
    """A TEXT property's line, escaped and folded byte for byte as the library writes it
    (tests/test_worklist.py compares the two on generated text)."""
    return _fold(f"{name}:{_escape(value)}".encode())


def event(t: Task, spec: Spec, words: Mapping[str, Any]) -> bytes:
    """The step's VEVENT, as text (CRLF lines, folded at 75 octets): event_component's bytes,
    with the lines many events share serialised once (a run writes tens of thousands of
    events; the component took ~0.3 ms each). Properties in the library's order."""
    return b"".join((
        b"BEGIN:VEVENT\r\n",
        _text("SUMMARY", _clean(f"{t.account_name or t.account_id}: {t.title}")),
        _all_day(t.due),
        _dtstamp(spec.as_of),
        _text("UID", f"{t.task_id}@{UID_DOMAIN}"),
        _shared("sequence", spec.sequence),
        _shared("categories", (_clean(t.playbook_title),)),
        _text("DESCRIPTION", _description(t, words)),
        _shared("status", "CONFIRMED" if t.state in TO_DO else "CANCELLED"),
        _shared("transp", "TRANSPARENT"),
        b"END:VEVENT\r\n",
    ))


def calendar_ends(owner: str, words: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The text before and after a manager's events."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", _clean(_say(words, "calendar_name", owner=owner)))
    text = cal.to_ical()
    end = b"END:VCALENDAR\r\n"
    assert text.endswith(end)
    return text[: -len(end)], end
