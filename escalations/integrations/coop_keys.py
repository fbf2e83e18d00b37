"""The keys Coop's calls are verified with: every active key an admin pasted (CoopPublicKey), and the
COOP_PUBLIC_KEY setting, both read at each call so a new key counts at once."""

from __future__ import annotations

import logging

from django.conf import settings

from escalations.integrations.coop_signature import BadPublicKey, VerifyingKey, load_public_key
from escalations.models import CoopPublicKey

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
