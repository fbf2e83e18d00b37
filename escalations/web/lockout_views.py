"""The page a locked-out person sees (django-axes calls it), and the leads' list of locked sign-ins
with the button that lifts a lock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.generic import View

from escalations.accounts import lockout

# Longer than any username a person has; a longer one typed at sign-in is cut there (security_events).
MAX_USERNAME = 150


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' lockout answer (settings.AXES_LOCKOUT_CALLABLE): the sign-in page's message, with
    the moment the lock ends (the last failure that counted, plus the cool-off), status 429."""
    from axes.helpers import get_client_username, get_cool_off, get_failure_limit
    from axes.models import AccessAttempt
    from django.db.models import Max
    from django.template.response import TemplateResponse

    username = get_client_username(request, credentials) or ""
    cool_off = get_cool_off(request) or timedelta(0)
    last = AccessAttempt.objects.filter(username=username).aggregate(at=Max("attempt_time"))["at"]
    now = timezone.now()
    locked_until = (last or now) + cool_off
    minutes_left = max(1, int(-(-(locked_until - now).total_seconds() // 60)))
    context = {
        "username": username,
        "failure_limit": get_failure_limit(request, credentials),
        "locked_until": locked_until,
        "minutes_left": minutes_left,
    }
    response = TemplateResponse(request, "registration/locked_out.html", context, status=429)
    response.render()
    return response


class LockedAccountsView(View):
    """Leads (and admins) see who is locked out of signing in, and lift a lock with one button. The
    unlock is audited as a security event naming who lifted whose lock (accounts.lockout)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not lockout.may_unlock(request.user):
            raise PermissionDenied("Only a lead or an admin can see and lift sign-in locks.")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        now = timezone.now()
        context = {
            "locked": lockout.locked_accounts(now),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cool_off_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        }
        return TemplateResponse(request, "accounts/locked.html", context)

    def post(self, request: HttpRequest) -> HttpResponse:
        username = request.POST.get("username", "")
        if not username or len(username) > MAX_USERNAME:
            messages.error(request, "Choose the locked username to unlock.")
            return HttpResponseRedirect(reverse("locked_accounts"))
        removed = lockout.unlock_account(actor=request.user, username=username)
        if removed:
            messages.success(request, f"Sign-in unlocked for {username}: they can sign in now.")
        else:
            messages.info(request, f"{username} was not locked (the lock may have ended by itself).")
        return HttpResponseRedirect(reverse("locked_accounts"))
