"""The authority register's reminders: a filing with an authority besides NCMEC due soon, then
overdue, each once. Obligations carry their own `next_reminder_at` (indexed where set), so a sweep
reads only the obligations that came due, as it reads escalations; the reminder is recorded on the
obligation's escalation under the same unique key (escalation, kind, due_at). Two authorities of one
escalation due at the same moment (Canada's Centre and police) share one reminder that names both.
The sweep (escalations.reminders.sweep) writes the rows; this module says what is owed and why a
recorded one no longer applies."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from escalations import policy
from escalations.models import AuthorityObligation, Reminder
from escalations.policy import authorities as authority_policy

KINDS = frozenset({policy.ReminderKind.AUTHORITY_DUE_SOON, policy.ReminderKind.AUTHORITY_OVERDUE})
ACTIVE = frozenset({policy.OPEN, policy.REPORTED})


def due_batch(now: datetime) -> list[AuthorityObligation]:
    """The obligations the sweep must look at now, the earliest first. One query."""
    return list(
        AuthorityObligation.objects.filter(next_reminder_at__lte=now)
        .select_related("escalation__assignee__profile", "escalation__created_by__profile")
        .order_by("next_reminder_at", "pk")[: settings.REMINDER_SWEEP_BATCH]
    )


def owed(
    obligation: AuthorityObligation, cfg: policy.PolicyConfig, now: datetime
) -> tuple[list[tuple[policy.ReminderKind, datetime]], datetime | None]:
    """(kind, moment) of each reminder the obligation owes now, and when to look again; nothing once
    filed or when its escalation is closed or dismissed."""
    if obligation.state != authority_policy.DUE or obligation.escalation.status not in ACTIVE:
        return [], None
    return authority_policy.obligation_reminders(obligation.due_at, obligation.escalation.priority, cfg, now)


def facts_of(escalation_id: int) -> list[authority_policy.ObligationFacts]:
    """Every obligation of the escalation, as the policy reads them. One query."""
    return [
        authority_policy.ObligationFacts(authority_name=name, state=state, due_at=due_at)
        for name, state, due_at in AuthorityObligation.objects.filter(escalation_id=escalation_id).values_list(
            "authority__name", "state", "due_at"
        )
    ]


def why_overtaken(reminder: Reminder, cfg: policy.PolicyConfig, now: datetime) -> str | None:
    esc = reminder.escalation
    return authority_policy.why_reminder_overtaken(
        reminder.kind, reminder.due_at, esc.status, esc.priority, facts_of(esc.pk), cfg, now
    )


def about(reminder: Reminder, cfg: policy.PolicyConfig) -> tuple[str, datetime | None]:
    """The authorities a reminder is about, named for its message, and their deadline."""
    esc = reminder.escalation
    matching = [
        o
        for o in facts_of(esc.pk)
        if authority_policy.reminder_matches(reminder.kind, reminder.due_at, o.due_at, esc.priority, cfg)
    ]
    names = ", ".join(sorted(o.authority_name for o in matching)) or "an authority"
    return names, next((o.due_at for o in matching if o.due_at is not None), None)
