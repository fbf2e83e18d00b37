"""SCIM bearer tokens: created by an admin (the admin's SCIM tokens page, or `manage.py
createscimtoken`), stored as a hash only, shown once, revocable, last use recorded. Creating,
revoking and every refused token are security events (never the secret: its name and the first
characters that tell it apart)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from escalations.core import services, validation
from escalations.core.people import User
from escalations.models import AuditAction, ScimToken

TOKEN_PREFIX = "escscim_"  # noqa: S105 - a public marker that tells tokens apart, not a secret
# As for service tokens: last use to the minute is enough to tell a live token from a dead one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(*, actor: User | None, name: str) -> tuple[ScimToken, str]:
    """Create a token and return it with its secret, which is never stored and never shown again.
    `actor` is None from a command (no one signed in)."""
    try:
        name = validation.clean_text(name, "Name", required=True, max_length=80)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from None
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ScimToken.objects.create(
                name=name, created_by=actor, prefix=raw[: len(TOKEN_PREFIX) + 6], key_hash=_hash(raw)
            )
            services.record_account_event(
                actor=actor, action=AuditAction.SCIM_TOKEN_CREATED, changes={"token": name, "prefix": token.prefix}
            )
    except IntegrityError:
        raise ValidationError({"name": [f"A SCIM token named {name!r} already exists; choose another name."]}) from None
    return token, raw


def revoke_token(*, actor: User | None, token: ScimToken) -> ScimToken:
    """Revoke the token (audited once: revoking a revoked token changes nothing)."""
    with transaction.atomic():
        token = ScimToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            services.record_account_event(
                actor=actor,
                action=AuditAction.SCIM_TOKEN_REVOKED,
                changes={"token": token.name, "prefix": token.prefix},
            )
    return token


def authenticate(authorization: str) -> ScimToken | None:
    """The live token named by an `Authorization: Bearer ...` header, or None."""
    scheme, _, raw = authorization.strip().partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    digest = _hash(raw)
    token = ScimToken.objects.filter(key_hash=digest, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.key_hash, digest):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def record_refused(*, authorization: str, path: str, ip: str | None) -> None:
    """A request with a missing, unknown or revoked token: a security event naming what it showed
    (the first characters of a token of ours, never the rest)."""
    raw = authorization.strip().partition(" ")[2].strip()
    shown = raw[: len(TOKEN_PREFIX) + 6] if raw.startswith(TOKEN_PREFIX) else ("(none)" if not raw else "(not ours)")
    services.record_account_event(
        actor=None,
        action=AuditAction.SCIM_TOKEN_REFUSED,
        changes={"prefix": shown, "path": path[:200], "ip": ip},
    )
