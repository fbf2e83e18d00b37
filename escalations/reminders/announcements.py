"""News that is not a deadline: something a person did that others must hear of at once (a release
requested: every other lead, who may approve it). Written as a Reminder with its deliveries in the
same transaction as the change it announces, so that the sweep delivers it exactly once, on each
person's channels, like any reminder; and it is cancelled, not sent, if the change is overtaken
before it goes out (policy.why_overtaken)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model

from escalations import policy
from escalations.core.people import User
from escalations.core.permissions import LEAD
from escalations.models import Delivery, Escalation, Reminder
from escalations.reminders.sweep import deliveries_to


def announce(escalation: Escalation, kind: policy.ReminderKind, at: datetime, people: Iterable[Any]) -> Reminder | None:
    """Record the news `kind` about `escalation` at `at`, for `people` on their channels, due now.
    None when nobody is to hear of it. Idempotent: the same news at the same moment is one reminder."""
    recipients = list({person.pk: person for person in people}.values())
    if not recipients:
        return None
    reminder, created = Reminder.objects.get_or_create(escalation=escalation, kind=kind, due_at=at)
    if created:
        Delivery.objects.bulk_create(deliveries_to(reminder, recipients, at), ignore_conflicts=True)
    return reminder


def other_leads(actor: User) -> list[User]:
    """Every active lead but `actor`."""
    users = get_user_model().objects.filter(is_active=True, groups__name=LEAD).exclude(pk=actor.pk)
    return list(users.select_related("profile").distinct())


def announce_release_request(escalation: Escalation, actor: User) -> Reminder | None:
    """A lead asked for the release of `escalation`'s evidence: every other lead hears of it now."""
    assert escalation.release_requested_at is not None
    return announce(
        escalation, policy.ReminderKind.RELEASE_REQUESTED, escalation.release_requested_at, other_leads(actor)
    )
