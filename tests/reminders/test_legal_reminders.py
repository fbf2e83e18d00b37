"""After the report, the reminders (escalations/reminders.py): NCMEC's unfinished report two hours
before NCMEC deletes it, and a legal request's response date (due soon, then overdue daily), each
recorded once, sent to the right people, and cancelled with a reason once it no longer applies.

The clock is frozen with time_machine (tick=False) and moved by hand, so every "now" is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalations import policy
from escalations.core import selectors, services
from escalations.legal import services as legal_services
from escalations.models import Delivery, Escalation, LegalRequest, LegalRequestStatus, Reminder, UserProfile
from escalations.policy import ReminderKind
from escalations.reminders import channels as notify
from escalations.reminders import sweep as reminders

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = T0
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NCMEC = ReminderKind.NCMEC_UNFINISHED
SOON = ReminderKind.LEGAL_RESPONSE_DUE_SOON
OVERDUE = ReminderKind.LEGAL_RESPONSE_OVERDUE


def with_email(user: Any, address: str) -> Any:
    user.email = address
    user.save()
    # Email only, so a failing mail server leaves every delivery of a reminder pending.
    UserProfile.objects.update_or_create(
        user=user, defaults={"email_notifications": True, "in_app_notifications": False}
    )
    user.refresh_from_db()
    return user


@pytest.fixture
def mod(moderator: Any) -> Any:
    return with_email(moderator, "mod@example.org")


@pytest.fixture
def boss(lead: Any) -> Any:
    return with_email(lead, "lead@example.org")


@pytest.fixture
def boss2(make_user: Any) -> Any:
    return with_email(make_user("leader2", "lead"), "lead2@example.org")


def of_kind(kind: str) -> list[Reminder]:
    return list(Reminder.objects.filter(kind=kind).order_by("due_at", "pk"))


def recipients_of(reminder: Reminder) -> set[str]:
    return set(Delivery.objects.filter(reminder=reminder).values_list("recipient__username", flat=True))


def mails_about(outbox: list[Any], text: str) -> list[Any]:
    return [m for m in outbox if text in m.subject]


def refuse_email(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(user: Any, message: notify.Message) -> None:
        raise notify.DeliveryError("SMTP 451 try again later")

    monkeypatch.setattr(notify, "send_email", refuse)


# --- NCMEC's unfinished report ---------------------------------------------------------------------------


def test_the_ncmec_reminder_goes_out_2_hours_before_deletion_to_the_assignee_and_leads_once(
    clock, mod, boss, make_escalation, mailoutbox
):
    opened = T0 - HOUR
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR, ncmec_opened_at=opened)
    deletion = opened + 24 * HOUR
    clock.move_to(deletion - 2 * HOUR - SECOND)
    reminders.sweep()
    assert of_kind(NCMEC) == []

    clock.move_to(deletion - 2 * HOUR)
    reminders.sweep()
    reminders.sweep()
    (reminder,) = of_kind(NCMEC)
    assert (reminder.escalation_id, reminder.due_at, reminder.sent_at) == (esc.pk, deletion - 2 * HOUR, T0 + 21 * HOUR)
    assert recipients_of(reminder) == {"mod", "leader"}
    mails = mails_about(mailoutbox, "Unfinished NCMEC report")
    assert sorted(m.to[0] for m in mails) == ["lead@example.org", "mod@example.org"]
    assert mails[0].subject == f"[Escalations] {esc.key}: Unfinished NCMEC report will be deleted: finish it"
    assert f"(deadline {deletion:%Y-%m-%d %H:%M} UTC)" in mails[0].body

    clock.move_to(deletion + DAY)
    reminders.sweep()
    assert len(of_kind(NCMEC)) == 1


def ncmec_warning_at(esc: Escalation) -> list[datetime]:
    cfg = policy.PolicyConfig.from_settings()
    return [spec.first_at for spec in policy.reminder_plan(esc, cfg) if spec.kind == NCMEC]


def test_the_ncmec_reminder_follows_the_last_change(clock, mod, make_escalation):
    opened = T0 - 10 * HOUR
    esc = make_escalation(knowledge_at=T0 - 11 * HOUR, ncmec_opened_at=opened, ncmec_last_change_at=T0)
    # 24 h after opening (T0 + 14 h) is later than 1 h after the change (T0 + 1 h).
    assert ncmec_warning_at(esc) == [T0 + 12 * HOUR]
    clock.move_to(T0 + 11 * HOUR)
    esc = services.edit_escalation(
        actor=mod, escalation_id=esc.pk, version=None, data={"ncmec_last_change_at": T0 + 11 * HOUR}
    )
    # 1 h after this change is T0 + 12 h, still before T0 + 14 h: nothing moves.
    assert ncmec_warning_at(esc) == [T0 + 12 * HOUR]
    reminders.sweep()
    assert of_kind(NCMEC) == []
    clock.move_to(T0 + 13 * HOUR + 30 * MINUTE)
    esc = services.edit_escalation(
        actor=mod, escalation_id=esc.pk, version=None, data={"ncmec_last_change_at": T0 + 13 * HOUR + 30 * MINUTE}
    )
    # Now the change decides: deleted at T0 + 14 h 30, warned at T0 + 12 h 30, recorded at once.
    assert ncmec_warning_at(esc) == [T0 + 12 * HOUR + 30 * MINUTE]
    assert esc.next_reminder_at is not None and esc.next_reminder_at <= T0 + 12 * HOUR + 30 * MINUTE
    reminders.sweep()
    assert [r.due_at for r in of_kind(NCMEC)] == [T0 + 12 * HOUR + 30 * MINUTE]


def test_the_ncmec_reminder_is_cancelled_once_the_report_is_recorded(
    clock, mod, boss, make_escalation, mailoutbox, monkeypatch
):
    opened = T0 - 22 * HOUR
    esc = make_escalation(knowledge_at=T0 - 23 * HOUR, ncmec_opened_at=opened)
    with monkeypatch.context() as patch:
        refuse_email(patch)
        reminders.sweep()
    (reminder,) = of_kind(NCMEC)
    assert reminder.sent_at is None and reminder.due_at == T0

    clock.move_to(T0 + 30 * SECOND)
    services.record_report(
        actor=mod, escalation_id=esc.pk, version=None, reported_at=T0, cybertipline_report_id="4564654"
    )
    clock.move_to(T0 + 2 * MINUTE)  # past the retry backoff
    reminders.sweep()
    reminder.refresh_from_db()
    assert (reminder.sent_at, reminder.cancelled_at) == (None, T0 + 2 * MINUTE)
    assert reminder.cancel_reason == "The report was recorded, so it was finished at NCMEC."
    assert mails_about(mailoutbox, "Unfinished NCMEC report") == []
    assert not Delivery.objects.filter(reminder=reminder, cancelled_at__isnull=True).exists()
    # The timeline says why it was not sent.
    cancelled = [e["cancelled"] for e in selectors.timeline_entries(esc) if "cancelled" in e]
    assert NCMEC in [r.kind for r in cancelled]


def test_no_ncmec_reminder_when_the_report_was_recorded_in_time(clock, mod, make_escalation):
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR, ncmec_opened_at=T0 - HOUR)
    services.record_report(
        actor=mod, escalation_id=esc.pk, version=None, reported_at=T0, cybertipline_report_id="4564654"
    )
    clock.move_to(T0 + 3 * DAY)
    reminders.sweep()
    assert of_kind(NCMEC) == []


# --- legal requests' response dates ------------------------------------------------------------------


def new_request(actor: Any, escalations: list[Escalation], due: datetime | None, **data: Any) -> LegalRequest:
    data.setdefault("kind", "subpoena")
    data.setdefault("agency", "FBI Field Office")
    data.setdefault("reference", "FBI-2026-77")
    data.setdefault("received_at", T0)
    return legal_services.create_legal_request(
        actor=actor, data={**data, "response_due_at": due, "escalations": [e.pk for e in escalations]}
    )


@pytest.fixture
def three(make_escalation: Any, mod: Any) -> list[Escalation]:
    return [make_escalation(knowledge_at=T0 - HOUR) for _ in range(3)]


def test_legal_reminders_are_recorded_once_per_request_on_its_first_escalation_to_every_lead(
    clock, mod, boss, boss2, three, mailoutbox
):
    first, second, third = three
    due = T0 + 3 * DAY
    request = new_request(boss, [third, first, second], due)

    clock.move_to(due - 24 * HOUR - SECOND)
    reminders.sweep()
    assert of_kind(SOON) == []

    clock.move_to(due - 24 * HOUR)
    reminders.sweep()
    reminders.sweep()
    (soon,) = of_kind(SOON)
    assert (soon.escalation_id, soon.due_at, soon.sent_at) == (first.pk, due - 24 * HOUR, due - 24 * HOUR)
    assert recipients_of(soon) == {"leader", "leader2"}  # the leads only, not the assignee
    mails = mails_about(mailoutbox, request.key)
    assert sorted(m.to[0] for m in mails) == ["lead2@example.org", "lead@example.org"]
    assert mails[0].subject == (f"[Escalations] {first.key}: Legal request response due soon: {request.key} (Subpoena)")
    assert f"(deadline {due:%Y-%m-%d %H:%M} UTC)" in mails[0].body
    assert "FBI-2026-77" not in mails[0].body  # the key names it; the agency's reference stays in the app

    clock.move_to(due - SECOND)
    reminders.sweep()
    assert of_kind(OVERDUE) == []
    clock.move_to(due)
    reminders.sweep()
    reminders.sweep()
    assert [(r.escalation_id, r.due_at) for r in of_kind(OVERDUE)] == [(first.pk, due)]
    assert len(mails_about(mailoutbox, "Legal request response overdue")) == 2

    # Then daily while the request stays open; one reminder per day however often the sweep runs.
    for moment in (due + DAY - SECOND, due + DAY, due + DAY + HOUR, due + 2 * DAY + HOUR):
        clock.move_to(moment)
        reminders.sweep()
    assert [r.due_at for r in of_kind(OVERDUE)] == [due, due + DAY, due + 2 * DAY]
    assert len(of_kind(SOON)) == 1
    assert not Reminder.objects.filter(kind__in=(SOON, OVERDUE)).exclude(escalation=first).exists()


def test_legal_reminders_are_cancelled_when_the_request_is_answered(clock, mod, boss, three, mailoutbox, monkeypatch):
    due = T0 + DAY
    request = new_request(boss, three, due)
    with monkeypatch.context() as patch:
        refuse_email(patch)
        reminders.sweep()
    (soon,) = of_kind(SOON)
    assert soon.sent_at is None

    clock.move_to(T0 + HOUR)
    legal_services.respond_legal_request(actor=boss, request_id=request.pk, version=None, responded_at=None)
    soon.refresh_from_db()
    assert (soon.cancelled_at, soon.cancel_reason) == (T0 + HOUR, f"{request.key} was answered.")
    assert not Delivery.objects.filter(reminder=soon, cancelled_at__isnull=True).exists()

    clock.move_to(due + 3 * DAY)
    reminders.sweep()
    assert of_kind(OVERDUE) == []
    assert mails_about(mailoutbox, request.key) == []


def test_the_sweep_cancels_a_legal_reminder_whose_request_closed_meanwhile(clock, mod, boss, three, monkeypatch):
    due = T0 - HOUR
    request = new_request(boss, three, due, received_at=T0 - DAY)
    with monkeypatch.context() as patch:
        refuse_email(patch)
        reminders.sweep()
    # Overdue already: only the overdue reminder, the due-soon one is not recorded any more.
    assert of_kind(SOON) == []
    (overdue,) = of_kind(OVERDUE)
    # Closed by a path that does not cancel reminders itself: the sweep checks before delivering.
    LegalRequest.objects.filter(pk=request.pk).update(status=LegalRequestStatus.CLOSED)
    clock.move_to(T0 + 2 * MINUTE)
    reminders.sweep()
    overdue.refresh_from_db()
    assert (overdue.sent_at, overdue.cancel_reason) == (None, f"{request.key} was closed.")


def test_closing_a_request_cancels_its_pending_reminders_with_the_reason(clock, mod, boss, three, monkeypatch):
    request = new_request(boss, three, T0 + HOUR)
    with monkeypatch.context() as patch:
        refuse_email(patch)
        reminders.sweep()
    legal_services.close_legal_request(actor=boss, request_id=request.pk, version=None, reason="Withdrawn")
    (soon,) = of_kind(SOON)
    assert soon.cancel_reason == f"{request.key} was closed."


def test_two_requests_due_together_on_the_same_first_escalation_share_one_reminder_naming_both(
    clock, mod, boss, three, mailoutbox, monkeypatch
):
    due = T0 + 12 * HOUR
    one = new_request(boss, three, due, reference="A-1")
    two = new_request(boss, three[:1], due, kind="court_order", reference="B-2")
    with monkeypatch.context() as patch:
        refuse_email(patch)
        reminders.sweep()
    (soon,) = of_kind(SOON)
    # Answering one leaves the reminder standing for the other.
    legal_services.respond_legal_request(actor=boss, request_id=one.pk, version=None, responded_at=None)
    soon.refresh_from_db()
    assert soon.cancelled_at is None
    clock.move_to(T0 + 2 * MINUTE)
    reminders.sweep()
    (mail,) = mails_about(mailoutbox, "Legal request response due soon")
    assert f"{two.key} (Court order), {one.key} (Subpoena)" in mail.subject
    legal_services.respond_legal_request(actor=boss, request_id=two.pk, version=None, responded_at=None)
    assert of_kind(SOON)[0].cancelled_at is None  # it was sent: nothing to cancel


def test_no_legal_reminder_without_a_response_date_or_once_answered_in_time(clock, mod, boss, three):
    new_request(boss, three, None)
    answered = new_request(boss, three, T0 + 2 * DAY)
    legal_services.respond_legal_request(actor=boss, request_id=answered.pk, version=None, responded_at=None)
    clock.move_to(T0 + 5 * DAY)
    reminders.sweep()
    assert of_kind(SOON) == of_kind(OVERDUE) == []


def test_legal_reminders_go_to_the_first_escalations_owner_when_there_is_no_lead(
    clock, mod, make_user, make_escalation, mailoutbox
):
    clerk = make_user("clerk", "lead")
    esc = make_escalation(knowledge_at=T0 - HOUR)
    new_request(clerk, [esc], T0 + HOUR)
    clerk.is_active = False
    clerk.save()
    reminders.sweep()
    (soon,) = of_kind(SOON)
    assert recipients_of(soon) == {"mod"}
