"""The escalation record and its append-only audit trail. Metadata only: no file or image fields.

Deadline columns (`report_due_at`, `preservation_confirm_due_at`, `preserve_until`,
`next_deadline_at`, `next_deadline_soon_at`) are derived by escalations.policy and written only by
escalations.services, so that lists and sweeps select by index instead of computing per row.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models

from escalations import audit_digest


class IncidentType(models.TextChoices):
    # The CyberTipline's incidentType categories (DOMAIN.md, "NCMEC's CyberTipline Reporting API").
    CHILD_PORNOGRAPHY = "child_pornography", "Child Pornography (possession, manufacture, and distribution)"
    CHILD_SEX_TRAFFICKING = "child_sex_trafficking", "Child Sex Trafficking"
    CHILD_SEX_TOURISM = "child_sex_tourism", "Child Sex Tourism"
    CHILD_SEXUAL_MOLESTATION = "child_sexual_molestation", "Child Sexual Molestation"
    MISLEADING_DOMAIN_NAME = "misleading_domain_name", "Misleading Domain Name"
    MISLEADING_WORDS_OR_IMAGES = "misleading_words_or_images", "Misleading Words or Digital Images on the Internet"
    ONLINE_ENTICEMENT = "online_enticement", "Online Enticement of Children for Sexual Acts"
    UNSOLICITED_OBSCENE_MATERIAL = "unsolicited_obscene_material", "Unsolicited Obscene Material Sent to a Child"


class Priority(models.TextChoices):
    STANDARD = "standard", "Standard"
    URGENT = "urgent", "Urgent (child in imminent danger)"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    REPORTED = "reported", "Reported"
    CLOSED = "closed", "Closed"
    DISMISSED = "dismissed", "Dismissed"


class BreachReason(models.TextChoices):
    """Why a report was recorded after its internal target (a compliance finding)."""

    LOGGED_LATE = "logged_late", "Escalation logged late (knowledge came before logging)"
    NEEDED_REVIEW = "needed_review", "Further review needed to confirm an apparent violation"
    VOLUME = "volume", "Volume surge or queue backlog"
    STAFFING = "staffing", "Staffing or out-of-hours cover"
    HANDOFF = "handoff", "Internal escalation or handoff delay"
    TOOLING = "tooling", "Tool, network or NCMEC service outage"
    OTHER = "other", "Other (explain in the note)"


ACTIVE_STATUSES = (Status.OPEN, Status.REPORTED)

KEY_PREFIX = "ESC-"


def format_key(pk: int) -> str:
    return f"{KEY_PREFIX}{pk:06d}"


class Escalation(models.Model):
    platform_reference = models.CharField(
        max_length=2048,
        db_index=True,
        help_text="The platform's own content, account or ticket ID, or an internal URL. Text only: never the content.",
    )
    incident_type = models.CharField(max_length=40, choices=IncidentType.choices)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.STANDARD)
    urgent_reason = models.TextField(
        blank=True, help_text="Required for urgent escalations: why a child may be in imminent danger."
    )
    knowledge_at = models.DateTimeField(
        db_index=True, help_text="When the platform obtained actual knowledge. The reporting clock starts here."
    )
    notes = models.TextField(blank=True, help_text="Context for colleagues. Describe, never paste content.")
    # Made while trying the system or NCMEC's test environment: badged, and left out of dashboards and
    # compliance exports unless asked for.
    is_test = models.BooleanField("Test record", default=False, db_index=True)

    reported_at = models.DateTimeField(null=True, blank=True, help_text="When the report was sent to NCMEC.")
    cybertipline_report_id = models.CharField(
        max_length=20, null=True, blank=True, unique=True, help_text="The report ID NCMEC returned (digits only)."
    )
    breach_reason = models.CharField(
        max_length=20,
        choices=BreachReason.choices,
        blank=True,
        help_text="Required when the report was recorded after its target.",
    )
    breach_note = models.TextField(blank=True, help_text="Required with 'Other': what happened.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    status_reason = models.TextField(blank=True, help_text="Why the escalation was last dismissed, closed or reopened.")

    preservation_confirmed_at = models.DateTimeField(null=True, blank=True)
    preservation_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Release of the preserved evidence after preserve_until: requested by one lead, approved by another.
    release_requested_at = models.DateTimeField(null=True, blank=True)
    release_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # NCMEC's API deletes a report opened but not finished 24 h after opening or 1 h after its last
    # change, whichever is later.
    ncmec_opened_at = models.DateTimeField(null=True, blank=True)
    ncmec_last_change_at = models.DateTimeField(null=True, blank=True)
    # The reported account (the platform's own ID), to link escalations about the same person.
    account_reference = models.CharField(max_length=2048, blank=True, db_index=True)
    preservation_location = models.CharField(
        max_length=2048,
        blank=True,
        help_text="Where the platform's evidence store keeps it (a reference, never content).",
    )

    # Derived by escalations.policy, stored for indexed selection; never set by hand.
    report_due_at = models.DateTimeField(db_index=True)
    preservation_confirm_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    preserve_until = models.DateTimeField(null=True, blank=True, db_index=True)
    next_deadline_at = models.DateTimeField(null=True, blank=True)
    next_deadline_soon_at = models.DateTimeField(null=True, blank=True)
    # The longest hold beyond the 2258A(h) year (2703(f) requests, a lead's extension, a destination's
    # rule), and a destination's stricter report target: derived by the services from those rows.
    preservation_hold_until = models.DateTimeField(null=True, blank=True)
    destination_target_hours = models.FloatField(null=True, blank=True)
    destination_urgent_target_hours = models.FloatField(null=True, blank=True)
    # When the reminder sweep must next look at this escalation (escalations/reminders.py).
    next_reminder_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Time to report and whether it met the target: the dashboard aggregates these in the database.
    report_seconds = models.PositiveIntegerField(null=True, blank=True)
    reported_on_time = models.BooleanField(null=True, blank=True)

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_escalations"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, help_text="Optimistic lock: bumped on every change.")

    class Meta:
        ordering = ["-knowledge_at"]
        indexes = [
            models.Index(fields=["status", "next_deadline_at"], name="esc_status_next_deadline"),
            models.Index(fields=["assignee", "status", "next_deadline_at"], name="esc_assignee_queue"),
            models.Index(fields=["next_deadline_soon_at"], name="esc_next_deadline_soon"),
            models.Index(fields=["reported_at"], name="esc_reported_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="reported")
                | (models.Q(reported_at__isnull=False) & models.Q(cybertipline_report_id__isnull=False)),
                name="esc_reported_has_report",
            ),
            models.CheckConstraint(
                condition=~models.Q(priority="urgent") | ~models.Q(urgent_reason=""),
                name="esc_urgent_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def key(self) -> str:
        return format_key(self.pk) if self.pk else "ESC-(new)"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class AuditAction(models.TextChoices):
    CREATED = "created", "Logged"
    EDITED = "edited", "Edited"
    ASSIGNED = "assigned", "Assigned"
    REPORT_RECORDED = "report_recorded", "Report recorded"
    PRESERVATION_CONFIRMED = "preservation_confirmed", "Preservation confirmed"
    DISMISSED = "dismissed", "Dismissed"
    CLOSED = "closed", "Closed"
    REOPENED = "reopened", "Reopened"
    BREACH_AMENDED = "breach_amended", "Breach reason amended"
    LEGAL_REQUEST = "legal_request", "Legal request"
    PRESERVATION_EXTENDED = "preservation_extended", "Preservation extended"
    RELEASE_REQUESTED = "release_requested", "Release requested"
    RELEASED = "released", "Release approved"
    EVIDENCE_ADDED = "evidence_added", "Evidence item recorded"
    DESTINATION_REPORTED = "destination_reported", "Reported to a destination"
    EXPORTED = "exported", "Exported"
    # About a person's sign-in, not an escalation (escalation is empty).
    TWO_FACTOR_ENABLED = "two_factor_enabled", "Two-factor sign-in enabled"
    TWO_FACTOR_DISABLED = "two_factor_disabled", "Two-factor sign-in disabled"
    BACKUP_CODES_ISSUED = "backup_codes_issued", "Backup codes issued"
    # About a person's webhook (escalation is empty): where reminders go, and the key that signs them.
    WEBHOOK_URL_CHANGED = "webhook_url_changed", "Webhook URL changed"
    WEBHOOK_SECRET_REPLACED = "webhook_secret_replaced", "Webhook signing secret replaced"
    TWO_FACTOR_VERIFIED = "two_factor_verified", "Two-factor code accepted"
    TWO_FACTOR_DEVICE_ADDED = "two_factor_device_added", "Two-factor device added"
    TWO_FACTOR_DEVICE_REMOVED = "two_factor_device_removed", "Two-factor device removed"
    SIGNED_IN = "signed_in", "Signed in (password)"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    LOCKED_OUT = "locked_out", "Sign-in locked"
    UNLOCKED = "unlocked", "Sign-in lock lifted"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    TOKEN_CREATED = "token_created", "Service token created"
    TOKEN_REVOKED = "token_revoked", "Service token revoked"
    GROUPS_CHANGED = "groups_changed", "Groups changed"
    TEAM_MEMBERS_CHANGED = "team_members_changed", "Team membership changed"
    # Removing a value that must not be kept (escalations.redaction): a lead asks, an admin decides.
    REDACTION_REQUESTED = "redaction_requested", "Redaction requested"
    REDACTED = "redacted", "Redacted"
    REDACTION_REFUSED = "redaction_refused", "Redaction refused"
    # About the audit trail itself (escalation is empty): breaks an admin looked into.
    AUDIT_BREAK_ACKNOWLEDGED = "audit_break_acknowledged", "Audit trail break acknowledged"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        # bulk_create skips save(): digest each row here (the insert trigger chains them).
        rows = list(objs)
        for row in rows:
            row.digest_payload()
        return super().bulk_create(rows, *args, **kwargs)


class AuditEvent(models.Model):
    """Who did what to which escalation, and when. Append-only: database triggers refuse UPDATE and
    DELETE (escalations.append_only), except an approved redaction's rewrite of a value to its marker.

    Chained (escalations.audit_digest): the app writes `payload_digest`; the database's insert trigger
    sets `chain`, `seq` and `chain_digest` and moves the chain's head (ChainHead), whatever values
    the INSERT carried, so that `python manage.py verifyaudit` finds a row removed, edited, forged
    or back-dated."""

    # Empty for events about many escalations at once (an export of a list or a report).
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    # {field: [before, after]} with JSON-safe display values (ISO 8601 UTC datetimes, usernames).
    changes = models.JSONField(default=dict)
    reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(help_text="The escalation's version after this change.")
    # How the actor acted when not in person: "token:<name>" for a service token.
    via = models.CharField(max_length=120, blank=True)
    # Set by the database's insert trigger (whatever the INSERT says): the escalation's id, or minus
    # the actor's id for an event about no escalation; the row's number in that chain; the link.
    chain = models.BigIntegerField(default=0, editable=False)
    seq = models.BigIntegerField(default=0, editable=False)
    payload_digest = models.CharField(max_length=64, default="", editable=False)
    chain_digest = models.CharField(max_length=64, default="", editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["escalation", "at"], name="audit_escalation_at")]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="auditevent_chain_seq")]

    def __str__(self) -> str:
        subject = format_key(self.escalation_id) if self.escalation_id else "(many)"
        return f"{subject} {self.action} at {self.at:%Y-%m-%d %H:%M:%S}Z"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            self.digest_payload()
        super().save(*args, **kwargs)

    def digest_payload(self) -> None:
        """Set payload_digest over exactly what will be stored and read back (before an INSERT)."""
        self.changes = audit_digest.json_safe(self.changes)
        self.payload_digest = audit_digest.audit_payload_digest(
            escalation_id=self.escalation_id,
            actor_id=self.actor_id,
            at=self.at,
            action=self.action,
            changes=self.changes,
            reason=self.reason,
            version=self.version,
            via=self.via,
        )


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class UserProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    time_zone = models.CharField(max_length=64, default="UTC", choices=_time_zone_choices)
    email_notifications = models.BooleanField("Email", default=True)
    in_app_notifications = models.BooleanField("In-app", default=True)
    webhook_url = models.URLField("Webhook URL", max_length=500, blank=True)
    # Signs each webhook request (escalations/webhook_signing.py); generated, shown to the owner so
    # the receiver can verify; replaced whenever the URL changes.
    webhook_secret = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"


class Team(models.Model):
    """People who share a queue. With RESTRICT_MODERATORS_TO_ASSIGNED on, a moderator also reads the
    escalations assigned to anyone in a team they belong to (escalations.selectors.visible_q).
    Admins keep the teams in the admin, which logs who changed them."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


