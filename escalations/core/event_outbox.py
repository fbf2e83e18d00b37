"""The outbox of the event stream: an Event, and one EventDelivery per endpoint that wants it, written
in the caller's transaction, so that an event exists exactly when its change committed.

Called by the write frame for every audited change (the types below) and by the reminder sweep when
it finds a deadline passed. The payload follows Standard Webhooks' recommended shape
(`{"type", "timestamp", "data"}`) and holds metadata only: the escalation's id, key, link, states and
times and the CyberTipline report ID; never notes, reasons, references or anything else a person
typed, which could hold or point at the material itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from escalations.models import AuditAction, Escalation, Event, EventDelivery, EventEndpoint, EventType

# The audited changes that are events, by the audit event's action.
EVENT_OF_ACTION = {
    AuditAction.CREATED: EventType.ESCALATION_CREATED,
    AuditAction.REPORT_RECORDED: EventType.REPORT_RECORDED,
    AuditAction.PRESERVATION_CONFIRMED: EventType.PRESERVATION_CONFIRMED,
    AuditAction.CLOSED: EventType.ESCALATION_CLOSED,
}

# deadline.missed names the deadline: the report target, the preservation confirmation, or the response
# date of a legal request on the escalation.
DEADLINE_REPORT = "report"
DEADLINE_PRESERVATION_CONFIRMATION = "preservation_confirmation"
DEADLINE_LEGAL_RESPONSE = "legal_response"
DEADLINE_NAMES = [DEADLINE_REPORT, DEADLINE_PRESERVATION_CONFIRMATION, DEADLINE_LEGAL_RESPONSE]

# The schema every payload follows (JSON Schema, draft 2020-12): the README shows it to receivers
# and the tests hold each delivered body to it. No other property may appear (additionalProperties).
ESCALATION_FIELDS = [
    "id",
    "key",
    "url",
    "status",
    "priority",
    "incident_type",
    "test",
    "version",
    "knowledge_at",
    "report_due_at",
    "reported_at",
    "reported_on_time",
    "cybertipline_report_id",
    "preservation_confirmed_at",
    "preserve_until",
]
_TIME = {"type": ["string", "null"], "format": "date-time"}
PAYLOAD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "timestamp", "data"],
    "properties": {
        "type": {"enum": list(EventType.values)},
        "timestamp": {"type": "string", "format": "date-time"},
        "data": {
            "type": "object",
            "additionalProperties": False,
            "required": ["escalation"],
            "properties": {
                "escalation": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ESCALATION_FIELDS,
                    "properties": {
                        "id": {"type": "integer"},
                        "key": {"type": "string", "pattern": "^ESC-[0-9]{6,}$"},
                        "url": {"type": "string"},
                        "status": {"enum": ["open", "reported", "closed", "dismissed"]},
                        "priority": {"enum": ["standard", "urgent"]},
                        "incident_type": {"type": "string"},
                        "test": {"type": "boolean"},
                        "version": {"type": "integer"},
                        "knowledge_at": _TIME,
                        "report_due_at": _TIME,
                        "reported_at": _TIME,
                        "reported_on_time": {"type": ["boolean", "null"]},
                        "cybertipline_report_id": {"type": ["string", "null"], "pattern": "^[0-9]+$"},
                        "preservation_confirmed_at": _TIME,
                        "preserve_until": _TIME,
                    },
                },
                "deadline": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "due_at", "detected_at"],
                    "properties": {
                        "name": {
                            "enum": [DEADLINE_REPORT, DEADLINE_PRESERVATION_CONFIRMATION, DEADLINE_LEGAL_RESPONSE]
                        },
                        "due_at": {"type": "string", "format": "date-time"},
                        "detected_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def escalation_facts(esc: Escalation) -> dict[str, Any]:
    """What an event says of an escalation: ids, states and times (UTC, ISO 8601), nothing typed."""
    return {
        "id": esc.pk,
        "key": esc.key,
        "url": settings.SITE_URL.rstrip("/") + reverse("escalations:detail", args=[esc.pk]),
        "status": esc.status,
        "priority": esc.priority,
        "incident_type": esc.incident_type,
        "test": esc.is_test,
        "version": esc.version,
        "knowledge_at": _iso(esc.knowledge_at),
        "report_due_at": _iso(esc.report_due_at),
        "reported_at": _iso(esc.reported_at),
        "reported_on_time": esc.reported_on_time,
        "cybertipline_report_id": esc.cybertipline_report_id,
        "preservation_confirmed_at": _iso(esc.preservation_confirmed_at),
        "preserve_until": _iso(esc.preserve_until),
    }


def _subscribers(event_type: str) -> list[EventEndpoint]:
    # Endpoints are few (an admin adds each by hand): one small query, filtered here.
    return [endpoint for endpoint in EventEndpoint.objects.filter(active=True) if endpoint.wants(event_type)]


def anyone_wants(event_type: str) -> bool:
    """Whether any active endpoint takes this type: a caller about to record many can ask once."""
    return bool(_subscribers(event_type))


def record(
    esc: Escalation, event_type: str, occurred_at: datetime, *, extra: dict[str, Any] | None = None, dedup_key: str = ""
) -> Event | None:
    """Write the event and its deliveries, in the caller's transaction (it must be in one). Nothing
    is written when no active endpoint wants this type, or when `dedup_key` was recorded before."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events are recorded inside the change's transaction")
    endpoints = _subscribers(event_type)
    if not endpoints:
        return None
    if dedup_key and Event.objects.filter(dedup_key=dedup_key).exists():
        return None
    payload = {
        "type": event_type,
        "timestamp": _iso(occurred_at),
        "data": {"escalation": escalation_facts(esc), **(extra or {})},
    }
    event = Event.objects.create(
        type=event_type, escalation=esc, occurred_at=occurred_at, payload=payload, dedup_key=dedup_key or None
    )
    EventDelivery.objects.bulk_create(
        [EventDelivery(event=event, endpoint=endpoint, next_attempt_at=occurred_at) for endpoint in endpoints]
    )
    return event


