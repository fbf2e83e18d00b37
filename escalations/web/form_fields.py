"""Form pieces every page's forms share: times typed in the person's own zone, the version an edit
started from (so a stale save is refused), and the first values of a form."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from escalations.models import (
    Escalation,
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
        name_required_fields(self)


def initial_from(escalation: Escalation, fields: tuple[str, ...]) -> dict[str, Any]:
    data = {name: getattr(escalation, name) for name in fields}
    data["version"] = escalation.version
    return data


def name_required_fields(form: forms.Form) -> None:
    """ "This field is required." names no field; at 3 a.m. the message should say which. The same
    for a text that is too long, in the words the services use."""
    for field in form.fields.values():
        if field.required:
            field.error_messages["required"] = f"{field.label} is required."
        if isinstance(field, forms.CharField) and field.max_length is not None:
            field.error_messages["max_length"] = (
                f"{field.label} is too long: at most %(limit_value)d characters (this one has %(show_value)d)."
            )
