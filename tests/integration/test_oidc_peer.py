"""Signing in through a real OpenID provider (node's oidc-provider, deploy/ci/oidc/provider.js): its
discovery, its JWKS, its token endpoint enforcing PKCE, its ID tokens with groups and `amr`. People
sign in as a moderator and a lead, a group is removed at the provider, a second factor shown or not;
the provider's expired, tampered, wrong-audience and wrong-issuer ID tokens and a replayed state are
refused. The browser side is tests/browser/test_oidc_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from escalations.accounts import oidc_discovery
from escalations.models import AuditAction, AuditEvent
from tests.conftest import FormClient
from tests.integration.oidc_peer import Tally, app_settings, running_provider, sign_in_at_provider

pytestmark = pytest.mark.oidc

TALLY = Tally("django-client")


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with running_provider() as url:
        yield url
    TALLY.write()


@pytest.fixture
def peer(issuer: str, db: Any) -> Iterator[str]:
    oidc_discovery.forget()
    with override_settings(**app_settings(issuer)):
        yield issuer
    oidc_discovery.forget()


def callback_for(client: FormClient, login: str, **kwargs: Any) -> str:
    started = client.get("/accounts/oidc/authenticate/")
    assert started.status_code == 302
    back = sign_in_at_provider(started["Location"], login, **kwargs)
    parts = urlsplit(back)
    return f"{parts.path}?{parts.query}"


def sign_in(login: str, **kwargs: Any) -> tuple[FormClient, Any]:
    client = FormClient()
    answer = client.get(callback_for(client, login, **kwargs))
    signed_in = client.session.get("_auth_user_id") is not None
    if signed_in:
        TALLY.signed_in += 1
    else:
        TALLY.refused += 1
    return client, answer


def last_refusal() -> str:
    event = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED).latest("pk")
    assert event.changes["step"] == "provider"
    return str(event.changes["reason"])


def test_a_moderator_and_a_lead_sign_in(peer: str) -> None:
    client, answer = sign_in("moderator")
    assert answer["Location"] == "/escalations/mine/"
    assert client.get("/escalations/new/").status_code == 200
    assert client.get("/dashboard/").status_code == 403
    client, answer = sign_in("lead")
    assert client.get("/dashboard/").status_code == 200
    assert list(get_user_model().objects.get(username="lead").groups.values_list("name", flat=True)) == ["lead"]
    event = AuditEvent.objects.filter(action=AuditAction.SIGNED_IN_PROVIDER).latest("pk")
    assert event.changes["amr"] == ["pwd"] and event.changes["second_factor"] is False


def test_a_group_removed_at_the_provider_removes_the_role(peer: str) -> None:
    client, _ = sign_in("casey", groups="tt-leads")
    assert client.get("/dashboard/").status_code == 200
    client, _ = sign_in("casey", groups="everyone")
    page = client.get("/escalations/mine/")
    assert page.status_code == 403 and "You have no role" in page.content.decode()
    last = AuditEvent.objects.filter(action=AuditAction.GROUPS_CHANGED).latest("pk")
    assert last.changes["removed"] == ["lead"] and last.changes["source"] == "identity provider"


@override_settings(REQUIRE_2FA=True)
def test_amr_from_the_provider_decides_our_code_step(peer: str) -> None:
    client, _ = sign_in("lead", mfa=True)
    assert client.get("/escalations/mine/").status_code == 200
    client, _ = sign_in("lead", mfa=False)
    page = client.get("/escalations/mine/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/two-factor/setup/")


@pytest.mark.parametrize(
    ("login", "reason"),
    [
        ("spoil-expired", "the ID token has expired"),
        ("spoil-audience", "the ID token was issued to another client (audience)"),
        ("spoil-issuer", "the ID token was issued by another issuer"),
        ("spoil-tampered", "the ID token's signature does not match the provider's keys"),
    ],
)
def test_the_providers_bad_tokens_are_refused(peer: str, login: str, reason: str) -> None:
    client, answer = sign_in(login, groups="tt-moderators")
    assert answer["Location"] == "/accounts/login/"
    assert client.session.get("_auth_user_id") is None
    assert last_refusal() == reason
    assert not get_user_model().objects.filter(username=login).exists()


def test_a_replayed_state_and_code_are_refused(peer: str) -> None:
    client = FormClient()
    back = callback_for(client, "moderator")
    assert client.get(back)["Location"] == "/escalations/mine/"
    TALLY.signed_in += 1
    client.logout()
    assert client.get(back)["Location"] == "/accounts/login/"
    assert client.session.get("_auth_user_id") is None
    assert last_refusal() == "this sign-in was not started here, or was already used (state)"
    TALLY.refused += 1
    # The same code with a fresh state of this browser: the provider refuses a code used once.
    started = client.get("/accounts/oidc/authenticate/")
    state = dict(pair.split("=", 1) for pair in urlsplit(started["Location"]).query.split("&"))["state"]
    code = dict(pair.split("=", 1) for pair in urlsplit(back).query.split("&"))["code"]
    assert client.get(f"/accounts/oidc/callback/?code={code}&state={state}")["Location"] == "/accounts/login/"
    assert last_refusal() == "the provider refused the code (token endpoint answered 400)"
    TALLY.refused += 1
