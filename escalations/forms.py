"""Forms only parse what the browser sends; the rules live in escalations.validation and services,
which add their messages back onto these forms' fields."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from escalations.models import (
    BreachReason,
    Destination,
    Escalation,
    HashAlgorithm,
    IncidentType,
    LegalRequestKind,
    LegalRequestStatus,
    Priority,
    UserProfile,
)
from escalations.permissions import LEAD, MODERATOR
from escalations.validation import (
    NOTES_MAX_LENGTH,
    REASON_MAX_LENGTH,
    REFERENCE_MAX_LENGTH,
    clean_reference,
    clean_webhook_url,
)

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


class InRangeLocalDateTimeField(LocalDateTimeField):
    """A LocalDateTimeField whose value also exists in UTC, where the database keeps it: 9999-12-31
    23:59 typed in New York is in the year 10000 in UTC, which Python can't hold (a 500 on save)."""

    def to_python(self, value: Any) -> Any:
        result = super().to_python(value)
        if result is not None:
            try:
                result.astimezone(UTC)
            except OverflowError:
                raise ValidationError(f"{self.label} is out of range; check the year.", code="out_of_range") from None
        return result


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

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _name_required_fields(self)

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


def _name_required_fields(form: forms.Form) -> None:
    """ "This field is required." names no field; at 3 a.m. the message should say which. The same
    for a text that is too long, in the words the services use."""
    for field in form.fields.values():
        if field.required:
            field.error_messages["required"] = f"{field.label} is required."
        if isinstance(field, forms.CharField) and field.max_length is not None:
            field.error_messages["max_length"] = (
                f"{field.label} is too long: at most %(limit_value)d characters (this one has %(show_value)d)."
            )


class EditEscalationForm(EscalationForm, VersionedForm):
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
    field_order = [
        "platform_reference",
        "account_reference",
        "incident_type",
        "priority",
        "urgent_reason",
        "knowledge_at",
        "notes",
        "ncmec_opened_at",
        "ncmec_last_change_at",
    ]


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
        "reminder as JSON, signed the Standard Webhooks way. A new URL gets a new signing secret.",
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

    # Saved by escalations.webhook_profile.save_profile, which gives a new URL its new secret and
    # writes the audit events.


def initial_from(escalation: Escalation, fields: tuple[str, ...]) -> dict[str, Any]:
    data = {name: getattr(escalation, name) for name in fields}
    data["version"] = escalation.version
    return data


# --- After the report: law-enforcement requests, preservation, release, evidence, destinations -------

# A number the database's bigint holds, or a key as the pages show it (ESC-000123, LR-00012).
_ESCALATION_TOKEN = re.compile(r"^(?:ESC-?)?(\d{1,18})$", re.IGNORECASE)
_REQUEST_TOKEN = re.compile(r"^(?:LR-?)?(\d{1,18})$", re.IGNORECASE)
MAX_LINKED_ESCALATIONS = 500


class ManyValuesTextInput(forms.TextInput):
    """One text box that also takes the field repeated (?escalations=1&escalations=2): every value
    is read and joined, so a list sent either way arrives whole."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        getlist = getattr(data, "getlist", None)
        if getlist is not None:
            values = [str(value) for value in getlist(name)]
            return ", ".join(value for value in values if value.strip()) if values else None
        return data.get(name)


def parse_escalation_ids(text: str) -> list[int]:
    """Escalation ids from '12, ESC-000013 14': in order, without repeats. Raises ValidationError
    naming what isn't one."""
    tokens = [token for token in re.split(r"[\s,;]+", text or "") if token]
    ids: list[int] = []
    bad: list[str] = []
    for token in tokens:
        match = _ESCALATION_TOKEN.match(token)
        if match and int(match.group(1)) > 0:
            if int(match.group(1)) not in ids:
                ids.append(int(match.group(1)))
        else:
            bad.append(token[:30])
    if bad:
        shown = ", ".join(repr(token) for token in bad[:5]) + (" …" if len(bad) > 5 else "")
        raise ValidationError(
            f"Escalations: {shown} {'is' if len(bad) == 1 else 'are'} not an escalation number or key "
            "(like 123 or ESC-000123)."
        )
    if len(ids) > MAX_LINKED_ESCALATIONS:
        raise ValidationError(f"Escalations: at most {MAX_LINKED_ESCALATIONS} in one request.")
    return ids


class LegalRequestForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind",
        choices=[("", "Choose the kind of request…"), *LegalRequestKind.choices],
        help_text="A 2703(f) request holds preservation 90 days from receipt; a renewal, 90 more days from the "
        "end of the period it renews. Other legal process blocks release while it is open.",
    )
    agency = forms.CharField(label="Agency", max_length=200, help_text="Who sent it, e.g. the police force or court.")
    reference = forms.CharField(label="Reference", max_length=200, help_text="The agency's own reference number.")
    received_at = InRangeLocalDateTimeField(label="Received", help_text="When the request arrived, your time zone.")
    response_due_at = InRangeLocalDateTimeField(
        label="Response due", required=False, help_text="Optional: when the agency expects an answer, your time zone."
    )
    escalations = forms.CharField(
        label="Escalations",
        widget=ManyValuesTextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="The escalations the request covers: numbers or keys, separated by commas or spaces "
        "(e.g. ESC-000123, ESC-000124).",
    )
    renews = forms.CharField(
        label="Renews",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="For a 2703(f) renewal only: the request it renews (its number or key, e.g. LR-00012).",
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        max_length=NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the agency asked for. Describe; never paste or link the material.",
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _name_required_fields(self)

    def clean_escalations(self) -> list[int]:
        ids = parse_escalation_ids(self.cleaned_data.get("escalations", ""))
        if not ids:
            raise ValidationError("Escalations: name at least one escalation the request covers.")
        return ids

    def clean_renews(self) -> int | None:
        text = (self.cleaned_data.get("renews") or "").strip()
        if not text:
            return None
        match = _REQUEST_TOKEN.match(text)
        if match is None or int(match.group(1)) == 0:
            raise ValidationError("Renews: enter the number or key of the request renewed (like 12 or LR-00012).")
        return int(match.group(1))


class LegalRequestFilterForm(forms.Form):
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any"), *LegalRequestStatus.choices])
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Any"), *LegalRequestKind.choices])


class RespondLegalRequestForm(VersionedForm):
    responded_at = InRangeLocalDateTimeField(
        label="Responded", required=False, help_text="When the platform answered, your time zone. Empty: now."
    )


class CloseLegalRequestForm(VersionedForm):
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Withdrawn or fulfilled, and how you know. A closed request no longer holds preservation.",
    )


class ExtendPreservationForm(VersionedForm):
    until = InRangeLocalDateTimeField(
        label="Keep until", help_text="After the current end of preservation, at most ten years away; your time zone."
    )
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the platform keeps the evidence longer than the rules require (kept in the audit trail).",
    )


class EvidenceItemForm(VersionedForm):
    reference = forms.CharField(
        label="Evidence store reference",
        max_length=REFERENCE_MAX_LENGTH,
        help_text="Where the platform's evidence store keeps the item: a reference, never the content.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    hash_algorithm = forms.ChoiceField(label="Hash algorithm", choices=HashAlgorithm.choices)
    digest = forms.CharField(
        label="Digest",
        max_length=200,
        help_text="The item's hash in hexadecimal: 64 characters for SHA-256, 40 for SHA-1, 32 for MD5.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )
    size_bytes = forms.IntegerField(
        label="Size in bytes",
        min_value=0,
        max_value=2**63 - 1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "invalid": "Size in bytes must be a whole number.",
            "min_value": "Size in bytes can't be negative.",
            "max_value": "Size in bytes is too large.",
        },
    )
    is_context = forms.BooleanField(
        label="Related context item",
        required=False,
        help_text="Tick for commingled content preserved for context (18 U.S.C. 2258A(h)(2)), not itself reported.",
    )

    def clean_reference(self) -> str:
        return clean_reference(self.cleaned_data.get("reference"), "Evidence store reference")


class DestinationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} — report ID: {obj.report_id_hint}"


class DestinationReportForm(VersionedForm):
    destination = DestinationChoiceField(
        label="Destination",
        queryset=Destination.objects.none(),
        empty_label="Choose where it was reported…",
        error_messages={"invalid_choice": "Destination: choose one of the listed destinations."},
    )
    reported_at = InRangeLocalDateTimeField(
        label="Reported at",
        required=False,
        help_text="When the report was sent, your time zone. Empty (with no report ID): still to be reported.",
    )
    report_id = forms.CharField(
        label="Report ID",
        required=False,
        max_length=200,
        help_text="The reference the destination returned; its format depends on the destination (see the list).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["destination"]
        assert isinstance(field, forms.ModelChoiceField)
        # NCMEC's report is the escalation's own ("Record report").
        field.queryset = Destination.objects.filter(is_default=False)
