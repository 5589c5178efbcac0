"""What a template can use: the views of engine/render/views/ as types, each field with what it
holds. The documentation for whoever edits templates/*.j2 (docs/output.md, "Writing templates").

Every template gets
  labels   the words of templates/labels.yaml in the reader's language (labels.due, labels.overdue, ...)
  lang     the reader's language (en, ru, ...)
  ext      the document's format: md | html
  project  {name, currency} of kam.yaml
and then its view:
  templates/plan.*.j2     plan: PlanView, and account: the account's raw result (engine/result.py Result)
  templates/digest.*.j2   digest: DigestView
  templates/summary.*.j2  summary: SummaryView

A view's texts are in the reader's language and already formatted (dates "23 November 2026",
money "RUB 3,100,000", numbers with the language's separators); a template only lays them out.
Every field is always there: where there is nothing to show it is "" (or an empty list, or
null where noted), so `{% if plan.lost_text %}` works, and a misspelt field is an error (the
templates render with StrictUndefined; `kam validate` renders them with made-up results).

These are TypedDicts: the views are plain dicts at run time. digests and the summary of a run
come from engine/render/aggregate.py, which builds the same views from every account's facts.
"""
from __future__ import annotations

from typing import TypedDict

# ---- what plans and digests share ----------------------------------------------------------


class StepFlags(TypedDict):
    done: bool  # the step is recorded done (a run with a store; else false)
    overdue: bool  # not done and due before the run's date (a run with a store; else false)


class StepRow(StepFlags):
    """A step in a list of steps by due date: plan.next_steps, digest.accounts[*].next_steps."""

    title: str  # what to do
    playbook: str  # the title of the playbook it belongs to
    who: str  # the role that does it, in words ("Sales director")
    owner: str  # that role's id (key_account_manager, sales_director, ...)
    due: str  # its due date, in words
    due_iso: str  # its due date, YYYY-MM-DD (for sorting or a machine-readable attribute)
    every: str  # a recurring step: "every month, next: 13 January 2027"; else ""
    ref: str  # what `kam plans done` takes: "19 meet_top_management" ("" without a store)
    queued: str  # capacity moved it: "queued: starts the week of …, the sales director's week is full"; else ""


class ThisWeekRow(StepRow):
    """One of the manager's own steps to start this week (digest.this_week)."""

    account: str  # the account's name (its id when it has none)
    account_id: str  # the account's id


class PriorityView(TypedDict):
    """Why the account comes where it does (plan.priority, digest.accounts[*].priority)."""

    value: str  # its priority: expected loss × boosts, as a whole number
    expected_loss: str  # its expected loss, as money
    raised: str  # what raised the priority: "raised for: Key account ×3, …"; else ""


class TextRow(TypedDict):
    title: str  # what the line is about (a playbook's title; "" when none)
    text: str  # the line itself


# ---- the plan (templates/plan.*.j2) ------------------------------------------------------


class SignalRow(TypedDict):
    """A signal that fired (plan.signals), most severe first."""

    title: str  # the signal's title
    text: str  # its evidence sentence, with the account's values
    severity: str  # low | medium | high
    category: str  # its category's id
    category_title: str  # its category's title


class AgendaItem(TypedDict):
    """A merged step's checklist, as part of the agenda of the step that carries it."""

    title: str  # "From “<step>” (<playbook>)"
    checklist: list[str]  # its checklist items not already on the agenda


# a merged step's lines in its plan (what PlanStep adds for it; "with" is a keyword, hence this form):
#   also: "Also covers: <step> (<playbook>); …." ("" for a step that carries no other)
#   with: "Together with: <other roles>." when others take part; else ""
#   agenda: the merged steps' checklists
MergedView = TypedDict("MergedView", {"also": str, "with": str, "agenda": list[AgendaItem]})