# --- Reminders and their delivery ---------------------------------------------------------------


class ReminderKind(models.TextChoices):
    REPORT_DUE_SOON = "report_due_soon", "Report due soon"
    REPORT_OVERDUE = "report_overdue", "Report overdue"
    PRESERVATION_UNCONFIRMED = "preservation_unconfirmed", "Preservation not confirmed"
    PRESERVATION_ENDING = "preservation_ending", "Preservation period ending"
    PRESERVATION_ENDED = "preservation_ended", "Preservation period ended"
    NCMEC_UNFINISHED = "ncmec_unfinished", "Unfinished NCMEC report will be deleted"
    LEGAL_RESPONSE_DUE_SOON = "legal_response_due_soon", "Legal request response due soon"
    LEGAL_RESPONSE_OVERDUE = "legal_response_overdue", "Legal request response overdue"


class Reminder(models.Model):
    """One reminder of one deadline, written before any delivery. The unique key is what makes a
    sweep that runs twice, or two sweeps at once, create it once."""

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=32, choices=ReminderKind.choices)
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


class SavedView(models.Model):
    """A named set of list filters, per person: a shareable link they don't have to rebuild."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    # The list's own query string (filters and sort), without the leading "?".
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_once")]

    def __str__(self) -> str:
        return self.name


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"


class ServiceToken(models.Model):
    """A machine's credential for the API. Only a hash is stored; the token is shown once. The
    token acts with its creator's roles, limited by its scope."""

    name = models.CharField(max_length=80, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.READ)
    # The first characters of the token, to tell tokens apart in lists and logs; not secret.
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """The first answer to a create sent with an Idempotency-Key, replayed for repeats."""

    owner = models.CharField(max_length=120)  # "user:<id>" or "token:<id>"
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_once")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"


