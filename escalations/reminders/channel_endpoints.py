"""Adding and removing Slack, Teams and PagerDuty channels: a person's own (on their profile) or a
team's (leads, on the Teams page; admins in the admin). What is typed is checked here with a message
that names the field and the rule; every change is an audit event that names the owner, the kind
and the receiver's host with a fingerprint, never the webhook URL's path (a credential for Slack and
Teams) nor a PagerDuty routing key (whose fingerprint alone is written)."""

from __future__ import annotations

import hashlib

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from escalations.core import services
from escalations.core.people import User
from escalations.core.permissions import Action, can, is_admin
from escalations.core.validation import clean_webhook_url
from escalations.models import AuditAction, Channel, ChannelEndpoint, Team
from escalations.reminders import pagerduty
from escalations.reminders.webhook_profile import describe_url

KIND_RULE = "Channel must be Slack, Microsoft Teams or PagerDuty."
TARGET_HELP = {
    Channel.SLACK: "the incoming webhook URL Slack gave (https://hooks.slack.com/services/…)",
    Channel.TEAMS: "the URL of the Teams Workflows webhook (the “Post to a channel when a webhook request is "
    "received” template)",
    Channel.PAGERDUTY: "the integration key of the service's Events API v2 integration (32 letters and digits)",
}


def describe(endpoint_kind: str, target: str) -> str:
    """What the audit trail says of a channel's target."""
    if endpoint_kind == Channel.PAGERDUTY:
        return f"routing key (sha256 {hashlib.sha256(target.encode()).hexdigest()[:12]})"
    return describe_url(target)


def clean_target(kind: str, target: str) -> str:
    """The target, checked for its kind; ValidationError naming the field and the rule."""
    target = (target or "").strip()
    if kind not in (Channel.SLACK, Channel.TEAMS, Channel.PAGERDUTY):
        raise ValidationError({"kind": [KIND_RULE]})
    if not target:
        raise ValidationError({"target": [f"Enter {TARGET_HELP[Channel(kind)]}."]})
    if kind == Channel.PAGERDUTY:
        if not pagerduty.ROUTING_KEY.fullmatch(target):
            raise ValidationError({"target": [f"Routing key: {pagerduty.ROUTING_KEY_RULE}."]})
        return target
    if len(target) > 500:
        raise ValidationError({"target": ["Webhook URL: at most 500 characters."]})
    try:
        cleaned = clean_webhook_url(target)
    except ValidationError as exc:
        raise ValidationError({"target": exc.messages}) from None
    if not cleaned.startswith(("https://", "http://")):
        raise ValidationError({"target": ["Webhook URL: enter an https URL."]})
    return cleaned


def may_manage_team(actor: User) -> bool:
    return can(actor, Action.MANAGE_TEAM_CHANNELS) or is_admin(actor)


def _changes(endpoint: ChannelEndpoint) -> dict[str, str]:
    owner = {"team": endpoint.team.name} if endpoint.team_id and endpoint.team else {"person": str(endpoint.user)}
    return {**owner, "channel": endpoint.get_kind_display(), "target": describe(endpoint.kind, endpoint.target)}


@transaction.atomic
def add_endpoint(*, actor: User, kind: str, target: str, team: Team | None = None) -> ChannelEndpoint:
    """Give `team` (or, without one, `actor`) a channel of `kind`, replacing one it had of that kind
    (the old one is removed, for the record). Raises ValidationError (fields `kind`, `target`) and
    PermissionDenied (a team's channels are for leads and admins)."""
    if team is not None and not may_manage_team(actor):
        raise PermissionDenied("Only a lead can change a team's notification channels.")
    target = clean_target(kind, target)
    now = timezone.now()
    owner = {"team": team} if team is not None else {"user": actor}
    for old in ChannelEndpoint.objects.select_for_update().filter(kind=kind, removed_at__isnull=True, **owner):
        _remove(actor, old, now)
    endpoint = ChannelEndpoint.objects.create(kind=kind, target=target, created_at=now, created_by=actor, **owner)
    services.record_account_event(actor=actor, action=AuditAction.CHANNEL_ADDED, changes=_changes(endpoint))
    return endpoint


def _remove(actor: User, endpoint: ChannelEndpoint, now: object) -> None:
    ChannelEndpoint.objects.filter(pk=endpoint.pk, removed_at__isnull=True).update(removed_at=now)
    # Whatever it still had to send goes nowhere now: cancelled, not retried into the void.
    endpoint.deliveries.filter(sent_at__isnull=True, cancelled_at__isnull=True).update(
        cancelled_at=now, claimed_until=None, last_error="the channel was removed"
    )
    services.record_account_event(actor=actor, action=AuditAction.CHANNEL_REMOVED, changes=_changes(endpoint))


def endpoint_for(actor: User, endpoint_id: int) -> ChannelEndpoint:
    """An active channel `actor` may manage (their own, or any team's for a lead or admin);
    PermissionDenied otherwise, one message whether or not it exists."""
    endpoint = (
        ChannelEndpoint.objects.select_related("team", "user").filter(pk=endpoint_id, removed_at__isnull=True).first()
    )
    if endpoint is None or not (endpoint.user_id == actor.pk or (endpoint.team_id and may_manage_team(actor))):
        raise PermissionDenied("There is no such channel, or it is not yours to change.")
    return endpoint


@transaction.atomic
def remove_endpoint(*, actor: User, endpoint_id: int) -> ChannelEndpoint:
    endpoint = endpoint_for(actor, endpoint_id)
    _remove(actor, endpoint, timezone.now())
    return endpoint
