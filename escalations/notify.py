"""Delivery channels. Each `send_*` returns normally once its channel accepted the message and raises
DeliveryError otherwise. Messages carry metadata only: keys, kinds, times and a link, never content
or the platform reference (which may itself point at the material)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .models import Channel, Notification

WEBHOOK_TIMEOUT_SECONDS = 5
SIGNATURE_HEADER = "X-Escalations-Signature"


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

    @property
    def text(self) -> str:
        if self.test:
            return "Test notification from the escalation tracker: this channel works."
        lines = [item.line() for item in self.items]
        if len(lines) > 1:
            lines.insert(0, f"{len(lines)} reminders are due:")
        return "\n".join(lines)


def message_for(items: list[Item]) -> Message:
    if len(items) == 1:
        item = items[0]
        return Message(subject=f"[Escalations] {item.key}: {item.kind_label}", items=tuple(items))
    return Message(subject=f"[Escalations] {len(items)} reminders due", items=tuple(items))


def test_message() -> Message:
    return Message(subject="[Escalations] Test notification", items=(), test=True)


def send_email(user: Any, message: Message) -> None:
    if not user.email:
        raise DeliveryError("no email address on this account")
    context = {"message": message, "user": user}
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=render_to_string("notifications/email.txt", context),
        to=[user.email],
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


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(user: Any, message: Message) -> None:
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
    body = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked when the URL is saved
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "escalation-tracker",
            SIGNATURE_HEADER: sign(profile.webhook_secret, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"webhook unreachable: {exc}") from exc
    except (http.client.HTTPException, ValueError) as exc:
        # A receiver that answers something other than HTTP, or a URL urllib cannot use: a failed
        # delivery to retry, never an exception that stops the sweep for everyone else.
        raise DeliveryError(f"webhook answered badly: {exc.__class__.__name__}: {exc}") from exc
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook answered HTTP {status}")


def send(channel: str, user: Any, message: Message, escalation_id: int | None = None) -> None:
    if channel == Channel.EMAIL:
        send_email(user, message)
    elif channel == Channel.IN_APP:
        send_in_app(user, message, escalation_id)
    elif channel == Channel.WEBHOOK:
        send_webhook(user, message)
    else:
        raise DeliveryError(f"unknown channel {channel!r}")
