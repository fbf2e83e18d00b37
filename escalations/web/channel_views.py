"""Slack, Microsoft Teams and PagerDuty channels: a team's (leads, at /teams/channels/) and a person's
own (their profile), each with a "send a test" button; and acknowledging a reminder, by the button
on the escalation's page or the signed link in an email, Slack or Teams message."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from escalations.core.people import AuthenticatedHttpRequest
from escalations.core.permissions import Action, can
from escalations.models import Channel, ChannelEndpoint, Team
from escalations.reminders import ack_links, acknowledgements, channel_endpoints, channel_test_limit
from escalations.reminders import endpoints as channel_posts
from escalations.reminders.channels import DeliveryError

KIND_CHOICES = [
    (Channel.SLACK.value, "Slack"),
    (Channel.TEAMS.value, "Microsoft Teams"),
    (Channel.PAGERDUTY.value, "PagerDuty"),
]


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(label="Channel", choices=KIND_CHOICES)
    target = forms.CharField(
        label="Webhook URL or routing key",
        max_length=500,
        help_text="Slack: the incoming webhook URL. Teams: the Workflows webhook URL. PagerDuty: the Events API v2 "
        "integration key (32 characters). Kept like a password: never shown again in full.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class TeamChannelForm(ChannelForm):
    team = forms.ModelChoiceField(label="Team", queryset=Team.objects.all())

    field_order = ["team", "kind", "target"]


def _apply(form: forms.Form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


def team_channels(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Leads (and admins) see every team's channels, add one and remove one."""
    if not channel_endpoints.may_manage_team(request.user):
        raise PermissionDenied("Only a lead can change a team's notification channels.")
    form = TeamChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = channel_endpoints.add_endpoint(
                actor=request.user,
                kind=form.cleaned_data["kind"],
                target=form.cleaned_data["target"],
                team=form.cleaned_data["team"],
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, f"{endpoint} added. Send it a test to check that it arrives.")
            return HttpResponseRedirect(reverse("team_channels"))
    teams = Team.objects.prefetch_related("members").order_by("name")
    channels = (
        channel_posts.active()
        .filter(team__isnull=False)
        .select_related("team", "created_by")
        .order_by("team__name", "kind")
    )
    return render(
        request,
        "notifications/team_channels.html",
        {
            "form": form,
            "teams": teams,
            "channels": [(c, channel_endpoints.describe(c.kind, c.target)) for c in channels],
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
def add_own_channel(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A person's own Slack, Teams or PagerDuty (the profile's form)."""
    form = ChannelForm(request.POST)
    if form.is_valid():
        try:
            endpoint = channel_endpoints.add_endpoint(
                actor=request.user, kind=form.cleaned_data["kind"], target=form.cleaned_data["target"]
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, f"{endpoint.get_kind_display()} added. Send it a test to check that it arrives.")
            return HttpResponseRedirect(reverse("profile"))
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else "Channel"
        for error in errors:
            text = str(error)
            messages.error(request, text if text.startswith(str(label)) else f"{label}: {text}")
    return HttpResponseRedirect(reverse("profile"))


def _back(request: AuthenticatedHttpRequest, endpoint: ChannelEndpoint) -> HttpResponse:
    return HttpResponseRedirect(reverse("team_channels" if endpoint.team_id else "profile"))


@require_POST
def remove_channel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = channel_endpoints.remove_endpoint(actor=request.user, endpoint_id=pk)
    messages.success(request, f"{endpoint} removed.")
    return _back(request, endpoint)


@require_POST
def test_channel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Send a test through one channel and say what happened; limited like the profile's buttons."""
    endpoint = channel_endpoints.endpoint_for(request.user, pk)
    retry_at = channel_test_limit.count_test_send(request.user.pk, f"endpoint-{endpoint.pk}", timezone.now())
    if retry_at is not None:
        messages.error(request, channel_test_limit.limit_message(retry_at))
        return _back(request, endpoint)
    try:
        channel_posts.send_test(endpoint, timezone.now())
    except DeliveryError as exc:
        messages.error(request, f"{endpoint} test failed: {exc}.")
    else:
        messages.success(request, f"{endpoint} test sent. Check that it arrived.")
    return _back(request, endpoint)


# --- acknowledging -----------------------------------------------------------------------------------


def _said(outcome: acknowledgements.Outcome) -> str:
    ack = outcome.acknowledgement
    if outcome.created:
        return "Acknowledged: the escalation steps of this reminder stop, and PagerDuty hears of it."
    return f"Already acknowledged by {ack.by.get_username()} at {timezone.localtime(ack.at):%Y-%m-%d %H:%M %Z}."


@require_POST
def acknowledge(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The button on the escalation's page."""
    outcome = acknowledgements.acknowledge(actor=request.user, reminder_id=pk, via="app")
    messages.success(request, _said(outcome))
    return HttpResponseRedirect(reverse("escalations:detail", args=[outcome.acknowledgement.escalation_id]))


def acknowledge_link(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    """The signed link in a message: GET shows what would be acknowledged (a link fetched by a mail
    scanner or a chat preview changes nothing), POST acknowledges. Sign-in first, as everywhere."""
    try:
        reminder_id, via = ack_links.read_token(token)
    except ack_links.BadLink as exc:
        return render(request, "notifications/acknowledge.html", {"error": str(exc)}, status=400)
    if not can(request.user, Action.ACKNOWLEDGE):
        raise PermissionDenied("Moderators and leads acknowledge reminders; auditors read them.")
    reminder = acknowledgements.reminder_for(request.user, reminder_id)
    if request.method == "POST":
        outcome = acknowledgements.acknowledge(actor=request.user, reminder_id=reminder_id, via=via)
        messages.success(request, _said(outcome))
        return HttpResponseRedirect(reverse("escalations:detail", args=[reminder.escalation_id]))
    existing = getattr(reminder, "acknowledgement", None) if hasattr(reminder, "acknowledgement") else None
    return render(request, "notifications/acknowledge.html", {"reminder": reminder, "existing": existing})
