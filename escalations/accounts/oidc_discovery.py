"""The identity provider's endpoints and keys, from its discovery document
(<OIDC_ISSUER>/.well-known/openid-configuration, OpenID Connect Discovery 1.0).

The issuer is an admin's setting, never anything a user typed, so fetching it is not the "fetch a URL a
user typed" this product refuses. The document is read on the first sign-in and kept in the process
for OIDC_DISCOVERY_CACHE_SECONDS; it must name the same issuer (section 4.3: a document that names
another is refused, or a compromised redirect could swap in another provider's keys)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class DiscoveryError(Exception):
    """The provider's discovery document could not be read, or says something we must refuse."""


@dataclass(frozen=True)
class ProviderEndpoints:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str  # "" when the provider has none


_lock = threading.Lock()
_cached: tuple[float, str, ProviderEndpoints] | None = None


def configured() -> bool:
    """OpenID Connect sign-in is on: an issuer and a client are set."""
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


def _check_url(name: str, url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise DiscoveryError(f"the discovery document has no {name}")
    parts = urlsplit(url)
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and settings.OIDC_ALLOW_HTTP_LOOPBACK and parts.hostname in LOOPBACK_HOSTS:
        return url
    raise DiscoveryError(f"{name} must be an https URL, not {url[:200]!r}")


def endpoints() -> ProviderEndpoints:
    """The configured provider's endpoints, read once per OIDC_DISCOVERY_CACHE_SECONDS.
    Raises DiscoveryError (unreachable, not JSON, another issuer, an endpoint that is not https)."""
    global _cached
    issuer = settings.OIDC_ISSUER
    with _lock:
        now = time.monotonic()
        if _cached is not None and _cached[1] == issuer and now - _cached[0] < settings.OIDC_DISCOVERY_CACHE_SECONDS:
            return _cached[2]
        _check_url("issuer", issuer)
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT, allow_redirects=False)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DiscoveryError(f"could not read {url}: {type(exc).__name__}") from exc
        if not isinstance(document, dict):
            raise DiscoveryError(f"{url} is not a discovery document")
        if document.get("issuer") != issuer:
            raise DiscoveryError(f"the discovery document names the issuer {str(document.get('issuer'))[:200]!r}")
        found = ProviderEndpoints(
            issuer=issuer,
            authorization_endpoint=_check_url("authorization_endpoint", document.get("authorization_endpoint")),
            token_endpoint=_check_url("token_endpoint", document.get("token_endpoint")),
            jwks_uri=_check_url("jwks_uri", document.get("jwks_uri")),
            userinfo_endpoint=(
                _check_url("userinfo_endpoint", document["userinfo_endpoint"])
                if document.get("userinfo_endpoint")
                else ""
            ),
        )
        _cached = (now, issuer, found)
        return found


def forget() -> None:
    """Read the document again on next use (tests; a provider that rotated its endpoints)."""
    global _cached
    with _lock:
        _cached = None
