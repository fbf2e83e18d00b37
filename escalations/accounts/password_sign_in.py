"""Whether a person may sign in with a local password. With PASSWORD_SIGN_IN off (the company's identity
provider signs people in), only break-glass accounts may: every superuser, and profiles marked
break-glass in the admin. They are the way in when the provider is down or misconfigured, so they
are never linked to the provider either (escalations.accounts.oidc_backend)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from escalations.core.people import User
from escalations.models import UserProfile

# Set on the request when a password sign-in was refused because passwords are off for the account:
# the failed sign-in's audit event says so (escalations.accounts.security_events).
REFUSED_ATTR = "password_sign_in_refused"
REFUSED_REASON = "password sign-in is off for this account (PASSWORD_SIGN_IN=false, not break-glass)"


def is_break_glass(user: User) -> bool:
    return bool(user.is_superuser or UserProfile.objects.filter(user=user, break_glass=True).exists())


def password_allowed(user: User) -> bool:
    """True when `user` may sign in with their password (PASSWORD_SIGN_IN, or a break-glass account)."""
    return bool(settings.PASSWORD_SIGN_IN or is_break_glass(user))


def note_refused(request: HttpRequest | None) -> None:
    if request is not None:
        setattr(request, REFUSED_ATTR, True)


def was_refused(request: HttpRequest | None) -> bool:
    return bool(getattr(request, REFUSED_ATTR, False))
