"""Where a person lands: at / and after signing in. An auditor's work is the dashboard and the
compliance report, not a queue (nothing is ever assigned to them); everyone else lands on My queue."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse

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
    """Django's sign-in page; without a `next`, each person lands where their work is."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return landing_url(self.request.user)
