"""The API's JSON shapes. Parsing only: every rule lives in escalations.core.services, so the API answers
with the same messages as the pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from escalations import policy
from escalations.core import ncmec_report
from escalations.core.services import INTAKE_FIELDS
from escalations.models import (
    AuditEvent,
    BreachReason,
    Destination,
    DestinationReport,
    Escalation,
    EvidenceItem,
    LegalRequest,
    Reminder,
    ReportAnnotation,
    SubmissionState,
)


class EscalationSerializer(serializers.ModelSerializer[Escalation]):
    key = serializers.CharField(read_only=True, help_text="ESC- and the id, as the pages show it.")
    # Null when nobody is assigned / preservation is not confirmed yet: the schema must say so.
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    preservation_confirmed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Empty unless the report was late: "" is a value the schema must allow besides the reasons.
    breach_reason = serializers.ChoiceField(choices=BreachReason.choices, allow_blank=True, read_only=True)
    deadline_state = serializers.SerializerMethodField()
    ncmec_annotations = serializers.SerializerMethodField()
    ncmec_submission_state = serializers.ChoiceField(choices=SubmissionState.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Escalation
        fields = [
            "id",
            "key",
            "version",
            *INTAKE_FIELDS,
            "account_reference",
            "ncmec_annotations",
            "prior_report_id",
            "ncmec_submission_state",
            "ncmec_opened_at",
            "ncmec_last_change_at",
            "is_test",
            "status",
            "status_reason",
            "reported_at",
            "cybertipline_report_id",
            "breach_reason",
            "breach_note",
            "preservation_confirmed_at",
            "preservation_confirmed_by",
            "preservation_location",
            "report_due_at",
            "preservation_confirm_due_at",
            "preserve_until",
            "next_deadline_at",
            "deadline_state",
            "reported_on_time",
            "report_seconds",
            "assignee",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=ReportAnnotation.choices)))
    def get_ncmec_annotations(self, obj: Escalation) -> list[str]:
        return ncmec_report.codes(obj.ncmec_annotations)

    @extend_schema_field(
        serializers.ChoiceField(choices=[(state.value, state.label) for state in policy.DeadlineState])
    )
    def get_deadline_state(self, obj: Escalation) -> str:
        return str(
            policy.state_from_columns(obj.status, obj.next_deadline_at, obj.next_deadline_soon_at, timezone.now())
        )


# What the API sets itself: writing one of them is refused by name, never ignored (a client that
# sends {"status": "closed"} must learn that nothing closed).
_HOW_TO_CHANGE = {
    "status": "change it with the report, dismiss, close or reopen actions",
    "assignee": "change it with the assign action",
    "reported_at": "record the report with the report action",
    "cybertipline_report_id": "record the report with the report action",
    "breach_reason": "it is given with the report",
    "breach_note": "it is given with the report",
    "preservation_location": "confirm preservation with the preservation action",
    "preservation_confirmed_at": "confirm preservation with the preservation action",
    "status_reason": "it is the reason given to dismiss, close or reopen",
}


def unknown_field_message(name: str, accepted: list[str]) -> str:
    if name in _HOW_TO_CHANGE:
        return f"{name} can't be written here: {_HOW_TO_CHANGE[name]}. Nothing was changed."
    if name in EscalationSerializer.Meta.fields:
        return f"{name} is read-only: the tracker sets it. Nothing was changed."
    return f"Unknown field {name[:60]!r}: this request takes {', '.join(accepted)}. Nothing was changed."


class StrictInput(serializers.Serializer[Any]):
    """Refuses a field it does not take (DRF would drop it silently and answer 200)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            accepted = [name for name, field in self.fields.items() if not field.read_only]
            unknown = [str(name) for name in data if name not in self.fields]
            if unknown:
                raise serializers.ValidationError(
                    {name[:60]: [unknown_field_message(name, accepted)] for name in unknown[:20]}
                )
        return super().to_internal_value(data)


class VersionedInput(StrictInput):
    version = serializers.IntegerField(required=False, min_value=1, help_text="Optional; a stale one answers 409.")


class EscalationCreateInput(StrictInput):
    platform_reference = serializers.CharField(allow_blank=True, trim_whitespace=False)
    account_reference = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="The reported account (the platform's own ID)."
    )
    incident_type = serializers.CharField(allow_blank=True)
    priority = serializers.CharField(required=False, default="standard")
    urgent_reason = serializers.CharField(required=False, allow_blank=True, default="")
    knowledge_at = serializers.DateTimeField()
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    is_test = serializers.BooleanField(required=False, default=False)
    assignee = serializers.CharField(required=False, allow_null=True, help_text="A username; default: you.")
    # Optional, for history brought in with the escalation (bulk import).
    reported_at = serializers.DateTimeField(required=False, allow_null=True)
    cybertipline_report_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    breach_reason = serializers.CharField(required=False, allow_blank=True, default="")
    breach_note = serializers.CharField(required=False, allow_blank=True, default="")
    ncmec_opened_at = serializers.DateTimeField(required=False, allow_null=True)
    ncmec_last_change_at = serializers.DateTimeField(required=False, allow_null=True)
    ncmec_annotations = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="NCMEC's report annotations (codes)."
    )
    prior_report_id = serializers.CharField(
        required=False, allow_blank=True, help_text="The earlier CyberTipline report this one follows up."
    )
    ncmec_submission_state = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="opened, retracted, deleted_unfinished (finished: record the report).",
    )


