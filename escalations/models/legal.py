"""After the report: law-enforcement requests, preservation holds and extensions, release, evidence
integrity (metadata only) and report destinations. Imported by escalations.models.escalation."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.escalation import Escalation


class LegalRequestKind(models.TextChoices):
    PRESERVATION_2703F = "2703f_preservation", "2703(f) preservation request"
    RENEWAL_2703F = "2703f_renewal", "2703(f) renewal"
    SUBPOENA = "subpoena", "Subpoena"
    COURT_ORDER = "court_order", "Court order"
    SEARCH_WARRANT = "search_warrant", "Search warrant"
    EMERGENCY_DISCLOSURE = "emergency_disclosure", "Emergency disclosure request"
    OTHER = "other", "Other"


PRESERVATION_KINDS = (LegalRequestKind.PRESERVATION_2703F, LegalRequestKind.RENEWAL_2703F)


class LegalRequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESPONDED = "responded", "Responded"
    CLOSED = "closed", "Closed (withdrawn or fulfilled)"


class LegalRequest(models.Model):
    """A request from law enforcement or a court about one or more escalations. A 2703(f) request
    holds preservation 90 days from receipt; a renewal, 90 more days from the end of the one it renews."""

    kind = models.CharField(max_length=24, choices=LegalRequestKind.choices)
    agency = models.CharField(max_length=200)
    reference = models.CharField(max_length=200, help_text="The agency's own reference number.")
    received_at = models.DateTimeField()
    response_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=LegalRequestStatus.choices, default=LegalRequestStatus.OPEN, db_index=True
    )
    renews = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="renewals")
    # Derived by policy for 2703(f) kinds: the end of the preservation this request holds.
    hold_until = models.DateTimeField(null=True, blank=True, db_index=True)
    escalations = models.ManyToManyField(Escalation, related_name="legal_requests")
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return self.key

    @property
    def key(self) -> str:
        return f"LR-{self.pk:05d}" if self.pk else "LR-(new)"

    @property
    def is_open(self) -> bool:
        return self.status == LegalRequestStatus.OPEN


class PreservationExtension(models.Model):
    """A lead keeps the evidence longer, voluntarily (2258A(h) allows it), with a reason."""

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="extensions")
    until = models.DateTimeField()
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-until", "-pk"]

    def __str__(self) -> str:
        return f"{self.escalation} kept until {self.until:%Y-%m-%d}"


class HashAlgorithm(models.TextChoices):
    SHA256 = "sha256", "SHA-256"
    SHA1 = "sha1", "SHA-1"
    MD5 = "md5", "MD5"


class EvidenceItem(models.Model):
    """One preserved item, as metadata only: where the platform's evidence store keeps it and its
    digest. Never the content. An item Coop reported holds only the platform's media ID (in
    `reference`) and Coop's item type: no digest, no size (Coop sends neither)."""

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="evidence_items")
    reference = models.CharField(max_length=2048, help_text="Where the evidence store keeps it.")
    hash_algorithm = models.CharField(
        max_length=8, choices=HashAlgorithm.choices, default=HashAlgorithm.SHA256, blank=True
    )
    digest = models.CharField(max_length=64, blank=True, help_text="Lower-case hex.")
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    # The platform's type of the item, as Coop names it (its typeId); empty for items people record.
    item_type = models.CharField(max_length=200, blank=True)
    is_context = models.BooleanField(
        "Related context item", default=False, help_text="Commingled content preserved for context, 2258A(h)(2)."
    )
    preserved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    preserved_at = models.DateTimeField()

    class Meta:
        ordering = ["preserved_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_hash_algorithm_display()} {self.digest[:12]}…"


class PreservationRuleKind(models.TextChoices):
    YEARS_AFTER_REPORT = "years_after_report", "Calendar years after the report to this destination"
    DAYS_AFTER_REPORT = "days_after_report", "Days after the report to this destination"
    NONE = "none", "No preservation duty of its own"


class Destination(models.Model):
    """Where an escalation may be reported, with its own rules (seeded from DOMAIN.md; admins may edit).
    Empty targets mean the statute sets none: the platform's settings apply (NCMEC) or none does."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    report_target_hours = models.FloatField(null=True, blank=True)
    urgent_report_target_hours = models.FloatField(null=True, blank=True)
    preservation_rule = models.CharField(
        max_length=24, choices=PreservationRuleKind.choices, default=PreservationRuleKind.NONE
    )
    preservation_amount = models.PositiveIntegerField(default=0, help_text="Years or days, as the rule says.")
    # A cap on retention counted from detection (knowledge), e.g. the EU's 12 months; empty for none.
    retention_cap_months = models.PositiveIntegerField(null=True, blank=True)
    report_id_pattern = models.CharField(
        max_length=200, default=r"^\d{1,19}$", help_text="A regular expression the report ID must match."
    )
    report_id_hint = models.CharField(max_length=120, default="digits only")
    notes = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name


class DestinationReport(models.Model):
    """An escalation reported (or to be reported) to one destination."""

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="destination_reports")
    destination = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField(null=True, blank=True)
    report_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["escalation", "destination"], name="destination_report_once")]

    def __str__(self) -> str:
        return f"{self.escalation} → {self.destination}"
