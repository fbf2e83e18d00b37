"""Idle sessions end IDLE_SESSION_MINUTES after the last request.

Django's SESSION_SAVE_EVERY_REQUEST would push the end back by writing the session on every
request: one UPDATE on every page, for a deadline kept to the minute. This writes it at most once
per RENEW_EVERY_SECONDS instead. The end therefore comes between IDLE_SESSION_MINUTES minus
RENEW_EVERY_SECONDS and IDLE_SESSION_MINUTES after the last request: sometimes a little sooner,
never later."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

RENEW_EVERY_SECONDS = 60
# When the session's end was last pushed back, in whole seconds since the epoch.
RENEWED_AT = "_idle_renewed_at"


def needs_renewal(renewed_at: object, now: int) -> bool:
    """True when the session was never renewed, or RENEW_EVERY_SECONDS or more ago (or the stored
    time is not one: a session this code did not write, or a clock set back)."""
    if not isinstance(renewed_at, int):
        return True
    return not 0 <= now - renewed_at < RENEW_EVERY_SECONDS


class RenewIdleSessionMiddleware:
    """Marks a live session for saving (SessionMiddleware then writes it with a new end,
    SESSION_COOKIE_AGE from now) when it is due for renewal. Listed after SessionMiddleware, so that
    its response step runs first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = request.session
        renewed_at = session.get(RENEWED_AT)
        # Empty: nobody signed in, or the view just signed them out (a flushed session stays gone).
        if not session.is_empty():
            now = int(timezone.now().timestamp())
            if needs_renewal(renewed_at, now):
                session[RENEWED_AT] = now
        return response
