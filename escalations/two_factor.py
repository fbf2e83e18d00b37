"""Two-factor sign-in (issue 7): who must use it, and the gate every page passes.

Signing in stays one form at /accounts/login/ (username and password). A person who has an
authenticator (a confirmed TOTP device) then proves it at /accounts/login/verify/ with a code or a
backup code; until then every page sends them there. When REQUIRE_2FA is on (production), leads and
admins without an authenticator are sent to set one up before any other page opens. Enrolment and
backup codes are django-two-factor-auth's pages; django-otp checks the codes.

What the gate needs is read once, at sign-in, into the session: no query per page for it.
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
from django_otp import user_has_device

from .permissions import is_lead

SESSION_KEY = "two_factor"

State = Literal["ok", "verify", "enroll"]
ViewT = TypeVar("ViewT", bound=Callable[..., Any])


def required_for(user: Any) -> bool:
    """Leads and admins must use two factors when REQUIRE_2FA is on; anyone else may choose to."""
    if not settings.REQUIRE_2FA:
        return False
    return bool(user.is_superuser or user.is_staff or is_lead(user))


def remember(request: HttpRequest, user: Any) -> None:
    """Note in the session whether this person has an authenticator and whether they must."""
    request.session[SESSION_KEY] = {
        "device": user_has_device(user, confirmed=True),
        "required": required_for(user),
    }


def state(request: HttpRequest) -> State:
    """What the signed-in person still owes: nothing, a code, or setting up an authenticator."""
    user: Any = request.user
    noted = request.session.get(SESSION_KEY)
    if not isinstance(noted, dict):
        remember(request, user)
        noted = request.session[SESSION_KEY]
    if noted["device"]:
        return "ok" if user.is_verified() else "verify"
    return "enroll" if noted["required"] else "ok"


@receiver(user_logged_in, dispatch_uid="escalations.two_factor.remember")
def _remember_at_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        remember(request, user)


def step(view: ViewT) -> ViewT:
    """Mark a view as part of signing in (the code, enrolment, signing out): the gate lets it open."""
    view.two_factor_step = True  # type: ignore[attr-defined]
    return view


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
        if getattr(view_func, "two_factor_step", False):
            return None
        # The API's views are open to Django's login check (they authenticate tokens themselves), but
        # DRF would accept this very session: so the API is gated too, the rest of the open pages not.
        is_api = request.path.startswith("/api/")
        if not is_api and not getattr(view_func, "login_required", True):
            return None
        owed = state(request)
        if owed == "ok":
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
