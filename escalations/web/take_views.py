"""Take it: a moderator or lead makes an unassigned escalation theirs with one button (a POST through
services.take_escalation, audited). Offered on the escalation's page and in the lists' Assignee
column wherever nobody has it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import View

from escalations.core import services, write_frame
from escalations.core.people import AuthenticatedHttpRequest
from escalations.core.permissions import Action, require
from escalations.web.base import get_escalation


def parse_version(raw: str) -> int | None:
    """The version the button was drawn with; None (no check) for anything that is not one."""
    text = raw.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def back_to(request: HttpRequest, pk: int) -> str:
    """Where the button was pressed (a list keeps its filters), else the escalation's page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return reverse("escalations:detail", args=[pk])


class TakeView(View):
    http_method_names = ["post"]
    request: AuthenticatedHttpRequest

    def post(self, request: AuthenticatedHttpRequest, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
        require(request.user, Action.TAKE)
        escalation = get_escalation(pk, request.user)
        try:
            taken = services.take_escalation(
                actor=request.user, escalation_id=escalation.pk, version=parse_version(request.POST.get("version", ""))
            )
        except write_frame.StaleVersionError as exc:
            messages.error(request, exc.message)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{taken.key} is yours now: it is in My queue.")
        return HttpResponseRedirect(back_to(request, escalation.pk))