# A step in its playbook's section of the plan (plan.playbooks[*].steps):
PlanStep = TypedDict("PlanStep", {
    "title": str,  # what to do
    "who": str,  # the role that does it, in words
    "due": str,  # its due date, in words
    "due_iso": str,  # its due date, YYYY-MM-DD
    "every": str,  # a recurring step's period and next date; else ""
    "done": bool,  # recorded done (with a store)
    "overdue": bool,  # not done and past its due date (with a store)
    "ref": str,  # what `kam plans done` takes ("" without a store)
    "queued": str,  # moved for capacity, in words; else ""
    "description": str,  # the step's description from its playbook
    "checklist": list[str],  # its checklist items
    "also": str,  # the steps of other playbooks it also covers, in words; else ""
    "with": str,  # the other roles that take part in it; else ""
    "agenda": list[AgendaItem],  # the checklists of the steps it also covers
})


class PlanPlaybook(TypedDict):
    """A playbook's section of the plan (plan.playbooks), by priority."""

    id: str  # the playbook's id
    title: str  # its title
    description: str  # its description
    steps: list[PlanStep]  # its steps, in the playbook's order
    state_id: str  # new | ongoing | escalated (with a store); else ""
    state: str  # the state in words: "New", "Ongoing since 5 January 2026", …; else ""
    plan_id: int | None  # the plan's number in the store (null without a store)
    plan_ref: str  # "plan 19"; "" without a store
    kept_open: str  # "kept open for now, although its trigger has cleared" (keep_open_runs); else ""


class ProfileRow(TypedDict):
    """A line of the plan's header beyond the basics (plan.profile): ABC class, KAISM quadrant, score."""

    label: str  # what the line is
    value: str  # its value
    note: str  # advice that goes with it (the KAISM quadrant's); else ""


class UnknownRow(TypedDict):
    """An input the rules read that the account has no value for (plan.unknown)."""

    metric: str  # the input's title
    text: str  # what to do about it: "NPS unknown: ask the client…"


class LabelValue(TypedDict):
    label: str  # the input's title
    value: str  # its value, formatted (a default marked as such)


class WinbackView(TypedDict):
    """The win-back cost–benefit of a lost client (plan.winback; null for other accounts)."""

    decision_id: str  # pursue | do_not_pursue | undecided
    decision: str  # the decision in words
    inputs: list[LabelValue]  # the values the benefit rests on
    value_label: str  # the benefit's title
    value: str  # the benefit, as money
    costs: list[LabelValue]  # the values the cost rests on
    cost_label: str  # the cost's title
    cost: str  # the cost, as money
    reasoning: list[str]  # sentences: why, and what to do
    missing: list[str]  # the titles of the inputs without a value (undecided)


class Participant(TypedDict):
    role: str  # who takes part in the meeting
    wants: str  # what they want from it


class Technique(TypedDict):
    stage: str  # the stage of the meeting
    title: str  # the technique
    how: str  # how to apply it


class ProblemRow(TypedDict):
    problem: str  # a problem the meeting may meet
    remedy: str  # what to do about it


class NegotiationView(TypedDict):
    """Preparation for the plan's client meetings (plan.negotiation; null without a meeting)."""

    intro: str  # which playbooks it prepares for
    participants: list[Participant]  # who takes part, each once
    techniques: list[Technique]  # techniques by stage, chosen by the signals and meetings
    problems: list[ProblemRow]  # problems chosen by the signals, with their remedies
    mistakes: list[str]  # mistakes to avoid


class HoldRow(TypedDict):
    """A plan held back (plan.on_hold): snoozed, or done and cooling down."""

    title: str  # the playbook's title
    state_id: str  # snoozed | cooldown
    state: str  # the state in words
    plan_ref: str  # "plan 19"
    text: str  # "snoozed until … by …: <reason>", "done recently; not reopened before …"


