"""The page a locked-out person sees (django-axes calls it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


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
