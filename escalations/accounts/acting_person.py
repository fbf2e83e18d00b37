"""Who is acting in this request (or inside `acting_as`), for the audit events that model signals
write: group and team membership changes, unlocks. Those can happen in the admin, in a command or in
a shell; a signal has no request, so the request's user is kept here for it. Outside any request
(a shell, a management command) nobody is acting and the event names no actor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

_acting: ContextVar[Any] = ContextVar("acting_person", default=None)


def current() -> Any | None:
    """The signed-in person acting now, or None (nobody signed in, or no request at all)."""
    person = _acting.get()
    if person is None or not getattr(person, "is_authenticated", False):
        return None
    return person


@contextmanager
def acting_as(person: Any) -> Iterator[None]:
    token = _acting.set(person)
    try:
        yield
    finally:
        _acting.reset(token)


class ActingPersonMiddleware:
    """After AuthenticationMiddleware: the request's user (still lazy: read only if an event needs
    it) is the actor of what signals record during the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)
