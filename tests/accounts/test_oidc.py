"""Signing in through the company's identity provider (OpenID Connect), against a provider in the test
process (tests/accounts/oidc_fake.py): the request it gets (PKCE, state, nonce), accounts made and
linked, roles that follow the provider's groups at every sign-in, ID tokens refused when tampered,
expired, for another audience or from another issuer, a state replayed, the two-factor rule with and
without `amr`, and password sign-in turned off for all but break-glass accounts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from escalations.accounts import oidc_discovery
from escalations.models import AuditAction, AuditEvent, ProviderIdentity, UserProfile
from tests.accounts.oidc_fake import CLIENT_ID, ISSUER, OIDC_SETTINGS, FakeProvider, new_key
from tests.conftest import FormClient

START = "/accounts/oidc/authenticate/"
CALLBACK = "/accounts/oidc/callback/"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, db: Any) -> Iterator[FakeProvider]:
    fake = FakeProvider()
    monkeypatch.setattr(requests, "get", fake.get)
    monkeypatch.setattr(requests, "post", fake.post)
    oidc_discovery.forget()
    with override_settings(**OIDC_SETTINGS):
        yield fake
    oidc_discovery.forget()


def start(client: FormClient, next_url: str = "") -> str:
    answer = client.get(START + (f"?next={next_url}" if next_url else ""))
    assert answer.status_code == 302, answer
    assert answer["Location"].startswith(f"{ISSUER}/auth?")
    return str(answer["Location"])


def sign_in(client: FormClient, provider: FakeProvider, sub: str, **kwargs: Any) -> Any:
    query = provider.approve(start(client), sub=sub, **kwargs)
    return client.get(f"{CALLBACK}?{query}")


def refusals() -> list[dict[str, Any]]:
    return [
        e.changes
        for e in AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED).order_by("pk")
        if e.changes.get("step") == "provider"
    ]


def signed_in_user(client: FormClient) -> Any:
    session = client.session
    return session.get("_auth_user_id")


# --- the page and the request ------------------------------------------------------------------------


def test_the_sign_in_page_offers_the_provider_only_when_configured(provider: FakeProvider) -> None:
    page = FormClient().get("/accounts/login/").content.decode()
    assert "Sign in with Example SSO" in page
    assert 'name="password"' in page
    with override_settings(OIDC_ISSUER=""):
        page = FormClient().get("/accounts/login/").content.decode()
        assert "Sign in with" not in page
        assert FormClient().get(START).status_code == 404
        assert FormClient().get(f"{CALLBACK}?code=x&state=y").status_code == 404


def test_the_request_carries_pkce_state_and_nonce(provider: FakeProvider) -> None:
    client = FormClient()
    query = {k: v[0] for k, v in parse_qs(urlsplit(start(client)).query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert query["redirect_uri"] == "http://testserver/accounts/oidc/callback/"
    assert "openid" in query["scope"].split()
    # The endpoints came from the issuer's discovery document, read once.
    discovery = [url for method, url in provider.requests_seen if url.endswith("openid-configuration")]
    start(client)
    assert len([url for method, url in provider.requests_seen if url.endswith("openid-configuration")]) == 1
    assert discovery


# --- accounts and roles ------------------------------------------------------------------------------


def test_a_first_sign_in_makes_the_account_with_the_mapped_role(provider: FakeProvider) -> None:
    client = FormClient()
    answer = sign_in(client, provider, "maria", groups=["tt-moderators", "everyone"])
    assert answer.status_code == 302 and answer["Location"] == "/escalations/mine/"
    assert client.get("/escalations/mine/").status_code == 200
    user = get_user_model().objects.get(username="maria")
    assert user.email == "maria@example.test" and not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == ["moderator"]
    assert ProviderIdentity.objects.get(user=user).subject == "maria"
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-3:] == [
        AuditAction.PROVIDER_ACCOUNT_CREATED,
        AuditAction.GROUPS_CHANGED,
        AuditAction.SIGNED_IN_PROVIDER,
    ]
    groups = AuditEvent.objects.get(action=AuditAction.GROUPS_CHANGED)
    assert groups.changes == {
        "user": "maria", "added": ["moderator"], "removed": [], "source": "identity provider", "claim": "groups",
    }  # fmt: skip


def test_roles_follow_the_provider_at_every_sign_in(provider: FakeProvider) -> None:
    client = FormClient()
    sign_in(client, provider, "lee", groups=["tt-moderators"])
    client = FormClient()
    answer = sign_in(client, provider, "lee", groups=["tt-leads"])
    assert answer["Location"] == "/escalations/mine/"
    user = get_user_model().objects.get(username="lee")
    assert list(user.groups.values_list("name", flat=True)) == ["lead"]
    assert client.get("/dashboard/").status_code == 200
    last = AuditEvent.objects.filter(action=AuditAction.GROUPS_CHANGED).order_by("-pk")[0]
    assert (last.changes["added"], last.changes["removed"]) == (["lead"], ["moderator"])
    # The group removed at the provider: no role here, the "no role" page, and an event that says so.
    client = FormClient()
    sign_in(client, provider, "lee", groups=["everyone"])
    page = client.get("/escalations/mine/")
    assert page.status_code == 403
    assert "You have no role in the escalation tracker yet" in page.content.decode()
    last = AuditEvent.objects.filter(action=AuditAction.GROUPS_CHANGED).order_by("-pk")[0]
    assert (last.changes["added"], last.changes["removed"]) == ([], ["lead"])
    # Groups other than roles are not the provider's to take away.
    team = Group.objects.create(name="night-shift")
    user.groups.add(team)
    sign_in(FormClient(), provider, "lee", groups=["tt-auditors"])
    assert sorted(user.groups.values_list("name", flat=True)) == ["auditor", "night-shift"]


def test_a_provider_that_sends_no_role_claim_is_named_in_the_sign_in_event(
    provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    # A new team's admin forgot the groups scope: the person lands on "no role", and the security
    # events and the log say the provider sent no groups claim at all (not an empty one).
    client = FormClient()
    sign_in(client, provider, "alice", groups=None)
    user = get_user_model().objects.get(pk=signed_in_user(client))
    assert list(user.groups.values_list("name", flat=True)) == []
    event = AuditEvent.objects.get(action=AuditAction.SIGNED_IN_PROVIDER, actor=user)
    assert event.changes["role_claim"] == "missing: no 'groups' claim"
    assert "OIDC_SCOPES" in caplog.text
    # An empty list is a claim: the person has no group there, nothing is said.
    other = FormClient()
    sign_in(other, provider, "bob", groups=[])
    bob = get_user_model().objects.get(pk=signed_in_user(other))
    assert "role_claim" not in AuditEvent.objects.get(action=AuditAction.SIGNED_IN_PROVIDER, actor=bob).changes


def test_without_a_role_claim_roles_are_kept_here(provider: FakeProvider) -> None:
    sign_in(FormClient(), provider, "gwen", groups=["tt-leads"])
    user = get_user_model().objects.get(username="gwen")
    user.groups.set([Group.objects.get(name="auditor")])
    with override_settings(OIDC_ROLE_CLAIM=""):
        client = FormClient()
        sign_in(client, provider, "gwen", groups=["tt-moderators"])
    assert list(user.groups.values_list("name", flat=True)) == ["auditor"]
    assert client.get("/dashboard/").status_code == 200


def test_an_existing_local_account_is_linked_by_email(provider: FakeProvider, make_user: Any) -> None:
    local = make_user("mwong", "moderator")
    local.email = "Maria@Example.test"
    local.save()
    client = FormClient()
    sign_in(client, provider, "maria", groups=["tt-leads"])
    assert signed_in_user(client) == str(local.pk)
    assert ProviderIdentity.objects.get(subject="maria").user == local
    assert list(local.groups.values_list("name", flat=True)) == ["lead"]
    assert AuditEvent.objects.filter(action=AuditAction.PROVIDER_ACCOUNT_LINKED).count() == 1
    # Later sign-ins find the person by the provider's subject, even with a new email.
    client = FormClient()
    sign_in(client, provider, "maria", groups=["tt-leads"], extra={"email": "maria.wong@example.test"})
    assert signed_in_user(client) == str(local.pk)


def test_an_unverified_email_links_nothing(provider: FakeProvider, make_user: Any) -> None:
    local = make_user("mwong", "lead")
    local.email = "maria@example.test"
    local.save()
    client = FormClient()
    sign_in(client, provider, "maria", groups=[], extra={"email_verified": False})
    assert signed_in_user(client) != str(local.pk)
    assert ProviderIdentity.objects.get(subject="maria").user.username == "maria"


def test_a_break_glass_account_is_never_linked(provider: FakeProvider, make_user: Any) -> None:
    admin = get_user_model().objects.create_superuser("root", "admin@example.test", "correct-horse-battery")
    client = FormClient()
    sign_in(client, provider, "admin", groups=["tt-leads"])
    assert signed_in_user(client) is None
    assert "break-glass" in refusals()[-1]["reason"]
    assert not ProviderIdentity.objects.filter(user=admin).exists()


def test_a_deactivated_person_is_refused(provider: FakeProvider) -> None:
    sign_in(FormClient(), provider, "gone", groups=["tt-moderators"])
    get_user_model().objects.filter(username="gone").update(is_active=False)
    client = FormClient()
    answer = sign_in(client, provider, "gone", groups=["tt-moderators"])
    assert answer["Location"] == "/accounts/login/"
    assert signed_in_user(client) is None
    assert refusals()[-1]["reason"] == "this account is deactivated"


# --- tokens and states refused ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ({"signing_key": "other"}, "the ID token's signature does not match the provider's keys"),
        ({"expires_in": -120}, "the ID token has expired"),
        ({"aud": "another-client"}, "the ID token was issued to another client (audience)"),
        ({"iss": "https://evil.example.test"}, "the ID token was issued by another issuer"),
        ({"nonce": "not-this-sign-ins"}, "the ID token's nonce is not this sign-in's"),
        ({"alg": "HS256"}, "the ID token is not signed with RS256"),
        ({"kid": "unknown-key"}, "no key in the provider's JWKS matches the ID token"),
        (
            {"aud": [CLIENT_ID, "another-client"]},
            "the ID token names several audiences and is not authorized for this client (azp)",
        ),
    ],
)
def test_a_bad_id_token_is_refused(provider: FakeProvider, spoil: dict[str, Any], reason: str) -> None:
    if spoil.get("signing_key") == "other":
        spoil = {"signing_key": new_key()}
    client = FormClient()
    answer = sign_in(client, provider, "mallory", groups=["tt-leads"], **spoil)
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/"
    assert signed_in_user(client) is None
    assert not get_user_model().objects.filter(username="mallory").exists()
    assert refusals()[-1]["reason"] == reason
    page = client.get("/accounts/login/").content.decode()
    assert "Sign-in with Example SSO did not work" in page


def test_a_tampered_id_token_is_refused(provider: FakeProvider) -> None:
    """A token whose payload was changed after signing (a group added)."""
    import base64
    import json

    client = FormClient()
    query = provider.approve(start(client), sub="mallory", groups=["tt-moderators"])
    code = parse_qs(query)["code"][0]
    header, payload, signature = provider.codes[code]["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["groups"] = ["tt-leads"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    provider.codes[code]["id_token"] = f"{header}.{forged}.{signature}"
    client.get(f"{CALLBACK}?{query}")
    assert signed_in_user(client) is None
    assert refusals()[-1]["reason"] == "the ID token's signature does not match the provider's keys"


def test_a_replayed_or_unknown_state_is_refused(provider: FakeProvider) -> None:
    client = FormClient()
    query = provider.approve(start(client), sub="maria", groups=["tt-moderators"])
    assert client.get(f"{CALLBACK}?{query}")["Location"] == "/escalations/mine/"
    client.logout()
    # The same answer again (the state was used up), and a state this browser never started.
    assert client.get(f"{CALLBACK}?{query}")["Location"] == "/accounts/login/"
    assert signed_in_user(client) is None
    other = FormClient()
    other_query = provider.approve(start(FormClient()), sub="maria", groups=["tt-moderators"])
    assert other.get(f"{CALLBACK}?{other_query}")["Location"] == "/accounts/login/"
    assert signed_in_user(other) is None
    assert [r["reason"] for r in refusals()] == [
        "this sign-in was not started here, or was already used (state)",
        "this sign-in was not started here, or was already used (state)",
    ]


def test_a_stale_state_and_a_provider_error_are_refused(provider: FakeProvider) -> None:
    client = FormClient()
    url = start(client)
    session = client.session
    for entry in session["oidc_states"].values():
        entry["added_on"] = time.time() - 3600
    session.save()
    client.get(f"{CALLBACK}?{provider.approve(url, sub='maria', groups=[])}")
    client2 = FormClient()
    state = parse_qs(urlsplit(start(client2)).query)["state"][0]
    client2.get(f"{CALLBACK}?error=access_denied&state={state}")
    assert [r["reason"] for r in refusals()] == [
        "this sign-in was started too long ago",
        "the provider answered 'access_denied'",
    ]


def test_a_discovery_document_for_another_issuer_is_refused(provider: FakeProvider) -> None:
    provider.discovery_issuer = "https://evil.example.test"
    answer = FormClient().get(START)
    assert answer["Location"] == "/accounts/login/"
    assert "names the issuer" in refusals()[-1]["reason"]


# --- two factors ------------------------------------------------------------------------------------


@override_settings(REQUIRE_2FA=True)
def test_a_second_factor_at_the_provider_satisfies_require_2fa(provider: FakeProvider) -> None:
    client = FormClient()
    sign_in(client, provider, "lena", groups=["tt-leads"], amr=["pwd", "mfa"])
    assert client.get("/escalations/mine/").status_code == 200
    event = AuditEvent.objects.filter(action=AuditAction.SIGNED_IN_PROVIDER).latest("pk")
    assert event.changes["amr"] == ["pwd", "mfa"] and event.changes["second_factor"] is True


@override_settings(REQUIRE_2FA=True)
def test_without_a_second_factor_our_own_step_applies(provider: FakeProvider) -> None:
    client = FormClient()
    sign_in(client, provider, "lena", groups=["tt-leads"], amr=["pwd"])
    page = client.get("/escalations/mine/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/two-factor/setup/")
    # Someone with an authenticator gives its code unless the provider's sign-in had a second factor.
    user = get_user_model().objects.get(username="lena")
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = FormClient()
    sign_in(client, provider, "lena", groups=["tt-leads"])
    assert client.get("/escalations/mine/")["Location"].startswith("/accounts/login/verify/")
    client = FormClient()
    sign_in(client, provider, "lena", groups=["tt-leads"], amr=["hwk"])
    assert client.get("/escalations/mine/").status_code == 200


# --- password sign-in off ---------------------------------------------------------------------------


@override_settings(PASSWORD_SIGN_IN=False)
def test_password_sign_in_off_refuses_everyone_but_break_glass(provider: FakeProvider, make_user: Any) -> None:
    make_user("mod", "moderator")
    page = FormClient().get("/accounts/login/").content.decode()
    assert 'name="password"' not in page and "Break-glass sign-in" in page
    assert 'name="password"' in FormClient().get("/accounts/login/?break-glass").content.decode()

    refused = FormClient().post("/accounts/login/", {"username": "mod", "password": "correct-horse-battery"})
    assert refused.status_code == 200
    assert "Password sign-in is off here: sign in with Example SSO" in refused.content.decode()
    failed = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED).latest("pk")
    assert failed.changes["username"] == "mod" and "PASSWORD_SIGN_IN=false" in failed.changes["reason"]

    get_user_model().objects.create_superuser("root", "root@example.test", "correct-horse-battery")
    assert (
        FormClient().post("/accounts/login/", {"username": "root", "password": "correct-horse-battery"}).status_code
        == 302
    )
    glass = make_user("oncall", "lead")
    UserProfile.objects.update_or_create(user=glass, defaults={"break_glass": True})
    assert (
        FormClient().post("/accounts/login/", {"username": "oncall", "password": "correct-horse-battery"}).status_code
        == 302
    )
    changed = AuditEvent.objects.get(action=AuditAction.BREAK_GLASS_CHANGED)
    assert changed.changes == {"user": "oncall", "break_glass": [False, True]}
    # A break-glass account still needs its own password.
    wrong = FormClient().post("/accounts/login/", {"username": "oncall", "password": "wrong-wrong-wrong"})
    assert wrong.status_code == 200


@override_settings(PASSWORD_SIGN_IN=False)
def test_password_sign_in_off_leaves_service_tokens_working(lead: Any) -> None:
    from tests.accounts.test_tokens import bearer, make_token

    _, raw = make_token(lead, scope="read")
    assert bearer(raw).get("/api/v1/escalations/").status_code == 200


def test_an_issuer_or_endpoint_without_https_is_refused(provider: FakeProvider) -> None:
    with override_settings(OIDC_ISSUER="http://idp.example.test"):
        oidc_discovery.forget()
        answer = FormClient().get(START)
    assert answer["Location"] == "/accounts/login/"
    assert "issuer must be an https URL" in refusals()[-1]["reason"]
    assert not [url for _, url in provider.requests_seen if url.startswith("http://")]


def test_claim_values_reach_into_objects() -> None:
    from escalations.accounts.oidc_backend import claim_values

    claims = {"realm_access": {"roles": ["tt-leads", 7, None]}, "hd": "example.com"}
    assert claim_values(claims, "realm_access.roles") == ["tt-leads", "7"]
    assert claim_values(claims, "hd") == ["example.com"]
    assert claim_values(claims, "groups") == []