class AccessKind(models.TextChoices):
    VIEWED = "viewed", "Viewed escalation"
    EXPORTED = "exported", "Exported"


class AppendOnlyQuerySet(models.QuerySet["AccessLog"]):
    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        # bulk_create skips save(): digest each row here (the insert trigger chains them).
        rows = list(objs)
        for row in rows:
            row.digest_payload()
        return super().bulk_create(rows, *args, **kwargs)

    def append_many(self, objs: list[AccessLog]) -> None:
        """INSERT `objs` with only the columns the app writes: the chain's columns are the insert
        trigger's (their database defaults stand in until it runs), so a row costs 9 parameters, not
        12, and a page's rows fit one statement under SQLite's 999 (111 rows). The objects get no pk."""
        if not objs:
            return
        from django.db import connections

        connection = connections[self.db]
        fields = [field for field in AccessLog._meta.concrete_fields if field.name in AccessLog.APP_WRITES]
        per_statement = len(objs)
        limit = connection.features.max_query_params
        if connection.vendor == "sqlite" and limit:
            per_statement = max(limit // len(fields), 1)
        table = connection.ops.quote_name(AccessLog._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        for obj in objs:
            obj.digest_payload()
        with connection.cursor() as cursor:
            for start in range(0, len(objs), per_statement):
                chunk = objs[start : start + per_statement]
                params = [
                    field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in chunk for field in fields
                ]
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(chunk))}",  # noqa: S608
                    params,
                )

    def update(self, **kwargs: object) -> int:
        raise PermissionError("the access log is append-only: UPDATE refused")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("the access log is append-only: DELETE refused")


