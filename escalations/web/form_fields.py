"""Form pieces every page's forms share: times typed in the person's own zone, the version an edit
started from (so a stale save is refused), and the first values of a form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from escalations.models import (
    Escalation,
)

# What an HTML datetime-local input sends, read in the user's time zone.
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
# The radio group that says which of two moments an ambiguous or skipped local time means:
# "<field>__which", its value the moment in UTC.
WHICH_SUFFIX = "__which"


def parse_local(value: Any, formats: list[str]) -> datetime | None:
    """What was typed, as a naive local datetime (or an aware one, if an offset was typed); None for
    nothing; ValueError for what is not a date and time."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    if not text:
        return None
    parsed = parse_datetime(text)  # ISO, with or without an offset; raises ValueError if out of range
    if parsed is not None:
        return parsed
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - naive on purpose: read in the person's zone below
        except ValueError:
            continue
    raise ValueError(text)


def offset_words(moment: datetime) -> str:
    """ "UTC-4", "UTC+5:30", "UTC+0"."""
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def local_candidates(naive: datetime, zone: tzinfo) -> list[datetime]:
    """The moments a wall-clock time names in `zone`, as aware datetimes in that zone: one, or two
    when the clocks went back (the hour happens twice) or forward (the time never happened: either
    offset may be what the person's clock said)."""
    found: list[datetime] = []
    for fold in (0, 1):
        moment = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC).astimezone(zone)
        # Compared in UTC: two datetimes in one zone compare by their wall clocks (PEP 495), and the
        # two readings of a repeated hour have the same one.
        if all(moment.astimezone(UTC) != other.astimezone(UTC) for other in found):
            found.append(moment)
    return sorted(found, key=lambda moment: moment.astimezone(UTC))


def candidate_label(moment: datetime, typed: datetime) -> str:
    """ "01:30 EDT (UTC-4)", with the date when it is not the typed one."""
    day = "" if moment.date() == typed.date() else f"{moment:%Y-%m-%d} "
    return f"{day}{moment:%H:%M %Z} ({offset_words(moment)})"


def which_question(naive: datetime, candidates: list[datetime], zone: tzinfo) -> str:
    skipped = all(c.replace(tzinfo=None) != naive for c in candidates)
    what = "did not happen" if skipped else "happened twice"
    why = "the clocks went forward" if skipped else "the clocks went back"
    choices = " or ".join(candidate_label(c, naive) for c in candidates)
    return f"{naive:%Y-%m-%d %H:%M} {what} in {zone} ({why}): choose which one you mean, {choices}."


class LocalDateTimeInput(forms.DateTimeInput):
    """A datetime-local input to the minute. When the value is a local time that the person's zone
    has twice or never (a clock change), it also offers the two moments it can mean as radio buttons:
    plain HTML, so it works without script and under the strict CSP."""

    input_type = "datetime-local"
    # The stored moment (seconds and all) stays the field's initial value, so that saving a form
    # unchanged changes nothing; what is shown is still to the minute (the format).
    supports_microseconds = True
    chosen: str | None = None

    def __init__(self, attrs: dict[str, Any] | None = None, format: str | None = None):
        super().__init__(attrs=attrs, format=format or "%Y-%m-%dT%H:%M")

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        html = super().render(name, value, attrs, renderer)
        if value in (None, "") or isinstance(value, datetime):
            return html
        try:
            naive = parse_local(value, DATETIME_FORMATS)
        except (ValueError, OverflowError):
            return html
        if naive is None or timezone.is_aware(naive):
            return html
        zone = timezone.get_current_timezone()
        try:
            candidates = local_candidates(naive, zone)
        except OverflowError:
            return html
        if len(candidates) < 2:
            return html
        options = format_html_join(
            "",
            '<label><input type="radio" name="{}" value="{}" required{}> {}</label> ',
            (
                (
                    name + WHICH_SUFFIX,
                    c.astimezone(UTC).isoformat(),
                    mark_safe(" checked") if self.chosen == c.astimezone(UTC).isoformat() else "",
                    candidate_label(c, naive),
                )
                for c in candidates
            ),
        )
        question = format_html(
            '<fieldset class="which-time"><legend>Which {}?</legend>{}</fieldset>', f"{naive:%H:%M}", options
        )
        return format_html("{}{}", html, question)


class LocalDateTimeField(forms.DateTimeField):
    """A moment typed in the person's zone, to the minute. Two promises beyond Django's field:

    - An unchanged minute keeps the stored moment: a form that shows 19:15 for 19:15:44 and is saved
      as it is saves 19:15:44, not 19:15:00 (which would move deadlines and re-key reminders).
    - A local time that happened twice or never (a clock change) is a question, not a refusal: the
      error names both moments it can mean, and the input offers them to choose from.
    """

    widget = LocalDateTimeInput
    default_error_messages = {
        "invalid": "Enter a date and time as YYYY-MM-DD HH:MM (your time zone).",
    }

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("input_formats", DATETIME_FORMATS)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        return self.resolve(value, which=None, initial=None)

    def resolve(self, value: Any, which: str | None, initial: Any) -> datetime | None:
        try:
            typed = parse_local(value, [str(f) for f in self.input_formats or DATETIME_FORMATS])
        except (ValueError, OverflowError):
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if typed is None:
            return None
        if timezone.is_aware(typed):
            return typed
        zone = timezone.get_current_timezone()
        try:
            candidates = local_candidates(typed, zone)
        except OverflowError:
            raise ValidationError(f"{self.label} is out of range; check the year.", code="out_of_range") from None
        if isinstance(initial, datetime) and timezone.is_aware(initial) and typed.second == typed.microsecond == 0:
            shown_minute = initial.astimezone(UTC).replace(second=0, microsecond=0)
            if any(c.astimezone(UTC) == shown_minute for c in candidates):
                return initial
        if len(candidates) == 1:
            return candidates[0]
        for candidate in candidates:
            if which == candidate.astimezone(UTC).isoformat():
                return candidate
        raise ValidationError(which_question(typed, candidates, zone), code="ambiguous_time")

    def _clean_bound_field(self, bf: Any) -> Any:
        # Django hands a field only its own input; this one also needs the initial value (to keep the
        # stored seconds) and the "which one" choice sent beside it, so it reads the bound field.
        if self.disabled:
            return self.clean(bf.initial)
        which = bf.form.data.get(bf.html_name + WHICH_SUFFIX) if bf.form.is_bound else None
        self.widget.chosen = which
        value = self.resolve(bf.data, which=which, initial=bf.initial)
        self.validate(value)
        self.run_validators(value)
        return value


class InRangeLocalDateTimeField(LocalDateTimeField):
    """A LocalDateTimeField whose value also exists in UTC, where the database keeps it: 9999-12-31
    23:59 typed in New York is in the year 10000 in UTC, which Python can't hold (a 500 on save)."""

    def resolve(self, value: Any, which: str | None, initial: Any) -> datetime | None:
        result = super().resolve(value, which, initial)
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
