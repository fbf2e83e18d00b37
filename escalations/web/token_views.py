"""Leads manage service tokens: create (the secret is shown once, on the answer to the POST), list,
revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from escalations.accounts import tokens
from escalations.core.people import AuthenticatedHttpRequest
from escalations.core.permissions import Action, require
from escalations.models import ServiceToken, TokenScope


class TokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80, help_text="Which system uses it, e.g. moderation-pipeline.")
    scope = forms.ChoiceField(
        label="Scope",
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        help_text="Read: list and read. Read and write: also log and change escalations, with your role.",
    )
    days = forms.IntegerField(
        label="Expires in (days)",
        min_value=1,
        max_value=366,
        initial=90,
        help_text="At most a year.",
        error_messages={
            "required": "Expires in: say in how many days the token expires (at most 366).",
            "invalid": "Expires in: a whole number of days, from 1 to 366.",
            "min_value": "Expires in: a token lasts at least 1 day.",
            "max_value": "Expires in: a token lasts at most a year (366 days); create a new one when it expires.",
        },
    )


def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    require(request.user, Action.MANAGE_TOKENS)
    form = TokenForm(request.POST or None)
    created_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            token, created_secret = tokens.create_token(
                actor=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=timezone.now() + timedelta(days=form.cleaned_data["days"]),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form = TokenForm()
            created: Any = token
    context = {
        "form": form,
        "tokens": ServiceToken.objects.select_related("created_by").order_by("revoked_at", "name"),
        "created_secret": created_secret,
        "created": created if created_secret else None,
        "now": timezone.now(),
    }
    # The secret is in this answer only: never in a redirect, a message or a cookie.
    response = render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store, private"
    return response


@require_POST
def token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(request.user, Action.MANAGE_TOKENS)
    try:
        token = tokens.revoke_token(actor=request.user, token_id=pk)
    except ServiceToken.DoesNotExist:
        raise Http404("No such token.") from None
    messages.success(request, f"Token {token.name} revoked: it no longer works.")
    return HttpResponseRedirect(reverse("tokens"))