class AccessLog(models.Model):
    """Need-to-know (issue 7): who read which escalation, or took which export, when, and from where.
    One INSERT in the request that read it (escalations.access_log); append-only: the model refuses
    updates and deletes, and database triggers (migration 0010) refuse them at a SQL prompt too."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16, choices=AccessKind.choices)
    # Empty for an export of many escalations (a list, the compliance report).
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.PROTECT, related_name="access_log"
    )
    # What was read: "detail" for the page, the export's name ("escalations.csv", "ESC-000001-audit-trail.csv").
    what = models.CharField(max_length=200)
    # The export's filters (the query string), cut to a bounded length.
    query = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # How the reader came when not in person: "token:<name>" for a service token.
    via = models.CharField(max_length=120, blank=True)
    # Chained like AuditEvent: the escalation's chain, or minus the reader's id for a read of no
    # single escalation; set by the database's insert trigger.
    chain = models.BigIntegerField(default=0, db_default=0, editable=False)
    seq = models.BigIntegerField(default=0, db_default=0, editable=False)
    payload_digest = models.CharField(max_length=64, default="", editable=False)
    chain_digest = models.CharField(max_length=64, default="", db_default="", editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    # What the app writes; the rest (the chain's columns) is the insert trigger's.
    APP_WRITES = ("user", "at", "kind", "escalation", "what", "query", "ip_address", "via", "payload_digest")

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["user", "at"], name="accesslog_user_at"),
            models.Index(fields=["escalation", "at"], name="accesslog_escalation_at"),
        ]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="accesslog_chain_seq")]

    def __str__(self) -> str:
        subject = format_key(self.escalation_id) if self.escalation_id else self.what
        return f"{self.user_id} {self.kind} {subject} at {self.at:%Y-%m-%d %H:%M:%S}Z"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise PermissionError("the access log is append-only: UPDATE refused")
        self.digest_payload()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def digest_payload(self) -> None:
        """Set payload_digest over what will be stored (before an INSERT)."""
        self.payload_digest = audit_digest.access_payload_digest(
            user_id=self.user_id,
            at=self.at,
            kind=self.kind,
            escalation_id=self.escalation_id,
            what=self.what,
            query=self.query,
            ip_address=self.ip_address,
            via=self.via,
        )

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("the access log is append-only: DELETE refused")

    @property
    def escalation_key(self) -> str:
        return format_key(self.escalation_id) if self.escalation_id else ""


# The chains' heads, the integrity checks and redaction requests; at the end, since they refer to
# Escalation.
from escalations.audit_models import (  # noqa: E402, F401
    AuditBreakAcknowledgement,
    AuditVerification,
    ChainHead,
    ChainLog,
    RedactionRequest,
)

# After the report (issue 6); at the end, since they refer to Escalation.
from escalations.legal_models import (  # noqa: E402, F401
    Destination,
    DestinationReport,
    EvidenceItem,
    HashAlgorithm,
    LegalRequest,
    LegalRequestKind,
    LegalRequestStatus,
    PreservationExtension,
    PreservationRuleKind,
)
