"""Writes to the authority register: the triage answers that decide which authorities an escalation
owes, and an authority's acknowledgement of a filing. (A filing is a destination report:
escalations.legal.services.report_to_destination, which moves the register with it.) Each call is
one audited change of the escalation, like every other service."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from escalations import policy
from escalations.core import authority_register, rulebook, services
from escalations.core.display import shown
from escalations.core.people import User
from escalations.core.permissions import Action
from escalations.core.write_frame import change
from escalations.legal.services import MAX_ID, refresh_destination_targets, refresh_holds
from escalations.models import AuditAction, AuthorityObligation, Escalation, ObligationState, Status
from escalations.policy import authorities as authority_policy


def answer_triage(
    *, actor: User, escalation_id: int, version: int | None, answers: Mapping[str, bool | None]
) -> Escalation:
    """Answer any of the triage questions (uk_linked, canada_connection, australian_end_users: True,
    False, or None for "not answered"); a question left out keeps its answer. The register follows:
    see authority_register.apply_triage. Moderators and leads, on an open or reported escalation;
    audited as "Authorities triaged" with every answer and obligation that changed."""
    errors = {
        name: [f"{name} is not a triage question."] for name in set(answers) - set(authority_register.TRIAGE_FIELDS)
    }
    for name, question in authority_policy.TRIAGE_QUESTIONS.items():
        if name in answers and not any(answers[name] is value for value in (True, False, None)):
            errors[name] = [f"{question} answer yes, no, or leave it unanswered."]
    if errors:
        raise ValidationError(errors)

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status not in (Status.OPEN, Status.REPORTED):
            raise ValidationError(
                f"{esc.key} is {esc.get_status_display().lower()}; reopen it to change which authorities apply."
            )
        lines = authority_register.apply_triage(esc, answers, now, rulebook.config_for(esc))
        if lines:
            refresh_destination_targets(esc)
            refresh_holds(esc)
        return "; ".join(lines) or "Triage unchanged"

    return change(actor, Action.RECORD_REPORT, escalation_id, version, AuditAction.AUTHORITY_TRIAGED, mutate)


def create_with_triage(*, actor: User, data: dict[str, Any], answers: Mapping[str, bool | None]) -> Escalation:
    """Log an escalation (services.create_escalation) and answer its triage at once, all or nothing:
    two audit events, "Logged" and, when anything was answered, "Authorities triaged"."""
    with transaction.atomic():
        escalation = services.create_escalation(actor=actor, data=data)
        if any(value is not None for value in answers.values()):
            escalation = answer_triage(actor=actor, escalation_id=escalation.pk, version=None, answers=answers)
        return escalation


def acknowledge_obligation(
    *, actor: User, escalation_id: int, version: int | None, authority_id: int, acknowledged_at: datetime | None
) -> AuthorityObligation:
    """Record that an authority acknowledged the filing (Filed -> Acknowledged), at `acknowledged_at`
    (not in the future, not before the filing). Moderators and leads; audited."""
    saved: list[AuthorityObligation] = []

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        obligation = (
            AuthorityObligation.objects.select_for_update(of=("self",))
            .select_related("authority", "report")
            .filter(escalation=esc, authority_id=authority_id)
            .first()
            # An id beyond any row's range names nothing (and must not reach the database).
            if isinstance(authority_id, int) and 0 < authority_id <= MAX_ID
            else None
        )
        errors: dict[str, list[str]] = {}
        if obligation is None:
            errors["authority"] = ["Authority: choose an authority this escalation owes a filing to."]
        elif obligation.state == ObligationState.DUE:
            errors["authority"] = [
                f"Authority: the report to {obligation.authority.name} is not filed yet; record the filing "
                "(its time and reference) first."
            ]
        elif obligation.state == ObligationState.ACKNOWLEDGED:
            errors["authority"] = [
                f"Authority: {obligation.authority.name} acknowledged it already "
                f"({shown(obligation.acknowledged_at) if obligation.acknowledged_at else 'recorded'})."
            ]
        if acknowledged_at is None:
            errors["acknowledged_at"] = ["Acknowledged at is required: when did the authority acknowledge it?"]
        elif acknowledged_at > now + cfg.clock_skew:
            errors["acknowledged_at"] = [f"Acknowledged at can't be in the future (it is now {shown(now)})."]
        elif (
            obligation is not None and obligation.report.reported_at and acknowledged_at < obligation.report.reported_at
        ):
            errors["acknowledged_at"] = [
                f"Acknowledged at can't be before the filing ({shown(obligation.report.reported_at)})."
            ]
        if errors:
            raise ValidationError(errors)
        assert obligation is not None and acknowledged_at is not None
        obligation.state = ObligationState.ACKNOWLEDGED
        obligation.acknowledged_at = acknowledged_at
        obligation.acknowledged_by = actor
        obligation.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
        saved.append(obligation)
        return (
            f"{obligation.authority.name} acknowledged the filing (reference {obligation.report.report_id}) "
            f"at {shown(acknowledged_at)}"
        )

    change(actor, Action.RECORD_REPORT, escalation_id, version, AuditAction.AUTHORITY_ACKNOWLEDGED, mutate)
    return saved[0]
