"""The period forms of the pages that report over time. The dashboard offers the last 7, 30 or 90 days
or a custom period up to today; the compliance report and the access log take any two dates. One
date field and one range of years serve them all."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from escalations.compliance import dashboard

# Dates outside these years can't be turned into times (or aren't a reporting period at all).
FIRST_YEAR, LAST_YEAR = 1900, 9998
PERIOD_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30
# Charts and tables stay readable, and no date arithmetic overflows, within these bounds.
MAX_CUSTOM_DAYS = 731
EARLIEST = date(2000, 1, 1)


def date_field(label: str, *, required: bool, error_messages: dict[str, str]) -> forms.DateField:
    """A date typed or picked as YYYY-MM-DD."""
    return forms.DateField(
        label=label,
        required=required,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages=error_messages,
    )


class DashboardPeriodForm(forms.Form):
    """?period=7|30|90, or ?start=YYYY-MM-DD&end=YYYY-MM-DD (dates in the viewer's zone, inclusive)."""

    period = forms.TypedChoiceField(
        label="Last",
        choices=[("", "—"), *((str(d), f"{d} days") for d in PERIOD_DAYS)],
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": "Choose a period of 7, 30 or 90 days."},
    )
    start = date_field(
        "From",
        required=False,
        error_messages={"invalid": "Enter the start date as YYYY-MM-DD, for example 2025-03-01."},
    )
    end = date_field(
        "To", required=False, error_messages={"invalid": "Enter the end date as YYYY-MM-DD, for example 2025-03-31."}
    )

    def __init__(self, *args: Any, today: date, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if self.has_error("start") or self.has_error("end"):
            return data
        if (start is None) != (end is None):
            missing = "end" if end is None else "start"
            self.add_error(missing, f"Enter both dates of a custom period (the {missing} date is missing).")
        elif start is not None and end is not None:
            if start > end:
                self.add_error("end", f"The end date ({end}) is before the start date ({start}).")
            elif start < EARLIEST:
                self.add_error("start", f"Choose a start date on or after {EARLIEST}.")
            elif end > self.today:
                self.add_error("end", f"The period can't end after today ({self.today}).")
            elif (end - start).days + 1 > MAX_CUSTOM_DAYS:
                self.add_error("end", f"Choose a period of at most {MAX_CUSTOM_DAYS} days.")
        return data

    def chosen_period(self, now: Any, tz: Any) -> dashboard.Period:
        """The period asked for; only call on a valid form."""
        start, end = self.cleaned_data.get("start"), self.cleaned_data.get("end")
        if start is not None and end is not None:
            return dashboard.Period(start, end, tz)
        return dashboard.Period.last_days(self.cleaned_data.get("period") or DEFAULT_DAYS, now, tz)


class CompliancePeriodForm(forms.Form):
    """The compliance report's period: both dates, inclusive, in the viewer's zone."""

    start = date_field(
        "From",
        required=True,
        error_messages={"invalid": "Start: enter a date as YYYY-MM-DD.", "required": "Start: enter a date."},
    )
    end = date_field(
        "To (inclusive)",
        required=True,
        error_messages={"invalid": "End: enter a date as YYYY-MM-DD.", "required": "End: enter a date."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        for name, value in (("start", start), ("end", end)):
            if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
                self.add_error(name, f"{name.capitalize()}: choose a date between {FIRST_YEAR} and {LAST_YEAR}.")
        if start and end and start > end and not self.errors:
            raise forms.ValidationError(f"The period starts ({start:%Y-%m-%d}) after it ends ({end:%Y-%m-%d}).")
        return data

    def messages(self) -> list[str]:
        return [str(message) for errors in self.errors.values() for message in errors]
