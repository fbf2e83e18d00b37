"""The deployment's Ed25519 signature on evidence packs: what makes a pack handed to an auditor or a
court checkable afterwards, by anyone holding the deployment's public key, without trusting the file.

A signed pack is a JSON object {"pack": {...}, "signature": {...}}. The signature covers the pack's
canonical JSON (sorted keys, no spaces, UTF-8), so the file may be re-indented or its keys reordered
without breaking it, while any change to a value does."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALGORITHM = "Ed25519"
FORMAT = "escalation-tracker evidence pack v1"


class SigningKeyMissing(ImproperlyConfigured):
    """No key is configured: a pack is refused rather than handed out unsigned."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, in hex: short enough to read out over the phone."""
    return hashlib.sha256(_raw_public(key)).hexdigest()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_private_key_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _load_private(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"EVIDENCE_PACK_SIGNING_KEY is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("EVIDENCE_PACK_SIGNING_KEY must be an Ed25519 key (manage.py makepackkey).")
    return key


def signing_key() -> Ed25519PrivateKey:
    """The configured key: EVIDENCE_PACK_SIGNING_KEY (PEM text), else the file EVIDENCE_PACK_SIGNING_KEY_FILE.
    Under dev and test settings (EVIDENCE_PACK_KEY_CREATE) a missing file is made, so a laptop signs
    with a key of its own; production must be given one."""
    pem = getattr(settings, "EVIDENCE_PACK_SIGNING_KEY", "")
    if pem:
        return _load_private(pem)
    path_name = getattr(settings, "EVIDENCE_PACK_SIGNING_KEY_FILE", "")
    if path_name:
        path = Path(path_name)
        if not path.exists() and getattr(settings, "EVIDENCE_PACK_KEY_CREATE", False):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(new_private_key_pem())
            path.chmod(0o600)
        if path.exists():
            return _load_private(path.read_text())
    raise SigningKeyMissing(
        "This deployment has no evidence-pack signing key: set EVIDENCE_PACK_SIGNING_KEY "
        "(make one with `python manage.py makepackkey`)."
    )


def deployment_public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def sign(pack: dict[str, Any]) -> dict[str, Any]:
    key = signing_key()
    public = key.public_key()
    return {
        "pack": pack,
        "signature": {
            "format": FORMAT,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(_raw_public(public)).decode(),
            "key_fingerprint": fingerprint(public),
            "value": base64.b64encode(key.sign(canonical_json(pack))).decode(),
        },
    }


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    fingerprint: str = ""


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key as PEM, or as the base64 of its 32 raw bytes (how a pack carries it)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))


def verify(document: Any, trusted: Ed25519PublicKey) -> Verdict:
    """Whether `document` is a pack signed by `trusted`. The key a pack carries is only compared with
    the trusted one, never believed: anyone can sign a forged pack with a key of their own."""
    if not isinstance(document, dict) or not isinstance(document.get("pack"), dict):
        return Verdict(False, 'not an evidence pack: no "pack" object')
    signature = document.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
        return Verdict(False, "no Ed25519 signature")
    try:
        carried = load_public_key(str(signature.get("public_key", "")))
        value = base64.b64decode(str(signature.get("value", "")), validate=True)
    except ValueError as exc:
        return Verdict(False, f"the signature cannot be read: {exc}")
    if _raw_public(carried) != _raw_public(trusted):
        return Verdict(
            False,
            f"signed by another key ({fingerprint(carried)[:16]}...), "
            f"not the trusted one ({fingerprint(trusted)[:16]}...)",
            fingerprint(carried),
        )
    try:
        trusted.verify(value, canonical_json(document["pack"]))
    except InvalidSignature:
        return Verdict(
            False, "the signature does not match the pack: it was changed after signing", fingerprint(trusted)
        )
    return Verdict(True, "signature valid", fingerprint(trusted))
