"""What every page needs to know about the signed-in person, read in one query as the request starts:
the user row itself, their roles, their time zone, the bell's unread count, when the reminder
sweep last finished (the leads' stale-sweep banner), what the audit trail's last integrity check
found (the leads' broken-trail banner) and whether they have an authenticator (the two-factor gate).
Seven one-row lookups; as one query they cost one round trip instead of seven on every page. Read per
request, so a role taken away, or an authenticator added or removed, counts from the next one.

The session's user is read here too (escalations.accounts.auth_backends.PersonBackend.get_user), so that
authentication and these facts share the query; a user that reached the request another way (a
session of an older backend) gets the facts in a query of their own.

In production (PERSON_CACHE_SECONDS > 0, settings/prod.py) that row is kept in the shared cache
(Redis) for a few seconds, so that a request reads its person with no database round trip. Whatever
decides who may do what leaves the cache at once, through signals (connect()): the user saved (a
deactivation, a new password: the session hash no longer matches), a group added or removed, the
profile's time zone, a two-factor device, a notification read. A change made without signals (a
queryset update()) counts after PERSON_CACHE_SECONDS at the latest, or at once with forget(user_id).
The bell's count may lag a new notification by as much."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from escalations.core.people import RequestUser, User
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


class _FactsCached(Protocol):
    """A user object carrying its facts for the rest of the request: an attribute Django's user does not
    declare, set here on the object itself so it goes when the request's user does."""

    _person_facts: PersonFacts


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


def _remember(user: RequestUser, rows: list[tuple[Any, ...]]) -> PersonFacts:
    """Cache the roles and the facts on `user` for the rest of the request (rows: `FACTS` only)."""
    remember_roles(user, (name for name, *_ in rows))
    facts = PersonFacts(None, 0, None)
    if rows:
        zone, unread, last_sweep, audit_ok, audit_at, audit_break, has_device = rows[0][1:8]
        # No check yet: every audit fact is empty (the subqueries found no row).
        ok = None if audit_ok is None else bool(audit_ok)
        facts = PersonFacts(zone, unread, last_sweep, ok, audit_at, audit_break or "", bool(has_device))
    cast(_FactsCached, user)._person_facts = facts
    return facts


def cache_key(user_id: Any) -> str:
    # The model's field list is part of the key, so that a deploy that adds a field reads afresh.
    return f"person:{len(get_user_model()._meta.concrete_fields)}:{user_id}"


def _seconds() -> int:
    return int(getattr(settings, "PERSON_CACHE_SECONDS", 0))


def forget(user_id: Any) -> None:
    """Drop the cached row of `user_id`: their next request reads them from the database."""
    if _seconds() > 0 and user_id is not None:
        cache.delete(cache_key(user_id))


def read_user(user_id: Any) -> User | None:
    """The user with primary key `user_id` with their facts already read, in one query (or none, from
    the cache, when PERSON_CACHE_SECONDS allows); None when there is no such user (deleted since the
    session began)."""
    model = get_user_model()
    fields = [field.attname for field in model._meta.concrete_fields]
    seconds = _seconds()
    rows: list[tuple[Any, ...]] | None = cache.get(cache_key(user_id)) if seconds > 0 else None
    if rows is None:
        rows = _rows(user_id, *fields)
        if seconds > 0 and rows:
            cache.set(cache_key(user_id), rows, seconds)
    if not rows:
        return None
    user = model.from_db(model._default_manager.db, fields, rows[0][: len(fields)])
    _remember(user, [row[len(fields) :] for row in rows])
    return user


def _forget_instance(sender: Any, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("created") and sender.__name__ == "Notification":
        return  # a new notification shows in the bell after PERSON_CACHE_SECONDS (the sweep makes many)
    forget(instance.pk if sender is get_user_model() else getattr(instance, "user_id", None))


def _forget_members(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if not action.startswith("post_"):
        return
    if not reverse:  # user.groups.add(...): the instance is the user
        forget(instance.pk)
    elif action == "post_clear":  # group.user_set.clear(): who was in it is not known any more
        if _seconds() > 0:
            cache.clear()
    else:  # group.user_set.add(...): pk_set holds the users
        for pk in pk_set or ():
            forget(pk)


def connect() -> None:
    """Wire the signals that drop a person's cached row (escalations.apps at start-up)."""
    from django.db.models.signals import m2m_changed, post_delete, post_save
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from escalations.models import Notification, UserProfile

    model = get_user_model()
    for sender in (model, UserProfile, TOTPDevice, StaticDevice, Notification):
        post_save.connect(_forget_instance, sender=sender, dispatch_uid=f"person_cache_save_{sender.__name__}")
        post_delete.connect(_forget_instance, sender=sender, dispatch_uid=f"person_cache_delete_{sender.__name__}")
    m2m_changed.connect(_forget_members, sender=model.groups.through, dispatch_uid="person_cache_groups")


def read(user: RequestUser) -> PersonFacts:
    """The facts about `user`: those read with the user when they were (read_user), else one query."""
    cached: PersonFacts | None = getattr(user, "_person_facts", None)
    if cached is not None:
        return cached
    return _remember(user, _rows(user.pk))


def facts_of(request: HttpRequest) -> PersonFacts | None:
    """What UserTimezoneMiddleware read for this request (None when it did not run, or nobody is
    signed in)."""
    return getattr(request, "person_facts", None)
