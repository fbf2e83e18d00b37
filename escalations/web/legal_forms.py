"""The forms of the law-enforcement pages: requests and their escalations, responses, closing,
extensions, evidence items and destination reports."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from escalations.core.validation import (
    NOTES_MAX_LENGTH,
    REASON_MAX_LENGTH,
    REFERENCE_MAX_LENGTH,
    clean_reference,
)
from escalations.models import (
    Destination,
    HashAlgorithm,
    LegalRequestKind,
    LegalRequestStatus,
)
from escalations.web.form_fields import (
    InRangeLocalDateTimeField,
    VersionedForm,
    name_required_fields,
)

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
        name_required_fields(self)

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
