"""The authority register's actions on an escalation: answer the triage, record an acknowledgement.
(Filing with an authority is the destination report's form, which the register links to.)"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from escalations.core import authority_register
from escalations.core.permissions import Action
from escalations.legal import authority_services
from escalations.models import Escalation
from escalations.web.authority_forms import AcknowledgeForm, TriageForm, answer_value, triage_answers
from escalations.web.escalation_views import EscalationActionView


class TriageView(EscalationActionView):
    action = Action.RECORD_REPORT
    form_class = TriageForm
    title = "Which authorities apply"
    submit_label = "Save answers"
    intro = (
        "Each yes adds the authorities it names to the register, due from when knowledge was obtained; a no "
        "removes them while nothing was filed with them yet."
    )
    success_message = "{key}: triage saved."

    def get_initial(self) -> dict[str, Any]:
        triage = authority_register.triage_of(self.escalation)
        initial: dict[str, Any] = {"version": self.escalation.version}
        for field in authority_register.TRIAGE_FIELDS:
            initial[field] = answer_value(getattr(triage, field))
        return initial

    def perform(self, data: dict[str, Any]) -> Escalation:
        return authority_services.answer_triage(
            actor=self.request.user,
            escalation_id=self.escalation.pk,
            version=data["version"],
            answers=triage_answers(data),
        )


class AcknowledgeView(EscalationActionView):
    action = Action.RECORD_REPORT
    form_class = AcknowledgeForm
    title = "An authority acknowledged a filing"
    submit_label = "Record acknowledgement"
    success_message = "{key}: acknowledgement recorded."

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["escalation_id"] = self.escalation.pk
        return kwargs

    def get_initial(self) -> dict[str, Any]:
        return {"version": self.escalation.version, "acknowledged_at": timezone.now()}

    def perform(self, data: dict[str, Any]) -> Escalation:
        authority_services.acknowledge_obligation(
            actor=self.request.user,
            escalation_id=self.escalation.pk,
            version=data["version"],
            authority_id=data["authority"].authority_id,
            acknowledged_at=data["acknowledged_at"],
        )
        return self.escalation