def record_created(escalations: list[Escalation], now: datetime) -> list[Event]:
    """escalation.created for each of a batch of new escalations, with their deliveries: the same rows
    `record_change` writes for each, in three queries whatever the batch's size."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events are recorded inside the change's transaction")
    event_type = EVENT_OF_ACTION[AuditAction.CREATED]
    endpoints = _subscribers(event_type)
    if not endpoints or not escalations:
        return []
    events = Event.objects.bulk_create(
        [
            Event(
                type=event_type,
                escalation=esc,
                occurred_at=now,
                payload={"type": event_type, "timestamp": _iso(now), "data": {"escalation": escalation_facts(esc)}},
            )
            for esc in escalations
        ]
    )
    EventDelivery.objects.bulk_create(
        [
            EventDelivery(event=event, endpoint=endpoint, next_attempt_at=now)
            for event in events
            for endpoint in endpoints
        ]
    )
    return events


def record_change(esc: Escalation, action: str, now: datetime) -> Event | None:
    """The event of an audited change, if that change is one (see EVENT_OF_ACTION)."""
    event_type = EVENT_OF_ACTION.get(AuditAction(action)) if action in AuditAction.values else None
    if event_type is None:
        return None
    return record(esc, event_type, now)


def record_deadline_missed(esc: Escalation, deadline: str, due_at: datetime, now: datetime) -> Event | None:
    """deadline.missed, once per escalation, deadline and moment (a deadline that moves and passes
    again is a new miss): the sweep calls this for every overdue reminder it records."""
    extra = {"deadline": {"name": deadline, "due_at": _iso(due_at), "detected_at": _iso(now)}}
    key = f"deadline.missed:{esc.pk}:{deadline}:{_iso(due_at)}"
    return record(esc, EventType.DEADLINE_MISSED, due_at, extra=extra, dedup_key=key)
