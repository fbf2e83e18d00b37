"""Delivery channels. Each `send_*` returns normally once its channel accepted the message and raises
DeliveryError otherwise. Messages carry metadata only: keys, kinds, times and a link, never content
or the platform reference (which may itself point at the material)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from escalations.models import Channel, Notification
from escalations.reminders import safe_http, webhook_signing


class DeliveryError(Exception):
    """The channel did not accept the message; the sweep retries with backoff."""


@dataclass(frozen=True)
class Item:
    """One reminder as a message line."""

    key: str
    escalation_id: int
    kind: str
    kind_label: str
    # The deadline the reminder is about, e.g. the report target.
    deadline_at: datetime

    @property
    def url(self) -> str:
        return settings.SITE_URL.rstrip("/") + reverse("escalations:detail", args=[self.escalation_id])

    def line(self) -> str:
        deadline = self.deadline_at.astimezone(UTC)
        return f"{self.key}: {self.kind_label} (deadline {deadline:%Y-%m-%d %H:%M} UTC) {self.url}"


@dataclass(frozen=True)
class Message:
    subject: str
    items: tuple[Item, ...]
    test: bool = False
    # Names the deliveries it carries: the same message sent again (a worker killed between the
    # mail server's "accepted" and our record) has the same Message-ID, so mail systems drop it.
    ref: str = ""

    @property
    def text(self) -> str:
        if self.test:
            return "Test notification from the escalation tracker: this channel works."
        lines = [item.line() for item in self.items]
        if len(lines) > 1:
            lines.insert(0, f"{len(lines)} reminders are due:")
        return "\n".join(lines)


def message_for(items: list[Item], ref: str = "") -> Message:
    if len(items) == 1:
        item = items[0]
        return Message(subject=f"[Escalations] {item.key}: {item.kind_label}", items=tuple(items), ref=ref)
    return Message(subject=f"[Escalations] {len(items)} reminders due", items=tuple(items), ref=ref)


def _message_id(message: Message) -> str | None:
    if not message.ref:
        return None
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<escalations-{message.ref}@{domain}>"


def test_message() -> Message:
    return Message(subject="[Escalations] Test notification", items=(), test=True)


def send_email(user: Any, message: Message) -> None:
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
    try:
        sent = email.send()
    except Exception as exc:  # SMTP errors come in many classes; all mean "not accepted"
        raise DeliveryError(f"email not accepted: {exc.__class__.__name__}: {exc}") from exc
    if sent != 1:
        raise DeliveryError("email not accepted by the mail backend")


def send_in_app(user: Any, message: Message, escalation_id: int | None = None) -> None:
    Notification.objects.create(
        user=user,
        escalation_id=escalation_id if len(message.items) == 1 else None,
        title=message.subject.removeprefix("[Escalations] "),
        body=message.text,
        created_at=timezone.now(),
    )


@dataclass(frozen=True)
class WebhookRequest:
    """What a webhook send needs, read from the database beforehand: posting it touches no database,
    so the sweep posts from a thread of its own while it carries on with everyone else's reminders."""

    url: str
    secret: str
    # The webhook-id: the message's name, so that a message sent again has the same id.
    message_id: str
    body: bytes


def webhook_request(user: Any, message: Message) -> WebhookRequest:
    profile = getattr(user, "profile", None)
    url = getattr(profile, "webhook_url", "")
    if profile is None or not url:
        raise DeliveryError("no webhook URL configured")
    payload = {
        "text": message.text,  # Slack-compatible
        "subject": message.subject,
        "test": message.test,
        "reminders": [
            {"key": i.key, "kind": i.kind, "deadline_at": i.deadline_at.isoformat(), "url": i.url}
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
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "escalation-tracker",
        **webhook_signing.signed_headers(request.secret, request.message_id, int(time.time()), request.body),
    }
    try:
        status = safe_http.post(
            request.url,
            request.body,
            headers,
            deadline_seconds=settings.WEBHOOK_DEADLINE_SECONDS,
            allow_loopback_http=settings.WEBHOOK_ALLOW_HTTP_LOOPBACK,
        )
    except (safe_http.Refused, safe_http.Failed) as exc:
        raise DeliveryError(str(exc)) from exc
    # A redirect would turn our POST into a body-less GET somewhere else (and could lead to an
    # address the vetting refuses): it is not followed, and counts as a failed delivery.
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook answered HTTP {status}")


def send_webhook(user: Any, message: Message) -> None:
    post_webhook(webhook_request(user, message))


def send(channel: str, user: Any, message: Message, escalation_id: int | None = None) -> None:
    if channel == Channel.EMAIL:
        send_email(user, message)
    elif channel == Channel.IN_APP:
        send_in_app(user, message, escalation_id)
    elif channel == Channel.WEBHOOK:
        send_webhook(user, message)
    else:
        raise DeliveryError(f"unknown channel {channel!r}")
