"""Acknowledging a reminder: someone says they are on it. Recorded once per reminder (a second press
is told who was first), audited on the escalation's timeline, and it stops the escalation steps of
every reminder of that escalation due at or before it (escalations/policy/escalation_steps.py): the
escalation's `acknowledged_at` moves, a step already recorded and not yet sent is cancelled by the
sweep, and the open PagerDuty incidents of that deadline are acknowledged there too.

Not a change to the escalation's facts: its version stays, so a form someone has open is not made
stale by a colleague acknowledging."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from escalations import policy
from escalations.core import selectors
from escalations.core.people import User
from escalations.core.permissions import Action, require
from escalations.core.write_frame import write_event
from escalations.models import Acknowledgement, AuditAction, Escalation, Reminder
from escalations.reminders import endpoints

VIA_LABELS = {
    "app": "in the app",
    "email": "by the link in an email",
    "slack": "by the link in Slack",
    "teams": "by the link in Microsoft Teams",
    "webhook": "by the link in a webhook message",
}
NOT_FOUND = "There is no such reminder, or you may not see its escalation."


@dataclass(frozen=True)
class Outcome:
    acknowledgement: Acknowledgement
    # False: someone had acknowledged it already (acknowledgement says who and when).
    created: bool


def reminder_for(actor: User, reminder_id: int) -> Reminder:
    """The reminder, if `actor` may read its escalation; PermissionDenied with one message for
    "no such reminder" and "not yours to see" (an id says nothing about what exists)."""
    reminder = Reminder.objects.select_related("escalation").filter(pk=reminder_id).first()
    if reminder is None or not selectors.visible_to(actor).filter(pk=reminder.escalation_id).exists():
        raise PermissionDenied(NOT_FOUND)
    return reminder


def acknowledge(*, actor: User, reminder_id: int, via: str) -> Outcome:
    """Acknowledge reminder `reminder_id` as `actor`, who came `via` ("app", "email", "slack",
    "teams"). Raises PermissionDenied when their role or need-to-know does not allow it."""
    require(actor, Action.ACKNOWLEDGE)
    if via not in VIA_LABELS:
        raise ValueError(f"unknown via {via!r}")
    reminder = reminder_for(actor, reminder_id)
    now = timezone.now()
    with transaction.atomic():
        # The escalation's row lock orders acknowledgements of one escalation (and the sweep's
        # reading of `acknowledged_at` sees a committed value).
        escalation = Escalation.objects.select_for_update(of=("self",)).get(pk=reminder.escalation_id)
        existing = Acknowledgement.objects.select_related("by").filter(reminder=reminder).first()
        if existing is not None:
            return Outcome(existing, created=False)
        ack = Acknowledgement.objects.create(reminder=reminder, escalation=escalation, by=actor, at=now, via=via)
        before = escalation.acknowledged_at
        if before is None or before < now:
            Escalation.objects.filter(pk=escalation.pk).update(acknowledged_at=now)
            escalation.acknowledged_at = now
        label = policy.REMINDER_LABELS.get(policy.ReminderKind(reminder.kind), reminder.kind)
        write_event(
            escalation,
            actor,
            AuditAction.REMINDER_ACKNOWLEDGED,
            {"acknowledged": [None, f"{label} (due {reminder.due_at:%Y-%m-%d %H:%M} UTC), {VIA_LABELS[via]}"]},
            "",
            now,
        )
        endpoints.acknowledge_incidents(escalation, reminder, now)
    return Outcome(ack, created=True)
