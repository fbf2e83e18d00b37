"""The "Acknowledge" link carried by a reminder's email, Slack and Teams message: the reminder's id,
signed (django.core.signing, with a salt of its own) with the moment its delivery was recorded, so
that it cannot be made up for another reminder and stops working ACK_LINK_MAX_AGE_HOURS after that.
The moment is the delivery's, not the clock's: a message sent again after a failure whose outcome
is unknown is the same message, byte for byte (same Message-ID, same links). The link only
opens a page: the person signs in if they are not, sees what they acknowledge, and presses the
button (a POST), so a mail scanner or a chat unfurler that fetches the link acknowledges nothing."""

from __future__ import annotations

import time
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "escalations.reminder-acknowledge"
# Which message carried the link, for the audit trail ("via email link").
VIA_CHANNELS = ("email", "slack", "teams", "webhook")


class BadLink(Exception):
    """The link was altered, made up, or has expired; the message says which, for a person."""


def ack_token(reminder_id: int, via: str, issued_at: datetime) -> str:
    data = {"r": reminder_id, "v": via, "t": int(issued_at.timestamp())}
    return signing.Signer(salt=SALT).sign_object(data, compress=False)


def ack_url(reminder_id: int, via: str, issued_at: datetime) -> str:
    """The absolute link to acknowledge reminder `reminder_id` from a message sent through `via`,
    valid for ACK_LINK_MAX_AGE_HOURS from `issued_at` (when the delivery was recorded)."""
    path = reverse("acknowledge_link", args=[ack_token(reminder_id, via, issued_at)])
    return settings.SITE_URL.rstrip("/") + path


def read_token(token: str) -> tuple[int, str]:
    """(reminder id, channel it came through); BadLink when it is not one we signed or has expired."""
    invalid = "This acknowledge link is not valid: open the escalation and acknowledge there."
    try:
        data = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise BadLink(invalid) from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("r"), int)
        or not isinstance(data.get("t"), int)
        or data.get("v") not in VIA_CHANNELS
    ):
        raise BadLink(invalid)
    if time.time() - data["t"] > settings.ACK_LINK_MAX_AGE_HOURS * 3600:
        raise BadLink(
            f"This acknowledge link has expired (links work for {settings.ACK_LINK_MAX_AGE_HOURS:g} hours): "
            "open the escalation and acknowledge there."
        )
    return data["r"], data["v"]
