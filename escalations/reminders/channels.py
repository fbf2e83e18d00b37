"""Delivery channels. Each `send_*` returns normally once its channel accepted the message and raises
DeliveryError otherwise. Messages carry metadata only: keys, kinds, times and a link, never content
or the platform reference (which may itself point at the material)."""

from __future__ import annotations

import json
import time
import uuid
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from escalations.core.people import User
from escalations.models import Channel, Notification
from escalations.reminders import safe_http, webhook_signing


class DeliveryError(Exception):
    """The channel did not accept the message; the sweep retries with backoff."""


def zone_of(user: User) -> tzinfo:
    """The zone a person reads times in: their profile's, UTC without one (or with one unknown)."""
    name = getattr(getattr(user, "profile", None), "time_zone", "") or "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def moment_in(moment: datetime, zone: tzinfo) -> str:
    """A moment as its reader's local time with UTC beside it ("2026-03-08 14:00 EDT (18:00 UTC)"),
    the UTC date written out when it is another day; UTC alone for a reader in UTC."""
    utc = moment.astimezone(UTC)
    local = moment.astimezone(zone)
    if local.utcoffset() == timedelta(0) and local.tzname() in ("UTC", None):
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    utc_text = f"{utc:%H:%M}" if utc.date() == local.date() else f"{utc:%Y-%m-%d %H:%M}"
    return f"{local:%Y-%m-%d %H:%M %Z} ({utc_text} UTC)"


@dataclass(frozen=True)
class Item:
    """One reminder as a message line."""

    key: str
    escalation_id: int
    kind: str
    kind_label: str
    # The deadline the reminder is about, e.g. the report target.
    deadline_at: datetime
    # About an urgent escalation (a child may be in imminent danger): listed first, marked URGENT.
    urgent: bool = False
    # About a test record: marked TEST wherever it is shown, so nobody is paged for it as real.
    test: bool = False
    # The reminder it is and when its delivery was recorded (for the Acknowledge link, which
    # expires counted from then); None for a test message.
    reminder_id: int | None = None
    issued_at: datetime | None = None

    def ack_url(self, via: str) -> str | None:
        from escalations.reminders.ack_links import ack_url

        if self.reminder_id is None or self.issued_at is None:
            return None
        return ack_url(self.reminder_id, via, self.issued_at)

    @property
    def url(self) -> str:
        return settings.SITE_URL.rstrip("/") + reverse("escalations:detail", args=[self.escalation_id])

    @property
    def marks(self) -> str:
        """ "TEST URGENT ", "TEST ", "URGENT " or ""."""
        return ("TEST " if self.test else "") + ("URGENT " if self.urgent else "")

    def line(self, zone: tzinfo = UTC) -> str:
        return f"{self.marks}{self.key}: {self.kind_label} (deadline {moment_in(self.deadline_at, zone)}) {self.url}"


@dataclass(frozen=True)
class Message:
    subject: str
    items: tuple[Item, ...]
    test: bool = False
    # Names the deliveries it carries: the same message sent again (a worker killed between the
    # mail server's "accepted" and our record) has the same Message-ID, so mail systems drop it.
    ref: str = ""
    # The recipient's zone: every time is shown in it, with UTC beside it.
    zone: tzinfo = UTC

    @property
    def email_ack_links(self) -> list[tuple[Item, str]]:
        """(item, its signed Acknowledge link) for the email; the in-app message has a button instead."""
        return [(item, url) for item in self.items if (url := item.ack_url("email")) is not None]

    @property
    def about_test_records(self) -> bool:
        """Every reminder in it is about a test record (a receiver may then page nobody)."""
        return bool(self.items) and all(item.test for item in self.items)

    @property
    def entries(self) -> list[tuple[Item, str]]:
        """(item, its deadline in the recipient's zone), for the HTML email."""
        return [(item, moment_in(item.deadline_at, self.zone)) for item in self.items]

    @property
    def text(self) -> str:
        if self.test:
            return "Test notification from the escalation tracker: this channel works."
        lines = [item.line(self.zone) for item in self.items]
        if len(lines) > 1:
            urgent = sum(item.urgent for item in self.items)
            lines.insert(
                0, f"{len(lines)} reminders are due" + (f", {urgent} URGENT (listed first):" if urgent else ":")
            )
        if self.test_note:
            lines.insert(0, self.test_note)
        return "\n".join(lines)

    @property
    def test_note(self) -> str:
        """What says TEST at the top when any reminder in it is about a test record; "" otherwise."""
        tests = sum(item.test for item in self.items)
        return test_note(tests, len(self.items)) if tests else ""


def test_note(tests: int, total: int) -> str:
    if tests == total == 1:
        return "TEST: this reminder is about a test record, not a real escalation."
    if tests == total:
        return "TEST: these reminders are about test records, not real escalations."
    return f"TEST: {tests} of these {total} reminders are about test records (marked TEST), not real escalations."


def message_for(items: list[Item], ref: str = "", zone: tzinfo = UTC) -> Message:
    # Urgent first, then in the order given; sorted() keeps that order within each group.
    items = sorted(items, key=lambda item: not item.urgent)
    if len(items) == 1:
        item = items[0]
        return Message(
            subject=f"[Escalations] {item.marks}{item.key}: {item.kind_label}", items=tuple(items), ref=ref, zone=zone
        )
    urgent = sum(item.urgent for item in items)
    tests = sum(item.test for item in items)
    subject = f"[Escalations] {'URGENT: ' if urgent else ''}{len(items)} reminders due"
    details = ([f"{urgent} urgent"] if urgent else []) + (
        ["all TEST"] if tests == len(items) else [f"{tests} TEST"] if tests else []
    )
    if details:
        subject += f" ({', '.join(details)})"
    return Message(subject=subject, items=tuple(items), ref=ref, zone=zone)


