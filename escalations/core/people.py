"""The types a person has in signatures. The tracker keeps Django's own user model (the settings name no
AUTH_USER_MODEL), so a person is `User`. A request's user is a `User` once someone has signed in and
an `AnonymousUser` until then: `RequestUser`. Code that may run with nobody at all (a shell, a
command, a signal outside any request) says `| None` where it takes one.

Django's LoginRequiredMiddleware (settings.MIDDLEWARE) lets a request reach a view only once someone
has signed in; a view opts out with login_not_required. A view behind that check takes an
`AuthenticatedHttpRequest`, whose user is a `User` (django-stubs' way for views behind a login check);
a view open to everyone keeps HttpRequest and its `RequestUser`.

django-otp's OTPMiddleware gives every request's user an `is_verified()` that Django's classes do not
declare: `verified` is the one place that reads it."""

from __future__ import annotations

from typing import Protocol, TypeAlias, cast

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest

__all__ = ["AnonymousUser", "AuthenticatedHttpRequest", "RequestUser", "User", "signed_in", "verified"]

RequestUser: TypeAlias = User | AnonymousUser


class AuthenticatedHttpRequest(HttpRequest):
    """A type only (requests stay Django's HttpRequest): the request of a view behind the login check."""

    user: User


def signed_in(request: HttpRequest) -> AuthenticatedHttpRequest:
    """`request` as the request of a view behind the login check, for code that is handed a plain
    HttpRequest: a view method overriding Django's own (get, post, dispatch keep HttpRequest in their
    signature), or a helper only such views call (the access log). LoginRequiredMiddleware has refused
    anyone not signed in before the view runs; this cast records that and checks nothing, so it is
    never for a view marked login_not_required."""
    return cast(AuthenticatedHttpRequest, request)


class _OTPUser(Protocol):
    def is_verified(self) -> bool: ...


def verified(user: RequestUser) -> bool:
    """Whether this session gave a two-factor code. Only for the request's user: django-otp's
    OTPMiddleware sets `is_verified` on it (False for anyone anonymous); other user objects lack it."""
    return cast(_OTPUser, user).is_verified()
