"""What a CyberTipline report carries beside its incident type: NCMEC's report annotations and where
the report stands at NCMEC (DOMAIN.md). The escalation keeps its annotations as one audited column
(`Escalation.ncmec_annotations`); EscalationAnnotation holds one row per annotation so that lists
filter and the dashboard counts by index. Only escalations.core.write_frame writes these rows."""

from __future__ import annotations

from django.db import models

from escalations.policy import ncmec_submission


class ReportAnnotation(models.TextChoices):
    # NCMEC's reportAnnotations flags in incidentSummary; the element names are NCMEC_ELEMENTS.
    SEXTORTION = "sextortion", "Sextortion"
    CSAM_SOLICITATION = "csam_solicitation", "CSAM solicitation"
    MINOR_TO_MINOR_INTERACTION = "minor_to_minor_interaction", "Minor-to-minor interaction"
    SPAM = "spam", "Spam"
    SADISTIC_ONLINE_EXPLOITATION = "sadistic_online_exploitation", "Sadistic online exploitation"


# How NCMEC's reporting XML names each annotation (an empty element inside <reportAnnotations>).
NCMEC_ELEMENTS = {
    ReportAnnotation.SEXTORTION: "sextortion",
    ReportAnnotation.CSAM_SOLICITATION: "csamSolicitation",
    ReportAnnotation.MINOR_TO_MINOR_INTERACTION: "minorToMinorInteraction",
    ReportAnnotation.SPAM: "spam",
    ReportAnnotation.SADISTIC_ONLINE_EXPLOITATION: "sadisticOnlineExploitation",
}


class SubmissionState(models.TextChoices):
    NOT_OPENED = ncmec_submission.NOT_OPENED, ncmec_submission.SUBMISSION_LABELS[ncmec_submission.NOT_OPENED]
    OPENED = ncmec_submission.OPENED, ncmec_submission.SUBMISSION_LABELS[ncmec_submission.OPENED]
    FINISHED = ncmec_submission.FINISHED, ncmec_submission.SUBMISSION_LABELS[ncmec_submission.FINISHED]
    RETRACTED = ncmec_submission.RETRACTED, ncmec_submission.SUBMISSION_LABELS[ncmec_submission.RETRACTED]
    DELETED_UNFINISHED = (
        ncmec_submission.DELETED_UNFINISHED,
        ncmec_submission.SUBMISSION_LABELS[ncmec_submission.DELETED_UNFINISHED],
    )


class EscalationAnnotation(models.Model):
    escalation = models.ForeignKey("escalations.Escalation", on_delete=models.CASCADE, related_name="annotation_rows")
    annotation = models.CharField(max_length=32, choices=ReportAnnotation.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["escalation", "annotation"], name="esc_annotation_once"),
        ]
        # The filter and the dashboard's counts select by annotation first.
        indexes = [models.Index(fields=["annotation", "escalation"], name="esc_annotation_lookup")]

    def __str__(self) -> str:
        return f"{self.escalation_id}: {self.annotation}"
