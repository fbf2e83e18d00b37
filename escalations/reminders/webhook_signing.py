"""Webhook signatures, the Standard Webhooks way (https://www.standardwebhooks.com/), so that any of its
libraries verifies them: `webhook-id` names the message (a resend carries the same id, for the
receiver to drop), `webhook-timestamp` says when it was signed (receivers refuse one more than five
minutes off, so a captured request cannot be replayed later), and `webhook-signature` is
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.

The secret is `whsec_` followed by the base64 of 32 random bytes; the key is those bytes. A secret
made before this scheme (64 hex digits, no prefix) is read the way the libraries read it, as base64,
so receivers verify with it as shown on the profile.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's marker, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret (50 characters)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    # As the reference libraries do: padding added in case it was left off, extra padding ignored.
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a receiver verifies; `timestamp` in whole seconds since the epoch (UTC)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
