"""PagerDuty (Events API v2) as a team's and a person's channel, against a local receiver that
checks every event as PagerDuty documents it: one incident per escalation and deadline (its
dedup_key), triggered by each reminder of that deadline, critical when urgent, acknowledged when
someone acknowledges in the tracker, resolved once the deadline is met; retried after an outage."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from escalations.core import services
from escalations.models import Delivery, PagerDutyIncident, Priority
from escalations.reminders import acknowledgements, endpoints
from escalations.reminders.channels import DeliveryError
from escalations.reminders.sweep import sweep
from tests.integrations.receivers.support import ROUTING_KEY, own_channel, team_with

pytestmark = pytest.mark.integrations

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CLOCK_START = T0
MINUTE = timedelta(minutes=1)
TARGET = T0 + 60 * MINUTE  # an urgent report's target: an hour after knowledge
KEY = f"/report/{TARGET:%Y-%m-%dT%H:%M:%SZ}"


def actions(receiver: Any) -> list[tuple[str, str]]:
    return [(event["event_action"], event["dedup_key"]) for event in receiver.accepted]


def test_a_teams_pagerduty_is_triggered_per_deadline_then_resolved_when_the_report_is_recorded(
    clock: Any, moderator: Any, lead: Any, pagerduty: Any, make_escalation: Any
) -> None:
    team_with(moderator, by=lead, pagerduty=ROUTING_KEY)
    esc = make_escalation(knowledge_at=T0, priority=Priority.URGENT, urgent_reason="Live stream announced")
    dedup = esc.key + KEY

    clock.move_to(TARGET)
    sweep()  # the first sweep since knowledge: "due soon" (at 45 min) and "overdue" (at the target)
    soon, trigger = pagerduty.accepted
    assert (soon["payload"]["class"], trigger["payload"]["class"]) == ("report_due_soon", "report_overdue")
    assert soon["dedup_key"] == dedup  # one incident: the same deadline
    assert trigger["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] == dedup
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["component"] == esc.key
    assert trigger["payload"]["summary"].startswith(f"URGENT {esc.key}: Report overdue")
    assert trigger["links"][0]["href"].endswith(reverse("escalations:detail", args=[esc.pk]))

    clock.move_to(TARGET + 10 * MINUTE)
    services.record_report(
        actor=moderator,
        escalation_id=esc.pk,
        version=esc.version,
        reported_at=TARGET + 9 * MINUTE,
        cybertipline_report_id="4564654",
        breach_reason="needed_review",
    )
    sweep()
    sweep()
    assert actions(pagerduty) == [("trigger", dedup), ("trigger", dedup), ("resolve", dedup)]
    assert pagerduty.refused == []
    incident = PagerDutyIncident.objects.get()
    assert incident.resolve_reason == "The report was recorded."


def test_one_incidents_events_reach_pagerduty_in_order_even_when_the_first_post_is_slow(
    clock: Any, moderator: Any, lead: Any, pagerduty: Any, make_escalation: Any, monkeypatch: Any
) -> None:
    # Posts go out from several threads at once; two events about one deadline must still arrive in
    # the order they were due, or PagerDuty shows the "due soon" text on an overdue incident.
    team_with(moderator, by=lead, pagerduty=ROUTING_KEY)
    make_escalation(knowledge_at=T0, priority=Priority.URGENT, urgent_reason="Live stream announced")
    real_post = endpoints.post

    def slow_due_soon(request: Any) -> None:
        if b"report_due_soon" in request.body:
            time.sleep(0.3)
        real_post(request)

    monkeypatch.setattr(endpoints, "post", slow_due_soon)
    clock.move_to(TARGET)
    sweep()
    assert [event["payload"]["class"] for event in pagerduty.accepted] == ["report_due_soon", "report_overdue"]


def test_acknowledging_in_the_tracker_acknowledges_the_incident_once(
    clock: Any, moderator: Any, pagerduty: Any, make_escalation: Any
) -> None:
    own_channel(moderator, "pagerduty", ROUTING_KEY)
    esc = make_escalation(knowledge_at=T0 - 25 * 60 * MINUTE)  # standard, overdue by an hour
    sweep()
    (reminder_id,) = {d.reminder_id for d in Delivery.objects.filter(channel="pagerduty", cancelled_at__isnull=True)}
    acknowledgements.acknowledge(actor=moderator, reminder_id=reminder_id, via="app")
    acknowledgements.acknowledge(actor=moderator, reminder_id=reminder_id, via="app")  # told who was first
    sweep()
    sweep()
    (trigger, ack) = pagerduty.accepted
    assert trigger["payload"]["severity"] == "error"  # overdue, not urgent
    assert (ack["event_action"], ack["dedup_key"]) == ("acknowledge", trigger["dedup_key"])
    assert set(ack) == {"routing_key", "event_action", "dedup_key"}
    assert trigger["dedup_key"].startswith(esc.key + "/report/")


def test_an_outage_at_pagerduty_is_retried_with_backoff_under_the_same_dedup_key(
    clock: Any, moderator: Any, pagerduty: Any, make_escalation: Any
) -> None:
    own_channel(moderator, "pagerduty", ROUTING_KEY)
    make_escalation(knowledge_at=T0 - 25 * 60 * MINUTE)
    pagerduty.fail_next = 1
    sweep()
    # "Due soon" was overtaken by "overdue" before it went: cancelled, never sent.
    delivery = Delivery.objects.get(channel="pagerduty", cancelled_at__isnull=True)
    assert delivery.sent_at is None and "PagerDuty answered HTTP 500" in delivery.last_error
    assert delivery.next_attempt_at == T0 + MINUTE
    clock.move_to(T0 + MINUTE - timedelta(seconds=1))
    sweep()
    assert pagerduty.accepted == []
    clock.move_to(T0 + MINUTE)
    sweep()
    (event,) = pagerduty.accepted
    delivery.refresh_from_db()
    assert delivery.sent_at == T0 + MINUTE and delivery.attempts == 2
    assert event["dedup_key"] == PagerDutyIncident.objects.get().dedup_key


def test_the_nobody_acknowledged_step_pages_the_teams_pagerduty_at_thirty_minutes_once(
    clock: Any, moderator: Any, lead: Any, pagerduty: Any, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    lead.email = "lead@example.org"
    lead.save()
    team_with(moderator, by=lead, pagerduty=ROUTING_KEY)
    esc = make_escalation(knowledge_at=T0, priority=Priority.URGENT, urgent_reason="Live stream announced")
    clock.move_to(TARGET + timedelta(seconds=1))  # "due soon" is overtaken: only "overdue" goes
    sweep()
    clock.move_to(TARGET + 29 * MINUTE + 59 * timedelta(seconds=1))
    sweep()
    assert [e["payload"]["class"] for e in pagerduty.accepted] == ["report_overdue"]
    clock.move_to(TARGET + 30 * MINUTE)
    sweep()
    sweep()
    classes = [e["payload"]["class"] for e in pagerduty.accepted]
    assert classes == ["report_overdue", "escalated_to_pagerduty"]
    # One incident: the step joins the deadline's incident.
    assert {e["dedup_key"] for e in pagerduty.accepted} == {esc.key + KEY}
    # The step went to the team's PagerDuty only, not again to the leads' mail.
    assert not [m for m in mailoutbox if "PagerDuty" in m.subject]


def test_the_receiver_refuses_an_event_pagerduty_would_refuse(moderator: Any, pagerduty: Any, settings: Any) -> None:
    bad = {"routing_key": ROUTING_KEY, "event_action": "trigger", "payload": {"source": "x", "severity": "urgent"}}
    request = endpoints.EndpointRequest(
        url=settings.PAGERDUTY_EVENTS_URL, body=json.dumps(bad).encode(), channel="pagerduty"
    )
    with pytest.raises(DeliveryError, match="PagerDuty answered HTTP 400"):
        endpoints.post(request)
    ((_, errors),) = pagerduty.refused
    assert "payload.summary must be 1 to 1024 characters" in errors
    assert any("payload.severity" in e for e in errors)


def test_send_a_test_on_the_team_page_triggers_and_resolves_an_info_alert(
    lead: Any, moderator: Any, pagerduty: Any, client_for: Any
) -> None:
    team = team_with(moderator, by=lead, pagerduty=ROUTING_KEY)
    channel = team.channel_endpoints.get()
    response = client_for(lead).post(reverse("channel_test", args=[channel.pk]), follow=True)
    assert "test sent" in response.content.decode()
    trigger, resolve = pagerduty.accepted
    assert trigger["payload"]["severity"] == "info"
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", trigger["dedup_key"])
