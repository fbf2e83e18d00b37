"""What an escalation owes each authority besides NCMEC, from the rules in force when each clock
starts: which authorities a triage answer makes apply, when the report (or the police notification)
is due, whether the NCA wants a phone call after it, and how long a filing makes the platform keep
the data. Pure, like the rest of the policy: the rules come in as RuleData, `now` as an argument.

Every authority's time limit today is "a target the platform sets" (DOMAIN.md): the hours are the
authority's own target where an admin set one, else the platform's report target for the
escalation's priority. The rule only decides whether anything is owed: an authority whose rule was
not in force when knowledge was obtained (the NCA before 7 April 2026) is owed nothing dated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from escalations.policy.base import CLOSED, DISMISSED, URGENT, DeadlineState, PolicyConfig, as_utc, state_at
from escalations.policy.deadlines import due_soon_window, report_target
from escalations.policy.reminders import SAME_DEADLINE_TOLERANCE, ReminderKind
from escalations.policy.rules import (
    KNOWLEDGE,
    NOTIFY,
    REPORT,
    TARGET,
    RuleData,
    authority_preservation,
    in_force,
    phone_follow_up_owed,
)

# The triage questions and the authorities a "yes" makes apply (the codes of seeded destinations,
# which are also Rule.authority). Canada's Act owes two: the report to the Canadian Centre for Child
# Protection (s.2) and the notification of police (s.3).
UK_LINKED = "uk_linked"
CANADA_CONNECTION = "canada_connection"
AUSTRALIAN_END_USERS = "australian_end_users"

TRIAGE_AUTHORITIES: dict[str, tuple[str, ...]] = {
    UK_LINKED: ("nca",),
    CANADA_CONNECTION: ("c3p", "ca_police"),
    AUSTRALIAN_END_USERS: ("afp",),
}

TRIAGE_QUESTIONS: dict[str, str] = {
    UK_LINKED: "UK-linked?",
    CANADA_CONNECTION: "Connection to Canada?",
    AUSTRALIAN_END_USERS: "Australian end-users?",
}

# The NCA's portal practice of not referring again what NCMEC already has (DOMAIN.md, "United
# Kingdom", marked secondary): shown wherever the UK applies.
NCA_NO_DUPLICATES = (
    "Content already reported to NCMEC should not be referred to the NCA again (no duplicates). "
    "Source: NCA portal practice, as summarised in DOMAIN.md (secondary: check the NCA's own guidance)."
)

# NCA priorities (DOMAIN.md): P1 is a current or immediate risk, what our `urgent` means; everything
# else is read as P3, which owes no phone call. A platform that grades P2 records it as urgent.
NCA_PRIORITY_URGENT = "P1"
NCA_PRIORITY_STANDARD = "P3"

# The duties a filing with each authority discharges: a report, or Canada's notification of police.
FILING_OBLIGATIONS = (REPORT, NOTIFY)


def authorities_for(answers: Mapping[str, bool | None]) -> set[str]:
    """The authorities the triage answers make apply (an unanswered question makes none apply)."""
    return {code for question, yes in answers.items() if yes for code in TRIAGE_AUTHORITIES.get(question, ())}


def filing_rule(rules: Sequence[RuleData], authority: str, knowledge_at: datetime) -> RuleData | None:
    """The rule in force at `knowledge_at` that owes a report (or a notification) to `authority`
    on a clock that starts at knowledge; None when none is (not law yet, or not law then)."""
    for obligation in FILING_OBLIGATIONS:
        found = [
            r
            for r in in_force(rules, obligation=obligation, authority=authority, at=knowledge_at, limit=TARGET)
            if r.clock_start == KNOWLEDGE
        ]
        if found:
            return found[0]
    return None


@dataclass(frozen=True)
class ObligationDue:
    due_at: datetime | None
    soon_at: datetime | None
    rule: RuleData | None


def obligation_due(
    rules: Sequence[RuleData],
    authority: str,
    *,
    knowledge_at: datetime,
    priority: str,
    target_hours: float | None,
    urgent_target_hours: float | None,
    cfg: PolicyConfig,
) -> ObligationDue:
    """When the filing with `authority` is due: the authority's own target (urgent or standard, in
    elapsed hours from knowledge) where one is set, else the platform's report target; None when no
    rule owed anything at knowledge. Elapsed time, so daylight saving in London, Toronto or Sydney
    moves the local hour shown, never the moment."""
    rule = filing_rule(rules, authority, knowledge_at)
    if rule is None:
        return ObligationDue(due_at=None, soon_at=None, rule=None)
    hours = urgent_target_hours if priority == URGENT else target_hours
    target = timedelta(hours=hours) if hours is not None else report_target(priority, cfg)
    due = as_utc(knowledge_at) + target
    return ObligationDue(due_at=due, soon_at=due - due_soon_window(priority, cfg), rule=rule)


def filed_late(due: ObligationDue, filed_at: datetime | None) -> bool:
    """Filed after its deadline: met, but late (filed exactly at the deadline is on time)."""
    return filed_at is not None and due.due_at is not None and filed_at > due.due_at


def obligation_state(due: ObligationDue, filed_at: datetime | None, now: datetime) -> DeadlineState:
    """Met once filed; else the state of its deadline at `now` (exactly at the deadline still due soon,
    as for the CyberTipline report); not applicable when nothing dated is owed."""
    if due.due_at is None:
        return DeadlineState.NOT_APPLICABLE
    if filed_at is not None:
        return DeadlineState.MET
    return state_at(due.due_at, due.soon_at, now)


def nca_priority(priority: str) -> str:
    return NCA_PRIORITY_URGENT if priority == URGENT else NCA_PRIORITY_STANDARD


def phone_call_owed(rules: Sequence[RuleData], authority: str, priority: str, filed_at: datetime) -> RuleData | None:
    """The rule that asks for a phone call after this filing (the NCA's, for a P1 or P2 report made
    outside 07:00-17:00 UK time), or None."""
    return phone_follow_up_owed(rules, authority, nca_priority(priority), filed_at)


def keep_after_filing(
    rules: Sequence[RuleData], authority: str, filed_at: datetime
) -> tuple[datetime, RuleData] | None:
    """How long the filing makes the platform keep the data (Canada: 21 days after notifying police)."""
    return authority_preservation(rules, authority, filed_at)


# --- reminders ------------------------------------------------------------------------------------------

DUE = "due"


def obligation_reminders(
    due_at: datetime | None, priority: str, cfg: PolicyConfig, now: datetime
) -> tuple[list[tuple[ReminderKind, datetime]], datetime | None]:
    """The reminders an unfiled obligation due at `due_at` owes at `now`, each (kind, moment): due
    soon from the same window as the CyberTipline report (left out from the deadline on: the
    overdue one, due at the deadline, says more), each once. And when to look again (None: both
    are past). Nothing for an obligation with no deadline."""
    if due_at is None:
        return [], None
    now, due = as_utc(now), as_utc(due_at)
    soon = due - due_soon_window(priority, cfg)
    owed: list[tuple[ReminderKind, datetime]] = []
    if soon <= now < due:
        owed.append((ReminderKind.AUTHORITY_DUE_SOON, soon))
    if now >= due:
        owed.append((ReminderKind.AUTHORITY_OVERDUE, due))
    upcoming = next((moment for moment in (soon, due) if moment > now), None)
    return owed, upcoming


def reminder_matches(kind: str, at: datetime, due_at: datetime | None, priority: str, cfg: PolicyConfig) -> bool:
    """Whether a recorded reminder (kind, at) is about an obligation due at `due_at` (the Reminder
    row names the escalation, not the authority, so the authority is found by its deadline)."""
    if due_at is None:
        return False
    due = as_utc(due_at)
    moment = due - due_soon_window(priority, cfg) if kind == ReminderKind.AUTHORITY_DUE_SOON else due
    return abs(as_utc(at) - moment) <= SAME_DEADLINE_TOLERANCE


@dataclass(frozen=True)
class ObligationFacts:
    authority_name: str
    state: str
    due_at: datetime | None


def why_reminder_overtaken(
    kind: str,
    at: datetime,
    status: str,
    priority: str,
    obligations: Sequence[ObligationFacts],
    cfg: PolicyConfig,
    now: datetime,
) -> str | None:
    """Why an authority reminder recorded as (kind, at) must not be sent any more, in words for the
    timeline; None while an obligation it is about is still unfiled. `obligations`: every obligation
    of the escalation."""
    if status == CLOSED:
        return "The escalation was closed."
    if status == DISMISSED:
        return "The escalation was dismissed."
    about = [o for o in obligations if reminder_matches(kind, at, o.due_at, priority, cfg)]
    if not about:
        return "No authority's filing is due at that time any more (it is no longer owed, or its deadline moved)."
    unfiled = [o for o in about if o.state == DUE]
    if not unfiled:
        return " ".join(f"The report to {o.authority_name} was filed." for o in about)
    if kind == ReminderKind.AUTHORITY_DUE_SOON and all(
        o.due_at is not None and as_utc(now) >= as_utc(o.due_at) for o in unfiled
    ):
        return "The deadline passed before it went out; the overdue reminder replaces it."
    return None
