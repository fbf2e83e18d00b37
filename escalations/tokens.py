"""Service tokens for machines: created by leads, named, scoped, expiring, stored as a hash only,
shown once, revocable, last use recorded."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import validation
from .models import ServiceToken, TokenScope
from .permissions import Action, require

TOKEN_PREFIX = "esct_"  # noqa: S105 - a public marker that tells tokens apart, not a secret
MAX_LIFETIME = timedelta(days=366)
# Writing last_used_at on every request would make each API read a write; once a minute is enough
# to tell a live token from a dead one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(*, actor: Any, name: str, scope: str, expires_at: datetime) -> tuple[ServiceToken, str]:
    """Create a token and return it with its secret, which is never stored and never shown again."""
    require(actor, Action.MANAGE_TOKENS)
    errors: dict[str, list[str]] = {}
    try:
        name = validation.clean_text(name, "Name", required=True, max_length=80)
    except ValidationError as exc:
        errors["name"] = exc.messages
    if scope not in TokenScope.values:
        errors["scope"] = ["Scope must be read or write."]
    now = timezone.now()
    if expires_at is None or expires_at <= now:
        errors["expires_at"] = ["Expiry must be in the future."]
    elif expires_at > now + MAX_LIFETIME:
        errors["expires_at"] = ["Expiry can be at most a year away: rotate tokens at least yearly."]
    if errors:
        raise ValidationError(errors)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ServiceToken.objects.create(
                name=name,
                created_by=actor,
                scope=scope,
                prefix=raw[: len(TOKEN_PREFIX) + 6],
                key_hash=_hash(raw),
                expires_at=expires_at,
            )
    except IntegrityError:
        raise ValidationError({"name": [f"A token named {name!r} already exists; choose another name."]}) from None
    return token, raw


def revoke_token(*, actor: Any, token_id: int) -> ServiceToken:
    require(actor, Action.MANAGE_TOKENS)
    token = ServiceToken.objects.get(pk=token_id)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def authenticate(raw: str) -> ServiceToken | None:
    """The live token for `raw`, or None (unknown, revoked, expired, or its creator deactivated)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = ServiceToken.objects.select_related("created_by").filter(key_hash=_hash(raw)).first()
    now = timezone.now()
    if token is None or token.revoked_at is not None or token.expires_at <= now or not token.created_by.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ServiceToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
