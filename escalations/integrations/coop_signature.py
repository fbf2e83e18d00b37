"""Coop's request signature: the `coop-signature` header holds, in base64, an RSASSA-PKCS1-v1_5
signature with SHA-256 over the request's raw body bytes, made with the Coop organisation's private
key. We verify it with that organisation's public key, which Coop shows as a PEM (one base64 line
between the BEGIN/END PUBLIC KEY lines) and stores as a JWK; both are accepted.

Nothing here reads the network or the database: the caller hands in the keys to try."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# A signature is as long as the key's modulus: 512 bytes for a 4096-bit key. Anything longer is not one.
MAX_SIGNATURE_CHARS = 1024
# Keys weaker than this are refused when pasted (Coop makes 2048-bit keys).
MIN_KEY_BITS = 2048


class BadPublicKey(ValueError):
    """The text is not a usable RSA public key; the message says why, for the admin who pasted it."""


@dataclass(frozen=True)
class VerifyingKey:
    fingerprint: str
    key: rsa.RSAPublicKey


def _b64url_int(value: object, name: str) -> int:
    if not isinstance(value, str) or not value:
        raise BadPublicKey(f"The JWK has no '{name}' (an RSA public key needs 'n' and 'e').")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise BadPublicKey(f"The JWK's '{name}' is not base64url.") from None
    return int.from_bytes(raw, "big")


def _from_jwk(text: str) -> rsa.RSAPublicKey:
    try:
        jwk = json.loads(text)
    except ValueError:
        raise BadPublicKey("The key looks like JSON but can't be read as a JWK.") from None
    if not isinstance(jwk, dict):
        raise BadPublicKey("A JWK is a JSON object with kty, n and e.")
    if jwk.get("kty") != "RSA":
        raise BadPublicKey("Coop's keys are RSA: the JWK's kty must be RSA.")
    if "d" in jwk or "p" in jwk:
        raise BadPublicKey(
            "This JWK holds a private key. Paste only the public key (kty, n, e); never the private one."
        )
    n, e = _b64url_int(jwk.get("n"), "n"), _b64url_int(jwk.get("e"), "e")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise BadPublicKey(f"The JWK is not a valid RSA public key ({exc}).") from None


def _from_pem(text: str) -> rsa.RSAPublicKey:
    if "PRIVATE KEY" in text:
        raise BadPublicKey(
            "This is a private key. Paste only the public key (BEGIN PUBLIC KEY); never the private one."
        )
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise BadPublicKey(
            "The key can't be read: paste the whole PEM, from -----BEGIN PUBLIC KEY----- to "
            "-----END PUBLIC KEY-----, or a JWK."
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadPublicKey("Coop signs with RSA keys; this PEM holds another kind of key.")
    return key


def load_public_key(text: str) -> VerifyingKey:
    """An RSA public key from a PEM or a JWK (as pasted: surrounding spaces, or literal "\\n" from an
    environment variable, are fine). Raises BadPublicKey with a message for the person who pasted it."""
    cleaned = (text or "").strip().replace("\\n", "\n")
    if not cleaned:
        raise BadPublicKey("No key given.")
    key = _from_jwk(cleaned) if cleaned.startswith("{") else _from_pem(cleaned)
    if key.key_size < MIN_KEY_BITS:
        raise BadPublicKey(f"The key has {key.key_size} bits; Coop's keys have at least {MIN_KEY_BITS}.")
    return VerifyingKey(fingerprint=fingerprint(key), key=key)


def fingerprint(key: rsa.RSAPublicKey) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo, hex: the same whichever form it was pasted in."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def decode_signature(header: str | None) -> bytes | None:
    """The signature's bytes from the header's base64; None when absent or not base64."""
    text = (header or "").strip()
    if not text or len(text) > MAX_SIGNATURE_CHARS:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify(body: bytes, signature: bytes, keys: list[VerifyingKey]) -> VerifyingKey | None:
    """The key that signed `body` (RSASSA-PKCS1-v1_5, SHA-256), or None if none of `keys` did."""
    for candidate in keys:
        try:
            candidate.key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return candidate
    return None