def _message_id(message: Message) -> str | None:
    if not message.ref:
        return None
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<escalations-{message.ref}@{domain}>"


def test_message() -> Message:
    return Message(subject="[Escalations] Test notification", items=(), test=True)


def email_for(user: User, message: Message) -> EmailMultiAlternatives:
    """The email carrying `message` to `user` (text and HTML), its Message-ID named after the message."""
    if not user.email:
        raise DeliveryError("no email address on this account")
    context = {"message": message, "user": user}
    message_id = _message_id(message)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=render_to_string("notifications/email.txt", context),
        to=[user.email],
        headers={"Message-ID": message_id} if message_id else None,
    )
    email.attach_alternative(render_to_string("notifications/email.html", context), "text/html")
    return email


class MailSession:
    """One connection to the mail server for many messages (a sweep's batch), opened at the first
    message and again after a failure: a message the server refused, or a dropped connection, must
    not take the next message down with it."""

    def __init__(self) -> None:
        self._connection: BaseEmailBackend | None = None

    def connection(self) -> BaseEmailBackend:
        if self._connection is None:
            connection = get_connection()
            connection.open()
            self._connection = connection
        return self._connection

    def reset(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Already broken, maybe: the next message opens a new one either way.
            with suppress(Exception):
                connection.close()


_mail_session: ContextVar[MailSession | None] = ContextVar("mail_session", default=None)


@contextmanager
def mail_session() -> Iterator[MailSession]:
    """Every send_email inside goes over one connection, closed at the end."""
    session = MailSession()
    token = _mail_session.set(session)
    try:
        yield session
    finally:
        _mail_session.reset(token)
        session.reset()


def send_email(user: User, message: Message) -> None:
    """Send over the current mail_session's connection, or over a connection of its own."""
    email = email_for(user, message)
    session = _mail_session.get()
    try:
        if session is not None:
            email.connection = session.connection()
        sent = email.send()
    except Exception as exc:  # SMTP errors come in many classes; all mean "not accepted"
        if session is not None:
            session.reset()
        raise DeliveryError(f"email not accepted: {exc.__class__.__name__}: {exc}") from exc
    if sent != 1:
        raise DeliveryError("email not accepted by the mail backend")


def in_app_notification(user: User, message: Message, escalation_id: int | None = None) -> Notification:
    """The notification carrying `message` to `user`, not yet saved (a sweep saves many at once)."""
    return Notification(
        user=user,
        escalation_id=escalation_id if len(message.items) == 1 else None,
        title=message.subject.removeprefix("[Escalations] "),
        body=message.text,
        created_at=timezone.now(),
    )


def send_in_app(user: User, message: Message, escalation_id: int | None = None) -> None:
    in_app_notification(user, message, escalation_id).save()


@dataclass(frozen=True)
class WebhookRequest:
    """What a webhook send needs, read from the database beforehand: posting it touches no database,
    so the sweep posts from a thread of its own while it carries on with everyone else's reminders."""

    url: str
    secret: str
    # The webhook-id: the message's name, so that a message sent again has the same id.
    message_id: str
    body: bytes


def webhook_request(user: User, message: Message) -> WebhookRequest:
    profile = getattr(user, "profile", None)
    url = getattr(profile, "webhook_url", "")
    if profile is None or not url:
        raise DeliveryError("no webhook URL configured")
    payload = {
        "text": message.text,  # Slack-compatible
        "subject": message.subject,
        # True for the channel's test message and for reminders only about test records: a receiver
        # that pages people can tell them from real ones without reading the text.
        "test": message.test or message.about_test_records,
        "reminders": [
            {
                "key": i.key,
                "kind": i.kind,
                "deadline_at": i.deadline_at.astimezone(UTC).isoformat(),
                "urgent": i.urgent,
                "test": i.test,
                "url": i.url,
            }
            for i in message.items
        ],
    }
    return WebhookRequest(
        url=url,
        secret=profile.webhook_secret,
        message_id=message.ref or f"test-{uuid.uuid4().hex}",
        body=json.dumps(payload).encode(),
    )


def post_webhook(request: WebhookRequest) -> None:
    """Sign and POST; returns once the receiver answered 2xx, raises DeliveryError otherwise. Signed
    at the moment of sending, so the timestamp is fresh even for a message sent again."""
    signed = webhook_signing.signed_headers(request.secret, request.message_id, int(time.time()), request.body)
    try:
        status = safe_http.post_json(request.url, request.body, signed)
    except (safe_http.Refused, safe_http.Failed) as exc:
        raise DeliveryError(str(exc)) from exc
    # A redirect would turn our POST into a body-less GET somewhere else (and could lead to an
    # address the vetting refuses): it is not followed, and counts as a failed delivery.
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook answered HTTP {status}")


def send_webhook(user: User, message: Message) -> None:
    post_webhook(webhook_request(user, message))


def send(channel: str, user: User, message: Message, escalation_id: int | None = None) -> None:
    if channel == Channel.EMAIL:
        send_email(user, message)
    elif channel == Channel.IN_APP:
        send_in_app(user, message, escalation_id)
    elif channel == Channel.WEBHOOK:
        send_webhook(user, message)
    else:
        raise DeliveryError(f"unknown channel {channel!r}")
