"""What keeps a reminder from going astray: no redirects or private addresses for webhooks, one
Message-ID per delivery (so a resend after a crash is recognisable), a deactivated owner's reminders
go to the leads, an unexpected error in one channel is recorded and retried, and every cancelled
reminder says why on the timeline."""

from __future__ import annotations

import socket
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest

from escalations.core import services
from escalations.models import Delivery, DeliveryAttempt, Reminder, UserProfile
from escalations.reminders import channels as notify
from escalations.reminders import sweep as reminders
from escalations.reminders import watchdog
from tests.reminders.test_sweep import (  # fixtures and constants shared with the sweep tests
    DUE_SOON_NOW,
    HOUR,
    MINUTE,
    OVERDUE_NOW,
    T0,
    WEBHOOK_SECRET,
    boss,
    mod,
    receiver,
)

__all__ = ["boss", "mod", "receiver"]
# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = T0


def hook(user: Any, url: str) -> None:
    UserProfile.objects.update_or_create(
        user=user,
        defaults={
            "email_notifications": False,
            "in_app_notifications": False,
            "webhook_url": url,
            "webhook_secret": WEBHOOK_SECRET,
        },
    )
    user.refresh_from_db()


REFUSED = "that address can't receive webhooks (it must be a public https address)"


def test_a_webhook_redirect_is_a_failed_delivery_not_a_silent_get(clock, mod, make_escalation):
    hits: list[str] = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(f"POST {self.path}")
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            hits.append(f"GET {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook(mod, f"http://127.0.0.1:{server.server_address[1]}/hook")
        esc = make_escalation(knowledge_at=DUE_SOON_NOW)
        reminders.sweep()
    finally:
        server.shutdown()
        server.server_close()
    delivery = Delivery.objects.get(reminder__escalation=esc)
    assert delivery.sent_at is None
    assert delivery.last_error == "webhook answered HTTP 302"
    assert hits == ["POST /hook"]


@pytest.mark.parametrize(
    "url",
    ["https://10.0.0.5/hook", "https://192.168.1.20/hook", "https://169.254.169.254/latest", "https://[fd00::1]/x"],
)
def test_a_webhook_to_a_private_address_is_refused_without_a_request(clock, mod, make_escalation, url, monkeypatch):
    connections: list[Any] = []

    def no_network(sock: Any, address: Any) -> None:
        connections.append(address)
        raise AssertionError("no connection may be made to a private address")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    hook(mod, url)
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    delivery = Delivery.objects.get(reminder__escalation=esc)
    assert delivery.sent_at is None
    assert delivery.last_error == REFUSED
    assert connections == []


def test_loopback_webhooks_are_refused_where_the_setting_is_off(clock, mod, make_escalation, receiver, settings):
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False
    hook(mod, receiver.url)
    make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    assert receiver.requests == []
    assert Delivery.objects.get().last_error == REFUSED


def test_each_delivery_has_one_message_id_and_a_resend_repeats_it(clock, mod, make_escalation, mailoutbox):
    first = make_escalation(knowledge_at=DUE_SOON_NOW)
    second = make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    ids = [m.extra_headers["Message-ID"] for m in mailoutbox]
    assert len(set(ids)) == 2
    email_delivery = Delivery.objects.get(reminder__escalation=first, channel="email")
    assert f"<escalations-delivery-{email_delivery.pk}@127.0.0.1>" in ids

    # A worker killed between the mail server's "accepted" and our record sends it again after
    # the lease: the copy carries the same Message-ID, so mail systems can drop it.
    Delivery.objects.filter(pk=email_delivery.pk).update(sent_at=None, claimed_until=None, claim_token="")
    Reminder.objects.filter(escalation=first).update(sent_at=None)
    reminders.sweep()
    assert mailoutbox[-1].extra_headers["Message-ID"] == f"<escalations-delivery-{email_delivery.pk}@127.0.0.1>"
    assert second.key not in mailoutbox[-1].subject


def test_a_deactivated_owners_reminders_go_to_the_leads(clock, mod, boss, make_escalation, mailoutbox):
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    mod.is_active = False
    mod.save()
    reminders.sweep()
    reminder = Reminder.objects.get(escalation=esc, kind="report_due_soon")
    assert reminder.sent_at == T0
    assert [m.to for m in mailoutbox] == [[boss.email]]


def test_an_unexpected_error_in_one_delivery_is_recorded_and_retried(clock, mod, boss, make_escalation, monkeypatch):
    esc = make_escalation(knowledge_at=OVERDUE_NOW)

    def broken(user: Any, message: Any) -> None:
        raise RuntimeError("template missing")

    monkeypatch.setattr(notify, "send_email", broken)
    stats = reminders.sweep()
    failed = Delivery.objects.filter(reminder__escalation=esc, reminder__kind="report_overdue", channel="email")
    assert failed.count() == 2  # the moderator and the lead
    for delivery in failed:
        assert delivery.sent_at is None
        assert delivery.last_error == "unexpected error: RuntimeError: template missing"
        assert delivery.next_attempt_at == T0 + MINUTE
    # The in-app deliveries of the same sweep still went out, and the heartbeat was recorded.
    in_app = Delivery.objects.filter(reminder__escalation=esc, reminder__kind="report_overdue", channel="in_app")
    assert [d.sent_at for d in in_app] == [T0, T0]
    assert stats.deliveries_failed == 2
    assert watchdog.last_sweep() is not None
    assert DeliveryAttempt.objects.filter(escalation=esc, ok=False).count() == 2


@pytest.mark.parametrize(
    ("act", "reason"),
    [
        ("report", "The report was recorded."),
        ("late", "The report target passed before it went out; the overdue reminder replaces it."),
    ],
)
def test_a_cancelled_reminder_says_why_on_the_timeline(clock, mod, boss, make_escalation, client_for, act, reason):
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    if act == "report":
        # The reminder is recorded, then the report is filed before it is delivered.
        reminders.schedule_due(T0, reminders.policy.PolicyConfig.from_settings(), reminders.SweepStats())
        services.record_report(
            actor=mod, escalation_id=esc.pk, version=None, reported_at=T0, cybertipline_report_id="777"
        )
    else:
        # Nothing ran until after the target (3 h after T0): the due-soon reminder is overtaken.
        clock.move_to(T0 + 3 * HOUR + timedelta(seconds=1))
    reminders.sweep()
    reminder = Reminder.objects.get(escalation=esc, kind="report_due_soon")
    assert reminder.sent_at is None
    assert reminder.cancel_reason == reason
    page = client_for(boss).get(f"/escalations/{esc.pk}/").content.decode()
    assert "Reminder report due soon</strong> cancelled, not sent" in page
    assert reason.replace("'", "&#x27;") in page


# --- A message whose outcome is unknown goes again as the same message ----------------------------


def _send_then_die(patch: Any) -> None:
    """The mail server accepted the message, then the worker died before recording it."""
    from tests.reminders.test_sweep import Killed

    real_send = notify.send

    def send_and_die(*args: Any, **kwargs: Any) -> None:
        real_send(*args, **kwargs)
        raise Killed

    patch.setattr(notify, "send", send_and_die)


def _email_only(user: Any) -> None:
    UserProfile.objects.update_or_create(
        user=user, defaults={"email_notifications": True, "in_app_notifications": False}
    )


def _lines(message: Any) -> list[str]:
    return sorted(line for line in message.body.splitlines() if "ESC-" in line)


def test_a_digest_sent_before_a_crash_goes_again_whole_under_its_message_id(
    clock, mod, make_escalation, mailoutbox, monkeypatch, settings
):
    """Had the next sweep grouped the unrecorded reminders anew (with one more due since), the copy
    would carry a new Message-ID and reach the person twice."""
    from tests.reminders.test_sweep import Killed

    settings.REMINDER_DIGEST_THRESHOLD = 2
    settings.REMINDER_CLAIM_LEASE_SECONDS = 120
    _email_only(mod)
    for _ in range(3):
        make_escalation(knowledge_at=DUE_SOON_NOW)
    with monkeypatch.context() as patch:
        _send_then_die(patch)
        with pytest.raises(Killed):
            reminders.sweep()
    assert len(mailoutbox) == 1
    digest = mailoutbox[0]
    assert "3 reminders due" in digest.subject

    # After the lease, one more reminder is due for the same person.
    clock.move_to(T0 + 121 * MINUTE / 60)
    later = make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    again = [m for m in mailoutbox[1:] if m.extra_headers["Message-ID"] == digest.extra_headers["Message-ID"]]
    assert len(again) == 1, [m.subject for m in mailoutbox]
    assert _lines(again[0]) == _lines(digest)
    assert later.key not in again[0].body
    # The new one went in a message of its own; each reminder reached the person under one Message-ID.
    others = [m for m in mailoutbox[1:] if m is not again[0]]
    assert [later.key in m.subject for m in others] == [True]
    assert Delivery.objects.filter(sent_at__isnull=True).count() == 0


def test_a_single_reminder_sent_before_a_crash_is_not_folded_into_a_digest(
    clock, mod, make_escalation, mailoutbox, monkeypatch, settings
):
    from tests.reminders.test_sweep import Killed

    settings.REMINDER_DIGEST_THRESHOLD = 2
    settings.REMINDER_CLAIM_LEASE_SECONDS = 120
    _email_only(mod)
    first = make_escalation(knowledge_at=DUE_SOON_NOW)
    with monkeypatch.context() as patch:
        _send_then_die(patch)
        with pytest.raises(Killed):
            reminders.sweep()
    [single] = mailoutbox
    assert first.key in single.subject

    clock.move_to(T0 + 121 * MINUTE / 60)
    for _ in range(3):
        make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    resent, digest = sorted(mailoutbox[1:], key=lambda m: "reminders due" in m.subject)
    assert resent.extra_headers["Message-ID"] == single.extra_headers["Message-ID"]
    assert "3 reminders due" in digest.subject
    assert first.key not in digest.body


def test_a_refused_message_is_regrouped_on_retry(clock, mod, make_escalation, mailoutbox, monkeypatch, settings):
    """Refused means not received: its deliveries are free to go in whatever message fits next."""
    settings.REMINDER_DIGEST_THRESHOLD = 2
    _email_only(mod)
    first = make_escalation(knowledge_at=DUE_SOON_NOW)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise notify.DeliveryError("450 try later")

    with monkeypatch.context() as patch:
        patch.setattr(notify, "send", refuse)
        reminders.sweep()
    assert Delivery.objects.get(reminder__escalation=first, channel="email").batch_ref == ""

    for _ in range(2):
        make_escalation(knowledge_at=DUE_SOON_NOW)
    clock.move_to(T0 + 2 * MINUTE)  # past the first retry's backoff (1 min)
    reminders.sweep()
    [digest] = mailoutbox
    assert "3 reminders due" in digest.subject and first.key in digest.body


def test_a_large_digest_has_a_short_stable_name(clock, mod, make_escalation, mailoutbox, settings):
    """A digest of many reminders is named by its size, first id and a hash of every id: it fits
    the column that keeps it (PostgreSQL refuses a longer value, which once stopped every sweep)
    and a Message-ID header, and the same deliveries always give the same name."""
    settings.REMINDER_DIGEST_THRESHOLD = 2
    _email_only(mod)
    for _ in range(60):
        make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    [digest] = mailoutbox
    assert "60 reminders due" in digest.subject
    deliveries = list(Delivery.objects.filter(channel="email").order_by("pk"))
    refs = {d.batch_ref for d in deliveries}
    assert len(refs) == 1
    [ref] = refs
    assert len(ref) <= Delivery._meta.get_field("batch_ref").max_length
    assert len(digest.extra_headers["Message-ID"]) < 100
    assert ref == reminders.message_ref(list(reversed(deliveries)))
    assert ref != reminders.message_ref(deliveries[:-1])
    assert all(d.sent_at is not None for d in deliveries)


def test_a_database_error_renewing_one_claim_fails_that_message_only(
    clock, mod, boss, make_escalation, mailoutbox, monkeypatch
):
    """The claim renewal once raised for every digest (a name too long for its column) and, being
    outside the per-message handling, stopped the sweep: nobody got any reminder."""
    from django.db import DataError

    esc = make_escalation(knowledge_at=OVERDUE_NOW)
    real_renew = reminders.renew_claim

    def renew_refusing_the_moderators_email(batch: list[Delivery], now: Any, ref: str) -> list[Delivery]:
        if batch[0].recipient_id == mod.pk and batch[0].channel == "email":
            raise DataError("value too long for type character varying(200)")
        return real_renew(batch, now, ref)

    def renew_all_refusing_the_moderators_email(batches: list[list[Delivery]], now: Any, refs: list[str]) -> Any:
        # As the database does: one value it refuses fails the whole statement.
        if any(b[0].recipient_id == mod.pk and b[0].channel == "email" for b in batches):
            raise DataError("value too long for type character varying(200)")
        return real_renew_all(batches, now, refs)

    real_renew_all = reminders.renew_claims
    monkeypatch.setattr(reminders, "renew_claim", renew_refusing_the_moderators_email)
    monkeypatch.setattr(reminders, "renew_claims", renew_all_refusing_the_moderators_email)
    stats = reminders.sweep()

    overdue = Delivery.objects.filter(reminder__escalation=esc, reminder__kind="report_overdue")
    refused = overdue.get(recipient=mod, channel="email")
    assert refused.sent_at is None
    assert refused.last_error.startswith("unexpected error: DataError: value too long")
    assert refused.next_attempt_at == T0 + MINUTE
    # Everyone else's reminders of the same sweep went out, and the sweep finished.
    assert all(d.sent_at == T0 for d in overdue.exclude(pk=refused.pk))
    assert [m.to for m in mailoutbox] == [[boss.email]]
    assert stats.deliveries_failed == 1
    assert watchdog.last_sweep() is not None

    # Once the fault is gone, the retry after its backoff delivers it.
    monkeypatch.setattr(reminders, "renew_claim", real_renew)
    monkeypatch.setattr(reminders, "renew_claims", real_renew_all)
    clock.move_to(T0 + MINUTE)
    reminders.sweep()
    refused.refresh_from_db()
    assert refused.sent_at == T0 + MINUTE
    assert [m.to for m in mailoutbox] == [[boss.email], [mod.email]]
