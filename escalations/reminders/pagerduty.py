"""PagerDuty's Events API v2 (POST https://events.pagerduty.com/v2/enqueue, PAGERDUTY_EVENTS_URL):
a reminder triggers an alert whose `dedup_key` names its escalation and deadline, so every reminder
of one deadline (due soon, overdue and its repeats, the escalation steps) is one incident; the
tracker acknowledges it when someone acknowledges there, and resolves it once the deadline is met
or moved (escalations/reminders/endpoints.py decides, the sweep sends each with retries).

An event as the API documents it: `routing_key` (the service integration's 32-character key),
`event_action` (trigger, acknowledge or resolve), `dedup_key` (at most 255 characters; required for
acknowledge and resolve); a trigger also carries `payload` with `summary` (at most 1,024
characters), `source`, `severity` (critical, error, warning or info) and optionally `timestamp`
(ISO 8601), `component`, `group`, `class` and `custom_details`, plus `links`, `client` and
`client_url`. The API answers 202 with `{"status": "success", "dedup_key": ...}`; 400 is an event it
refused, 429 too many events (both are failed deliveries, retried with backoff)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from escalations import policy
from escalations.reminders.channels import Item, Message

TRIGGER = "trigger"
ACKNOWLEDGE = "acknowledge"
RESOLVE = "resolve"
ROUTING_KEY = re.compile(r"[A-Za-z0-9]{32}")
ROUTING_KEY_RULE = "a PagerDuty integration key is 32 letters and digits (Service → Integrations → Events API v2)"
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255


def dedup_key(escalation_key: str, deadline: str, deadline_at: datetime | None, reminder_id: int) -> str:
    """One incident per escalation and deadline: "ESC-000123/report/2026-12-07T10:00:00Z". A reminder
    about no escalation deadline (a legal request's, a release request) is an incident of its own."""
    if deadline_at is None:
        return f"{escalation_key}/{deadline}/reminder-{reminder_id}"[:DEDUP_KEY_MAX]
    return f"{escalation_key}/{deadline}/{deadline_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"[:DEDUP_KEY_MAX]


def severity(item: Item) -> str:
    """critical for an urgent escalation's report (a child may be in imminent danger), info for a test
    record (nobody is paged for it as real), error for everything else."""
    if item.test:
        return "info"
    if item.urgent:
        return "critical"
    return "error"


def trigger_event(routing_key: str, key: str, message: Message, now: datetime) -> dict[str, Any]:
    item = message.items[0]
    source = urlsplit(settings.SITE_URL).hostname or "escalation-tracker"
    summary = message.subject.removeprefix("[Escalations] ")
    left = policy.humanize_delta(policy.time_left(item.deadline_at, now))
    return {
        "routing_key": routing_key,
        "event_action": TRIGGER,
        "dedup_key": key,
        "payload": {
            "summary": f"{summary} ({left})"[:SUMMARY_MAX],
            "source": source,
            "severity": severity(item),
            "timestamp": now.astimezone(UTC).isoformat(),
            "component": item.key,
            "group": "escalations",
            "class": item.kind,
            "custom_details": {
                "escalation": item.key,
                "reminder": item.kind_label,
                "deadline_at": item.deadline_at.astimezone(UTC).isoformat(),
                "time_left": left,
                "urgent": item.urgent,
                "test": item.test,
            },
        },
        "links": [{"href": item.url, "text": f"Open {item.key}"}],
        "client": "Escalation tracker",
        "client_url": settings.SITE_URL,
    }


def follow_up_event(routing_key: str, key: str, action: str) -> dict[str, Any]:
    """acknowledge or resolve: only the key, the action and the incident's dedup_key."""
    return {"routing_key": routing_key, "event_action": action, "dedup_key": key}


def test_event(routing_key: str, now: datetime) -> dict[str, Any]:
    """The profile's or team page's "send a test": an info alert that says so, resolved at once by a
    second event (endpoints.send_test)."""
    return {
        "routing_key": routing_key,
        "event_action": TRIGGER,
        "dedup_key": f"escalation-tracker-test-{now.astimezone(UTC):%Y%m%dT%H%M%S%f}",
        "payload": {
            "summary": "Test notification from the escalation tracker: this channel works.",
            "source": urlsplit(settings.SITE_URL).hostname or "escalation-tracker",
            "severity": "info",
            "timestamp": now.astimezone(UTC).isoformat(),
        },
        "client": "Escalation tracker",
        "client_url": settings.SITE_URL,
    }
