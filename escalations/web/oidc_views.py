"""The two pages of a sign-in through the company's identity provider: the start (a redirect to the
provider with state, nonce and a PKCE challenge, mozilla-django-oidc's view) and the callback the
provider sends the person back to. Both open to anyone not signed in; both answer 404 while
OIDC_ISSUER is not set.

Each state is used once: the callback takes it out of the session before anything else, so a replayed
callback finds none and is refused. Every refusal is a SIGN_IN_FAILED event (step "provider") with
its reason, and the sign-in page says what went wrong."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from escalations.accounts import oidc_discovery, two_factor
from escalations.accounts.lockout_username import recorded_username
from escalations.accounts.oidc_backend import ProviderBackend, ProviderRefused
from escalations.accounts.security_events import PROVIDER_SIGN_IN_ATTR
from escalations.compliance.access_log import client_ip
from escalations.core import services
from escalations.models import AuditAction
from escalations.web.home_views import landing_url

# The session's backend: the provider's sign-in opens an ordinary session, read per request as any.
SESSION_BACKEND = "escalations.accounts.auth_backends.PersonBackend"


def _refuse(request: HttpRequest, reason: str, username: str = "") -> HttpResponse:
    services.record_account_event(
        actor=None,
        action=AuditAction.SIGN_IN_FAILED,
        changes={
            "username": recorded_username(username),
            "step": "provider",
            "reason": recorded_username(reason),
            "path": recorded_username(request.path),
            "ip": client_ip(request),
        },
    )
    messages.error(request, f"Sign-in with {settings.OIDC_PROVIDER_NAME} did not work: {reason}. Try again.")
    return HttpResponseRedirect(reverse("login"))


@method_decorator([login_not_required, never_cache], name="dispatch")
class ProviderSignInView(OIDCAuthenticationRequestView):
    """Sends the person to the provider. The authorization endpoint comes from discovery."""

    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_discovery.configured():
            raise Http404("Sign-in with an identity provider is not set up here.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_discovery.endpoints().authorization_endpoint
        except oidc_discovery.DiscoveryError as exc:
            return _refuse(request, f"the identity provider's settings could not be read: {exc}")
        return super().get(request)


@method_decorator([login_not_required, never_cache], name="dispatch")
class ProviderCallbackView(View):
    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_discovery.configured():
            raise Http404("Sign-in with an identity provider is not set up here.")
        states = request.session.get("oidc_states")
        state = request.GET.get("state", "")
        entry = states.pop(state, None) if isinstance(states, dict) and state else None
        if entry is None:
            return _refuse(request, "this sign-in was not started here, or was already used (state)")
        # Used up before anything else happens: the same answer replayed finds no state.
        request.session.modified = True
        request.session.save()
        if request.GET.get("error"):
            return _refuse(request, f"the provider answered {recorded_username(request.GET['error'])[:80]!r}")
        added_on = entry.get("added_on")
        if not isinstance(added_on, int | float) or time.time() - added_on > settings.OIDC_STATE_MAX_AGE_SECONDS:
            return _refuse(request, "this sign-in was started too long ago")
        code = request.GET.get("code", "")
        if not code:
            return _refuse(request, "the provider sent no code")
        next_url = request.session.get("oidc_login_next")
        try:
            result = ProviderBackend().sign_in(
                request, code=code, nonce=entry.get("nonce") or "", code_verifier=entry.get("code_verifier")
            )
        except ProviderRefused as refused:
            return _refuse(request, refused.reason, refused.username)
        setattr(
            request,
            PROVIDER_SIGN_IN_ATTR,
            {
                "provider": settings.OIDC_PROVIDER_NAME,
                "how": result.how,
                "amr": [recorded_username(value)[:20] for value in result.amr[:10]],
                "second_factor": result.second_factor,
                **(
                    {"role_claim": f"missing: no {settings.OIDC_ROLE_CLAIM!r} claim"}
                    if result.role_claim_missing
                    else {}
                ),
            },
        )
        auth.login(request, result.user, backend=SESSION_BACKEND)
        if result.second_factor:
            request.session[two_factor.PROVIDER_SECOND_FACTOR_KEY] = True
        return HttpResponseRedirect(next_url if isinstance(next_url, str) and next_url else landing_url(result.user))
