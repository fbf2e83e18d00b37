"""What every page needs to know about the signed-in person, read in one query as the request starts:
their roles, their time zone, the bell's unread count and when the reminder sweep last finished (the
leads' stale-sweep banner). Four one-row lookups; as one query they cost one round trip instead of
four on every page. Read per request, so a role taken away counts from the next one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from .permissions import remember_roles


@dataclass(frozen=True)
class PersonFacts:
    time_zone: str | None  # None without a profile
    unread_notifications: int
    last_sweep: datetime | None  # None when no sweep has ever finished


def read(user: Any) -> PersonFacts:
    """One query: a row per group the user is in (one row without a group), each carrying the
    profile's zone and the two counts. The roles are cached on `user` for permissions.roles_of."""
    from .models import Notification, SweepHeartbeat
    from .reminders import HEARTBEAT

    unread = (
        Notification.objects.filter(user=OuterRef("pk"), read_at__isnull=True)
        .order_by()
        .values("user")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_sweep = SweepHeartbeat.objects.filter(name=HEARTBEAT).values("last_finished_at")[:1]
    rows = list(
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(_unread=Coalesce(Subquery(unread, output_field=IntegerField()), 0), _last_sweep=Subquery(last_sweep))
        .values_list("groups__name", "profile__time_zone", "_unread", "_last_sweep")
    )
    remember_roles(user, (name for name, *_ in rows))
    if not rows:  # the user was deleted since the session was read
        return PersonFacts(None, 0, None)
    _, zone, unread_count, last = rows[0]
    return PersonFacts(zone, unread_count, last)


def facts_of(request: HttpRequest) -> PersonFacts | None:
    """What UserTimezoneMiddleware read for this request (None when it did not run, or nobody is
    signed in)."""
    return getattr(request, "person_facts", None)
