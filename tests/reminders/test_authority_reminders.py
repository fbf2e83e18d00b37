"""The authority register's reminders through the sweep: due soon at its moment (not a second
before), overdue at the deadline, each recorded and sent once however often the sweep runs; two
authorities due at the same moment share one reminder naming both; nothing once the filing is
recorded. The clock stands still (time_machine, tick=False) and is moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from escalations.legal import authority_services
from escalations.legal import services as legal_services
from escalations.models import AuthorityObligation, Delivery, Destination, Reminder
from escalations.reminders import sweep as reminders

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CLOCK_START = T0
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
KNOWLEDGE = T0 - 20 * HOUR  # the authorities' deadline T0+4h (the platform's 24 h), due soon from T0
KINDS = ("authority_due_soon", "authority_overdue")


def authority_reminders() -> list[tuple[str, datetime]]:
    return list(Reminder.objects.filter(kind__in=KINDS).order_by("due_at", "kind").values_list("kind", "due_at"))


def sent_to(kind: str) -> set[str]:
    rows = Delivery.objects.filter(reminder__kind=kind, sent_at__isnull=False).select_related("recipient")
    return {d.recipient.get_username() for d in rows}


def logged(make_escalation: Any, moderator: Any, **answers: bool) -> Any:
    # Reported to NCMEC already, so that its own report reminders stay out of the way.
    esc = make_escalation(knowledge_at=KNOWLEDGE, reported_at=KNOWLEDGE + HOUR)
    authority_services.answer_triage(actor=moderator, escalation_id=esc.pk, version=None, answers=answers)
    return esc


def test_due_soon_then_overdue_each_once_at_their_moments(clock, make_escalation, moderator, lead, mailoutbox):
    moderator.email, lead.email = "mod@example.org", "lead@example.org"
    moderator.save()
    lead.save()
    clock.move_to(T0 - HOUR)
    logged(make_escalation, moderator, uk_linked=True)
    clock.move_to(T0 - SECOND)
    reminders.sweep()
    assert authority_reminders() == []
    clock.move_to(T0)
    reminders.sweep()
    reminders.sweep()
    assert authority_reminders() == [("authority_due_soon", T0)]
    assert sent_to("authority_due_soon") == {"mod"}
    (mail,) = [m for m in mailoutbox if "authority" in m.subject]
    assert "Report to an authority due soon: National Crime Agency (United Kingdom)" in mail.subject + mail.body
    clock.move_to(T0 + 4 * HOUR - SECOND)
    reminders.sweep()
    assert [k for k, _ in authority_reminders()] == ["authority_due_soon"]
    clock.move_to(T0 + 4 * HOUR)
    reminders.sweep()
    clock.move_to(T0 + 30 * HOUR)
    reminders.sweep()
    assert authority_reminders() == [("authority_due_soon", T0), ("authority_overdue", T0 + 4 * HOUR)]
    assert sent_to("authority_overdue") == {"mod", "leader"}
    assert AuthorityObligation.objects.get().next_reminder_at is None


def test_two_authorities_due_together_share_one_reminder_naming_both(clock, make_escalation, moderator):
    clock.move_to(T0 - HOUR)
    logged(make_escalation, moderator, canada_connection=True)
    clock.move_to(T0 + 4 * HOUR)
    reminders.sweep()
    assert authority_reminders() == [("authority_overdue", T0 + 4 * HOUR)]
    note = moderator.notifications.get()
    assert "Canadian Centre for Child Protection (Canada), Police (Canada)" in note.title + note.body


def test_nothing_once_the_filing_is_recorded(clock, make_escalation, moderator):
    clock.move_to(T0 - HOUR)
    esc = logged(make_escalation, moderator, australian_end_users=True)
    legal_services.report_to_destination(
        actor=moderator,
        escalation_id=esc.pk,
        version=None,
        destination_id=Destination.objects.get(code="afp").pk,
        reported_at=T0 - HOUR,
        report_id="AFP-1",
    )
    clock.move_to(T0 + 30 * HOUR)
    reminders.sweep()
    assert authority_reminders() == []
