"""What every page needs to know about the signed-in person, read in one query as the request starts:
the user row itself, their roles, their time zone, the bell's unread count, when the reminder
sweep last finished (the leads' stale-sweep banner), what the audit trail's last integrity check
found (the leads' broken-trail banner) and whether they have an authenticator (the two-factor gate).
Seven one-row lookups; as one query they cost one round trip instead of seven on every page. Read per
request, so a role taken away, or an authenticator added or removed, counts from the next one.

The session's user is read here too (escalations.accounts.auth_backends.PersonBackend.get_user), so that
authentication and these facts share the query; a user that reached the request another way (a
session of an older backend) gets the facts in a query of their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from escalations.core.permissions import remember_roles

FACTS = (
    "groups__name",
    "profile__time_zone",
    "_unread",
    "_last_sweep",
    "_audit_ok",
    "_audit_at",
    "_audit_break",
    "_has_device",
)


@dataclass(frozen=True)
class PersonFacts:
    time_zone: str | None  # None without a profile
    unread_notifications: int
    last_sweep: datetime | None  # None when no sweep has ever finished
    # The audit trail's last integrity check: ok (None: never checked), when, its first broken link.
    audit_ok: bool | None = None
    audit_checked_at: datetime | None = None
    audit_first_break: str = ""
    # A confirmed two-factor device (authenticator app or backup codes), as django_otp.user_has_device.
    has_device: bool = False


def _rows(user_id: Any, *user_fields: str) -> list[tuple[Any, ...]]:
    """A row per group the user is in (one row without a group: the joins are outer), each holding
    `user_fields`, then the group's name, the profile's zone, the two counts, the last check and
    whether they have an authenticator."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from escalations.models import AuditVerification, Notification, SweepHeartbeat
    from escalations.reminders.watchdog import HEARTBEAT

    unread = (
        Notification.objects.filter(user=OuterRef("pk"), read_at__isnull=True)
        .order_by()
        .values("user")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_sweep = SweepHeartbeat.objects.filter(name=HEARTBEAT).values("last_finished_at")[:1]
    checks = AuditVerification.objects.order_by("-finished_at", "-pk")
    return list(
        get_user_model()
        .objects.filter(pk=user_id)
        .annotate(
            _unread=Coalesce(Subquery(unread, output_field=IntegerField()), 0),
            _last_sweep=Subquery(last_sweep),
            _audit_ok=Subquery(checks.values("ok")[:1]),
            _audit_at=Subquery(checks.values("finished_at")[:1]),
            _audit_break=Subquery(checks.values("first_break")[:1]),
            _has_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
            | Exists(StaticDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        )
        .values_list(*user_fields, *FACTS)
    )


def _remember(user: Any, rows: list[tuple[Any, ...]]) -> PersonFacts:
    """Cache the roles and the facts on `user` for the rest of the request (rows: `FACTS` only)."""
    remember_roles(user, (name for name, *_ in rows))
    facts = PersonFacts(None, 0, None)
    if rows:
        zone, unread, last_sweep, audit_ok, audit_at, audit_break, has_device = rows[0][1:8]
        # No check yet: every audit fact is empty (the subqueries found no row).
        ok = None if audit_ok is None else bool(audit_ok)
        facts = PersonFacts(zone, unread, last_sweep, ok, audit_at, audit_break or "", bool(has_device))
    user._person_facts = facts
    return facts


def read_user(user_id: Any) -> Any | None:
    """The user with primary key `user_id` with their facts already read, in one query; None when
    there is no such user (deleted since the session began)."""
    model = get_user_model()
    fields = [field.attname for field in model._meta.concrete_fields]
    rows = _rows(user_id, *fields)
    if not rows:
        return None
    user = model.from_db(model._default_manager.db, fields, rows[0][: len(fields)])
    _remember(user, [row[len(fields) :] for row in rows])
    return user


def read(user: Any) -> PersonFacts:
    """The facts about `user`: those read with the user when they were (read_user), else one query."""
    cached = getattr(user, "_person_facts", None)
    if cached is not None:
        return cached
    return _remember(user, _rows(user.pk))


def facts_of(request: HttpRequest) -> PersonFacts | None:
    """What UserTimezoneMiddleware read for this request (None when it did not run, or nobody is
    signed in)."""
    return getattr(request, "person_facts", None)
