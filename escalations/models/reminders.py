"""Reminders (one per escalation, kind and due moment, so a sweep can never record one twice), their
deliveries per person and channel, each delivery attempt, in-app notifications and the sweep's heartbeat."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.escalation import Escalation, format_key
from escalations.policy.reminders import REMINDER_CHOICES


class Reminder(models.Model):
    """One reminder of one deadline, written before any delivery. The unique key is what makes a
    sweep that runs twice, or two sweeps at once, create it once."""

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=32, choices=REMINDER_CHOICES)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once every recipient has it on at least one channel.
    sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["escalation", "kind", "due_at"], name="reminder_once")]

    def __str__(self) -> str:
        return f"{format_key(self.escalation_id)} {self.kind} due {self.due_at:%Y-%m-%d %H:%M}Z"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    IN_APP = "in_app", "In-app"
    WEBHOOK = "webhook", "Webhook"


class Delivery(models.Model):
    """One reminder to one person on one channel. Claimed by a sweep with a conditional UPDATE
    (`claimed_until`), retried with backoff, `sent_at` set only once the channel accepted it."""

    reminder = models.ForeignKey(Reminder, on_delete=models.PROTECT, related_name="deliveries")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The message this delivery went out in (its Message-ID), written before sending and cleared when
    # the channel refused it: a send whose outcome is unknown (the worker died after the mail server's
    # "accepted") goes again as the same message, never regrouped into a new digest or split from one.
    batch_ref = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["reminder", "recipient", "channel"], name="delivery_once"),
        ]
        indexes = [
            # The sweep's work queue: only pending rows are in this index, so its size follows the
            # work to do, not the history.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_pending",
                condition=models.Q(sent_at__isnull=True, cancelled_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reminder} → {self.recipient_id} by {self.channel}"


class DeliveryAttempt(models.Model):
    """Every try, successful or not, for the escalation's timeline."""

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="attempts_log")
    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="delivery_attempts")
    at = models.DateTimeField()
    ok = models.BooleanField()
    error = models.TextField(blank=True)
    # How many reminders the message carried (more than one: a digest).
    batch_size = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["escalation", "at"], name="attempt_escalation_at")]

    def __str__(self) -> str:
        return f"{self.delivery} at {self.at:%Y-%m-%d %H:%M:%S}Z: {'ok' if self.ok else 'failed'}"


class Notification(models.Model):
    """An in-app notification: the bell and the notifications page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    escalation = models.ForeignKey(Escalation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "read_at", "created_at"], name="notification_inbox")]

    def __str__(self) -> str:
        return f"{self.title} for {self.user_id}"


class SweepHeartbeat(models.Model):
    """When the reminder sweep last ran: the watchdog banner and /healthz read it."""

    name = models.CharField(max_length=32, primary_key=True)
    last_started_at = models.DateTimeField(null=True)
    last_finished_at = models.DateTimeField(null=True)
    last_stats = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_finished_at}"