class PlanView(TypedDict):
    """`plan` in templates/plan.*.j2: one account's action plan (views.plan)."""

    title: str  # the account's name (its id when it has none)
    account_id: str  # the account's id
    owner: str  # the account manager (the "unassigned" label when none)
    segment: str  # the segment in words
    as_of: str  # the run's date, in words
    risk_id: str  # the risk level's id ("none" if none)
    risk: str  # the risk level in words
    lost: bool  # a lost client
    revenue: str  # this period's revenue, as money ("—" when unknown)
    revenue_share: str  # "23.1 % of our revenue"; else ""
    classes: list[str]  # the account's classes in words (not the win-back decision: its section says it)
    signals: list[SignalRow]  # the signals that fired, most severe first
    reasons: list[TextRow]  # why beyond the signals: a dependency, the values that assigned a playbook
    lost_text: str  # "The client has been lost; reason: …." for a lost client; else ""
    next_steps: list[StepRow]  # every step of every playbook, soonest first
    playbooks: list[PlanPlaybook]  # the playbooks by priority, with their steps
    negotiation: NegotiationView | None  # meeting preparation; null when the plan has no client meeting
    winback: WinbackView | None  # the win-back cost–benefit; null unless a lost client
    closed: list[TextRow]  # plans this run closed (with a store)
    on_hold: list[HoldRow]  # plans held back (with a store)
    priority: PriorityView  # its expected loss and what raised its priority
    profile: list[ProfileRow]  # ABC class, KAISM quadrant with its advice, criteria score
    unknown: list[UnknownRow]  # inputs the warnings read that are empty, with what to do
    ids_hint: str  # "To record a step as done: kam plans done …" (with a store); else ""
    why_line: str  # "8 warning signs in 3 areas."; "" without signals
    steps_line: str  # "15 steps; the first is due 26 November 2026." (the first not done); "" without steps


# ---- the digest (templates/digest.*.j2) ----------------------------------------------------


class PlanState(TypedDict):
    title: str  # the playbook's title
    state_id: str  # new | ongoing | escalated
    state: str  # the state in words


class DigestAccount(TypedDict):
    """An account with a plan in a manager's digest (digest.accounts), most urgent first."""

    title: str  # the account's name (its id when it has none)
    account_id: str  # the account's id
    risk_id: str  # the risk level's id
    risk: str  # the risk level in words
    at_stake: str  # revenue at stake, as money (a lost client's: what winning it back would bring)
    lost: bool  # a lost client
    priority: PriorityView  # its expected loss and what raised its priority
    abc: str  # ABC class; else ""
    signals: list[str]  # the titles of its signals
    decision: str  # a lost client's win-back decision in words; else ""
    next_steps: list[StepRow]  # its next three steps not done
    more: str  # "5 more steps in the plan"; else ""
    plan: str  # the stem of its plan's files: plans/<plan>.<ext>
    plans: list[PlanState]  # its plans' states (with a store)


class AccountLink(TypedDict):
    account: str  # the account's name (its id when it has none)
    account_id: str  # the account's id
    plan: str  # the stem of its plan's files: plans/<plan>.<ext> ("" when not written)


class AttentionRow(AccountLink):
    """A plan that needs attention (digest.attention, with a store): escalated, overdue, new."""

    playbook: str  # the playbook's title
    state_id: str  # new | ongoing | escalated
    state: str  # the state in words
    step: str  # its most overdue step, else its next one ("" when every step is done)
    who: str  # that step's role in words
    due: str  # that step's due date in words
    overdue: bool  # the plan has an overdue step
    more: str  # "2 more overdue"; else ""


class ClosedRow(TextRow):
    """A plan this run closed (digest.closed): title is the playbook's, text when and since when."""

    account: str  # the account's name


class DigestView(TypedDict):
    """`digest` in templates/digest.*.j2: one manager's accounts with a plan (views.digest)."""

    owner: str  # the manager
    accounts: list[DigestAccount]  # the accounts with a plan, most urgent first
    tracked: bool  # a run with a store: plans have states, ids and "needs attention"
    this_week: list[ThisWeekRow]  # the manager's own steps to start by week_end, most important accounts first
    week_end: str  # the end of next week, in words ("" when the manager has no account with a plan)
    attention: list[AttentionRow]  # escalated, overdue and new plans (with a store)
    closed: list[ClosedRow]  # plans this run closed
    quiet: str  # "12 other accounts are quiet: no action needed."; else ""
    more_accounts: str  # a very long digest stops at its most urgent accounts and says so here; else ""
    more_attention: str  # the same for `attention`
    more_closed: str  # the same for `closed`


# ---- the summary (templates/summary.*.j2) --------------------------------------------------


