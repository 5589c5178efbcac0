"""What each document shows, computed once in Python: words in the reader's language,
formatted numbers and dates, sorted lists. Templates only lay them out (and still get the
raw result as `account` for anything else).

- words.py: Words, the project, language and labels a view speaks with (and what depends
  only on them, kept for the run);
- steps.py: what plans and digests share (steps soonest first, priority, urgency);
- states.py: plans across runs (each plan's state, what closed, "needs attention");
- plans.py, digests.py, summaries.py: the view of each document;
- context.py: what those views hold, as types with every field documented (for template authors).
"""
from .digests import MANAGER_ROLE, NEXT_STEPS, THIS_WEEK, account_entry, digest, this_week
from .plans import negotiation, plan, profile, reasons, winback
from .steps import at_stake, priority_view, queued_text, step_ref, steps_by_due, urgency_key
from .summaries import owners_of, summary, workload
from .words import PlaybookWords, Words, lower_first

__all__ = ["MANAGER_ROLE", "NEXT_STEPS", "THIS_WEEK", "PlaybookWords", "Words", "account_entry", "at_stake",
           "digest", "lower_first", "negotiation", "owners_of", "plan", "priority_view", "profile", "queued_text",
           "reasons", "step_ref", "steps_by_due", "summary", "this_week", "urgency_key", "winback", "workload"]
