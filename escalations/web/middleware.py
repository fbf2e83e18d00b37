"""Request guards that must run before any view."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import patch_cache_control

from escalations.core.encoded_content import REFUSED_CONTENT_TYPES


class RejectFileUploadsMiddleware:
    """Refuse every request that carries a file, before sessions, CSRF or any view run (HTTP 400)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        content_type = request.META.get("CONTENT_TYPE", "").lower().strip()
        if content_type.startswith(REFUSED_CONTENT_TYPES):
            body = render_to_string("file_refused.html", {"content_type": content_type.split(";")[0]})
            # No Connection header: it is hop-by-hop, which PEP 3333 forbids an application to set
            # (runserver's wsgiref asserts on it and answered 500); the server drains the unread body.
            return HttpResponse(body, status=400)
        return self.get_response(request)


class UserTimezoneMiddleware:
    """Show times in the zone of the signed-in user's profile (default UTC); the database keeps UTC.
    The same query reads the rest of what every page needs about them (request_context)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone_name = "UTC"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            from escalations.accounts import request_context

            facts = request_context.read(user)
            request.person_facts = facts  # type: ignore[attr-defined]
            zone_name = facts.time_zone or zone_name
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone_name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class NoStoreMiddleware:
    """`Cache-Control: no-store, private` on every answer whose view chose no cache policy of its own.
    Pages and API answers hold case data, the profile a webhook secret: no browser cache, proxy or
    back button may keep a copy for the next person at the keyboard. Static files never reach this
    (whitenoise answers them earlier, with its own long caching)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
