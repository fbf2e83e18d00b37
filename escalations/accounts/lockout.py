"""The sign-in lockout (django-axes), as this product needs it.

`LockoutHandler` (settings.AXES_HANDLER) is axes' database handler with two changes:
- A right password does not forget earlier failures while a code is still owed: wrong codes count
  toward the same lockout as wrong passwords, and signing in again with the password must not wipe
  them. The count is forgotten when the sign-in completes (the password for someone without an
  authenticator, the code for someone with one: `forget_failures`).
- Every unlock (axes' `axes_reset*` commands, `axes.utils.reset`, `unlock_account`, the admin) is an
  audit event naming who lifted which lock.

And the lockout tables keep no request body: axes copies the query string and the form (with the
password masked, but the code, the CSRF token and anything else typed) into AccessAttempt; those two
columns are emptied before every save, so nothing of a body reaches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max, Sum
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from django_otp import user_has_device

from escalations.accounts import acting_person
from escalations.accounts.lockout_username import recorded_username
from escalations.core import services
from escalations.core.people import RequestUser, User
from escalations.core.permissions import is_lead
from escalations.models import AuditAction


class LockoutHandler(AxesDatabaseHandler):
    def user_logged_in(self, sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
        # Whoever has an authenticator has not finished signing in: keep counting until the code.
        request.axes_keep_failures = user_has_device(user, confirmed=True)  # type: ignore[attr-defined]
        super().user_logged_in(sender, request, user, **kwargs)

    def reset_user_attempts(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        if getattr(request, "axes_keep_failures", False):
            return 0
        return int(super().reset_user_attempts(request, credentials))

    def reset_attempts(
        self, *, ip_address: str | None = None, username: str | None = None, ip_or_username: bool = False
    ) -> int:
        """Lift locks (axes' commands and admin call this): an audit event for each username whose
        failures were forgotten, in the same transaction as the deletion."""
        with transaction.atomic():
            attempts = AccessAttempt.objects.all()
            if ip_or_username:
                attempts = attempts.filter(ip_address=ip_address) | attempts.filter(username=username)
            else:
                if ip_address:
                    attempts = attempts.filter(ip_address=ip_address)
                if username:
                    attempts = attempts.filter(username=username)
            lifted = list(attempts.order_by().values("username").annotate(failures=Sum("failures_since_start")))
            count = int(super().reset_attempts(ip_address=ip_address, username=username, ip_or_username=ip_or_username))
            for row in lifted:
                _record_unlock(row["username"] or "", row["failures"] or 0)
        return count


def _record_unlock(username: str, failures: int) -> None:
    services.record_account_event(
        actor=acting_person.current(),
        action=AuditAction.UNLOCKED,
        changes={
            # Axes' rows hold what was typed at sign-in (kept by the same rule since it was made).
            "username": recorded_username(username),
            "failures": failures,
            "was_locked": isinstance(settings.AXES_FAILURE_LIMIT, int) and failures >= settings.AXES_FAILURE_LIMIT,
        },
    )


def may_unlock(actor: RequestUser | None) -> bool:
    """Leads and admins lift locks."""
    return bool(actor is not None and actor.is_active and (actor.is_superuser or actor.is_staff or is_lead(actor)))


def unlock_account(*, actor: RequestUser | None, username: str) -> int:
    """Forget every failed sign-in of `username` at once (lifting a lock, if there is one), as `actor`,
    a lead or an admin; audited as UNLOCKED when there was anything to forget. Returns the number of
    attempt rows removed (0: nothing was held against that username). Raises PermissionDenied."""
    if not may_unlock(actor):
        raise PermissionDenied("Only a lead or an admin can lift a sign-in lock.")
    with acting_person.acting_as(actor):
        return int(AxesProxyHandler.reset_attempts(username=username))


@dataclass(frozen=True)
class LockedAccount:
    username: str
    failures: int
    last_failure: datetime
    locked_until: datetime


# Bounded: a page of locks is already an incident; the admin's "Access attempts" has every row.
MAX_LOCKED_SHOWN = 200


def locked_accounts(now: datetime) -> list[LockedAccount]:
    """The usernames django-axes refuses right now (failures within the cool-off at or above the
    limit), the most recent first, with the moment each lock ends. One query."""
    limit = settings.AXES_FAILURE_LIMIT
    cool_off = settings.AXES_COOLOFF_TIME
    if not isinstance(limit, int) or not isinstance(cool_off, timedelta):
        return []
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=now - cool_off)
        .values("username")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(failures__gte=limit)
        .order_by("-last")[:MAX_LOCKED_SHOWN]
    )
    return [LockedAccount(row["username"] or "", row["failures"], row["last"], row["last"] + cool_off) for row in rows]


def forget_failures(request: HttpRequest, username: str) -> None:
    """The sign-in is complete (the code was right): forget its failures, as axes does after a
    password when AXES_RESET_ON_SUCCESS is on. Not an unlock: nobody lifted anything."""
    handler = AxesProxyHandler.get_implementation()
    if settings.AXES_RESET_ON_SUCCESS and isinstance(handler, AxesDatabaseHandler):
        AxesProxyHandler.update_request(request)
        handler.reset_user_attempts(request, {"username": username})


@receiver(pre_save, sender=AccessAttempt, dispatch_uid="escalations.lockout.no_request_bodies")
def _keep_no_request_body(sender: Any, instance: AccessAttempt, **kwargs: Any) -> None:
    instance.get_data = ""
    instance.post_data = ""
