"""Plan steps where managers work (issue 19): every run with documents writes tasks.csv, one
row per step, for a CRM's task import, and calendar/<owner>.ics, one all-day event per step
on its due date, for a calendar client.

rows.py builds a chunk's rows in the worker that finishes the chunk (stage C), from the final
results and the store's overlays; ics.py turns rows into RFC 5545 events with the icalendar
library; files.py, in the main process, appends each chunk's rows in input order and puts the
calendars together at the end, so memory stays flat in the number of accounts.

A step keeps its id from run to run: the store's plan id and the step id ("kam-plan-12-
call_ceo"), or without a store the account, playbook and step. A calendar client that imports
the file again updates the event instead of adding a second one (same UID, a later SEQUENCE:
the store's run number); steps that are done, or whose plan was resolved, snoozed or closed
lately, come as cancelled events, so the client removes them.
"""
from __future__ import annotations

from .rows import COLUMNS, Spec, Task

__all__ = ["COLUMNS", "Spec", "Task"]