class EscalationEditInput(VersionedInput):
    platform_reference = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    account_reference = serializers.CharField(required=False, allow_blank=True)
    ncmec_opened_at = serializers.DateTimeField(required=False, allow_null=True)
    ncmec_last_change_at = serializers.DateTimeField(required=False, allow_null=True)
    incident_type = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.CharField(required=False)
    urgent_reason = serializers.CharField(required=False, allow_blank=True)
    knowledge_at = serializers.DateTimeField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True)
    ncmec_annotations = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="NCMEC's report annotations (codes)."
    )
    prior_report_id = serializers.CharField(
        required=False, allow_blank=True, help_text="The earlier CyberTipline report this one follows up."
    )
    ncmec_submission_state = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="opened, retracted, deleted_unfinished (finished: record the report).",
    )


class ReportInput(VersionedInput):
    reported_at = serializers.DateTimeField()
    cybertipline_report_id = serializers.CharField(allow_blank=True)
    breach_reason = serializers.CharField(required=False, allow_blank=True, default="")
    breach_note = serializers.CharField(required=False, allow_blank=True, default="")


class PreservationInput(VersionedInput):
    preservation_location = serializers.CharField(allow_blank=True)


class AssignInput(VersionedInput):
    assignee = serializers.CharField(allow_null=True, help_text="A username, or null for nobody.")


class ReasonInput(VersionedInput):
    reason = serializers.CharField(allow_blank=True)


class CorrectReportInput(ReasonInput):
    """Only the fields sent are corrected; the reason is required."""

    reported_at = serializers.DateTimeField(required=False)
    cybertipline_report_id = serializers.CharField(required=False, allow_blank=True)
    breach_reason = serializers.CharField(required=False, allow_blank=True)
    breach_note = serializers.CharField(required=False, allow_blank=True)


class CloseInput(ReasonInput):
    retained = serializers.BooleanField(
        required=False, default=False, help_text="True when the evidence is kept voluntarily instead of released."
    )


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    # Null for what the system did by itself.
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "via", "action", "changes", "reason", "version"]
        read_only_fields = fields


class ReminderSerializer(serializers.ModelSerializer[Reminder]):
    class Meta:
        model = Reminder
        fields = ["id", "kind", "due_at", "created_at", "sent_at", "cancelled_at", "cancel_reason"]
        read_only_fields = fields


# --- After the report: legal requests, evidence items, destinations --------------------------------


class LegalRequestSerializer(serializers.ModelSerializer[LegalRequest]):
    key = serializers.CharField(read_only=True, help_text="LR- and the id, as the pages show it.")
    escalations = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    renews = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = LegalRequest
        fields = [
            "id",
            "key",
            "version",
            "kind",
            "agency",
            "reference",
            "received_at",
            "response_due_at",
            "responded_at",
            "status",
            "renews",
            "hold_until",
            "escalations",
            "notes",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class LegalRequestInput(StrictInput):
    kind = serializers.CharField(allow_blank=True)
    agency = serializers.CharField(allow_blank=True)
    reference = serializers.CharField(allow_blank=True, help_text="The agency's own reference number.")
    received_at = serializers.DateTimeField()
    response_due_at = serializers.DateTimeField(required=False, allow_null=True)
    escalations = serializers.ListField(
        child=serializers.IntegerField(min_value=1), max_length=1000, help_text="The ids of the escalations covered."
    )
    renews = serializers.IntegerField(required=False, allow_null=True, min_value=1, help_text="For a renewal.")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class RespondLegalRequestInput(VersionedInput):
    responded_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Default: now.")


class EvidenceItemSerializer(serializers.ModelSerializer[EvidenceItem]):
    preserved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = EvidenceItem
        fields = [
            "id",
            "reference",
            "hash_algorithm",
            "digest",
            "size_bytes",
            "item_type",
            "is_context",
            "preserved_by",
            "preserved_at",
        ]
        read_only_fields = fields


class EvidenceItemInput(VersionedInput):
    reference = serializers.CharField(allow_blank=True, help_text="Where the evidence store keeps it.")
    hash_algorithm = serializers.CharField(required=False, default="sha256")
    digest = serializers.CharField(allow_blank=True)
    size_bytes = serializers.IntegerField(min_value=0)
    is_context = serializers.BooleanField(required=False, default=False)


class DestinationSerializer(serializers.ModelSerializer[Destination]):
    class Meta:
        model = Destination
        fields = [
            "id",
            "code",
            "name",
            "report_target_hours",
            "urgent_report_target_hours",
            "preservation_rule",
            "preservation_amount",
            "retention_cap_months",
            "report_id_hint",
            "is_default",
        ]
        read_only_fields = fields


class DestinationReportSerializer(serializers.ModelSerializer[DestinationReport]):
    destination = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = DestinationReport
        fields = ["id", "destination", "reported_at", "report_id", "created_at"]
        read_only_fields = fields


class DestinationReportInput(VersionedInput):
    destination = serializers.CharField(help_text="The destination's code (GET /api/v1/destinations/).")
    reported_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Empty with no report ID: still to be reported there."
    )
    report_id = serializers.CharField(required=False, allow_blank=True, default="")
