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
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"
    PAGERDUTY = "pagerduty", "PagerDuty"


# Channels that live in a ChannelEndpoint (a person's or a team's), posted over HTTP.
ENDPOINT_CHANNELS = (Channel.SLACK, Channel.TEAMS, Channel.PAGERDUTY)


class DeliveryAction(models.TextChoices):
    """What a delivery asks of its channel: the reminder itself, or (PagerDuty) a change to the
    incident it opened."""

    NOTIFY = "", "Reminder"
    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    RESOLVE = "resolve", "Resolve"


class ChannelEndpoint(models.Model):
    """A Slack or Teams incoming webhook, or a PagerDuty service's routing key, of one person or one
    team (a team's receives the reminders of the escalations assigned to its members). `target` is
    the webhook URL or the routing key: a credential, kept as the profile's webhook URL is (never in
    the audit trail, which names its host and a fingerprint). Removed endpoints stay for the record."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="channel_endpoints"
    )
    team = models.ForeignKey(
        "escalations.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="channel_endpoints"
    )
    kind = models.CharField(max_length=16, choices=[(c.value, c.label) for c in ENDPOINT_CHANNELS])
    target = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=True) & models.Q(team__isnull=False))
                | (models.Q(user__isnull=False) & models.Q(team__isnull=True)),
                name="endpoint_one_owner",
            ),
            models.UniqueConstraint(
                fields=["user", "kind"], condition=models.Q(removed_at__isnull=True), name="endpoint_user_kind"
            ),
            models.UniqueConstraint(
                fields=["team", "kind"], condition=models.Q(removed_at__isnull=True), name="endpoint_team_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.owner_label}"

    @property
    def owner_label(self) -> str:
        return f"team {self.team}" if self.team_id else str(self.user)


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
    # Slack, Teams and PagerDuty: the person's or team's endpoint it goes to (for a team's, the
    # recipient is the escalation's owner, through whose team it goes).
    endpoint = models.ForeignKey(
        ChannelEndpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )
    action = models.CharField(max_length=16, choices=DeliveryAction.choices, blank=True, default="")
    # PagerDuty: the incident (one deadline) this trigger, acknowledge or resolve is about.
    incident = models.ForeignKey(
        "escalations.PagerDutyIncident", null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["reminder", "recipient", "channel"],
                condition=models.Q(endpoint__isnull=True),
                name="delivery_once",
            ),
            # An endpoint gets each reminder once, and each change to its incident once.
            models.UniqueConstraint(
                fields=["reminder", "endpoint", "action"],
                condition=models.Q(endpoint__isnull=False),
                name="delivery_endpoint_once",
            ),
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


class PagerDutyIncident(models.Model):
    """One deadline of one escalation as a PagerDuty incident on one endpoint: `dedup_key` names it
    (every reminder of that deadline triggers it again, which PagerDuty folds into one incident);
    acknowledged when someone acknowledges in the tracker, resolved once the deadline is met or moved.
    Each of those is a Delivery (retried with backoff); these columns say it was decided, once."""

    endpoint = models.ForeignKey(ChannelEndpoint, on_delete=models.PROTECT, related_name="incidents")
    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="+")
    dedup_key = models.CharField(max_length=255)
    deadline = models.CharField(max_length=32)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # The latest reminder that triggered it: what acknowledge and resolve are recorded against.
    reminder = models.ForeignKey(Reminder, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolve_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["endpoint", "dedup_key"], name="incident_once")]
        indexes = [
            # The sweep looks at open incidents only: their number follows what is on fire now.
            models.Index(fields=["escalation"], name="incident_open", condition=models.Q(resolved_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return self.dedup_key


class Acknowledgement(models.Model):
    """Someone acknowledged a reminder: in the app, or by the signed link in an email, Slack or Teams
    message. Once per reminder (a second press says who was first)."""

    reminder = models.OneToOneField(Reminder, on_delete=models.PROTECT, related_name="acknowledgement")
    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="acknowledgements")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    via = models.CharField(max_length=16)

    def __str__(self) -> str:
        return f"{self.reminder} acknowledged by {self.by_id}"


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
