"""Coop (ROOST's moderation tool) calls our preservation endpoint after it files a CyberTipline
report: the keys its calls are verified with, and one receipt per report ID it sent."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.escalation import Escalation


class CoopPublicKey(models.Model):
    """A Coop organisation's webhook signature verification key, as an admin pasted it (PEM, as
    Coop's Settings -> API Keys shows it, or a JWK). Only the public key: it proves Coop sent a call
    and can sign nothing. Active keys are all tried, so a rotation needs no downtime."""

    name = models.CharField(max_length=80, help_text="Which Coop organisation or key this is, for people.")
    key_text = models.TextField(
        "Public key", help_text="The public key: PEM (-----BEGIN PUBLIC KEY-----) or a JWK (JSON, kty RSA)."
    )
    # SHA-256 of the key's DER SubjectPublicKeyInfo, hex: names the key in logs and receipts.
    fingerprint = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Coop public key"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint[:16]}…)"


class CoopReceipt(models.Model):
    """One report ID Coop told us of, and the escalation it was recorded on. The unique report ID
    makes a repeated call (Coop retries; a replay) find the first answer, and two calls at once
    record it once: the second transaction's INSERT fails and it reads the first one's receipt."""

    report_id = models.CharField(max_length=20, unique=True)
    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="coop_receipts")
    received_at = models.DateTimeField()
    # The reported user as Coop names it: the platform's own ID and Coop's item type.
    user_id = models.CharField(max_length=2048)
    user_type_id = models.CharField(max_length=200)
    # Every media item of the call as [id, typeId] (the evidence items hold the first
    # EVIDENCE_ITEMS_MAX of them), so nothing Coop named is lost to the limit.
    media = models.JSONField(default=list)
    # Whether the call created the escalation (else it found one for the account or the report ID).
    created_escalation = models.BooleanField(default=False)
    key_fingerprint = models.CharField(max_length=64)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"Coop report {self.report_id} on {self.escalation}"
