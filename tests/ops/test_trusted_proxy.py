"""X-Forwarded-Proto is believed only from a TRUSTED_PROXIES peer; Permissions-Policy is on every
response. (The __Host- cookies under settings.prod: tests/security/test_headers.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from tests.conftest import FormClient

BEHIND_A_PROXY = {
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_SSL_REDIRECT": True,
    "TRUSTED_PROXIES": ["10.0.0.5", "192.168.10.0/24"],
}


def _get(peer: str, proto: str) -> Any:
    return FormClient().get("/accounts/login/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_PROTO=proto)


@override_settings(**BEHIND_A_PROXY)
@pytest.mark.parametrize("peer", ["10.0.0.5", "192.168.10.77", "::ffff:10.0.0.5"])
def test_the_proxy_says_https(db: Any, peer: str) -> None:
    response = _get(peer, "https")
    assert response.status_code == 200, "taken as HTTPS: no redirect"


@override_settings(**BEHIND_A_PROXY)
@pytest.mark.parametrize("peer", ["203.0.113.9", "10.0.0.6", "192.168.11.1", "2001:db8::1", "not-an-address"])
def test_anyone_else_saying_https_is_not_believed(db: Any, peer: str) -> None:
    response = _get(peer, "https")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


@override_settings(**BEHIND_A_PROXY)
def test_the_proxy_saying_http_is_redirected(db: Any) -> None:
    assert _get("10.0.0.5", "http").status_code == 301


def test_default_trusts_a_proxy_on_this_host_only(settings: Any) -> None:
    from escalations.ops.trusted_proxy import is_trusted, parse_networks

    networks = parse_networks(settings.TRUSTED_PROXIES)
    assert is_trusted("127.0.0.1", networks) and is_trusted("::1", networks)
    assert not is_trusted("10.0.0.5", networks) and not is_trusted("", networks)


def test_a_bad_entry_is_named() -> None:
    from escalations.ops.trusted_proxy import parse_networks

    with pytest.raises(ImproperlyConfigured, match=r"TRUSTED_PROXIES: 'proxy\.internal' is not an IP address"):
        parse_networks(["10.0.0.5", "proxy.internal"])


@pytest.mark.parametrize("path", ["/accounts/login/", "/healthz", "/escalations/mine/", "/no-such-page/"])
def test_permissions_policy_is_on_every_response(client_for: Any, moderator: Any, path: str) -> None:
    response = client_for(moderator).get(path)
    policy = {
        part.split("=")[0].strip(): part.split("=")[1].strip() for part in response["Permissions-Policy"].split(",")
    }
    for feature in ("camera", "microphone", "geolocation", "usb", "payment", "display-capture"):
        assert policy[feature] == "()", feature
