"""An OpenID provider in the test process: its discovery document, JWKS, token and userinfo endpoints
answered through a stand-in for `requests` (no network), with ID tokens signed by an RSA key made
here. A test decides who signs in (the claims) and may spoil the token (another key, expired, another
audience or issuer). The real provider (node's oidc-provider) is in tests/integration/test_oidc_peer.py."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://idp.example.test"
CLIENT_ID = "escalation-tracker"
CLIENT_SECRET = "test-client-secret-of-the-escalation-tracker"
KID = "test-key-1"

OIDC_SETTINGS = {
    "OIDC_ISSUER": ISSUER,
    "OIDC_CLIENT_ID": CLIENT_ID,
    "OIDC_CLIENT_SECRET": CLIENT_SECRET,
    "OIDC_RP_CLIENT_ID": CLIENT_ID,
    "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
    "OIDC_PROVIDER_NAME": "Example SSO",
    "OIDC_ROLE_CLAIM": "groups",
    "OIDC_ROLE_MAP": {"tt-moderators": "moderator", "tt-leads": "lead", "tt-auditors": "auditor"},
}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


class FakeResponse:
    def __init__(self, status: int, body: Any, url: str = "") -> None:
        self.status_code = status
        self._body = body
        self.url = url
        self.text = json.dumps(body)
        self.headers = {"content-type": "application/json"}

    def json(self) -> Any:
        return self._body

    def raise_for_status(self) -> None:
        import requests

        if self.status_code >= 400:
            raise requests.HTTPError(f"{self.status_code}", response=self)


@dataclass
class FakeProvider:
    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    issuer: str = ISSUER
    discovery_issuer: str | None = None  # what the discovery document says (None: the issuer)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests_seen: list[tuple[str, str]] = field(default_factory=list)

    # --- what a test does at the "provider" -------------------------------------------------------------

    def approve(
        self,
        authorize_url: str,
        *,
        sub: str,
        groups: list[str] | None = None,
        amr: list[str] | None = None,
        signing_key: rsa.RSAPrivateKey | None = None,
        kid: str = KID,
        alg: str = "RS256",
        expires_in: int = 300,
        aud: Any = CLIENT_ID,
        iss: str | None = None,
        nonce: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """The person signs in at the provider: returns the callback's query string (code and state)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": iss or self.issuer,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "exp": now + expires_in,
            "nonce": query.get("nonce") if nonce is None else nonce,
            "email": f"{sub}@example.test",
            "email_verified": True,
            "preferred_username": sub,
        }
        if groups is not None:
            claims["groups"] = groups
        if amr is not None:
            claims["amr"] = amr
        claims.update(extra or {})
        key: Any = signing_key or self.key
        if alg.startswith("HS"):
            key = CLIENT_SECRET
        token = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "id_token": token,
            "claims": claims,
            "challenge": query.get("code_challenge"),
            "redirect_uri": query.get("redirect_uri"),
        }
        return f"code={code}&state={query['state']}"

    # --- the endpoints ---------------------------------------------------------------------------

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        self.requests_seen.append(("GET", url))
        if url == f"{self.issuer}/.well-known/openid-configuration":
            return FakeResponse(
                200,
                {
                    "issuer": self.discovery_issuer or self.issuer,
                    "authorization_endpoint": f"{self.issuer}/auth",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "userinfo_endpoint": f"{self.issuer}/me",
                },
            )
        if url == f"{self.issuer}/jwks":
            return FakeResponse(200, {"keys": [public_jwk(self.key, KID)]})
        if url == f"{self.issuer}/me":
            token = (kwargs.get("headers") or {}).get("Authorization", "").removeprefix("Bearer ")
            for issued in self.codes.values():
                if issued.get("access_token") == token:
                    claims = issued["claims"]
                    return FakeResponse(200, {"sub": claims["sub"], "email": claims.get("email")})
            return FakeResponse(401, {"error": "invalid_token"})
        return FakeResponse(404, {})

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> FakeResponse:
        self.requests_seen.append(("POST", url))
        data = data or {}
        issued = self.codes.pop(str(data.get("code")), None)
        if url != f"{self.issuer}/token" or issued is None:
            return FakeResponse(400, {"error": "invalid_grant"}, url)
        if data.get("client_id") != CLIENT_ID or data.get("client_secret") != CLIENT_SECRET:
            return FakeResponse(401, {"error": "invalid_client"}, url)
        verifier = str(data.get("code_verifier", ""))
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != issued["challenge"] or data.get("redirect_uri") != issued["redirect_uri"]:
            return FakeResponse(400, {"error": "invalid_grant", "error_description": "PKCE or redirect_uri"}, url)
        issued["access_token"] = secrets.token_urlsafe(16)
        self.codes[f"used-{secrets.token_hex(4)}"] = issued
        return FakeResponse(200, {"id_token": issued["id_token"], "access_token": issued["access_token"]}, url)
