"""A person's webhook: its URL and signing secret. A new or changed URL gets a new secret (whoever ran
the old receiver must not hold the key that signs for the new one), and the owner may replace the
secret at will. Each change is an audit event about the person (no escalation) that names the
receiver's host, never the secret, nor the URL's path and query: a Slack-style incoming-webhook URL
carries its own credential there, and the audit trail is read by leads and auditors."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from escalations.core import services
from escalations.models import AuditAction, UserProfile
from escalations.reminders.webhook_signing import new_secret

NO_WEBHOOK = "There is no webhook URL on your profile, so there is no secret to replace."
SECRET_REPLACED_NOTICE = "Your webhook has a new signing secret (below): set it in your receiver."  # noqa: S105 - a message, not a secret


def describe_url(url: str) -> str:
    """What the audit trail says of a webhook URL: its scheme, host and port, and a fingerprint of
    the whole URL so that two different URLs on one host can be told apart."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    fingerprint = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{parts.scheme}://{host}{port}/… (sha256 {fingerprint})"


@transaction.atomic
def save_profile(*, actor: Any, profile: UserProfile, previous_url: str) -> bool:
    """Save `profile` as the form left it; `previous_url` is the webhook URL it had before. A new or
    changed URL gets a new secret, no URL no secret; the URL change and the new secret are audited.
    Returns True when a new secret was made (the owner must set it in their receiver)."""
    url = profile.webhook_url or ""
    changed = url != (previous_url or "")
    had_secret = bool(profile.webhook_secret)
    replaced = False
    if not url:
        profile.webhook_secret = ""
    elif changed or not profile.webhook_secret:
        profile.webhook_secret = new_secret()
        replaced = True
    profile.save()
    if changed:
        changes: dict[str, Any] = {"webhook_url": [describe_url(previous_url), describe_url(url)]}
        if not url and had_secret:
            changes["webhook_secret"] = "removed"  # noqa: S105 - what happened to it, not its value
        services.record_account_event(actor=actor, action=AuditAction.WEBHOOK_URL_CHANGED, changes=changes)
    if replaced:
        why = "the webhook URL changed" if changed else "the webhook had none"
        services.record_account_event(
            actor=actor, action=AuditAction.WEBHOOK_SECRET_REPLACED, changes={"webhook_secret": f"replaced: {why}"}
        )
    return replaced


@transaction.atomic
def replace_webhook_secret(*, actor: Any) -> None:
    """A new signing secret for the person's webhook, at their request (a secret that leaked, or a
    routine change). Raises ValidationError when they have no webhook URL."""
    profile = UserProfile.objects.select_for_update().filter(user=actor).first()
    if profile is None or not profile.webhook_url:
        raise ValidationError(NO_WEBHOOK)
    profile.webhook_secret = new_secret()
    profile.save(update_fields=["webhook_secret"])
    services.record_account_event(
        actor=actor, action=AuditAction.WEBHOOK_SECRET_REPLACED, changes={"webhook_secret": "replaced on request"}
    )
