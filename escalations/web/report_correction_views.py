"""Correct the report: change a recorded report's time, ID or breach reason, saying why. The reason
and the old and new values go into the audit trail and the escalation's timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from escalations.core import services
from escalations.core.permissions import Action
from escalations.core.validation import REASON_MAX_LENGTH
from escalations.models import Escalation, Status
from escalations.web.escalation_forms import RecordReportWithBreachForm
from escalations.web.escalation_views import EscalationActionView


class CorrectReportForm(RecordReportWithBreachForm):
    reason = forms.CharField(
        label="Reason for the correction",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required: why the recorded values were wrong. Kept in the audit trail with the old and new values.",
    )
    field_order = ["reported_at", "cybertipline_report_id", "breach_reason", "breach_note", "reason"]


def same_minute(typed: datetime | None, stored: datetime | None) -> bool:
    """The form shows minutes: a time left as shown is the stored time, seconds included."""
    if typed is None or stored is None:
        return False
    return typed == stored.replace(second=0, microsecond=0)


class CorrectReportView(EscalationActionView):
    action = Action.CORRECT_REPORT
    form_class = CorrectReportForm
    title = "Correct the report"
    submit_label = "Save the correction"
    intro = (
        "Change what was recorded about the report sent to NCMEC: when it was sent, the report ID NCMEC "
        "returned, or why it was late. Say why; the timeline shows the old and new values with your reason."
    )
    initial_fields = ("reported_at", "cybertipline_report_id", "breach_reason", "breach_note")
    success_message = "{key}: report corrected."

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.escalation.status == Status.OPEN:
            # Nothing recorded yet: the form that records it.
            return HttpResponseRedirect(reverse("escalations:report", args=[self.escalation.pk]))
        return super().get(request, *args, **kwargs)

    def perform(self, data: dict[str, Any]) -> Escalation:
        reported_at = data["reported_at"]
        if same_minute(reported_at, self.escalation.reported_at):
            reported_at = self.escalation.reported_at
        return self._call(
            services.correct_report,
            data,
            reason=data["reason"],
            reported_at=reported_at,
            cybertipline_report_id=data["cybertipline_report_id"],
            breach_reason=data.get("breach_reason", ""),
            breach_note=data.get("breach_note", ""),
        )
