"""Forms only parse what the browser sends; the rules live in escalations.core.validation and services,
which add their messages back onto these forms' fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from escalations.core.permissions import LEAD, MODERATOR
from escalations.core.services import EDITABLE_FIELDS
from escalations.core.validation import (
    NOTES_MAX_LENGTH,
    REASON_MAX_LENGTH,
    REFERENCE_MAX_LENGTH,
    clean_reference,
)
from escalations.models import (
    BreachReason,
    IncidentType,
    Priority,
    ReportAnnotation,
    SubmissionState,
)
from escalations.web.form_fields import (
    InRangeLocalDateTimeField,
    LocalDateTimeField,
    VersionedForm,
    name_required_fields,
)


class AnnotationsField(forms.MultipleChoiceField):
    """NCMEC's report annotations as checkboxes; the stored value is the codes joined by commas."""

    widget = forms.CheckboxSelectMultiple

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return [code for code in value.split(",") if code]
        return value


class EscalationForm(forms.Form):
    platform_reference = forms.CharField(
        label="Platform reference",
        max_length=REFERENCE_MAX_LENGTH,
        help_text="The platform's own content, account or ticket ID, or an internal URL. Never the content itself.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    account_reference = forms.CharField(
        label="Reported account",
        required=False,
        max_length=REFERENCE_MAX_LENGTH,
        help_text="Optional: the platform's ID of the reported account. Escalations about the same account are "
        "linked on the detail page.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    # A blank first choice: a hurried moderator must pick the type, not inherit the first one.
    incident_type = forms.ChoiceField(
        label="Incident type", choices=[("", "Choose the CyberTipline incident type…"), *IncidentType.choices]
    )
    priority = forms.ChoiceField(
        label="Priority",
        choices=Priority.choices,
        initial=Priority.STANDARD,
        help_text="Urgent: a child may be in imminent danger (the CyberTipline's high priority).",
    )
    urgent_reason = forms.CharField(
        label="Urgent reason",
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required for urgent: why a child may be in imminent danger.",
    )
    knowledge_at = LocalDateTimeField(
        label="Knowledge obtained",
        help_text="When the platform first had actual knowledge, in your time zone. The reporting clock starts here.",
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        max_length=NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Context for colleagues. Describe; never paste or link the material.",
    )

    ncmec_annotations = AnnotationsField(
        label="Report annotations",
        required=False,
        choices=ReportAnnotation.choices,
        help_text="NCMEC's annotations for the report, as many as apply.",
    )
    prior_report_id = forms.CharField(
        label="Prior CyberTipline report ID",
        required=False,
        max_length=40,
        help_text="Optional: the earlier report this one follows up (digits only), as NCMEC's priorCTReports.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        name_required_fields(self)

    def clean_platform_reference(self) -> str:
        # The services check again; checking here too shows this message alongside the others.
        return clean_reference(self.cleaned_data.get("platform_reference"), "Platform reference")

    def clean_account_reference(self) -> str:
        return clean_reference(self.cleaned_data.get("account_reference"), "Reported account", required=False)


class CreateEscalationForm(EscalationForm):
    is_test = forms.BooleanField(
        label="Test record",
        required=False,
        help_text="Only while trying the system or NCMEC's test environment: left out of dashboards and "
        "compliance exports.",
    )


class EditEscalationForm(EscalationForm, VersionedForm):
    ncmec_submission_state = forms.ChoiceField(
        label="Submission state at NCMEC",
        required=False,
        choices=SubmissionState.choices,
        help_text="Opened: the deletion countdown runs. Finished comes with recording the report. Retracted or "
        "deleted by NCMEC unfinished (only once the countdown ran out) stop it.",
    )
    ncmec_opened_at = InRangeLocalDateTimeField(
        label="NCMEC report opened",
        required=False,
        help_text="When a report was opened through NCMEC's API but not yet finished, your time zone. NCMEC "
        "deletes an unfinished report 24 hours after opening or 1 hour after its last change, whichever is later.",
    )
    ncmec_last_change_at = InRangeLocalDateTimeField(
        label="NCMEC report last changed",
        required=False,
        help_text="The last change to that unfinished report, your time zone.",
    )
    field_order = list(EDITABLE_FIELDS)


class RecordReportForm(VersionedForm):
    reported_at = LocalDateTimeField(
        label="Reported at", help_text="When the report was sent to NCMEC, your time zone."
    )
    cybertipline_report_id = forms.CharField(
        label="CyberTipline report ID",
        max_length=40,
        help_text="The number NCMEC returned, digits only.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


class BreachFields(forms.Form):
    breach_reason = forms.ChoiceField(
        label="Breach reason",
        required=False,
        choices=[("", "—"), *BreachReason.choices],
        help_text="Required when the report was sent after its target: why it was late.",
    )
    breach_note = forms.CharField(
        label="Breach note",
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required with 'Other'.",
    )


class RecordReportWithBreachForm(RecordReportForm, BreachFields):
    field_order = ["reported_at", "cybertipline_report_id", "breach_reason", "breach_note"]


class AmendBreachForm(VersionedForm, BreachFields):
    pass


class PreservationForm(VersionedForm):
    preservation_location = forms.CharField(
        label="Preservation location",
        max_length=REFERENCE_MAX_LENGTH,
        help_text="Where the platform's evidence store keeps the reported content: a reference, never the content.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ReasonForm(VersionedForm):
    reason = forms.CharField(label="Reason", max_length=REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))


class CloseForm(ReasonForm):
    retained = forms.BooleanField(
        label="Retained voluntarily",
        required=False,
        help_text="Tick when the evidence is kept beyond the rules instead of released; the reason says why.",
    )


class AssignForm(VersionedForm):
    assignee = forms.ModelChoiceField(
        label="Assignee",
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="Nobody (unassigned)",
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__name__in=(MODERATOR, LEAD))
            .distinct()
            .order_by("username")
        )

    # Saved by escalations.reminders.webhook_profile.save_profile, which gives a new URL its new secret and
    # writes the audit events.


# --- After the report: law-enforcement requests, preservation, release, evidence, destinations -------
