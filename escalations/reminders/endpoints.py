"""Slack, Microsoft Teams and PagerDuty: the channels kept as ChannelEndpoint rows, a person's own or
a team's. Who gets which endpoint delivery (`endpoint_deliveries`), what each request carries
(`build_request`, in the sweep's thread, which may read the database), posting it (`post`, in any
thread: no database), PagerDuty's incidents (opened by a trigger, acknowledged and resolved by
deliveries of their own, each once) and the "send a test" button."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from escalations import policy
from escalations.core.people import User
from escalations.models import (
    Channel,
    ChannelEndpoint,
    Delivery,
    DeliveryAction,
    Escalation,
    LegalRequest,
    LegalRequestStatus,
    PagerDutyIncident,
    Reminder,
)
from escalations.reminders import pagerduty, safe_http, slack, teams
from escalations.reminders.channels import DeliveryError, Message, test_message

ENDPOINT_CHANNELS = (Channel.SLACK, Channel.TEAMS, Channel.PAGERDUTY)


def active() -> Any:
    return ChannelEndpoint.objects.filter(removed_at__isnull=True)


def endpoint_deliveries(
    reminder: Reminder,
    people: list[User],
    owner: User | None,
    now: datetime,
    *,
    team_kinds: Iterable[str] | None = None,
) -> list[Delivery]:
    """The endpoint deliveries of `reminder`: each person's own Slack, Teams and PagerDuty, and, when
    `owner` (the escalation's assignee, or its creator) is given, the endpoints of every team they
    belong to (only the kinds in `team_kinds`, when given). One query."""
    wanted = Q(user__in=[p.pk for p in people]) if people else Q(pk__in=[])
    if owner is not None:
        teams_q = Q(team__members=owner)
        if team_kinds is not None:
            teams_q &= Q(kind__in=list(team_kinds))
        wanted |= teams_q
    rows = []
    seen: set[int] = set()
    by_pk = {p.pk: p for p in people}
    for endpoint in active().filter(wanted).order_by("pk"):
        if endpoint.pk in seen:
            continue
        seen.add(endpoint.pk)
        recipient = by_pk.get(endpoint.user_id) if endpoint.user_id else owner
        if recipient is None:
            continue
        rows.append(
            Delivery(
                reminder=reminder,
                recipient=recipient,
                channel=endpoint.kind,
                endpoint=endpoint,
                next_attempt_at=now,
            )
        )
    return rows


def team_pagerduty_exists(owner: User) -> bool:
    return active().filter(team__members=owner, kind=Channel.PAGERDUTY).exists()


# --- requests ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointRequest:
    """One POST, read from the database beforehand (posting touches none)."""

    url: str
    body: bytes
    channel: str


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def build_request(batch: list[Delivery], message: Message | None, now: datetime) -> EndpointRequest:
    """The request for `batch` (deliveries to one endpoint): a Slack or Teams message, or a PagerDuty
    event (one delivery: a trigger, opening or joining its incident, or an acknowledge or resolve)."""
    first = batch[0]
    endpoint = first.endpoint
    if endpoint is None or endpoint.removed_at is not None:
        raise DeliveryError("this channel was removed")
    if endpoint.kind == Channel.SLACK:
        assert message is not None
        return EndpointRequest(url=endpoint.target, body=_json(slack.payload(message, now)), channel=endpoint.kind)
    if endpoint.kind == Channel.TEAMS:
        assert message is not None
        return EndpointRequest(url=endpoint.target, body=_json(teams.payload(message, now)), channel=endpoint.kind)
    if endpoint.kind != Channel.PAGERDUTY:
        raise DeliveryError(f"unknown channel {endpoint.kind!r}")
    if first.action:
        incident = first.incident
        assert incident is not None
        event = pagerduty.follow_up_event(endpoint.target, incident.dedup_key, first.action)
    else:
        assert message is not None
        incident = open_incident(first, now)
        event = pagerduty.trigger_event(endpoint.target, incident.dedup_key, message, now)
    return EndpointRequest(url=settings.PAGERDUTY_EVENTS_URL, body=_json(event), channel=endpoint.kind)


def post(request: EndpointRequest) -> None:
    """POST through safe_http (public https only; loopback http where the settings allow it, for
    tests); returns once the service answered 2xx, DeliveryError otherwise."""
    try:
        status = safe_http.post_json(request.url, request.body)
    except (safe_http.Refused, safe_http.Failed) as exc:
        raise DeliveryError(str(exc)) from exc
    if not 200 <= status < 300:
        label = Channel(request.channel).label
        raise DeliveryError(f"{label} answered HTTP {status}")


def send_test(endpoint: ChannelEndpoint, now: datetime) -> None:
    """The "send a test" button: a test message (PagerDuty: an info alert, resolved at once)."""
    message = test_message()
    if endpoint.kind == Channel.PAGERDUTY:
        event = pagerduty.test_event(endpoint.target, now)
        url = settings.PAGERDUTY_EVENTS_URL
        post(EndpointRequest(url=url, body=_json(event), channel=endpoint.kind))
        resolve = pagerduty.follow_up_event(endpoint.target, event["dedup_key"], pagerduty.RESOLVE)
        post(EndpointRequest(url=url, body=_json(resolve), channel=endpoint.kind))
        return
    module = slack if endpoint.kind == Channel.SLACK else teams
    post(EndpointRequest(url=endpoint.target, body=_json(module.payload(message, now)), channel=endpoint.kind))


# --- PagerDuty incidents -----------------------------------------------------------------------------


def open_incident(delivery: Delivery, now: datetime) -> PagerDutyIncident:
    """The incident a trigger delivery opens or joins (one per endpoint and deadline), noted on the
    delivery; a trigger sent again after a failure keeps the incident it was first given."""
    if delivery.incident_id is not None and delivery.incident is not None:
        return delivery.incident
    reminder = delivery.reminder
    escalation = reminder.escalation
    cfg = policy.PolicyConfig.from_settings()
    name, deadline_at = policy.incident_deadline(reminder.kind, escalation, cfg)
    key = pagerduty.dedup_key(escalation.key, name, deadline_at, reminder.pk)
    assert delivery.endpoint is not None
    with transaction.atomic():
        incident, created = PagerDutyIncident.objects.get_or_create(
            endpoint=delivery.endpoint,
            dedup_key=key,
            defaults={
                "escalation": escalation,
                "deadline": name,
                "deadline_at": deadline_at,
                "reminder": reminder,
                "opened_at": now,
            },
        )
        if not created:
            # A later reminder of the same deadline triggers it again; a resolved incident that a
            # trigger reaches is open again at PagerDuty too.
            PagerDutyIncident.objects.filter(pk=incident.pk).update(
                reminder=reminder, resolved_at=None, resolve_reason=""
            )
        Delivery.objects.filter(pk=delivery.pk).update(incident=incident)
    delivery.incident = incident
    return incident


def _follow_up(incident: PagerDutyIncident, action: str, now: datetime) -> int:
    """Record one acknowledge or resolve delivery for `incident` (once: unique per reminder, endpoint
    and action). Returns 1 if it was recorded now."""
    trigger = incident.deliveries.filter(action=DeliveryAction.NOTIFY).order_by("pk").first()
    if trigger is None:
        return 0
    created = Delivery.objects.bulk_create(
        [
            Delivery(
                reminder_id=incident.reminder_id,
                recipient_id=trigger.recipient_id,
                channel=Channel.PAGERDUTY,
                endpoint_id=incident.endpoint_id,
                incident=incident,
                action=action,
                next_attempt_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    return len(created)


def acknowledge_incidents(escalation: Escalation, reminder: Reminder, now: datetime) -> int:
    """Someone acknowledged `reminder` in the tracker: acknowledge the open PagerDuty incidents of the
    same deadline of that escalation, on every endpoint. Returns how many."""
    cfg = policy.PolicyConfig.from_settings()
    name, _ = policy.incident_deadline(reminder.kind, escalation, cfg)
    count = 0
    incidents = PagerDutyIncident.objects.filter(
        escalation=escalation, deadline=name, resolved_at__isnull=True, acknowledged_at__isnull=True
    )
    for incident in incidents:
        with transaction.atomic():
            if PagerDutyIncident.objects.filter(pk=incident.pk, acknowledged_at__isnull=True).update(
                acknowledged_at=now
            ):
                count += _follow_up(incident, DeliveryAction.ACKNOWLEDGE, now)
    return count


def resolve_incidents(now: datetime, cfg: policy.PolicyConfig) -> int:
    """Resolve every open incident whose deadline was met or moved (or whose legal or release request
    no longer waits), once each. Called by every sweep; reads only open incidents (an index)."""
    resolved = 0
    open_incidents = PagerDutyIncident.objects.filter(resolved_at__isnull=True).select_related("escalation", "reminder")
    for incident in open_incidents.order_by("pk")[: settings.REMINDER_SWEEP_BATCH]:
        reason = _why_over(incident, cfg, now)
        if reason is None:
            continue
        with transaction.atomic():
            if PagerDutyIncident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(
                resolved_at=now, resolve_reason=reason[:200]
            ):
                resolved += _follow_up(incident, DeliveryAction.RESOLVE, now)
    return resolved


def _why_over(incident: PagerDutyIncident, cfg: policy.PolicyConfig, now: datetime) -> str | None:
    escalation = incident.escalation
    if incident.deadline == policy.LEGAL_DEADLINE:
        still_open = LegalRequest.objects.filter(escalations=escalation, status=LegalRequestStatus.OPEN).exists()
        return None if still_open else "The legal request was answered or closed."
    if incident.deadline_at is None:
        return policy.why_overtaken(incident.reminder.kind, incident.reminder.due_at, escalation, cfg, now)
    return policy.why_incident_over(incident.deadline, incident.deadline_at, escalation, cfg)
