"""The audit trail: one event per change to an escalation, with the before and after of each changed
field. Append-only (the database's triggers refuse UPDATE and DELETE) and chained by digest."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models

from escalations.models import audit_digest
from escalations.models.escalation import Escalation, format_key


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
    # A recorded report's ID, time or breach reason changed afterwards, with the reason why.
    REPORT_CORRECTED = "report_corrected", "Report corrected"
    # A moderator or lead took an unassigned escalation for themselves.
    TAKEN = "taken", "Taken"
    LEGAL_REQUEST = "legal_request", "Legal request"
    PRESERVATION_EXTENDED = "preservation_extended", "Preservation extended"
    RELEASE_REQUESTED = "release_requested", "Release requested"
    RELEASED = "released", "Release approved"
    EVIDENCE_ADDED = "evidence_added", "Evidence item recorded"
    DESTINATION_REPORTED = "destination_reported", "Reported to a destination"
    # The authority register: which authorities apply (the triage), and an authority's acknowledgement.
    AUTHORITY_TRIAGED = "authority_triaged", "Authorities triaged"
    AUTHORITY_ACKNOWLEDGED = "authority_acknowledged", "Acknowledged by an authority"
    EXPORTED = "exported", "Exported"
    RULES_REEVALUATED = "rules_reevaluated", "Re-evaluated under the current rules"
    RULE_CHANGED = "rule_changed", "Rule changed (new version)"
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
    # Through the company's identity provider (OpenID Connect): the sign-in, the account it made at a
    # first sign-in, and an existing account it was linked to by email.
    SIGNED_IN_PROVIDER = "signed_in_provider", "Signed in (identity provider)"
    PROVIDER_ACCOUNT_CREATED = "provider_account_created", "Account created (identity provider)"
    PROVIDER_ACCOUNT_LINKED = "provider_account_linked", "Account linked (identity provider)"
    # An account marked or unmarked break-glass (a password even with PASSWORD_SIGN_IN off).
    BREAK_GLASS_CHANGED = "break_glass_changed", "Break-glass account changed"
    LOCKED_OUT = "locked_out", "Sign-in locked"
    UNLOCKED = "unlocked", "Sign-in lock lifted"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    TOKEN_CREATED = "token_created", "Service token created"
    TOKEN_REVOKED = "token_revoked", "Service token revoked"
    GROUPS_CHANGED = "groups_changed", "Groups changed"
    TEAM_MEMBERS_CHANGED = "team_members_changed", "Team membership changed"
    # Provisioning by an identity provider over SCIM (via names the SCIM token).
    SCIM_TOKEN_CREATED = "scim_token_created", "SCIM token created"
    SCIM_TOKEN_REVOKED = "scim_token_revoked", "SCIM token revoked"
    SCIM_TOKEN_REFUSED = "scim_token_refused", "SCIM request refused (token)"
    ACCOUNT_PROVISIONED = "account_provisioned", "Account provisioned"
    ACCOUNT_UPDATED = "account_updated", "Account updated by provisioning"
    ACCOUNT_DEACTIVATED = "account_deactivated", "Account deactivated"
    ACCOUNT_REACTIVATED = "account_reactivated", "Account reactivated"
    TEAM_PROVISIONED = "team_provisioned", "Team created, renamed or deleted by provisioning"
    # Removing a value that must not be kept (escalations.core.redaction): a lead asks, an admin decides.
    REDACTION_REQUESTED = "redaction_requested", "Redaction requested"
    REDACTED = "redacted", "Redacted"
    REDACTION_REFUSED = "redaction_refused", "Redaction refused"
    # About the audit trail itself (escalation is empty): breaks an admin looked into.
    AUDIT_BREAK_ACKNOWLEDGED = "audit_break_acknowledged", "Audit trail break acknowledged"
    # About the outbound event stream (escalation is empty): where events go, and the key that signs them.
    EVENT_ENDPOINT_ADDED = "event_endpoint_added", "Event endpoint added"
    EVENT_ENDPOINT_CHANGED = "event_endpoint_changed", "Event endpoint changed"
    EVENT_ENDPOINT_SECRET_REPLACED = "event_endpoint_secret_replaced", "Event endpoint signing secret replaced"
    EVENT_DELIVERY_RETRIED = "event_delivery_retried", "Event deliveries sent again"
    # Coop's call recorded a report (on an escalation it found or created), and the answer to it.
    COOP_REPORT = "coop_report", "Report received from Coop"
    KNOWLEDGE_CONFIRMED = "knowledge_confirmed", "Knowledge time confirmed"
    # About the keys Coop's calls are verified with (escalation is empty).
    COOP_KEY_ADDED = "coop_key_added", "Coop key added"
    COOP_KEY_CHANGED = "coop_key_changed", "Coop key changed"
    # Someone acknowledged a reminder (in the app or by a signed link): its escalation steps stop.
    REMINDER_ACKNOWLEDGED = "reminder_acknowledged", "Reminder acknowledged"
    # A team's Slack, Teams or PagerDuty channel, or a person's, added or removed (escalation empty).
    CHANNEL_ADDED = "channel_added", "Notification channel added"
    CHANNEL_REMOVED = "channel_removed", "Notification channel removed"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        # bulk_create skips save(): digest each row here (the insert trigger chains them).
        rows = list(objs)
        for row in rows:
            row.digest_payload()
        return super().bulk_create(rows, *args, **kwargs)


class AuditEvent(models.Model):
    """Who did what to which escalation, and when. Append-only: database triggers refuse UPDATE and
    DELETE (escalations.core.append_only), except an approved redaction's rewrite of a value to its marker.

    Chained (escalations.models.audit_digest): the app writes `payload_digest`; the database's insert trigger
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
