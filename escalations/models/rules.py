"""The law as dated, cited data: each obligation an escalation can owe is a Rule row (a regime, the
authority it is owed to, what is owed, the event its clock starts from, the duration or time-of-day
condition, the citation, when it applies, how sure we are). Rows are versions: a change is a new row
with the next `version` of the same `code`, never an edit, so an escalation can name the exact rule
it was judged by (EscalationRule). The policy reads them as plain data (policy.RuleData)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.escalation import Escalation
from escalations.policy.rules import duration_words


class Regime(models.TextChoices):
    US = "US", "United States"
    NCMEC = "NCMEC", "NCMEC (CyberTipline service)"
    UK = "UK", "United Kingdom"
    CA = "CA", "Canada"
    AU = "AU", "Australia"
    EU = "EU", "European Union"


class Obligation(models.TextChoices):
    REPORT = "report", "Report"
    NOTIFY = "notify", "Notify police"
    PRESERVE = "preserve", "Preserve"
    PRESERVE_VOLUNTARY = "preserve_voluntary", "Keep longer, voluntarily"
    RETAIN_REFERENCE = "retain_reference", "Keep the report reference"
    PHONE_FOLLOW_UP = "phone_follow_up", "Phone follow-up"
    UNFINISHED_DELETION = "unfinished_deletion", "Unfinished report deleted"
    RETENTION_CAP = "retention_cap", "Retention cap"


class ClockStart(models.TextChoices):
    KNOWLEDGE = "knowledge", "Actual knowledge (detection)"
    NCMEC_REPORT = "ncmec_report", "The report to NCMEC"
    AUTHORITY_REPORT = "authority_report", "The report to this authority"
    PRESERVATION_REQUEST = "preservation_request", "A preservation request received"
    RENEWED_PERIOD_END = "renewed_period_end", "The end of the period a renewal extends"
    NCMEC_OPENED = "ncmec_opened", "The report opened at NCMEC (or its last change)"


class Unit(models.TextChoices):
    HOURS = "hours", "hours (elapsed)"
    DAYS = "days", "days (elapsed, 24 h each)"
    CALENDAR_MONTHS = "calendar_months", "calendar months (UTC)"
    CALENDAR_YEARS = "calendar_years", "calendar years (UTC)"
    NONE = "none", "no duration"


class Limit(models.TextChoices):
    TARGET = "target", "A target the platform sets"
    DEADLINE = "deadline", "No later than"
    MINIMUM = "minimum", "At least"
    CAP = "cap", "At most"
    WINDOW = "window", "A time-of-day condition"
    PERMISSION = "permission", "Allowed, not required"


class RuleStatus(models.TextChoices):
    IN_FORCE = "in_force", "In force"
    PENDING = "pending", "Pending (not law yet)"
    LAPSED = "lapsed", "Lapsed"


class Certainty(models.TextChoices):
    # DOMAIN.md's marks: read in the instrument or two sources / one secondary source / not law yet.
    CONFIRMED = "confirmed", "Confirmed"
    SECONDARY = "secondary", "Secondary source: check the instrument"
    PENDING = "pending", "Pending"


class Rule(models.Model):
    """One version of one rule. Append-only: the services add rows, nothing updates or deletes one."""

    code = models.SlugField(max_length=64, help_text="The same for every version of a rule.")
    version = models.PositiveIntegerField(default=1)
    regime = models.CharField(max_length=8, choices=Regime.choices)
    # The destination's code the obligation is owed to (ncmec, nca, ca_police, c3p, afp, eu), so a
    # register of authorities can hang its rows off the rules.
    authority = models.CharField(max_length=32)
    obligation = models.CharField(max_length=24, choices=Obligation.choices)
    title = models.CharField(max_length=200)
    clock_start = models.CharField(max_length=24, choices=ClockStart.choices)
    limit = models.CharField(max_length=12, choices=Limit.choices)
    amount = models.PositiveIntegerField(null=True, blank=True)
    # A second amount where the rule has two (urgent reports; NCMEC's hour after the last change).
    second_amount = models.PositiveIntegerField(null=True, blank=True)
    unit = models.CharField(max_length=16, choices=Unit.choices, default=Unit.NONE)
    # A time-of-day condition: the window in the regime's zone (UK: 07:00-17:00 Europe/London).
    window_start = models.TimeField(null=True, blank=True)
    window_end = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    applies_to = models.CharField(max_length=120, blank=True, help_text="e.g. 'P1, P2' or 'urgent'.")
    citation = models.CharField(max_length=200, help_text="Statute, section or instrument.")
    link_text = models.CharField(max_length=200, help_text="How a page names the source in one line.")
    source = models.CharField(max_length=200, blank=True, help_text="Where we read it (a DOMAIN.md section).")
    effective_from = models.DateTimeField(null=True, blank=True, help_text="Empty: since before any escalation.")
    effective_to = models.DateTimeField(null=True, blank=True, help_text="Exclusive; empty: open-ended.")
    status = models.CharField(max_length=12, choices=RuleStatus.choices)
    certainty = models.CharField(max_length=12, choices=Certainty.choices)
    notes = models.TextField(blank=True)
    reason = models.TextField(blank=True, help_text="Why this version was made.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["regime", "code", "-version"]
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="rule_code_version_once")]

    def __str__(self) -> str:
        return f"{self.citation}: {self.title} (v{self.version})"

    @property
    def amount_words(self) -> str:
        """'1 calendar year', '24 hours / 1 hour', or '' when the rule sets no duration."""
        if self.amount is None or self.unit == Unit.NONE:
            return ""
        words = duration_words(self.amount, self.unit)
        if self.second_amount is not None:
            words += f" / {duration_words(self.second_amount, self.unit)}"
        return words


class EscalationRule(models.Model):
    """A rule version an escalation was judged by, and which of its deadlines the rule decided."""

    escalation = models.ForeignKey(Escalation, on_delete=models.PROTECT, related_name="rule_links")
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="escalation_links")
    deadline = models.CharField(max_length=32)
    judged_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["escalation", "rule"], name="escalation_rule_once")]
        indexes = [models.Index(fields=["rule", "escalation"], name="escalation_rule_by_rule")]

    def __str__(self) -> str:
        return f"{self.escalation} judged by {self.rule}"
