"""The authority register through its services: triage answers add and remove obligations (only while
Due), a filing with an authority's own reference format moves one to Filed, an acknowledgement to
Acknowledged; each a single audited change; deadlines follow a corrected knowledge time; who may do
what. The clock stands still (time_machine, tick=False)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from escalations.core import services
from escalations.legal import authority_services
from escalations.legal import services as legal_services
from escalations.models import (
    AuditAction,
    AuthorityObligation,
    AuthorityTriage,
    Destination,
    DestinationReport,
    Escalation,
    ObligationState,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # after the UK's s.66 took effect (7 April 2026)
CLOCK_START = T0
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def triage(actor: Any, esc: Escalation, **answers: bool | None) -> Escalation:
    return authority_services.answer_triage(actor=actor, escalation_id=esc.pk, version=None, answers=answers)


def owed(esc: Escalation) -> dict[str, AuthorityObligation]:
    return {o.authority.code: o for o in AuthorityObligation.objects.filter(escalation=esc).select_related("authority")}


def file(actor: Any, esc: Escalation, code: str, report_id: str, at: datetime = T0 - HOUR) -> Any:
    return legal_services.report_to_destination(
        actor=actor,
        escalation_id=esc.pk,
        version=None,
        destination_id=Destination.objects.get(code=code).pk,
        reported_at=at,
        report_id=report_id,
    )


def test_a_yes_adds_each_authority_as_due_with_its_deadline_and_rule(clock, make_escalation, moderator):
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR)
    triage(moderator, esc, uk_linked=True, canada_connection=True, australian_end_users=False)
    rows = owed(esc)
    assert set(rows) == {"nca", "c3p", "ca_police"}
    for code, row in rows.items():
        assert row.state == ObligationState.DUE
        assert row.due_at == T0 - 2 * HOUR + 24 * HOUR  # the platform's target: none of them sets its own
        assert row.rule is not None and row.rule.authority == code
        assert row.next_reminder_at == row.due_at - 4 * HOUR
    assert rows["ca_police"].rule.obligation == "notify"
    event = esc.audit_events.order_by("pk").last()
    assert event.action == AuditAction.AUTHORITY_TRIAGED
    assert (
        "UK-linked? not answered -> yes" in event.reason
        and "National Crime Agency (United Kingdom): due" in event.reason
    )
    assert AuthorityTriage.objects.get(escalation=esc).australian_end_users is False


def test_knowledge_before_the_uk_act_owes_the_nca_nothing_dated(clock, make_escalation, moderator):
    uk_from = datetime(2026, 4, 6, 23, 0, tzinfo=UTC)
    before = make_escalation(knowledge_at=uk_from - SECOND, reported_at=uk_from + HOUR)
    at = make_escalation(knowledge_at=uk_from, reported_at=uk_from + HOUR)
    triage(moderator, before, uk_linked=True)
    triage(moderator, at, uk_linked=True)
    assert (owed(before)["nca"].due_at, owed(before)["nca"].rule) == (None, None)
    assert owed(at)["nca"].due_at == uk_from + 24 * HOUR


def test_a_no_removes_an_authority_while_due_and_is_refused_once_filed(clock, make_escalation, moderator):
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR)
    triage(moderator, esc, uk_linked=True, australian_end_users=True)
    triage(moderator, esc, australian_end_users=False)
    assert set(owed(esc)) == {"nca"}
    assert not DestinationReport.objects.filter(escalation=esc, destination__code="afp").exists()
    file(moderator, esc, "nca", "NCA-REF-9")
    assert owed(esc)["nca"].state == ObligationState.FILED
    assert owed(esc)["nca"].next_reminder_at is None
    version = Escalation.objects.get(pk=esc.pk).version
    with pytest.raises(ValidationError) as excinfo:
        triage(moderator, esc, uk_linked=False)
    assert "UK-linked? can't be 'no'" in " ".join(excinfo.value.message_dict["uk_linked"])
    assert "already filed" in " ".join(excinfo.value.message_dict["uk_linked"])
    assert Escalation.objects.get(pk=esc.pk).version == version  # nothing saved
    assert AuthorityTriage.objects.get(escalation=esc).uk_linked is True


def test_a_reference_that_is_not_the_authority_s_format_names_the_field_and_the_hint(clock, make_escalation, moderator):
    Destination.objects.filter(code="nca").update(report_id_pattern=r"^NCA-\d{6}$", report_id_hint="NCA- and 6 digits")
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR)
    triage(moderator, esc, uk_linked=True)
    with pytest.raises(ValidationError) as excinfo:
        file(moderator, esc, "nca", "12345")
    assert excinfo.value.message_dict["report_id"] == [
        "Report ID doesn't match National Crime Agency (United Kingdom)'s format: NCA- and 6 digits."
    ]
    assert owed(esc)["nca"].state == ObligationState.DUE
    file(moderator, esc, "nca", "NCA-123456")
    assert owed(esc)["nca"].state == ObligationState.FILED


def test_acknowledged_after_filed_not_before_and_audited(clock, make_escalation, moderator):
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR)
    triage(moderator, esc, canada_connection=True)
    police = Destination.objects.get(code="ca_police")
    with pytest.raises(ValidationError) as excinfo:
        authority_services.acknowledge_obligation(
            actor=moderator, escalation_id=esc.pk, version=None, authority_id=police.pk, acknowledged_at=T0
        )
    assert "not filed yet" in " ".join(excinfo.value.message_dict["authority"])
    file(moderator, esc, "ca_police", "RCMP-77", at=T0 - HOUR)
    with pytest.raises(ValidationError) as excinfo:
        authority_services.acknowledge_obligation(
            actor=moderator,
            escalation_id=esc.pk,
            version=None,
            authority_id=police.pk,
            acknowledged_at=T0 - HOUR - SECOND,
        )
    assert "can't be before the filing" in " ".join(excinfo.value.message_dict["acknowledged_at"])
    authority_services.acknowledge_obligation(
        actor=moderator, escalation_id=esc.pk, version=None, authority_id=police.pk, acknowledged_at=T0
    )
    row = owed(esc)["ca_police"]
    assert (row.state, row.acknowledged_at, row.acknowledged_by) == (ObligationState.ACKNOWLEDGED, T0, moderator)
    event = esc.audit_events.order_by("pk").last()
    assert event.action == AuditAction.AUTHORITY_ACKNOWLEDGED and "RCMP-77" in event.reason
    # A correction of the filing keeps the acknowledgement.
    file(moderator, esc, "ca_police", "RCMP-78", at=T0 - HOUR)
    assert owed(esc)["ca_police"].state == ObligationState.ACKNOWLEDGED


def test_a_corrected_knowledge_time_moves_every_authority_deadline(clock, make_escalation, moderator):
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR)
    triage(moderator, esc, australian_end_users=True)
    services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=None, data={"knowledge_at": T0 - 3 * HOUR})
    assert owed(esc)["afp"].due_at == T0 - 3 * HOUR + 24 * HOUR


def test_an_urgent_escalation_owes_the_authority_s_urgent_target(clock, make_escalation, moderator):
    Destination.objects.filter(code="afp").update(report_target_hours=48, urgent_report_target_hours=2)
    esc = make_escalation(knowledge_at=T0 - HOUR, priority="urgent", urgent_reason="A child at risk now")
    triage(moderator, esc, australian_end_users=True)
    assert owed(esc)["afp"].due_at == T0 + HOUR


def test_an_auditor_may_not_answer_the_triage_nor_acknowledge(clock, make_escalation, auditor):
    esc = make_escalation(knowledge_at=T0 - HOUR)
    with pytest.raises(PermissionDenied):
        triage(auditor, esc, uk_linked=True)
    with pytest.raises(PermissionDenied):
        authority_services.acknowledge_obligation(
            actor=auditor, escalation_id=esc.pk, version=None, authority_id=1, acknowledged_at=T0
        )
    assert not AuthorityObligation.objects.filter(escalation=esc).exists()


def test_an_unknown_triage_question_is_refused_by_name(clock, make_escalation, moderator):
    esc = make_escalation(knowledge_at=T0 - HOUR)
    with pytest.raises(ValidationError) as excinfo:
        triage(moderator, esc, eu_linked=True)
    assert "eu_linked" in excinfo.value.message_dict
