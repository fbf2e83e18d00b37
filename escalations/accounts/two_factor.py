"""Two-factor sign-in: who must use it, and the gate every page passes.

Signing in stays one form at /accounts/login/ (username and password). A person who has an
authenticator (a confirmed TOTP device) then proves it at /accounts/login/verify/ with a code or a
backup code; until then that page and signing out are all that open. When REQUIRE_2FA is on
(production), leads and admins without an authenticator are sent to set one up before any other page
opens. Enrolment and backup codes are django-two-factor-auth's pages; django-otp checks the codes.

Whether the person has an authenticator and whether they must have one are read on every request, in
the query that reads the request's user with their roles (escalations.accounts.request_context), at no extra
query: a password-only session of someone who has since set one up (in another session, or had one
added) owes a code from its next page; a moderator made a lead mid-session is sent to set one up on
their next page; an authenticator an admin removed is asked for no more.

A sign-in through the company's identity provider whose ID token's `amr` shows a second factor
(OIDC_MFA_AMR: mfa, otp, hwk, swk, ...) has given two factors already: the session is marked
(PROVIDER_SECOND_FACTOR_KEY) and owes nothing here. Without such an `amr`, our own code step applies to
it as to a password sign-in.

Adding an authenticator is what an attacker with the password alone would do to get past the code
step, so it needs either a session that has already given a code, or (for a first one) the password
typed in this session moments ago: `enrolment_needs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone

from escalations.core.people import RequestUser, User, verified
from escalations.core.permissions import is_lead

# When this session last proved the password (seconds since the epoch): at sign-in, or typed again at
# /accounts/confirm-password/. A first authenticator may be added only while it is recent.
PASSWORD_AT_KEY = "password_proven_at"  # noqa: S105 - a session key's name, not a password

# Set by the identity provider's callback after signing the person in, when the ID token's `amr` shows
# a second factor; cleared by every new sign-in (below) before that.
PROVIDER_SECOND_FACTOR_KEY = "provider_second_factor"

State = Literal["ok", "verify", "enroll"]
ViewT = TypeVar("ViewT", bound=Callable[..., Any])


def required_for(user: RequestUser) -> bool:
    """Leads and admins must use two factors when REQUIRE_2FA is on; anyone else may choose to.
    The roles are those read with the request's user (no query of its own)."""
    if not settings.REQUIRE_2FA:
        return False
    return bool(user.is_superuser or user.is_staff or is_lead(user))


def has_device(user: RequestUser) -> bool:
    """A confirmed authenticator (or backup codes): read with the request's user, else one query."""
    from escalations.accounts import request_context

    return request_context.read(user).has_device


def state(request: HttpRequest) -> State:
    """What the signed-in person still owes: nothing, a code, or setting up an authenticator."""
    user = request.user
    if provider_second_factor(request):
        return "ok"
    if has_device(user):
        return "ok" if verified(user) else "verify"
    return "enroll" if required_for(user) else "ok"


def provider_second_factor(request: HttpRequest) -> bool:
    """This session signed in through the identity provider with a second factor (its `amr`)."""
    session = getattr(request, "session", None)
    return bool(session is not None and session.get(PROVIDER_SECOND_FACTOR_KEY) is True)


def note_password_proven(request: HttpRequest) -> None:
    request.session[PASSWORD_AT_KEY] = int(timezone.now().timestamp())


def password_is_fresh(request: HttpRequest) -> bool:
    """True when this session proved the password within TWO_FACTOR_PASSWORD_FRESH_MINUTES."""
    proven_at = request.session.get(PASSWORD_AT_KEY)
    if not isinstance(proven_at, int):
        return False
    age = int(timezone.now().timestamp()) - proven_at
    return 0 <= age <= settings.TWO_FACTOR_PASSWORD_FRESH_MINUTES * 60


def forget_password_proof(request: HttpRequest) -> None:
    """One proof of the password adds one authenticator: the next needs the password again."""
    request.session.pop(PASSWORD_AT_KEY, None)


def enrolment_needs(request: HttpRequest) -> Literal["nothing", "code", "password"]:
    """What this session must still prove before it may add an authenticator: nothing (it gave a code
    in this session, or it has none yet and gave the password moments ago), a code (it has an
    authenticator and has not used it: the code page, never enrolment), or the password again."""
    user = request.user
    if verified(user):
        return "nothing"
    if has_device(user):
        return "code"
    return "nothing" if password_is_fresh(request) else "password"


@receiver(user_logged_in, dispatch_uid="escalations.two_factor.password_proven")
def _password_proven_at_sign_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        # A sign-in proves who this is, the password here or the provider's own sign-in moments ago.
        note_password_proven(request)
        request.session.pop(PROVIDER_SECOND_FACTOR_KEY, None)


def open_while(*owed: State) -> Callable[[ViewT], ViewT]:
    """Mark a view as one of the steps that settle what a session owes (the code page while a code is
    owed; enrolment while an authenticator must be set up; signing out for both): the gate lets a
    session that owes one of `owed` open it, and nothing else."""

    def mark(view: ViewT) -> ViewT:
        view.two_factor_open_while = frozenset(owed)  # type: ignore[attr-defined]
        return view

    return mark


class TwoFactorGateMiddleware:
    """After Django's LoginRequiredMiddleware: a signed-in person who still owes a code, or an
    authenticator, reaches only the pages that settle it. The API answers JSON 403 instead of a
    redirect (service tokens are checked by the API itself, never here: they have no session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if not request.user.is_authenticated:
            return None
        # The API's views are open to Django's login check (they authenticate tokens themselves), but
        # DRF would accept this very session: so the API is gated too, the rest of the open pages not.
        is_api = request.path.startswith("/api/")
        if not is_api and not getattr(view_func, "login_required", True):
            return None
        owed = state(request)
        if owed == "ok" or owed in getattr(view_func, "two_factor_open_while", ()):
            return None
        if is_api:
            detail = (
                "Two-factor verification required: enter your code at /accounts/login/verify/."
                if owed == "verify"
                else "Two-factor sign-in required for your role: set it up at /accounts/two-factor/setup/."
            )
            return JsonResponse({"detail": detail}, status=403)
        target = reverse("two_factor_verify") if owed == "verify" else reverse("two_factor:setup")
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
