from typing import Any

from django.http import HttpRequest

from escalations.core.permissions import LEAD, Action, can, roles_of
from escalations.reminders import watchdog


def _owes_second_factor(request: HttpRequest) -> bool:
    from escalations.accounts import two_factor

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return False
    return two_factor.state(request) != "ok"


def roles(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's roles and what the navigation may offer them (nothing while a second
    factor is still owed: those pages would only send them back to give it)."""
    user = getattr(request, "user", None)
    roles = sorted(roles_of(user))
    if _owes_second_factor(request):
        user = None
    return {
        "user_roles": roles,
        "can_create": can(user, Action.CREATE),
        "can_view": can(user, Action.VIEW),
        "can_view_dashboard": can(user, Action.VIEW_DASHBOARD),
    }


def _audit_banner(facts: Any) -> dict[str, Any]:
    """What the audit trail's last integrity check found, for the leads' banner."""
    from escalations.core import audit_verify

    if facts is not None:
        ok, checked_at, first_break = facts.audit_ok, facts.audit_checked_at, facts.audit_first_break
    else:
        state = audit_verify.latest()
        ok, checked_at, first_break = state.ok, state.checked_at, state.first_break
    if ok is None or ok:
        return {}
    return {"audit_broken": True, "audit_checked_at": checked_at, "audit_first_break": first_break or ""}


def notifications(request: HttpRequest) -> dict[str, Any]:
    """The bell's unread count for everyone signed in; the stale-sweep and broken-trail banners for
    leads."""
    from escalations.accounts import request_context
    from escalations.models import Notification

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or _owes_second_factor(request):
        return {}
    # Cached on the request: django-tables2 renders its table with the request's context again.
    cached = getattr(request, "_notifications_context", None)
    if cached is not None:
        return cached
    # Read with the rest of what every page needs, as the request started (request_context).
    facts = request_context.facts_of(request)
    context: dict[str, Any] = {
        "unread_notifications": (
            facts.unread_notifications
            if facts is not None
            else Notification.objects.filter(user=user, read_at__isnull=True).count()
        )
    }
    if LEAD in roles_of(user):
        last = facts.last_sweep if facts is not None else watchdog.last_sweep()
        context["sweep_stale"] = watchdog.is_stale(last)
        context["last_sweep"] = last
        context.update(_audit_banner(facts))
    request._notifications_context = context  # type: ignore[attr-defined]
    return context
