"""The escalation record and its append-only audit trail. Metadata only: no file or image fields.

Deadline columns (`report_due_at`, `preservation_confirm_due_at`, `preserve_until`,
`next_deadline_at`, `next_deadline_soon_at`) are derived by escalations.policy and written only by
escalations.core.services, so that lists and sweeps select by index instead of computing per row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.ncmec_report import SubmissionState
from escalations.policy.actions import ACTION_CHOICES, RANK_NONE


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
    # The latest acknowledgement of one of its reminders (escalations/reminders/acknowledgements.py):
    # escalation steps of reminders due at or before it stop (escalations/policy/escalation_steps.py).
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ncmec_last_change_at = models.DateTimeField(null=True, blank=True)
    # The reported account (the platform's own ID), to link escalations about the same person.
    account_reference = models.CharField(max_length=2048, blank=True, db_index=True)
    preservation_location = models.CharField(
        max_length=2048,
        blank=True,
        help_text="Where the platform's evidence store keeps it (a reference, never content).",
    )

    # NCMEC's report annotations, the codes of ReportAnnotation sorted and joined by commas: the
    # audited, displayed record; EscalationAnnotation rows index it (escalations.models.ncmec_report).
    ncmec_annotations = models.CharField(max_length=160, blank=True, default="")
    # The earlier CyberTipline report this one follows up (NCMEC's priorCTReports), digits only.
    prior_report_id = models.CharField(max_length=20, blank=True, default="")
    # Where the report stands at NCMEC (escalations.policy.ncmec_submission).
    ncmec_submission_state = models.CharField(
        max_length=20, choices=SubmissionState.choices, blank=True, default=SubmissionState.NOT_OPENED
    )

    # Set when the escalation was made from Coop's report, which says when it was filed but not when
    # the platform knew: knowledge_at then holds the receipt time (the latest it can be) until someone
    # confirms or corrects it, which clears this. Its reminder repeats from this moment (policy).
    knowledge_unconfirmed_since = models.DateTimeField(null=True, blank=True)

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
    # The earliest response date of the open law-enforcement requests it is linked to (legal's
    # services keep it), and what must be done first with its rank and moment (policy/actions.py):
    # the queues sort by (rank, due moment) with an index.
    legal_response_due_at = models.DateTimeField(null=True, blank=True)
    next_action = models.CharField(max_length=32, choices=ACTION_CHOICES, blank=True)
    next_action_rank = models.PositiveSmallIntegerField(default=RANK_NONE)
    next_action_due_at = models.DateTimeField(null=True, blank=True)
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
            models.Index(
                fields=["status", "next_action_rank", "next_action_due_at", "id"], name="esc_status_next_action"
            ),
            models.Index(
                fields=["assignee", "status", "next_action_rank", "next_action_due_at", "id"],
                name="esc_assignee_next_action",
            ),
            models.Index(fields=["next_action_rank", "next_action_due_at", "id"], name="esc_next_action"),
            models.Index(fields=["reported_at"], name="esc_reported_at"),
            # Follow-ups by the report they follow. Nearly every escalation names none: over the whole
            # column the planner would expect a lookup to match them all and read the table instead.
            models.Index(fields=["prior_report_id"], condition=~models.Q(prior_report_id=""), name="esc_prior_report"),
            # The dashboard's figures of now, counted at every visit from these alone (index-only
            # scans): open escalations by deadline state, reports whose preservation is not yet
            # confirmed, and holds ending or ended. Each covers a set bounded by time, not the table.
            models.Index(
                fields=["next_deadline_at", "next_deadline_soon_at", "assignee"],
                condition=models.Q(status="open", is_test=False),
                name="esc_open_now",
            ),
            models.Index(
                fields=["reported_at"],
                condition=models.Q(status="reported", preservation_confirmed_at__isnull=True, is_test=False),
                name="esc_unconfirmed_now",
            ),
            models.Index(
                fields=["preserve_until"],
                condition=models.Q(status="reported", is_test=False),
                name="esc_reported_holds",
            ),
            # Releases awaiting a second lead's approval (the dashboard lists the oldest requests).
            models.Index(
                fields=["release_requested_at", "id"],
                condition=models.Q(status="reported", release_requested_at__isnull=False, released_at__isnull=True),
                name="esc_release_awaiting",
            ),
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


# --- Reminders and their delivery ---------------------------------------------------------------
