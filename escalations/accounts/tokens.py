"""Service tokens for machines: created by leads, named, scoped, expiring, stored as a hash only,
shown once, revocable, last use recorded. Creating and revoking one are audit events (never the
secret: its name, scope, expiry and the first characters that tell it apart)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from escalations.core import services, validation
from escalations.core.permissions import Action, require
from escalations.models import AuditAction, ServiceToken, TokenScope

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
            services.record_account_event(actor=actor, action=AuditAction.TOKEN_CREATED, changes=_described(token))
    except IntegrityError:
        raise ValidationError({"name": [f"A token named {name!r} already exists; choose another name."]}) from None
    return token, raw


def _described(token: ServiceToken) -> dict[str, Any]:
    return {
        "token": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "expires_at": token.expires_at.isoformat(),
        "created_by": token.created_by.get_username(),
    }


def revoke_token(*, actor: Any, token_id: int) -> ServiceToken:
    """Revoke the token (audited once: revoking a revoked token changes nothing). Raises
    PermissionDenied, ServiceToken.DoesNotExist."""
    require(actor, Action.MANAGE_TOKENS)
    with transaction.atomic():
        token = ServiceToken.objects.select_for_update().select_related("created_by").get(pk=token_id)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            services.record_account_event(actor=actor, action=AuditAction.TOKEN_REVOKED, changes=_described(token))
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
