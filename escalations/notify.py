"""Delivery channels. Each `send_*` returns normally once its channel accepted the message and raises
DeliveryError otherwise. Messages carry metadata only: keys, kinds, times and a link, never content
or the platform reference (which may itself point at the material)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

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


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn our POST into a body-less GET somewhere else (and could lead to an
    address the https-only rule refuses): treat any 3xx as a failed delivery."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_RefuseRedirects)


def _check_public_host(url: str) -> None:
    """Refuse hosts that resolve to private, loopback or link-local addresses: the webhook is the
    one request this app makes to an address a person typed, and it must not reach inside the
    network. Loopback is allowed only where WEBHOOK_ALLOW_HTTP_LOOPBACK is on (dev, tests)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise DeliveryError(f"webhook host {host!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_loopback and settings.WEBHOOK_ALLOW_HTTP_LOOPBACK:
            continue
        if not address.is_global:
            raise DeliveryError(f"webhook host {host!r} is a private or local address; refused")


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
    _check_public_host(url)
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
        with _opener.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
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
