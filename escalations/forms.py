"""Forms only parse what the browser sends; the rules live in escalations.validation and services,
which add their messages back onto these forms' fields."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from .models import BreachReason, Escalation, IncidentType, Priority, UserProfile
from .permissions import LEAD, MODERATOR
from .validation import REASON_MAX_LENGTH, REFERENCE_MAX_LENGTH, clean_reference, clean_webhook_url

# What an HTML datetime-local input sends, read in the user's time zone.
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class LocalDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    default_error_messages = {
        "invalid": "Enter a date and time as YYYY-MM-DD HH:MM (your time zone).",
    }

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("input_formats", DATETIME_FORMATS)
        super().__init__(**kwargs)


class VersionedForm(forms.Form):
    # The version the user saw; a save based on an older one is refused (optimistic locking).
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _name_required_fields(self)


class EscalationForm(forms.Form):
    platform_reference = forms.CharField(
        label="Platform reference",
        max_length=REFERENCE_MAX_LENGTH,
        help_text="The platform's own content, account or ticket ID, or an internal URL. Never the content itself.",
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
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Context for colleagues. Describe; never paste or link the material.",
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _name_required_fields(self)

    def clean_platform_reference(self) -> str:
        # The services check again; checking here too shows this message alongside the others.
        return clean_reference(self.cleaned_data.get("platform_reference"), "Platform reference")


class CreateEscalationForm(EscalationForm):
    is_test = forms.BooleanField(
        label="Test record",
        required=False,
        help_text="Only while trying the system or NCMEC's test environment: left out of dashboards and "
        "compliance exports.",
    )


def _name_required_fields(form: forms.Form) -> None:
    """ "This field is required." names no field; at 3 a.m. the message should say which."""
    for field in form.fields.values():
        if field.required:
            field.error_messages["required"] = f"{field.label} is required."


class EditEscalationForm(EscalationForm, VersionedForm):
    pass


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


class ProfileForm(forms.ModelForm):
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Optional: an https URL (a Slack-compatible incoming webhook, say) that receives each "
        "reminder as JSON, signed with HMAC-SHA256.",
    )

    class Meta:
        model = UserProfile
        fields = ["time_zone", "email_notifications", "in_app_notifications", "webhook_url"]
        labels = {
            "time_zone": "Time zone",
            "email_notifications": "Send reminders by email",
            "in_app_notifications": "Show reminders in the app (the bell)",
        }
        help_texts = {"time_zone": "Times are shown and typed in this zone. The database keeps UTC."}

    def clean_webhook_url(self) -> str:
        try:
            return clean_webhook_url(self.cleaned_data.get("webhook_url", ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def save(self, commit: bool = True) -> UserProfile:
        profile = super().save(commit=False)
        if profile.webhook_url and not profile.webhook_secret:
            profile.webhook_secret = secrets.token_hex(32)
        elif not profile.webhook_url:
            profile.webhook_secret = ""  # a new webhook gets a new secret
        if commit:
            profile.save()
        return profile


def initial_from(escalation: Escalation, fields: tuple[str, ...]) -> dict[str, Any]:
    data = {name: getattr(escalation, name) for name in fields}
    data["version"] = escalation.version
    return data
