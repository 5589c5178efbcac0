"""A chunk's steps as rows of tasks.csv and events of the calendars, built where the chunk is
finished (stage C) from each account's final result and the store's overlay."""
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from ...project.model import Project, text_in
from ...result import Result

# tasks.csv, in this order; a CRM import maps them (task_id is the key to update a task by)
COLUMNS = ("task_id", "plan_id", "step_id", "account_id", "account_name", "owner", "due", "title", "link",
           "state", "playbook", "role", "done_on")
# a step's state: to do (open, overdue) or gone from the calendar (the rest: cancelled events)
OPEN, OVERDUE, DONE, RESOLVED, SNOOZED, DROPPED = "open", "overdue", "done", "resolved", "snoozed", "dropped"
TO_DO = (OPEN, OVERDUE)
STATES = (OPEN, OVERDUE, DONE, RESOLVED, SNOOZED, DROPPED)
_FORMULA = tuple("=+-@\t\r")  # a spreadsheet reads a cell starting with one of these as a formula


@dataclass(frozen=True)
class Spec:
    """What every row of a run shares."""

    as_of: date
    sequence: int  # the events' SEQUENCE: the store's run number (0 without a store)
    link_format: str | None  # the plan documents' format a row links to (html, else md)


class Task(NamedTuple):
    task_id: str
    plan_id: int | None
    step_id: str
    account_id: str
    account_name: str
    owner: str  # the account's manager: whose calendar the event goes into
    due: str
    title: str
    link: str  # the plan document, relative to the output folder
    state: str
    playbook: str
    role: str  # who does the step, in words
    done_on: str
    playbook_title: str


@dataclass
class ChunkLists:
    """A chunk's rows of tasks.csv (CSV text) and its events, per manager in order of
    appearance: (manager, the events' text)."""

    csv: bytes = b""
    events: list[tuple[str, bytes]] = field(default_factory=list)


def task_id(plan_id: int | None, account_id: str, playbook: str, step_id: str) -> str:
    """A step's id across runs: from the plan in the store, else (no store, or a dry run's new
    plan) from the account, playbook and step (the account id hashed: any text)."""
    if plan_id is not None:
        return f"kam-plan-{plan_id}-{step_id}"
    digest = hashlib.sha256(account_id.encode("utf-8")).hexdigest()[:16]
    return f"kam-account-{digest}-{playbook}-{step_id}"


class _Steps:
    """The project's playbooks, for the steps the result does not list (held, resolved,
    dropped): their titles and roles."""

    def __init__(self, project: Project, lang: str, roles: Mapping[str, str]):
        self.project, self.lang, self.roles = project, lang, roles
        self.memo: dict[tuple[str, str], tuple[str, str]] = {}

    def playbook(self, pid: str) -> str:
        pb = self.project.playbooks.get(pid)
        return text_in(pb.title, self.lang) if pb is not None else pid

    def step(self, pid: str, sid: str) -> tuple[str, str]:
        """(title, role in words)."""
        key = (pid, sid)
        if key not in self.memo:
            pb = self.project.playbooks.get(pid)
            step = next((s for s in pb.steps if s.id == sid), None) if pb is not None else None
            self.memo[key] = ((text_in(step.title, self.lang), self.role(step.owner)) if step is not None
                              else (sid, ""))
        return self.memo[key]

    def role(self, role: str | None) -> str:
        return self.roles.get(role, role) if role else ""


