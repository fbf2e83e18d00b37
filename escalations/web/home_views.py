"""Where a person lands: at / and after signing in. An auditor's work is the dashboard and the
compliance report, not a queue (nothing is ever assigned to them); everyone else lands on My queue."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse

from escalations.accounts import oidc_discovery
from escalations.core.people import RequestUser
from escalations.core.permissions import AUDITOR, LEAD, MODERATOR, roles_of


def landing_url(user: RequestUser) -> str:
    roles = roles_of(user)
    if AUDITOR in roles and not roles & {MODERATOR, LEAD}:
        return reverse("dashboard")
    return str(resolve_url(settings.LOGIN_REDIRECT_URL))


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(landing_url(request.user))


class SignInView(auth_views.LoginView):
    """Django's sign-in page; without a `next`, each person lands where their work is. With an identity
    provider set up it offers "Sign in with <provider>"; with PASSWORD_SIGN_IN off the password form
    is shown only behind the break-glass link (and only break-glass accounts get past it)."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return landing_url(self.request.user)

    def get_form(self, form_class: Any = None) -> Any:
        form = super().get_form(form_class)
        if not settings.PASSWORD_SIGN_IN:
            # The same words whoever typed what: they say nothing of whether the account exists.
            form.error_messages["invalid_login"] = (
                "Password sign-in is off here: sign in with "
                f"{settings.OIDC_PROVIDER_NAME}. Only break-glass accounts sign in with a password, "
                "and that username and password were not accepted for one."
            )
        return form

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context.get("form")
        context["oidc_enabled"] = oidc_discovery.configured()
        context["oidc_provider_name"] = settings.OIDC_PROVIDER_NAME
        context["password_sign_in_off"] = not settings.PASSWORD_SIGN_IN
        context["show_password_form"] = bool(
            settings.PASSWORD_SIGN_IN or "break-glass" in self.request.GET or (form is not None and form.is_bound)
        )
        return context
