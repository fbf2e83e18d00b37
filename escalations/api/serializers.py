"""The API's JSON shapes. Parsing only: every rule lives in escalations.core.services, so the API answers
with the same messages as the pages."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from escalations import policy
from escalations.core.services import INTAKE_FIELDS
from escalations.models import AuditEvent, BreachReason, Escalation, Reminder


class EscalationSerializer(serializers.ModelSerializer[Escalation]):
    key = serializers.CharField(read_only=True, help_text="ESC- and the id, as the pages show it.")
    # Null when nobody is assigned / preservation is not confirmed yet: the schema must say so.
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    preservation_confirmed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Empty unless the report was late: "" is a value the schema must allow besides the reasons.
    breach_reason = serializers.ChoiceField(choices=BreachReason.choices, allow_blank=True, read_only=True)
    deadline_state = serializers.SerializerMethodField()

    class Meta:
        model = Escalation
        fields = [
            "id",
            "key",
            "version",
            *INTAKE_FIELDS,
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

    @extend_schema_field(
        serializers.ChoiceField(choices=[(state.value, state.label) for state in policy.DeadlineState])
    )
    def get_deadline_state(self, obj: Escalation) -> str:
        return str(
            policy.state_from_columns(obj.status, obj.next_deadline_at, obj.next_deadline_soon_at, timezone.now())
        )


class VersionedInput(serializers.Serializer[Any]):
    version = serializers.IntegerField(required=False, min_value=1, help_text="Optional; a stale one answers 409.")


class EscalationCreateInput(serializers.Serializer[Any]):
    platform_reference = serializers.CharField(allow_blank=True, trim_whitespace=False)
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


class EscalationEditInput(VersionedInput):
    platform_reference = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    incident_type = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.CharField(required=False)
    urgent_reason = serializers.CharField(required=False, allow_blank=True)
    knowledge_at = serializers.DateTimeField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True)


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
