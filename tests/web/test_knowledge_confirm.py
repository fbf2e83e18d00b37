"""An escalation Coop's report created: the page says its knowledge time is unconfirmed, the assignee
(every lead while nobody has it) is reminded until someone confirms or corrects it, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalations.core import services
from escalations.integrations.coop_payload import Item, PreservationRequest
from escalations.integrations.coop_service import record_coop_report
from escalations.models import AuditAction, Delivery, Escalation, Reminder
from escalations.policy import ReminderKind
from escalations.reminders import sweep as reminders

pytestmark = pytest.mark.django_db

CLOCK_START = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
R = CLOCK_START
KIND = ReminderKind.KNOWLEDGE_UNCONFIRMED


def from_coop(report_id: str = "4564654") -> Escalation:
    request = PreservationRequest(report_id=report_id, user=Item("acct-77", "user"), media=(Item("m-1", "image"),))
    return Escalation.objects.get(
        pk=record_coop_report(request=request, key_fingerprint="f" * 64).receipt.escalation_id
    )


def asked(escalation: Escalation) -> list[tuple[datetime, str]]:
    rows = Delivery.objects.filter(reminder__escalation=escalation, reminder__kind=KIND, sent_at__isnull=False)
    return sorted(
        {(d.reminder.due_at, d.recipient.get_username()) for d in rows.select_related("reminder", "recipient")}
    )


def test_every_lead_is_asked_at_once_then_every_24_hours(clock: Any, lead: Any, moderator: Any) -> None:
    esc = from_coop()
    reminders.sweep()
    assert asked(esc) == [(R, "leader")]  # nobody has it yet, and Coop's own account is no one

    clock.move_to(R + timedelta(hours=24) - timedelta(seconds=1))
    reminders.sweep()
    assert asked(esc) == [(R, "leader")]

    services.assign_escalation(actor=lead, escalation_id=esc.pk, version=None, assignee=moderator)
    clock.move_to(R + timedelta(hours=24))
    reminders.sweep()
    assert asked(esc) == [(R, "leader"), (R + timedelta(hours=24), "leader"), (R + timedelta(hours=24), "mod")]


def test_confirming_stops_the_reminders(clock: Any, lead: Any, moderator: Any, client_for: Any) -> None:
    esc = from_coop()
    reminders.sweep()
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/knowledge/", {"knowledge_at": "2026-03-02T09:00", "version": esc.version}
    )
    assert response.status_code == 302
    clock.move_to(R + timedelta(days=3))
    reminders.sweep()
    assert asked(esc) == [(R, "leader")]
    assert not Reminder.objects.filter(escalation=esc, kind=KIND, due_at__gt=R).exists()


def test_the_page_says_it_is_unconfirmed_and_offers_to_confirm(
    clock: Any, moderator: Any, auditor: Any, client_for: Any
) -> None:
    esc = from_coop()
    page = client_for(moderator).get(f"/escalations/{esc.pk}/").content.decode()
    assert "When did the platform first know? Not confirmed" in page
    assert f'href="/escalations/{esc.pk}/knowledge/"' in page
    assert "via Coop" in page
    assert "Knowledge time unconfirmed since (Coop)" in page
    seen_by_auditor = client_for(auditor).get(f"/escalations/{esc.pk}/").content.decode()
    assert "When did the platform first know?" in seen_by_auditor
    assert f"/escalations/{esc.pk}/knowledge/" not in seen_by_auditor
    assert client_for(auditor).get(f"/escalations/{esc.pk}/knowledge/").status_code == 403


def test_confirming_as_shown_keeps_the_stored_seconds_and_is_audited(
    clock: Any, moderator: Any, client_for: Any
) -> None:
    esc = from_coop()
    client_for(moderator).post(
        f"/escalations/{esc.pk}/knowledge/", {"knowledge_at": "2026-03-02T09:00", "version": esc.version}
    )
    esc.refresh_from_db()
    assert esc.knowledge_unconfirmed_since is None and esc.knowledge_at == R
    assert esc.report_seconds == 0 and esc.reported_on_time is True
    event = esc.audit_events.latest("pk")
    assert (event.action, event.actor, event.via) == (AuditAction.KNOWLEDGE_CONFIRMED, moderator, "")
    assert event.changes["knowledge_unconfirmed_since"] == [R.isoformat(), None]
    page = client_for(moderator).get(f"/escalations/{esc.pk}/").content.decode()
    assert "When did the platform first know?" not in page and f"/escalations/{esc.pk}/knowledge/" not in page


def test_an_earlier_time_that_makes_the_report_late_needs_a_breach_reason(
    clock: Any, moderator: Any, client_for: Any
) -> None:
    esc = from_coop()
    url = f"/escalations/{esc.pk}/knowledge/"
    two_days_before = {"knowledge_at": "2026-02-28T09:00", "version": esc.version}
    refused = client_for(moderator).post(url, two_days_before)
    assert refused.status_code == 200 and "Breach reason is required" in refused.content.decode()
    esc.refresh_from_db()
    assert esc.knowledge_unconfirmed_since is not None

    saved = client_for(moderator).post(url, {**two_days_before, "breach_reason": "logged_late"})
    assert saved.status_code == 302
    esc.refresh_from_db()
    assert esc.knowledge_at == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert (esc.reported_on_time, esc.breach_reason, esc.report_seconds) == (False, "logged_late", 2 * 86400 + 30)
    assert "corrected from" in esc.audit_events.latest("pk").reason


def test_knowledge_after_the_report_or_a_second_confirmation_is_refused(
    clock: Any, moderator: Any, client_for: Any
) -> None:
    esc = from_coop()
    url = f"/escalations/{esc.pk}/knowledge/"
    clock.shift(timedelta(minutes=2))
    after = client_for(moderator).post(url, {"knowledge_at": "2026-03-02T09:01", "version": esc.version})
    assert "can&#x27;t be after the report was sent" in after.content.decode()
    client_for(moderator).post(url, {"knowledge_at": "2026-03-02T08:00", "version": esc.version})
    esc.refresh_from_db()
    with pytest.raises(Exception, match="confirmed already"):
        services.confirm_knowledge(actor=moderator, escalation_id=esc.pk, version=None, knowledge_at=esc.knowledge_at)


def test_the_compliance_report_does_not_call_a_placeholder_in_time(clock: Any, moderator: Any) -> None:
    from escalations.compliance.exports import compliance_summary, outcome

    esc = from_coop()
    assert outcome(esc, R) == "Reported, knowledge time not confirmed"
    summary = compliance_summary(Escalation.objects.all(), R)
    assert (summary["on_time"], summary["late"]) == (0, 0)
    services.confirm_knowledge(actor=moderator, escalation_id=esc.pk, version=None, knowledge_at=R - timedelta(hours=1))
    esc.refresh_from_db()
    assert outcome(esc, R) == "On time"
