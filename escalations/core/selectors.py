"""Read-side queries for the pages: each returns a queryset with what its page renders joined in,
so a page costs the same few queries for 1 row or 10,000."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from escalations.core import ncmec_report
from escalations.core.people import RequestUser, User
from escalations.core.permissions import AUDITOR, LEAD, MODERATOR, roles_of
from escalations.models import (
    ACTIVE_STATUSES,
    AuditEvent,
    Escalation,
    Status,
)
from escalations.policy import (
    DeadlineState,
    PolicyConfig,
)


def visible_q(user: RequestUser) -> Q:
    """The need-to-know rule, in one place: with settings.RESTRICT_MODERATORS_TO_ASSIGNED on, a
    moderator (without the lead or auditor role) reads only the escalations assigned to them or to
    someone in one of their teams, or that they logged; everyone else with a role reads all. Roles
    themselves are checked by the views. The team part is a subquery: no query of its own."""
    if not getattr(settings, "RESTRICT_MODERATORS_TO_ASSIGNED", False):
        return Q()
    roles = roles_of(user)
    if roles & {LEAD, AUDITOR} or MODERATOR not in roles:
        return Q()
    teammates = get_user_model().objects.filter(teams__members=user.pk).values("pk")
    return Q(assignee_id=user.pk) | Q(created_by_id=user.pk) | Q(assignee_id__in=teammates)


def visible_to(user: RequestUser, queryset: QuerySet[Escalation] | None = None) -> QuerySet[Escalation]:
    """`queryset` (default: every escalation) narrowed to what `user` may read (visible_q)."""
    queryset = Escalation.objects.all() if queryset is None else queryset
    q = visible_q(user)
    return queryset.filter(q) if q else queryset


def escalations(user: RequestUser | None = None) -> QuerySet[Escalation]:
    """Escalations with their assignee; with `user`, only those that user may read (visible_to)."""
    queryset = Escalation.objects.select_related("assignee")
    return queryset if user is None else visible_to(user, queryset)


def assignable_users() -> QuerySet[User]:
    """Active moderators and leads: whom an escalation may be assigned to."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=(MODERATOR, LEAD))
        .distinct()
        .order_by("username")
    )


# What must be done first, first (policy/actions.py): the rank of the next action, then its due
# moment. One index serves it (esc_assignee_next_action, esc_status_next_action, esc_next_action).
NEXT_ACTION_ORDER = ("next_action_rank", "next_action_due_at", "pk")


def my_queue(user: User) -> QuerySet[Escalation]:
    """Active escalations assigned to `user`, what must be done first first."""
    return escalations().filter(assignee=user, status__in=ACTIVE_STATUSES).order_by(*NEXT_ACTION_ORDER)


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
        soon = PolicyConfig.from_settings().preservation_ending_soon
        return reported & Q(preserve_until__gt=now, preserve_until__lte=now + soon)
    if value == "ended":
        return reported & Q(preserve_until__lte=now)
    raise ValueError(f"unknown hold filter {value!r}")


def escalation_detail(pk: int, user: RequestUser | None = None) -> Escalation:
    """One escalation with its people (and its authority triage) joined in; with `user`,
    DoesNotExist unless they may read it."""
    return escalation_detail_queryset(user).get(pk=pk)


def escalation_detail_queryset(user: RequestUser | None = None) -> QuerySet[Escalation]:
    """What escalation_detail reads from (those `user` may read, with `user`)."""
    queryset = Escalation.objects.select_related(
        "assignee", "created_by", "preservation_confirmed_by", "release_requested_by", "released_by", "authority_triage"
    )
    visible = visible_q(user) if user is not None else Q()
    # The earlier escalation a follow-up names, and the first follow-up of this one, in the same query.
    queryset = queryset.annotate(
        prior_escalation_id=ncmec_report.prior_escalation_id(visible),
        follow_up_escalation_id=ncmec_report.follow_up_escalation_id(visible),
    )
    if user is not None:
        queryset = visible_to(user, queryset)
    return queryset


def timeline(escalation: Escalation) -> QuerySet[AuditEvent]:
    return escalation.audit_events.select_related("actor").order_by("at", "pk")


def timeline_entries(escalation: Escalation) -> list[dict[str, Any]]:
    """Audit events and reminder delivery attempts, oldest first (two queries)."""
    from escalations.models import DeliveryAttempt, Reminder

    entries: list[dict[str, Any]] = [{"at": e.at, "event": e} for e in timeline(escalation)]
    attempts = DeliveryAttempt.objects.filter(escalation=escalation).select_related(
        "delivery__recipient", "delivery__reminder__acknowledgement", "delivery__endpoint__team"
    )
    entries += [{"at": a.at, "attempt": a} for a in attempts]
    cancelled = Reminder.objects.filter(escalation=escalation, cancelled_at__isnull=False)
    entries += [{"at": r.cancelled_at, "cancelled": r} for r in cancelled]
    entries.sort(key=lambda entry: entry["at"])
    return entries


def unacknowledged(reminder: Any) -> bool:
    """Whether nobody acknowledged `reminder` (its acknowledgement read with it, no query)."""
    from django.core.exceptions import ObjectDoesNotExist

    try:
        return reminder.acknowledgement is None
    except ObjectDoesNotExist:
        return True


def related_escalations(
    platform_reference: str,
    account_reference: str = "",
    exclude_pk: int | None = None,
    limit: int = 20,
    user: RequestUser | None = None,
) -> list[Escalation]:
    """Escalations with the same platform reference, or the same (non-empty) reported account, newest
    knowledge first; usable while logging (no escalation yet) as on the detail page. One query, both
    conditions on indexed columns."""
    same = Q(platform_reference=platform_reference) if platform_reference else Q(pk__in=[])
    if account_reference:
        same |= Q(account_reference=account_reference)
    queryset = Escalation.objects.filter(same)
    if user is not None:
        queryset = visible_to(user, queryset)
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return list(
        queryset.only("pk", "status", "knowledge_at", "platform_reference", "account_reference", "is_test").order_by(
            "-knowledge_at", "-pk"
        )[:limit]
    )
