"""Coop's calls as Coop makes them: a key pair made here, the body as Coop writes it (keys sorted, no
spaces, UTF-8, sent without a JSON media type), signed with RSASSA-PKCS1-v1_5 and SHA-256 over those
exact bytes, the signature in base64 in the `coop-signature` header.

Every answer of the endpoint in tests marked `integrations` is counted for CI's integrations line
(tests/integrations/conftest.py's integration_counter, kind "coop"): accepted (2xx) or refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.test import Client

URL = "/integrations/coop/preservation/"


@pytest.fixture(scope="session")
def coop_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_private_key() -> rsa.RSAPrivateKey:
    """A key pair that is not the one configured: what an attacker, or another Coop organisation, signs with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def coop_pem(key: rsa.RSAPrivateKey) -> str:
    """The public key as Coop's settings page shows it: SPKI in base64 on ONE line between the markers."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"-----BEGIN PUBLIC KEY-----\n{base64.b64encode(der).decode()}\n-----END PUBLIC KEY-----"


def coop_jwk(key: rsa.RSAPrivateKey) -> str:
    """The public key as Coop stores it (crypto.subtle.exportKey('jwk')): kty, n, e in base64url."""
    numbers = key.public_key().public_numbers()

    def b64url(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return json.dumps({"kty": "RSA", "n": b64url(numbers.n), "e": b64url(numbers.e), "alg": "RS256", "ext": True})


def coop_body(report_id: str = "4564654", user: tuple[str, str] = ("user-1", "user-type"), media: Any = None) -> bytes:
    """Coop's body: JSON with sorted keys (safe-stable-stringify), no spaces, UTF-8."""
    items = [{"id": i, "typeId": t} for i, t in (media if media is not None else [("media-1", "image-type")])]
    payload = {"user": {"id": user[0], "typeId": user[1]}, "reportedMedia": items, "reportId": report_id}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def coop_sign(key: rsa.RSAPrivateKey, body: bytes) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


@pytest.fixture
def coop_post(coop_private_key: rsa.RSAPrivateKey, request: pytest.FixtureRequest, integration_counter: Any) -> Any:
    """coop_post(body, signature=<Coop's>, client=None, **headers) -> response, counted."""
    counted = request.node.get_closest_marker("integrations") is not None

    def post(body: bytes, signature: str | None = "sign", client: Client | None = None, **headers: Any) -> Any:
        if signature == "sign":
            signature = coop_sign(coop_private_key, body)
        extra = dict(headers)
        if signature is not None:
            extra["HTTP_COOP_SIGNATURE"] = signature
        # Coop sets no Content-Type: fetch() sends a string body as text/plain;charset=UTF-8.
        response = (client or Client()).post(URL, body, content_type="text/plain;charset=UTF-8", **extra)
        if counted and response.status_code < 300:
            integration_counter.accepted("coop")
        elif counted:
            integration_counter.refused("coop")
        return response

    return post


@pytest.fixture
def coop_key_setting(coop_private_key: rsa.RSAPrivateKey, settings: Any) -> Iterator[str]:
    settings.COOP_PUBLIC_KEY = coop_pem(coop_private_key)
    yield settings.COOP_PUBLIC_KEY