class WorkloadRow(TypedDict):
    role: str  # a role with a capacity (kam.yaml capacity:), in words
    capacity: int  # its steps per week
    weeks: list[int]  # its open steps in each week of `columns`
    later: int  # its open steps after those weeks
    last: str  # the week its last step falls in, in words ("—" when none)


class Workload(TypedDict):
    """Each capacity role's steps per week (summary.workload; null without kam.yaml capacity:)."""

    columns: list[str]  # the weeks shown (their Mondays, dd.mm)
    rows: list[WorkloadRow]  # one per role


class StateCount(TypedDict):
    id: str  # new | ongoing | escalated | resolved | held | overdue
    title: str  # in words
    count: int  # plans in that state


class RiskRow(TypedDict):
    id: str  # the risk level's id ("none" last)
    title: str  # in words
    count: int  # accounts at that level
    revenue: str  # their revenue, as money


class SignalCount(TypedDict):
    title: str  # the signal's title
    category: str  # its category's title
    count: int  # accounts where it fired
    share: str  # the share of all accounts, %


class PlaybookCount(TypedDict):
    title: str  # the playbook's title
    count: int  # accounts it was assigned to


class OwnerRow(TypedDict):
    owner: str  # the manager
    accounts: int  # their accounts
    digest: str  # the stem of their digest's files ("" when they have none)
    levels: list[int]  # their accounts at each risk level (in level_titles' order)
    revenue_at_risk: str  # the revenue of their accounts at risk, as money
    expected_loss: str  # the expected loss of their accounts with a plan, as money


class KpiRow(TypedDict):
    """A manager's KPIs (source 003; summary.kpis, also in the portfolio report)."""

    owner: str  # the manager; "All managers" in the last row
    total: bool  # the row for the whole portfolio
    accounts: int  # their accounts
    active: int  # their active (not lost) accounts
    repeat_share: str  # repeat orders among orders, %; "—" when unknown
    deals_per_client: str  # deals per active client with deals; "—" when unknown
    churn: str  # lost accounts among all, %; "—" when unknown


class TopAccount(TypedDict):
    """One of the accounts to act on first (summary.top_accounts), by priority."""

    title: str  # the account's name
    account_id: str  # the account's id
    owner: str  # its manager
    risk: str  # its risk level in words
    risk_id: str  # its risk level's id
    signals: int  # how many signals fired
    at_stake: str  # revenue at stake, as money
    expected_loss: str  # its expected loss, as money
    priority: str  # its priority, as a whole number
    abc: str  # ABC class; else ""
    plan: str  # the stem of its plan's files


class LostRow(TypedDict):
    """A lost client's win-back decision (summary.lost)."""

    title: str  # the account's name
    account_id: str  # the account's id
    owner: str  # its manager
    decision_id: str  # pursue | do_not_pursue | undecided
    decision: str  # in words
    benefit: str  # what winning it back is worth, as money
    cost: str  # what it would cost, as money
    plan: str  # the stem of its plan's files


class SummaryView(TypedDict):
    """`summary` in templates/summary.*.j2: the run at a glance (views.summary)."""

    expected_loss: str  # the expected loss of the accounts with a plan, as money
    expected_loss_share: str  # as a share of all revenue, %
    workload: Workload | None  # steps per week of each capacity role; null without capacity
    accounts: int  # accounts evaluated
    with_plan: int  # accounts with a plan
    plan_states: list[StateCount]  # plans by state (with a store; else empty)
    by_risk: list[RiskRow]  # accounts and revenue by risk level, highest first
    revenue_at_risk: str  # the revenue of the accounts at risk, as money
    revenue_at_risk_share: str  # as a share of all revenue, %
    total_revenue: str  # all revenue, as money
    signals: list[SignalCount]  # the signals, most frequent first
    playbooks: list[PlaybookCount]  # the playbooks assigned, most frequent first
    owners: list[OwnerRow]  # one row per manager
    level_titles: list[str]  # the risk levels of OwnerRow.levels, in words
    kpis: list[KpiRow]  # the managers' KPIs, then the whole portfolio's
    top_accounts: list[TopAccount]  # the accounts to act on first (15 at most)
    lost: list[LostRow]  # the lost clients' win-back decisions
    more_lost: str  # a very long list stops at its most urgent clients and says so here; else ""
