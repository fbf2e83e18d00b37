"""Read-side queries for the pages: each returns a queryset with what its page renders joined in,
so a page costs the same few queries for 1 row or 10,000."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q, QuerySet

from .models import ACTIVE_STATUSES, AuditEvent, Escalation, Status
from .policy import DeadlineState


def escalations() -> QuerySet[Escalation]:
    return Escalation.objects.select_related("assignee")


def my_queue(user: Any) -> QuerySet[Escalation]:
    """Active escalations assigned to `user`, the nearest deadline first."""
    return (
        escalations()
        .filter(assignee=user, status__in=ACTIVE_STATUSES)
        .order_by(F("next_deadline_at").asc(nulls_last=True), "pk")
    )


def deadline_state_q(state: str, now: datetime) -> Q:
    """The rows whose policy.state_from_columns() is `state` at `now`, as an indexable condition."""
    active = Q(status__in=ACTIVE_STATUSES, next_deadline_at__isnull=False)
    if state == DeadlineState.OVERDUE:
        return active & Q(next_deadline_at__lt=now)
    if state == DeadlineState.DUE_SOON:
        return active & Q(next_deadline_soon_at__lte=now, next_deadline_at__gte=now)
    if state == DeadlineState.ON_TRACK:
        return active & Q(next_deadline_soon_at__gt=now)
    if state == DeadlineState.MET:
        return Q(status=Status.CLOSED) | Q(status__in=ACTIVE_STATUSES, next_deadline_at__isnull=True)
    if state == DeadlineState.NOT_APPLICABLE:
        return Q(status=Status.DISMISSED)
    raise ValueError(f"unknown deadline state {state!r}")


def hold_q(value: str, now: datetime) -> Q:
    """Reported escalations whose preservation hold ends within 30 days ("ending") or has ended
    and awaits a lead's decision ("ended")."""
    reported = Q(status=Status.REPORTED, preserve_until__isnull=False)
    if value == "ending":
        return reported & Q(preserve_until__gt=now, preserve_until__lte=now + timedelta(days=30))
    if value == "ended":
        return reported & Q(preserve_until__lte=now)
    raise ValueError(f"unknown hold filter {value!r}")


def escalation_detail(pk: int) -> Escalation:
    return Escalation.objects.select_related("assignee", "created_by", "preservation_confirmed_by").get(pk=pk)


def timeline(escalation: Escalation) -> QuerySet[AuditEvent]:
    return escalation.audit_events.select_related("actor").order_by("at", "pk")


def timeline_entries(escalation: Escalation) -> list[dict[str, Any]]:
    """Audit events and reminder delivery attempts, oldest first (two queries)."""
    from .models import DeliveryAttempt, Reminder

    entries: list[dict[str, Any]] = [{"at": e.at, "event": e} for e in timeline(escalation)]
    attempts = DeliveryAttempt.objects.filter(escalation=escalation).select_related(
        "delivery__recipient", "delivery__reminder"
    )
    entries += [{"at": a.at, "attempt": a} for a in attempts]
    cancelled = Reminder.objects.filter(escalation=escalation, cancelled_at__isnull=False)
    entries += [{"at": r.cancelled_at, "cancelled": r} for r in cancelled]
    entries.sort(key=lambda entry: entry["at"])
    return entries


def same_reference(escalation: Escalation, limit: int = 20) -> list[Escalation]:
    """Other escalations logged with the same platform reference (allowed, but worth a look)."""
    return list(
        Escalation.objects.filter(platform_reference=escalation.platform_reference)
        .exclude(pk=escalation.pk)
        .only("pk", "status", "knowledge_at")
        .order_by("-knowledge_at")[:limit]
    )
