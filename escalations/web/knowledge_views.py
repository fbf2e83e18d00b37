"""Confirm when knowledge was obtained: an escalation made from Coop's report holds the report's
receipt time as a placeholder until its assignee (or any moderator or lead) confirms or corrects it
here, through services.confirm_knowledge (audited)."""

from __future__ import annotations

from typing import Any

from escalations.core import services
from escalations.core.permissions import Action
from escalations.models import Escalation
from escalations.web.escalation_forms import BreachFields
from escalations.web.escalation_views import EscalationActionView
from escalations.web.form_fields import LocalDateTimeField, VersionedForm


class ConfirmKnowledgeForm(VersionedForm, BreachFields):
    knowledge_at = LocalDateTimeField(
        label="Knowledge obtained",
        help_text="When the platform first had actual knowledge, in your time zone: the first flag, report or "
        "detection in the moderation tool. Saved unchanged, it confirms the time shown.",
    )
    field_order = ["knowledge_at", "breach_reason", "breach_note"]


class ConfirmKnowledgeView(EscalationActionView):
    action = Action.CONFIRM_KNOWLEDGE
    form_class = ConfirmKnowledgeForm
    title = "Confirm when knowledge was obtained"
    submit_label = "Confirm knowledge time"
    intro = (
        "Coop filed this report and told the tracker the report ID, not when the platform first knew. Until "
        "someone confirms it, the knowledge time shown is when Coop's call arrived: the latest it can be. Check "
        "the moderation tool's record (the first flag, user report or detection) and confirm or correct it. A "
        "report that then turns out to be after its target needs a breach reason."
    )
    initial_fields = ("knowledge_at",)
    success_message = "{key}: knowledge time confirmed."

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(
            services.confirm_knowledge,
            data,
            knowledge_at=data["knowledge_at"],
            breach_reason=data.get("breach_reason"),
            breach_note=data.get("breach_note"),
        )
