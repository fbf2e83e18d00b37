"""The authority register's forms: the triage questions (at logging and on the escalation's page),
and an authority's acknowledgement of a filing."""

from __future__ import annotations

from typing import Any

from django import forms

from escalations.models import AuthorityObligation, ObligationState
from escalations.policy import authorities as authority_policy
from escalations.web.escalation_forms import CreateEscalationForm
from escalations.web.form_fields import InRangeLocalDateTimeField, VersionedForm

ANSWERS = [("", "Not answered yet"), ("yes", "Yes"), ("no", "No")]
ANSWER_VALUES = {"": None, "yes": True, "no": False}
HELP = {
    authority_policy.UK_LINKED: "Yes: the NCA is owed a report (Online Safety Act 2023 s.66).",
    authority_policy.CANADA_CONNECTION: "Yes: the Canadian Centre for Child Protection and police (S.C. 2011, c. 4).",
    authority_policy.AUSTRALIAN_END_USERS: "Yes: the AFP is owed a referral (Criminal Code s.474.25).",
}


def triage_fields() -> dict[str, forms.ChoiceField]:
    return {
        name: forms.ChoiceField(label=question, choices=ANSWERS, required=False, help_text=HELP[name])
        for name, question in authority_policy.TRIAGE_QUESTIONS.items()
    }


def triage_answers(cleaned: dict[str, Any]) -> dict[str, bool | None]:
    """The answers as the service takes them (True, False, None for not answered)."""
    return {name: ANSWER_VALUES.get(cleaned.get(name) or "") for name in authority_policy.TRIAGE_QUESTIONS}


def answer_value(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


class TriageForm(VersionedForm):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields.update(triage_fields())


class CreateWithTriageForm(CreateEscalationForm):
    """Logging an escalation, with the triage questions answered then or left for later."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields.update(triage_fields())


class AuthorityChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.authority.name} (reference {obj.report.report_id})"


class AcknowledgeForm(VersionedForm):
    authority = AuthorityChoiceField(
        label="Authority",
        queryset=AuthorityObligation.objects.none(),
        empty_label="Choose the authority…",
        error_messages={"invalid_choice": "Authority: choose one of the listed filings."},
    )
    acknowledged_at = InRangeLocalDateTimeField(
        label="Acknowledged at", help_text="When it acknowledged, your time zone."
    )

    def __init__(self, *args: Any, escalation_id: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["authority"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = AuthorityObligation.objects.filter(
            escalation_id=escalation_id, state=ObligationState.FILED
        ).select_related("authority", "report")
