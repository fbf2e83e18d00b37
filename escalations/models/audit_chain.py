"""What keeps the audit trail and the access log honest: each chain's head, the record of every
integrity check, and redaction requests.

ChainHead rows live apart from the rows they count, with no foreign key to them, so a TRUNCATE or
DELETE of the audit trail leaves its heads behind to say how many rows there were. Only the
database's insert triggers move a head (escalations.core.append_only); the app's database role may read
heads, never write them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

REDACTION_KEY_PREFIX = "RR-"


class ChainLog(models.TextChoices):
    AUDIT = "audit", "Audit trail"
    ACCESS = "access", "Access log"


class ChainHead(models.Model):
    """The last link of one chain: its number and chain digest."""

    log = models.CharField(max_length=8, choices=ChainLog.choices)
    # The escalation's id; minus a person's id for their rows about no single escalation; 0 for the
    # system's (escalations.models.audit_digest).
    chain = models.BigIntegerField()
    seq = models.BigIntegerField(default=0)
    digest = models.CharField(max_length=64, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["log", "chain"], name="chainhead_once")]

    def __str__(self) -> str:
        return f"{self.log} chain {self.chain}: #{self.seq}"


class AuditVerification(models.Model):
    """One walk of every chain (escalations.core.audit_verify). Append-only, like the rows it checks: the
    latest row is what the leads' banner and /healthz report, and the counts it saw are the anchor
    the next walk compares with (rows removed together with their heads)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    events = models.PositiveBigIntegerField(default=0)
    events_verified = models.PositiveBigIntegerField(default=0)
    access_rows = models.PositiveBigIntegerField(default=0)
    access_verified = models.PositiveBigIntegerField(default=0)
    broken = models.PositiveIntegerField(default=0)
    chains = models.PositiveBigIntegerField(default=0)
    # The first broken link, as verifyaudit names it ("ESC-000123 event #7 (id 991): ..."), and the
    # first few others.
    first_break = models.TextField(blank=True)
    breaks = models.JSONField(default=list)
    # SHA-256 over every head (log, chain, seq, digest) in order: write it somewhere the database's
    # owner cannot reach (the logs do) and a rewritten history shows.
    heads_digest = models.CharField(max_length=64, blank=True)
    # "sweep" (the daily check) or "command" (manage.py verifyaudit).
    source = models.CharField(max_length=16)

    class Meta:
        ordering = ["-finished_at", "-pk"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'BROKEN'} at {self.finished_at:%Y-%m-%d %H:%M:%S}Z"


class AuditBreakAcknowledgement(models.Model):
    """An admin's record that breaks found by verifyaudit were looked into (`verifyaudit
    --acknowledge`): later checks list them as acknowledged, not broken, so that the banner and
    /healthz speak of new breaks only. Append-only; the act is an audit event too."""

    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    # The breaks as verifyaudit names them ("ESC-000123 event #7 (id 991): ...").
    breaks = models.JSONField()

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{len(self.breaks)} break(s) acknowledged at {self.at:%Y-%m-%d %H:%M}Z"


class RedactionRequest(models.Model):
    """A lead asks that values on one escalation be removed everywhere; an admin (someone else)
    approves or refuses. The values themselves are never stored here: only which fields."""

    escalation = models.ForeignKey(
        "escalations.Escalation", on_delete=models.PROTECT, related_name="redaction_requests"
    )
    # Field names of the escalation ("notes") and evidence items ("evidence:12").
    fields = models.JSONField()
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    refused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refused_at = models.DateTimeField(null=True, blank=True)
    refusal_reason = models.TextField(blank=True)
    # What replaced the values, "[redacted 2026-12-07 by admin: RR-000001]"; the database's triggers
    # let an approved request's rewrite through only when it writes this marker and nothing else.
    marker = models.CharField(max_length=200, blank=True)
    # How many places were rewritten, by kind ({"audit_events": 4, "access_log": 1, ...}).
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["approved_at", "refused_at"], name="redaction_pending")]
        # The database's own word that a request is decided by someone other than its requester, and
        # once (escalations.core.append_only's triggers also keep a decided request fixed).
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("requested_by")),
                name="redaction_approved_by_another",
            ),
            models.CheckConstraint(
                condition=models.Q(refused_by__isnull=True) | ~models.Q(refused_by=models.F("requested_by")),
                name="redaction_refused_by_another",
            ),
            models.CheckConstraint(
                condition=models.Q(approved_at__isnull=True) | models.Q(refused_at__isnull=True),
                name="redaction_decided_once",
            ),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def key(self) -> str:
        return f"{REDACTION_KEY_PREFIX}{self.pk:06d}" if self.pk else f"{REDACTION_KEY_PREFIX}(new)"

    @property
    def pending(self) -> bool:
        return self.approved_at is None and self.refused_at is None
