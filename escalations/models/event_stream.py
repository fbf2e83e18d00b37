"""Outbound events: the signed stream of escalation changes that a platform's own systems follow.

An admin configures endpoints (a URL, a signing secret shown once, the event types it wants). A
change to an escalation writes an Event and one EventDelivery per subscribed endpoint in the same
transaction as the change itself (an outbox: no change without its event, no event without its
change); the sweep claims due deliveries, posts them signed, retries with backoff and logs every
attempt. Metadata only: the payload carries keys, ids, times and states, never notes or other text.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from escalations.models.escalation import Escalation


class EventType(models.TextChoices):
    ESCALATION_CREATED = "escalation.created", "Escalation logged"
    REPORT_RECORDED = "report.recorded", "Report recorded"
    PRESERVATION_CONFIRMED = "preservation.confirmed", "Preservation confirmed"
    DEADLINE_MISSED = "deadline.missed", "Deadline missed"
    ESCALATION_CLOSED = "escalation.closed", "Escalation closed"


class EventEndpoint(models.Model):
    """A URL that receives the event stream, configured by an admin (never by anyone else)."""

    name = models.CharField(max_length=100, help_text="What receives it, e.g. 'Trust and safety data warehouse'.")
    url = models.CharField("URL", max_length=500, help_text="An https URL; events are POSTed to it as JSON.")
    # whsec_…: shown once when made or replaced, never again (the admin form leaves it out).
    secret = models.CharField(max_length=100, editable=False)
    event_types = models.JSONField(default=list, help_text="The event types this endpoint receives.")
    active = models.BooleanField(default=True, help_text="An inactive endpoint receives nothing; its queue waits.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "event endpoint"

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        return self.active and event_type in (self.event_types or [])


class Event(models.Model):
    """One change, as its receivers will read it. `payload` is frozen when the change commits, so a
    retry sends the very same body; `uid` is its webhook-id, the same on every attempt."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=32, choices=EventType.choices)
    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField()
    payload = models.JSONField()
    # For events a sweep may see twice (a missed deadline): the same key is recorded once.
    dedup_key = models.CharField(max_length=120, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [models.Index(fields=["escalation", "occurred_at"], name="event_escalation_at")]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"

    @property
    def message_id(self) -> str:
        return f"evt_{self.uid.hex}"


class EventDelivery(models.Model):
    """One event to one endpoint: claimed by a sweep with a conditional UPDATE (`claimed_until`),
    retried with backoff, `sent_at` set only once the endpoint answered 2xx; `failed_at` once the
    attempts ran out (an admin may send it again)."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(EventEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "event deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="event_delivery_once")]
        indexes = [
            # The sweep's work queue: only pending rows, so its size follows the work, not the history.
            models.Index(
                fields=["next_attempt_at"],
                name="event_delivery_pending",
                condition=models.Q(sent_at__isnull=True, failed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class EventDeliveryAttempt(models.Model):
    """Every try, for the admins' delivery log: when, the HTTP status (none when no answer came), the error."""

    delivery = models.ForeignKey(EventDelivery, on_delete=models.PROTECT, related_name="attempts_log")
    at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["delivery", "at"], name="event_attempt_delivery_at")]

    def __str__(self) -> str:
        return f"{self.delivery} at {self.at:%Y-%m-%d %H:%M:%S}Z: {'ok' if self.ok else 'failed'}"
