"""The keys Coop's calls are verified with: every active key an admin pasted (CoopPublicKey), and the
COOP_PUBLIC_KEY setting, both read at each call so a new key counts at once."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from escalations.core import services, validation
from escalations.core.people import User
from escalations.core.permissions import require_admin
from escalations.integrations.coop_signature import BadPublicKey, VerifyingKey, load_public_key
from escalations.models import AuditAction, CoopPublicKey

log = logging.getLogger(__name__)


def verifying_keys() -> list[VerifyingKey]:
    """The keys to try, the setting's first. A key that no longer reads (an edited setting) is
    logged and skipped: the others still work."""
    keys: list[VerifyingKey] = []
    texts = [("COOP_PUBLIC_KEY", settings.COOP_PUBLIC_KEY)] if settings.COOP_PUBLIC_KEY else []
    texts += [
        (f"Coop public key #{pk}", text)
        for pk, text in CoopPublicKey.objects.filter(is_active=True).values_list("pk", "key_text")
    ]
    for where, text in texts:
        try:
            keys.append(load_public_key(text))
        except BadPublicKey as exc:
            log.error("a Coop key can't be read", extra={"key": where, "error": str(exc)})
    return keys


def save_coop_key(*, actor: User, key: CoopPublicKey) -> CoopPublicKey:
    """Add or change a Coop public key (admins only): the text must read as an RSA public key of at
    least 2048 bits, PEM or JWK (ValidationError on `key_text` naming why); the fingerprint is
    derived from it. Audited (COOP_KEY_ADDED or COOP_KEY_CHANGED, with the fingerprint, never the
    key), in the same transaction."""
    require_admin(actor, "Only an admin may add or change Coop's keys.")
    try:
        key.name = validation.clean_text(key.name, "Name", required=True, max_length=80)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from None
    try:
        loaded = load_public_key(key.key_text)
    except BadPublicKey as exc:
        raise ValidationError({"key_text": str(exc)}) from None
    adding = key.pk is None
    key.key_text = key.key_text.strip()
    key.fingerprint = loaded.fingerprint
    if adding:
        key.created_by = actor
    with transaction.atomic():
        key.save()
        services.record_account_event(
            actor=actor,
            action=AuditAction.COOP_KEY_ADDED if adding else AuditAction.COOP_KEY_CHANGED,
            changes={"coop_key": key.name, "fingerprint": key.fingerprint, "active": key.is_active},
        )
    return key