def tasks_of(result: Result, overlay: Mapping[str, Any] | None, stem: str | None, spec: Spec,
             steps: _Steps, unassigned: str) -> list[Task]:
    """The account's steps: those of its open plans (to do, done, or no longer in the plan),
    then those of plans held back, resolved by this run, or closed lately."""
    aid = str(result["account_id"])
    name = "" if result.get("name") is None else str(result["name"])
    owner = str(result.get("owner") or "") or unassigned
    link = f"plans/{stem}.{spec.link_format}" if stem and spec.link_format else ""
    day = str(result["as_of"])
    ov = overlay or {}
    out: list[Task] = []

    def add(plan_id: int | None, pid: str, sid: str, due: str, title: str, state: str, role: str,
            done_on: str | None, pb_title: str) -> None:
        out.append(Task(task_id(plan_id, aid, pid, sid), plan_id, sid, aid, name, owner, due or "", title, link,
                        state, pid, role, done_on or "", pb_title))

    stored_plans = ov.get("plans") or {}
    for p in result["playbooks"]:
        pid, plan_id = p["id"], p.get("plan_id")
        stored = (stored_plans.get(pid) or {}).get("steps") or {}
        shown = set()
        for s in p["steps"]:
            shown.add(s["id"])
            done_on = (stored.get(s["id"]) or (None, None))[1]
            state = DONE if s.get("done") else OVERDUE if s["due"] and s["due"] < day else OPEN
            add(plan_id, pid, s["id"], s["due"], s["title"], state, steps.role(s.get("owner")), done_on, p["title"])
        for sid, (due, done_on) in stored.items():
            if sid not in shown:  # its condition no longer holds: the step left the plan
                title, role = steps.step(pid, sid)
                add(plan_id, pid, sid, due, title, DONE if done_on else DROPPED, role, done_on, steps.playbook(pid))
    for entries, gone in ((ov.get("held") or (), SNOOZED), (ov.get("resolved") or (), RESOLVED),
                          (ov.get("closed") or (), RESOLVED)):
        for e in entries:
            pid = e["playbook"]
            for sid, (due, done_on) in (e.get("steps") or {}).items():
                title, role = steps.step(pid, sid)
                add(e["plan_id"], pid, sid, due, title, DONE if done_on else gone, role, done_on, steps.playbook(pid))
    return out


def _cell(value: Any) -> str:
    """A cell of tasks.csv: free text that a spreadsheet would take for a formula gets a
    leading apostrophe (the usual guard against CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


# csv.writer's minimal quoting quotes a cell that holds the delimiter, the quote or a line break
_QUOTED = re.compile('["\r\n]').search
_COMMAS = len(COLUMNS) - 1


def csv_lines(tasks: Iterable[Task]) -> bytes:
    """The rows of tasks.csv as csv.writer writes them (RFC 4180, CRLF, minimal quoting). A
    row whose cells hold no comma, quote or line break - nearly every row - is its cells
    joined by commas (a run writes a row per step, ~2 million at 1,000,000 accounts, and
    writerow took 6 us of the row's 8); any other goes through csv.writer."""
    lines: list[str] = []
    buf = io.StringIO()
    writer = None
    for t in tasks:
        cells = [t.task_id, "" if t.plan_id is None else str(t.plan_id), t.step_id, _cell(t.account_id),
                 _cell(t.account_name), _cell(t.owner), t.due, _cell(t.title), t.link, t.state, t.playbook,
                 _cell(t.role), t.done_on]
        line = ",".join(cells)
        if line.count(",") != _COMMAS or _QUOTED(line):
            if writer is None:
                writer = csv.writer(buf, lineterminator="\r\n")
            buf.seek(0)
            buf.truncate()
            writer.writerow(cells)
            line = buf.getvalue()[:-2]
        lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8") if lines else b""


def header_line() -> bytes:
    return (",".join(COLUMNS) + "\r\n").encode("utf-8")


_WORDS: dict[tuple[int, str], tuple[_Steps, Mapping[str, Any]]] = {}


def worklist_words(project: Project, lang: str) -> tuple[_Steps, Mapping[str, Any]]:
    """This process's words for the project (one Project object per process)."""
    from ..labels import load_labels, optional_words
    key = (id(project), lang)
    if key not in _WORDS:
        labels, _ = load_labels(project.root)
        # a run whose documents another renderer writes may have no labels of kam's: the
        # default project's words then (roles by their ids where those lack them)
        words = optional_words(labels.by_lang.get(lang, {}) if labels is not None else {}, lang)
        _WORDS.clear()
        _WORDS[key] = (_Steps(project, lang, words.get("roles") or {}), words)
    return _WORDS[key]
