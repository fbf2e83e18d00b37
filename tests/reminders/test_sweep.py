"""The reminder sweep end to end (escalations/reminders.py, notify.py): what people receive, when, on
which channel, and that nothing is lost or sent twice when sweeps repeat, fail, die or overlap.

The clock is frozen with time_machine (tick=False) and moved by hand, so every "now" is exact.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from standardwebhooks.webhooks import Webhook

from escalations import tasks
from escalations.core import services
from escalations.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    Escalation,
    Notification,
    Priority,
    Reminder,
    SweepHeartbeat,
    UserProfile,
)
from escalations.policy import REMINDER_LABELS, ReminderKind
from escalations.reminders import channels as notify
from escalations.reminders import sweep as reminders
from escalations.reminders import watchdog
from tests.support import Receiver, webhook_receiver

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = T0
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Knowledge times that put an escalation, at T0, in a known place of its reminder plan.
DUE_SOON_NOW = T0 - 21 * HOUR  # standard target T0+3h: report_due_soon came due at T0-1h
OVERDUE_NOW = T0 - 25 * HOUR  # standard target T0-1h: report_overdue came due at T0-1h
SECRET_REFERENCE = "https://platform.example/internal/u/8812/post/SECRET-REF-4242"


class Killed(BaseException):
    """A worker dying mid-delivery (SIGKILL): nothing after it in the sweep runs."""


@pytest.fixture
def mod(moderator: Any) -> Any:
    moderator.email = "mod@example.org"
    moderator.save()
    return moderator


@pytest.fixture
def boss(lead: Any) -> Any:
    lead.email = "lead@example.org"
    lead.save()
    return lead


def sweep() -> reminders.SweepStats:
    return reminders.sweep()


def prefs(user: Any, **fields: Any) -> UserProfile:
    profile, _ = UserProfile.objects.update_or_create(user=user, defaults=fields)
    user.refresh_from_db()
    return profile


def mail_to(outbox: list[Any], user: Any) -> list[Any]:
    return [m for m in outbox if m.to == [user.email]]


def delivered(escalation: Escalation, kind: str) -> set[tuple[str, str]]:
    """(username, channel) of every sent delivery of that reminder kind."""
    rows = Delivery.objects.filter(reminder__escalation=escalation, reminder__kind=kind, sent_at__isnull=False)
    return {(d.recipient.get_username(), d.channel) for d in rows.select_related("recipient")}


def recipients_of(escalation: Escalation, kind: str) -> set[str]:
    return {name for name, _ in delivered(escalation, kind)}


ITEM_LINE = re.compile(r"^(ESC-\d+): (.+) \(deadline ", re.MULTILINE)


def emailed_items(outbox: list[Any]) -> Counter[tuple[str, str, str]]:
    """(address, key, reminder label) of every reminder listed in every email, digests included."""
    return Counter((m.to[0], key, label) for m in outbox for key, label in ITEM_LINE.findall(m.body))


# --- once, and only once -----------------------------------------------------------------------


def test_a_sweep_run_twice_records_and_sends_each_reminder_once(clock, mod, boss, make_escalation, mailoutbox):
    esc = make_escalation(knowledge_at=DUE_SOON_NOW, platform_reference=SECRET_REFERENCE)
    sweep()
    sweep()

    (reminder,) = Reminder.objects.filter(escalation=esc)
    assert (reminder.kind, reminder.due_at, reminder.sent_at) == ("report_due_soon", T0 - HOUR, T0)
    assert sorted(Delivery.objects.filter(reminder=reminder).values_list("recipient__username", "channel")) == [
        ("mod", Channel.EMAIL),
        ("mod", Channel.IN_APP),
    ]
    assert [m.to for m in mailoutbox] == [["mod@example.org"]]
    assert mailoutbox[0].subject == f"[Escalations] {esc.key}: Report due soon"

    (note,) = Notification.objects.all()
    assert (note.user, note.escalation, note.read_at) == (mod, esc, None)
    assert esc.key in note.title
    assert f"/escalations/{esc.pk}/" in note.body
    assert SECRET_REFERENCE not in note.title + note.body
    # The lead hears nothing of a due-soon reminder.
    assert not Notification.objects.filter(user=boss).exists()


def test_a_sweep_again_later_sends_the_next_reminder_not_the_previous_one(clock, mod, make_escalation, mailoutbox):
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    sweep()
    clock.move_to(T0 + 3 * HOUR)  # the target
    sweep()
    clock.move_to(T0 + 7 * HOUR - SECOND)
    sweep()
    assert [m.subject for m in mailoutbox] == [
        f"[Escalations] {esc.key}: Report due soon",
        f"[Escalations] {esc.key}: Report overdue",
    ]
    clock.move_to(T0 + 7 * HOUR)
    sweep()
    assert mailoutbox[-1].subject == f"[Escalations] {esc.key}: Report overdue"
    assert len(mailoutbox) == 3
    assert list(Reminder.objects.filter(escalation=esc).values_list("kind", "due_at")) == [
        ("report_due_soon", T0 - HOUR),
        ("report_overdue", T0 + 3 * HOUR),
        ("report_overdue", T0 + 7 * HOUR),
    ]


def test_a_reminder_is_sent_at_its_moment_not_a_second_before(clock, mod, make_escalation, mailoutbox):
    make_escalation(knowledge_at=T0 - 10 * HOUR)  # target T0+14h, due soon at T0+10h
    clock.move_to(T0 + 10 * HOUR - SECOND)
    sweep()
    assert mailoutbox == []
    assert not Reminder.objects.exists()
    clock.move_to(T0 + 10 * HOUR)
    sweep()
    assert len(mailoutbox) == 1


def test_the_sweep_moves_next_reminder_at_to_the_next_occurrence(clock, mod, make_escalation):
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    assert esc.next_reminder_at == T0 - HOUR
    sweep()
    esc.refresh_from_db()
    assert esc.next_reminder_at == T0 + 3 * HOUR


# --- who hears of what --------------------------------------------------------------------------


def test_due_soon_goes_to_the_assignee_only(clock, mod, boss, make_user, make_escalation, mailoutbox):
    other = make_user("mod2", "moderator")
    esc = make_escalation(knowledge_at=DUE_SOON_NOW, assignee=other)
    sweep()
    assert recipients_of(esc, "report_due_soon") == {"mod2"}
    assert mailoutbox == []  # mod2 has no email address: in-app only
    assert Notification.objects.filter(user=other).count() == 1


def test_due_soon_goes_to_the_creator_while_nobody_is_assigned(clock, mod, boss, make_user, make_escalation):
    other = make_user("mod2", "moderator")
    esc = make_escalation(knowledge_at=DUE_SOON_NOW, assignee=other)
    services.assign_escalation(actor=boss, escalation_id=esc.pk, version=esc.version, assignee=None)
    sweep()
    assert recipients_of(esc, "report_due_soon") == {"mod"}


@pytest.mark.parametrize(
    ("kind", "knowledge_at", "reported_at"),
    [
        ("report_overdue", OVERDUE_NOW, None),
        ("preservation_unconfirmed", T0 - 30 * HOUR, T0 - 25 * HOUR),
        ("preservation_ending", T0 - 340 * DAY, T0 - 340 * DAY + HOUR),
        ("preservation_ended", T0 - 367 * DAY, T0 - 366 * DAY),
    ],
)
def test_overdue_and_preservation_reminders_also_go_to_every_lead(
    clock, mod, boss, make_user, make_escalation, mailoutbox, kind, knowledge_at, reported_at
):
    make_user("leader2", "lead")
    make_user("bystander", "moderator")
    esc = make_escalation(knowledge_at=knowledge_at, reported_at=reported_at)
    sweep()
    assert recipients_of(esc, kind) == {"mod", "leader", "leader2"}
    assert Reminder.objects.get(escalation=esc, kind=kind).sent_at == T0
    assert (boss.email, esc.key, REMINDER_LABELS[ReminderKind(kind)]) in emailed_items(mailoutbox)


def test_a_lead_who_is_the_assignee_hears_once(clock, mod, boss, make_escalation, mailoutbox):
    esc = make_escalation(knowledge_at=OVERDUE_NOW, assignee=boss)
    sweep()
    assert sorted(delivered(esc, "report_overdue")) == [("leader", Channel.EMAIL), ("leader", Channel.IN_APP)]
    assert [m.to for m in mailoutbox] == [["lead@example.org"]]
    assert Notification.objects.filter(user=boss).count() == 1
    # The creator is not the owner once someone is assigned.
    assert not Notification.objects.filter(user=mod).exists()


@pytest.mark.parametrize(
    ("email", "profile", "expected"),
    [
        ("m@example.org", None, {Channel.EMAIL, Channel.IN_APP}),
        ("", None, {Channel.IN_APP}),
        ("m@example.org", {"email_notifications": True, "in_app_notifications": False}, {Channel.EMAIL}),
        ("m@example.org", {"email_notifications": False, "in_app_notifications": True}, {Channel.IN_APP}),
        # Nothing usable chosen: in-app rather than silence.
        ("", {"email_notifications": True, "in_app_notifications": False}, {Channel.IN_APP}),
        ("m@example.org", {"email_notifications": False, "in_app_notifications": False}, {Channel.IN_APP}),
    ],
    ids=["default", "no-address", "email-only", "in-app-only", "email-but-no-address", "nothing-chosen"],
)
def test_channels_follow_the_persons_choices(clock, moderator, make_escalation, mailoutbox, email, profile, expected):
    moderator.email = email
    moderator.save()
    if profile is not None:
        prefs(moderator, **profile)
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    sweep()
    assert {channel for _, channel in delivered(esc, "report_due_soon")} == expected
    assert len(mailoutbox) == (1 if Channel.EMAIL in expected else 0)
    assert Notification.objects.filter(user=moderator).count() == (1 if Channel.IN_APP in expected else 0)


# --- the email ----------------------------------------------------------------------------------


def test_sendreminders_emails_metadata_and_a_link_in_text_and_html(clock, mod, make_escalation, mailoutbox, settings):
    settings.SITE_URL = "https://escalations.example.org"
    esc = make_escalation(knowledge_at=DUE_SOON_NOW, platform_reference=SECRET_REFERENCE, notes="seen in a DM")
    out = StringIO()
    call_command("sendreminders", stdout=out)
    assert "reminders_created=1" in out.getvalue()

    (email,) = mailoutbox
    link = f"https://escalations.example.org/escalations/{esc.pk}/"
    assert email.to == ["mod@example.org"]
    assert link in email.body
    assert esc.key in email.body
    assert "2026-05-04 12:00 UTC" in email.body  # the report target, not the reminder time
    ((html, mimetype),) = email.alternatives
    assert mimetype == "text/html"
    assert f'href="{link}"' in html
    for part in (email.subject, email.body, html):
        assert SECRET_REFERENCE not in part
        assert "SECRET-REF" not in part
        assert "seen in a DM" not in part


def test_sendreminders_twice_sends_once(clock, mod, make_escalation, mailoutbox):
    make_escalation(knowledge_at=DUE_SOON_NOW)
    call_command("sendreminders", stdout=StringIO())
    call_command("sendreminders", stdout=StringIO())
    assert len(mailoutbox) == 1


# --- catch-up after an outage -----------------------------------------------------------------------


def test_one_sweep_after_10_hours_down_sends_everything_that_came_due(clock, mod, boss, make_escalation, mailoutbox):
    urgent = make_escalation(knowledge_at=T0, priority=Priority.URGENT, urgent_reason="Live stream announced")
    standard = make_escalation(knowledge_at=T0 - 12 * HOUR)  # due soon at T0+8h, target T0+12h
    reported = make_escalation(knowledge_at=T0 - 22 * HOUR, reported_at=T0 - 20 * HOUR)  # unconfirmed at T0+4h
    quiet = make_escalation(knowledge_at=T0)  # due soon at T0+20h: nothing yet

    clock.move_to(T0 + 10 * HOUR)  # no sweep ran all this time
    sweep()
    now = T0 + 10 * HOUR

    # The urgent one: its due-soon reminder was overtaken by the overdue one and is cancelled, and of
    # the overdue occurrences (T0+1h, +5h, +9h) only the latest is recorded and sent.
    due_soon = Reminder.objects.get(escalation=urgent, kind="report_due_soon")
    assert (due_soon.due_at, due_soon.cancelled_at, due_soon.sent_at) == (T0 + 45 * MINUTE, now, None)
    assert not Delivery.objects.filter(reminder=due_soon, sent_at__isnull=False).exists()
    (overdue,) = Reminder.objects.filter(escalation=urgent, kind="report_overdue")
    assert (overdue.due_at, overdue.sent_at, overdue.cancelled_at) == (T0 + 9 * HOUR, now, None)

    assert Reminder.objects.get(escalation=standard).sent_at == now
    assert Reminder.objects.get(escalation=reported, kind="preservation_unconfirmed").sent_at == now
    assert not Reminder.objects.filter(escalation=quiet).exists()

    assert sorted(m.subject for m in mail_to(mailoutbox, mod)) == sorted(
        [
            f"[Escalations] URGENT {urgent.key}: Report overdue",
            f"[Escalations] {standard.key}: Report due soon",
            f"[Escalations] {reported.key}: Preservation not confirmed",
        ]
    )
    # The lead also hears, once, that the urgent escalation was logged, and, since nobody
    # acknowledged the overdue report, both escalation steps (no team has PagerDuty: to the leads).
    assert sorted(m.subject for m in mail_to(mailoutbox, boss)) == sorted(
        [
            f"[Escalations] URGENT {urgent.key}: Report overdue",
            f"[Escalations] URGENT {urgent.key}: {REMINDER_LABELS[ReminderKind.URGENT_LOGGED]}",
            f"[Escalations] URGENT {urgent.key}: {REMINDER_LABELS[ReminderKind.ESCALATED_TO_LEADS]}",
            f"[Escalations] URGENT {urgent.key}: {REMINDER_LABELS[ReminderKind.ESCALATED_TO_PAGERDUTY]}",
            f"[Escalations] {reported.key}: Preservation not confirmed",
        ]
    )
    assert len(mailoutbox) == 8

    sweep()
    assert len(mailoutbox) == 8


def test_a_report_recorded_late_gets_one_preservation_ending_reminder_not_one_per_missed_stage(
    clock, mod, boss, make_escalation, mailoutbox
):
    # Reported 360 days ago (recorded only now): preserve_until is T0+5d+1h, so the 30-day and the
    # 7-day stage are both past; leads hear "ending" once, the 1-day stage later.
    esc = make_escalation(knowledge_at=T0 - 360 * DAY, reported_at=T0 - 360 * DAY + HOUR)
    assert esc.preserve_until == T0 + 5 * DAY + HOUR
    sweep()
    stages = {r.due_at: r for r in Reminder.objects.filter(escalation=esc, kind="preservation_ending")}
    assert set(stages) == {esc.preserve_until - 30 * DAY, esc.preserve_until - 7 * DAY}
    assert (stages[esc.preserve_until - 30 * DAY].cancelled_at, stages[esc.preserve_until - 30 * DAY].sent_at) == (
        T0,
        None,
    )
    assert stages[esc.preserve_until - 7 * DAY].sent_at == T0
    ending = [i for i in emailed_items(mailoutbox).elements() if i[2] == "Preservation period ending"]
    assert sorted(ending) == [
        (boss.email, esc.key, "Preservation period ending"),
        (mod.email, esc.key, "Preservation period ending"),
    ]

    clock.move_to(esc.preserve_until - DAY)
    sweep()
    ending_count = sum(n for item, n in emailed_items(mailoutbox).items() if item[2] == "Preservation period ending")
    assert ending_count == 4


# --- cancellation -----------------------------------------------------------------------------------


def _fail_email(monkeypatch: pytest.MonkeyPatch, calls: list[Any] | None = None) -> None:
    def refuse(user: Any, message: notify.Message) -> None:
        if calls is not None:
            calls.append((user.pk, message.subject))
        raise notify.DeliveryError("SMTP 451 try again later")

    monkeypatch.setattr(notify, "send_email", refuse)


@pytest.mark.parametrize("change", ["record_report", "dismiss"])
def test_a_reminder_overtaken_before_delivery_is_cancelled_not_sent(
    clock, mod, boss, make_escalation, mailoutbox, monkeypatch, change
):
    prefs(mod, email_notifications=True, in_app_notifications=False)
    prefs(boss, email_notifications=True, in_app_notifications=False)
    esc = make_escalation(knowledge_at=OVERDUE_NOW)
    with monkeypatch.context() as patch:
        _fail_email(patch)
        sweep()
    reminder = Reminder.objects.get(escalation=esc, kind="report_overdue")
    assert reminder.sent_at is None
    assert Delivery.objects.filter(reminder=reminder, attempts=1, sent_at__isnull=True).count() == 2

    clock.move_to(T0 + 30 * SECOND)
    if change == "record_report":
        services.record_report(
            actor=mod,
            escalation_id=esc.pk,
            version=None,
            reported_at=T0,
            cybertipline_report_id="123456",
            breach_reason="volume",
        )
    else:
        services.dismiss_escalation(actor=boss, escalation_id=esc.pk, version=None, reason="Not reportable")

    clock.move_to(T0 + 2 * MINUTE)  # past the retry backoff
    sweep()
    reminder.refresh_from_db()
    assert reminder.cancelled_at == T0 + 2 * MINUTE
    assert reminder.sent_at is None
    assert reminder.cancel_reason
    assert mailoutbox == []
    assert not Delivery.objects.filter(reminder=reminder, cancelled_at__isnull=True).exists()
    # Cancelled deliveries are not tried again.
    clock.move_to(T0 + 2 * HOUR)
    sweep()
    assert mailoutbox == []
    assert DeliveryAttempt.objects.filter(delivery__reminder=reminder).count() == 2


def test_a_claim_whose_every_delivery_was_overtaken_does_not_end_the_sweep(
    clock, mod, make_escalation, mailoutbox, settings
):
    """After an outage the report is overdue: its "due soon" is recorded and then cancelled as
    overtaken. A claim holding only that one must not end the sweep before the overdue reminder."""
    settings.REMINDER_SWEEP_BATCH = 1
    prefs(mod, email_notifications=True, in_app_notifications=False)
    esc = make_escalation(knowledge_at=T0 - 40 * HOUR)
    sweep()
    assert Reminder.objects.get(escalation=esc, kind="report_due_soon").cancelled_at == T0
    assert [m.subject for m in mail_to(mailoutbox, mod)] == [f"[Escalations] {esc.key}: Report overdue"]


# --- digest ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "emails"), [(6, 1), (5, 5)])
def test_more_than_five_due_at_once_arrive_as_one_digest(clock, mod, boss, make_escalation, mailoutbox, count, emails):
    escalations = [make_escalation(knowledge_at=DUE_SOON_NOW) for _ in range(count)]
    sweep()
    assert len(mailoutbox) == emails
    assert Notification.objects.filter(user=mod).count() == emails
    assert Reminder.objects.filter(sent_at=T0).count() == count
    if emails == 1:
        (digest,) = mailoutbox
        assert digest.subject == "[Escalations] 6 reminders due"
        assert "6 reminders are due" in digest.body
        html = digest.alternatives[0][0]
        for esc in escalations:
            assert esc.key in digest.body
            assert f"/escalations/{esc.pk}/" in digest.body
            assert f"/escalations/{esc.pk}/" in html
        assert set(DeliveryAttempt.objects.values_list("batch_size", flat=True)) == {6}
    else:
        assert sorted(m.subject for m in mailoutbox) == sorted(
            f"[Escalations] {esc.key}: Report due soon" for esc in escalations
        )


@pytest.mark.parametrize(("threshold", "count", "emails"), [(2, 3, 1), (2, 2, 2), (10, 8, 8)])
def test_digest_threshold_is_a_setting(clock, mod, make_escalation, mailoutbox, settings, threshold, count, emails):
    settings.REMINDER_DIGEST_THRESHOLD = threshold
    for _ in range(count):
        make_escalation(knowledge_at=DUE_SOON_NOW)
    sweep()
    assert len(mailoutbox) == emails


# --- failures, retries, the timeline ----------------------------------------------------------------


def test_a_failed_email_is_retried_with_backoff_and_every_attempt_is_on_the_timeline(
    clock, mod, boss, make_escalation, mailoutbox, monkeypatch, client_for
):
    prefs(mod, email_notifications=True, in_app_notifications=False)
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    calls: list[Any] = []
    with monkeypatch.context() as patch:
        _fail_email(patch, calls)
        sweep()
        delivery = Delivery.objects.get(reminder__escalation=esc)
        assert (delivery.attempts, delivery.sent_at, delivery.next_attempt_at) == (1, None, T0 + MINUTE)
        assert "SMTP 451" in delivery.last_error
        assert Reminder.objects.get(escalation=esc).sent_at is None

        clock.move_to(T0 + MINUTE - SECOND)
        sweep()
        assert len(calls) == 1  # not retried before its time

        clock.move_to(T0 + MINUTE)
        sweep()
        assert len(calls) == 2
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.next_attempt_at) == (2, T0 + 3 * MINUTE)  # 2 min after the 2nd

        clock.move_to(T0 + 3 * MINUTE - SECOND)
        sweep()
        assert len(calls) == 2
    assert mailoutbox == []

    clock.move_to(T0 + 3 * MINUTE)
    sweep()
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.sent_at, delivery.last_error) == (3, T0 + 3 * MINUTE, "")
    assert Reminder.objects.get(escalation=esc).sent_at == T0 + 3 * MINUTE
    assert len(mailoutbox) == 1

    attempts = list(DeliveryAttempt.objects.filter(escalation=esc).values_list("ok", "at"))
    assert attempts == [(False, T0), (False, T0 + MINUTE), (True, T0 + 3 * MINUTE)]

    page = client_for(boss).get(f"/escalations/{esc.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<strong>failed</strong> to mod by Email") == 2
    assert html.count("sent to mod by Email") == 1
    assert "SMTP 451 try again later" in html

    clock.move_to(T0 + HOUR)
    sweep()
    assert len(mailoutbox) == 1


def test_backoff_doubles_up_to_an_hour():
    assert [reminders.backoff(n) for n in (1, 2, 3, 4, 6, 7, 20)] == [
        MINUTE,
        2 * MINUTE,
        4 * MINUTE,
        8 * MINUTE,
        32 * MINUTE,
        HOUR,
        HOUR,
    ]


def test_one_failing_channel_does_not_hold_back_the_others(clock, mod, make_escalation, mailoutbox, monkeypatch):
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    with monkeypatch.context() as patch:
        _fail_email(patch)
        sweep()
    assert delivered(esc, "report_due_soon") == {("mod", Channel.IN_APP)}
    # The reminder is not "sent" until every recipient has it on every channel.
    assert Reminder.objects.get(escalation=esc).sent_at is None
    clock.move_to(T0 + MINUTE)
    sweep()
    assert Reminder.objects.get(escalation=esc).sent_at == T0 + MINUTE
    assert Notification.objects.filter(user=mod).count() == 1
    assert len(mailoutbox) == 1


# --- a sweep that dies mid-delivery -------------------------------------------------------------------


def test_a_sweep_killed_mid_delivery_is_finished_by_a_later_one_after_the_lease(
    clock, mod, make_escalation, mailoutbox, monkeypatch, settings
):
    settings.REMINDER_CLAIM_LEASE_SECONDS = 120
    prefs(mod, email_notifications=True, in_app_notifications=False)
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(notify, "send", die)
        with pytest.raises(Killed):
            sweep()
    delivery = Delivery.objects.get(reminder__escalation=esc)
    assert (delivery.sent_at, delivery.attempts, delivery.claimed_until) == (None, 0, T0 + 120 * SECOND)

    clock.move_to(T0 + 60 * SECOND)  # another sweep while the dead one's claim still holds
    sweep()
    clock.move_to(T0 + 120 * SECOND)
    sweep()
    assert mailoutbox == []

    clock.move_to(T0 + 121 * SECOND)
    sweep()
    sweep()
    assert len(mailoutbox) == 1
    delivery.refresh_from_db()
    assert delivery.sent_at == T0 + 121 * SECOND
    assert Reminder.objects.get(escalation=esc).sent_at == T0 + 121 * SECOND


def test_a_sweep_outliving_its_lease_does_not_send_what_another_sweep_took_over(
    clock, mod, boss, make_escalation, mailoutbox, monkeypatch, settings
):
    """A slow channel makes one sweep take longer than the lease; the next tick's sweep takes over the
    deliveries the first has not reached yet. The first must then leave them alone."""
    settings.REMINDER_CLAIM_LEASE_SECONDS = 120
    prefs(mod, email_notifications=True, in_app_notifications=False)
    prefs(boss, email_notifications=True, in_app_notifications=False)
    esc = make_escalation(knowledge_at=OVERDUE_NOW)
    original = notify.send_email
    sent: list[str] = []
    state = {"nested": False}

    def slow_email(user: Any, message: notify.Message) -> None:
        # Each email takes 100 s; while the first sweep sends its second one, the next tick runs.
        clock.shift(100)
        if len(sent) == 1 and not state["nested"]:
            state["nested"] = True
            sweep()
        sent.append(user.get_username())
        original(user, message)

    monkeypatch.setattr(notify, "send_email", slow_email)
    sweep()
    assert Counter(sent) == {"mod": 1, "leader": 1}
    assert len(mailoutbox) == 2
    assert Reminder.objects.get(escalation=esc, kind="report_overdue").sent_at is not None
    assert DeliveryAttempt.objects.filter(ok=True).count() == 2


def test_an_in_app_sweep_outliving_its_lease_does_not_notify_again_what_another_sweep_took_over(
    clock, mod, boss, make_escalation, monkeypatch, settings
):
    """Two beats (or a long sweep and the next tick) run sweeps side by side. One stalls between
    taking its in-app message and writing it, past its lease; the next sweep takes the deliveries
    over and notifies. When the first wakes, it must not add a second notification."""
    settings.REMINDER_CLAIM_LEASE_SECONDS = 120
    prefs(mod, email_notifications=False, in_app_notifications=True)
    prefs(boss, email_notifications=False, in_app_notifications=True)
    esc = make_escalation(knowledge_at=OVERDUE_NOW)
    original = notify.message_for
    state = {"stalled": False}

    def stall_once(*args: Any, **kwargs: Any) -> notify.Message:
        if not state["stalled"]:
            state["stalled"] = True
            clock.shift(121)  # past the lease this sweep renewed a moment ago
            sweep()  # the next tick's sweep
        return original(*args, **kwargs)

    monkeypatch.setattr(notify, "message_for", stall_once)
    sweep()
    assert Counter(Notification.objects.values_list("user__username", flat=True)) == {"mod": 1, "leader": 1}
    assert set(Counter(DeliveryAttempt.objects.values_list("delivery", flat=True)).values()) == {1}
    assert Reminder.objects.get(escalation=esc, kind="report_overdue").sent_at is not None


# --- in-app -----------------------------------------------------------------------------------------


def test_in_app_notifications_are_created_once_per_person(clock, mod, boss, make_escalation):
    esc = make_escalation(knowledge_at=OVERDUE_NOW)
    for _ in range(3):
        sweep()
    clock.move_to(T0 + 30 * MINUTE)
    sweep()
    assert Counter(Notification.objects.values_list("user__username", flat=True)) == {"mod": 1, "leader": 1}
    assert set(Notification.objects.values_list("escalation", flat=True)) == {esc.pk}
    assert all("Report overdue" in n.title for n in Notification.objects.all())


# --- webhooks against a real local HTTP server --------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as state:
        yield state


WEBHOOK_SECRET = "0f3c9a1d2e4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f"


@pytest.fixture
def hooked(mod: Any, receiver: Receiver) -> Any:
    prefs(
        mod,
        email_notifications=False,
        in_app_notifications=False,
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
    )
    return mod


def test_webhook_posts_signed_slack_compatible_json(clock, hooked, receiver, make_escalation, mailoutbox):
    esc = make_escalation(knowledge_at=DUE_SOON_NOW, platform_reference=SECRET_REFERENCE)
    sweep()
    sweep()
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    # Signed the Standard Webhooks way: a receiver verifies it with any of that scheme's libraries.
    Webhook(WEBHOOK_SECRET).verify(body, {name.lower(): value for name, value in headers.items()})
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert esc.key in payload["text"]
    assert "Report due soon" in payload["text"]
    assert f"/escalations/{esc.pk}/" in payload["text"]
    assert payload["reminders"][0]["key"] == esc.key
    assert payload["reminders"][0]["kind"] == "report_due_soon"
    assert SECRET_REFERENCE not in body.decode()
    assert delivered(esc, "report_due_soon") == {("mod", Channel.WEBHOOK)}
    assert mailoutbox == []


def test_webhook_answering_500_is_retried(clock, hooked, receiver, make_escalation):
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    receiver.status = 500
    sweep()
    delivery = Delivery.objects.get(reminder__escalation=esc)
    assert (delivery.attempts, delivery.sent_at, delivery.next_attempt_at) == (1, None, T0 + MINUTE)
    assert delivery.last_error == "webhook answered HTTP 500"
    with pytest.raises(notify.DeliveryError):
        notify.send_webhook(hooked, notify.test_message())

    receiver.status = 204
    clock.move_to(T0 + MINUTE)
    sweep()
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.sent_at) == (2, T0 + MINUTE)
    assert len(receiver.requests) == 3  # two from the sweep, one from the direct send above
    assert list(DeliveryAttempt.objects.filter(escalation=esc).values_list("ok", flat=True)) == [False, True]


def test_a_webhook_that_does_not_answer_in_time_is_recorded_as_a_timeout(
    clock, hooked, receiver, make_escalation, settings
):
    settings.WEBHOOK_DEADLINE_SECONDS = 0.2
    receiver.delay = 1.0
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    started = time.monotonic()
    sweep()
    assert time.monotonic() - started < 1.0
    delivery = Delivery.objects.get(reminder__escalation=esc)
    assert (delivery.attempts, delivery.sent_at) == (1, None)
    assert delivery.last_error == "webhook did not answer within 0.2 s"
    (attempt,) = DeliveryAttempt.objects.filter(escalation=esc)
    assert not attempt.ok
    assert attempt.error == "webhook did not answer within 0.2 s"


def test_the_default_webhook_deadline_is_10_seconds_for_the_whole_request():
    from django.conf import settings

    assert settings.WEBHOOK_DEADLINE_SECONDS == 10


def test_a_webhook_answering_garbage_fails_that_delivery_only(
    clock, hooked, boss, receiver, make_escalation, mailoutbox
):
    receiver.garbage = True
    esc = make_escalation(knowledge_at=OVERDUE_NOW)
    sweep()
    webhook = Delivery.objects.get(reminder__escalation=esc, reminder__kind="report_overdue", channel=Channel.WEBHOOK)
    assert (webhook.attempts, webhook.sent_at, webhook.next_attempt_at) == (1, None, T0 + MINUTE)
    assert webhook.last_error
    # The lead's email went out in the same sweep, and the sweep finished (the watchdog stays calm).
    assert [m.to for m in mailoutbox] == [["lead@example.org"]]
    assert watchdog.last_sweep() == T0


def test_a_webhook_that_cannot_be_reached_is_a_delivery_error(clock, hooked, receiver, make_escalation):
    UserProfile.objects.filter(user=hooked).update(webhook_url="http://127.0.0.1:9/nothing-listens-here")
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    sweep()
    delivery = Delivery.objects.get(reminder__escalation=esc)
    assert delivery.sent_at is None
    assert delivery.last_error.startswith("webhook unreachable")


# --- heartbeat and watchdog ---------------------------------------------------------------------------


def test_the_sweep_records_a_heartbeat_and_goes_stale_after_the_setting(clock, boss, client_for, settings):
    settings.WATCHDOG_STALE_MINUTES = 5
    assert watchdog.last_sweep() is None
    assert watchdog.is_stale(None)
    assert client_for(None).get("/healthz").status_code == 503

    sweep()
    beat = SweepHeartbeat.objects.get(name=watchdog.HEARTBEAT)
    assert (beat.last_started_at, beat.last_finished_at) == (T0, T0)
    assert beat.last_stats["reminders_created"] == 0
    assert watchdog.last_sweep() == T0

    clock.move_to(T0 + 5 * MINUTE)
    assert not watchdog.is_stale(watchdog.last_sweep())
    health = client_for(None).get("/healthz")
    assert (health.status_code, health.json()["last_sweep"]) == (200, T0.isoformat())
    assert "Reminders are not being sent" not in client_for(boss).get("/escalations/").content.decode()

    clock.move_to(T0 + 5 * MINUTE + SECOND)
    assert watchdog.is_stale(watchdog.last_sweep())
    assert client_for(None).get("/healthz").status_code == 503
    assert "Reminders are not being sent" in client_for(boss).get("/escalations/").content.decode()

    sweep()
    assert not watchdog.is_stale(watchdog.last_sweep())
    assert client_for(None).get("/healthz").status_code == 200


def test_stale_minutes_is_a_setting(clock, settings, db):
    settings.WATCHDOG_STALE_MINUTES = 1
    sweep()
    assert not watchdog.is_stale(watchdog.last_sweep(), T0 + MINUTE)
    assert watchdog.is_stale(watchdog.last_sweep(), T0 + MINUTE + SECOND)


# --- Celery -----------------------------------------------------------------------------------------


def test_the_celery_task_runs_the_sweep(clock, mod, make_escalation, mailoutbox, settings):
    make_escalation(knowledge_at=DUE_SOON_NOW)
    tasks.sweep_reminders.delay()
    assert len(mailoutbox) == 1
    result = tasks.sweep_reminders.apply()
    assert result.get()["reminders_created"] == 0
    assert len(mailoutbox) == 1
    assert watchdog.last_sweep() == T0


def test_the_beat_schedule_runs_the_sweep_and_the_dashboards_count_every_minute(settings):
    entry, dashboard = settings.CELERY_BEAT_SCHEDULE.values()
    assert dashboard["task"] == tasks.refresh_dashboard.name == "escalations.tasks.refresh_dashboard"
    assert dashboard["schedule"] == 60
    assert entry["task"] == tasks.sweep_reminders.name == "escalations.tasks.sweep_reminders"
    assert entry["schedule"] == 60
    assert tasks.sweep_reminders.acks_late


# --- two sweeps at the same moment (PostgreSQL) -------------------------------------------------------


def sweeps_at_once(count: int) -> list[BaseException]:
    """Run `count` sweeps in threads released together; each thread has its own connection."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            reminders.sweep()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def record_slow_emails(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Make every email take 0.2 s (so concurrent sweeps overlap) and record (username, key, kind) of
    every reminder it carries; thread-safe."""
    original = notify.send_email
    calls: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def slow_email(user: Any, message: notify.Message) -> None:
        time.sleep(0.2)
        with lock:
            calls.extend((user.get_username(), item.key, item.kind) for item in message.items)
        original(user, message)

    monkeypatch.setattr(notify, "send_email", slow_email)
    return calls


def make_mixed_escalations(make_escalation: Any) -> set[tuple[str, str, str]]:
    """Eight escalations with something due at T0; returns (username, key, kind) of what is due."""
    overdue = [make_escalation(knowledge_at=OVERDUE_NOW) for _ in range(4)]
    unconfirmed = [make_escalation(knowledge_at=T0 - 30 * HOUR, reported_at=T0 - 25 * HOUR) for _ in range(2)]
    due_soon = [make_escalation(knowledge_at=DUE_SOON_NOW) for _ in range(2)]
    return (
        {(who, esc.key, "report_overdue") for esc in overdue for who in ("mod", "leader")}
        | {(who, esc.key, "preservation_unconfirmed") for esc in unconfirmed for who in ("mod", "leader")}
        | {("mod", esc.key, "report_due_soon") for esc in due_soon}
    )


def in_app_items() -> Counter[tuple[str, str]]:
    """(username, key) of every reminder listed in an in-app notification, digests included."""
    return Counter(
        (n.user.get_username(), line.split(":")[0])
        for n in Notification.objects.select_related("user")
        for line in n.body.splitlines()
        if line.startswith("ESC-")
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_the_same_moment_send_each_email_once(clock, mod, boss, make_escalation, monkeypatch):
    expected = make_mixed_escalations(make_escalation)
    calls = record_slow_emails(monkeypatch)

    assert sweeps_at_once(2) == []

    counts = Counter(calls)
    assert set(counts) == expected
    assert [c for c in counts.values() if c != 1] == []
    # One row per (escalation, kind, due_at); due-soon reminders overtaken by overdue ones cancelled.
    rows = Counter(Reminder.objects.values_list("escalation", "kind", "due_at"))
    assert set(rows.values()) == {1}
    assert len(rows) == 4 * 2 + 2 + 2
    assert Reminder.objects.filter(cancelled_at__isnull=False).count() == 4
    assert not Reminder.objects.filter(sent_at__isnull=True, cancelled_at__isnull=True).exists()
    # Every delivery was attempted exactly once, in-app ones included.
    assert set(Counter(DeliveryAttempt.objects.values_list("delivery", flat=True)).values()) == {1}
    assert in_app_items() == Counter({(who, key): 1 for who, key, _ in expected})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_retrying_at_the_same_moment_send_each_email_once(
    clock, mod, boss, make_escalation, monkeypatch, settings
):
    """The mail server was down at T0; a minute later two sweeps retry at once. Everything is already
    recorded, so both go straight to claiming the same deliveries: the claim alone decides."""
    settings.REMINDER_DIGEST_THRESHOLD = 100  # one email per reminder: many sends to overlap
    expected = make_mixed_escalations(make_escalation)
    with monkeypatch.context() as patch:
        _fail_email(patch)
        reminders.sweep()
    assert Delivery.objects.filter(channel=Channel.EMAIL, attempts=1, sent_at__isnull=True).count() == len(expected)

    calls = record_slow_emails(monkeypatch)
    clock.move_to(T0 + MINUTE)
    assert sweeps_at_once(2) == []

    counts = Counter(calls)
    assert set(counts) == expected
    assert [c for c in counts.values() if c != 1] == []
    emails = Delivery.objects.filter(channel=Channel.EMAIL, cancelled_at__isnull=True)
    assert set(emails.values_list("attempts", flat=True)) == {2}
    assert not Reminder.objects.filter(sent_at__isnull=True, cancelled_at__isnull=True).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_many_sweeps_at_once_create_each_reminder_once(clock, mod, boss, make_escalation, mailoutbox):
    escalations = [make_escalation(knowledge_at=OVERDUE_NOW) for _ in range(10)]
    assert sweeps_at_once(4) == []
    assert Reminder.objects.count() == 20
    assert Delivery.objects.filter(sent_at__isnull=False).count() == 10 * 2 * 2  # mod and lead, email and in-app
    assert set(Counter(DeliveryAttempt.objects.values_list("delivery", flat=True)).values()) == {1}
    assert emailed_items(mailoutbox) == Counter(
        {(who, esc.key, "Report overdue"): 1 for esc in escalations for who in (mod.email, boss.email)}
    )
