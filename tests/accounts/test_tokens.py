"""Service tokens: made by leads on /tokens/, shown once, stored as a hash, scoped, expiring,
revocable, last use recorded, throttled; and what a client sees when a token is not right."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from escalations.accounts import tokens
from escalations.api.auth import ServiceTokenThrottle
from escalations.models import AuditEvent, Escalation, ServiceToken
from tests.conftest import escalation_trail

API = "/api/v1/escalations/"
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SECRET = re.compile(r"esct_[A-Za-z0-9_-]{20,}")


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> Any:
    cache.clear()
    yield
    cache.clear()


def make_token(user: Any, scope: str = "write", name: str = "pipeline", days: int = 30) -> tuple[ServiceToken, str]:
    return tokens.create_token(actor=user, name=name, scope=scope, expires_at=timezone.now() + timedelta(days=days))


def bearer(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


def create_escalation(client: Client) -> Any:
    return client.post(
        API,
        {
            "platform_reference": "ticket-1",
            "incident_type": "child_pornography",
            "knowledge_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        },
        content_type="application/json",
    )


# --- the tokens page ----------------------------------------------------------------------------


def test_a_lead_creates_a_token_and_sees_the_secret_once(lead: Any, client_for: Any) -> None:
    browser = client_for(lead)
    response = browser.post("/tokens/", {"name": "moderation-pipeline", "scope": "write", "days": "90"})
    assert response.status_code == 200
    assert {"no-store", "private"} <= {part.strip() for part in response["Cache-Control"].split(",")}
    content = response.content.decode()
    secrets_shown = SECRET.findall(content)
    assert len(set(secrets_shown)) == 1, secrets_shown
    raw = secrets_shown[0]
    assert "shown only once" in content

    token = ServiceToken.objects.get()
    assert (token.name, token.scope, token.created_by) == ("moderation-pipeline", "write", lead)
    assert abs(token.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    # Only a hash is kept: no column holds the secret.
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in repr(list(ServiceToken.objects.values_list()))
    assert raw.startswith(token.prefix) and len(token.prefix) < len(raw) // 2
    # Not in a cookie or a message either.
    assert all(raw not in morsel.value for morsel in response.cookies.values())

    # Never again: the list shows the name and the prefix only.
    again = browser.get("/tokens/")
    assert again.status_code == 200
    listed = html.unescape(again.content.decode())
    assert "moderation-pipeline" in listed
    assert token.prefix in listed
    assert raw not in listed
    assert not SECRET.findall(listed.replace(token.prefix + "…", ""))

    # And it works.
    assert bearer(raw).get(API).status_code == 200


@pytest.mark.parametrize("role", ["moderator", "auditor", "nobody"])
def test_only_leads_manage_tokens(role: str, request: pytest.FixtureRequest, client_for: Any, lead: Any) -> None:
    token, _ = make_token(lead)
    browser = client_for(request.getfixturevalue(role))
    assert browser.get("/tokens/").status_code == 403
    assert browser.post("/tokens/", {"name": "mine", "scope": "write", "days": "30"}).status_code == 403
    assert browser.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    assert list(ServiceToken.objects.values_list("name", "revoked_at")) == [("pipeline", None)]


def test_strangers_are_sent_to_sign_in(lead: Any) -> None:
    response = Client().get("/tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "scope": "read", "days": "30"}, "name", "required"),
        ({"name": "x", "scope": "admin", "days": "30"}, "scope", "Select a valid choice"),
        ({"name": "x", "scope": "read", "days": "0"}, "days", "a token lasts at least 1 day"),
        ({"name": "x", "scope": "read", "days": "400"}, "days", "at most a year (366 days)"),
        ({"name": "pipeline", "scope": "read", "days": "30"}, "name", "already exists"),
    ],
)
def test_token_form_errors(data: dict[str, str], field: str, message: str, lead: Any, client_for: Any) -> None:
    make_token(lead)
    response = client_for(lead).post("/tokens/", data)
    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(message in e for e in errors), errors
    assert not SECRET.findall(response.content.decode())
    assert ServiceToken.objects.count() == 1


def test_revoke_on_the_page_stops_the_token(lead: Any, client_for: Any) -> None:
    token, raw = make_token(lead)
    client = bearer(raw)
    assert client.get(API).status_code == 200
    browser = client_for(lead)
    assert browser.get(f"/tokens/{token.pk}/revoke/").status_code == 405
    response = browser.post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    refused = client.get(API)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Bearer"
    page = browser.get("/tokens/").content.decode()
    assert "Revoked" in page
    assert browser.post("/tokens/999999/revoke/").status_code == 404


# --- scopes -----------------------------------------------------------------------------------


def test_read_scope_reads_but_cannot_write(lead: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    _, raw = make_token(lead, scope="read")
    client = bearer(raw)
    assert client.get(API).status_code == 200
    assert client.get(f"{API}{esc.pk}/").status_code == 200
    assert client.get(f"{API}{esc.pk}/audit-events/").status_code == 200

    response = create_escalation(client)
    assert response.status_code == 403
    assert response.json() == {"detail": "This token is read-only: its scope does not allow changes."}
    for method, url, data in [
        ("patch", f"{API}{esc.pk}/", {"notes": "x"}),
        ("post", f"{API}{esc.pk}/dismiss/", {"reason": "x"}),
        ("post", f"{API}{esc.pk}/preservation/", {"preservation_location": "v/1"}),
        ("post", f"{API}bulk/", []),
    ]:
        answer = getattr(client, method)(url, data, content_type="application/json")
        assert answer.status_code == 403, url
    esc.refresh_from_db()
    assert esc.version == 1
    assert Escalation.objects.count() == 1
    assert not AuditEvent.objects.exclude(via="").exists()


def test_write_scope_writes_as_the_creator_named_by_the_token(lead: Any) -> None:
    _, raw = make_token(lead, scope="write", name="ingest")
    response = create_escalation(bearer(raw))
    assert response.status_code == 201
    event = escalation_trail().get()
    assert (event.actor, event.via) == (lead, "token:ingest")


def test_a_token_of_a_creator_without_a_role_reads_nothing(lead: Any) -> None:
    _, raw = make_token(lead)
    lead.groups.clear()
    assert bearer(raw).get(API).status_code == 403


# --- expiry, revocation, deactivation -------------------------------------------------------


def test_expiry_works_to_the_second(lead: Any) -> None:
    with time_machine.travel(NOW, tick=False):
        token, raw = make_token(lead, days=30)
    assert token.expires_at == NOW + timedelta(days=30)
    with time_machine.travel(token.expires_at - timedelta(seconds=1), tick=False):
        assert bearer(raw).get(API).status_code == 200
    with time_machine.travel(token.expires_at, tick=False):
        response = bearer(raw).get(API)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"
    with time_machine.travel(token.expires_at + timedelta(days=1), tick=False):
        assert bearer(raw).get(API).status_code == 401


def test_expiry_must_be_in_the_future_and_within_a_year(lead: Any) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as past:
        tokens.create_token(actor=lead, name="a", scope="read", expires_at=timezone.now())
    assert past.value.message_dict == {"expires_at": ["Expiry must be in the future."]}
    with pytest.raises(ValidationError) as far:
        tokens.create_token(actor=lead, name="a", scope="read", expires_at=timezone.now() + timedelta(days=400))
    assert "at most a year" in far.value.message_dict["expires_at"][0]
    assert ServiceToken.objects.count() == 0


def test_revoked_token_is_refused(lead: Any) -> None:
    token, raw = make_token(lead)
    tokens.revoke_token(actor=lead, token_id=token.pk)
    response = create_escalation(bearer(raw))
    assert response.status_code == 401
    assert Escalation.objects.count() == 0


def test_a_deactivated_creators_token_is_refused(lead: Any) -> None:
    _, raw = make_token(lead)
    lead.is_active = False
    lead.save()
    assert bearer(raw).get(API).status_code == 401
    assert create_escalation(bearer(raw)).status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(lead: Any, client_for: Any) -> None:
    with time_machine.travel(NOW, tick=False):
        token, raw = make_token(lead)
    assert token.last_used_at is None
    for moment, expected in [
        (NOW + timedelta(seconds=10), NOW + timedelta(seconds=10)),
        (NOW + timedelta(seconds=40), NOW + timedelta(seconds=10)),
        (NOW + timedelta(seconds=69), NOW + timedelta(seconds=10)),
        (NOW + timedelta(seconds=70), NOW + timedelta(seconds=70)),
        (NOW + timedelta(hours=2), NOW + timedelta(hours=2)),
    ]:
        with time_machine.travel(moment, tick=False):
            assert bearer(raw).get(API).status_code == 200
        token.refresh_from_db()
        assert token.last_used_at == expected, moment
    # A refused token is not "used".
    tokens.revoke_token(actor=lead, token_id=token.pk)
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        assert bearer(raw).get(API).status_code == 401
    token.refresh_from_db()
    assert token.last_used_at == NOW + timedelta(hours=2)
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        assert "2026-05-04 11:00" in client_for(lead).get("/tokens/").content.decode()


# --- what a client sees when the header is wrong -------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Token {raw}",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer not-one-of-ours",
        "Bearer esct_unknownunknownunknown",
        "Bearer {raw}x",
        "{raw}",
        "Bearer {raw} extra",
    ],
)
def test_a_wrong_header_is_a_401_that_says_bearer(header: str, lead: Any) -> None:
    _, raw = make_token(lead)
    client = Client(headers={"Authorization": header.format(raw=raw)})
    for response in (client.get(API), create_escalation(client)):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"
        assert response.json()["detail"]
    assert Escalation.objects.count() == 0


def test_the_scheme_name_is_case_insensitive(lead: Any) -> None:
    # RFC 9110: the authentication scheme is case-insensitive.
    _, raw = make_token(lead)
    assert Client(headers={"Authorization": f"bearer {raw}"}).get(API).status_code == 200


def test_a_token_wins_over_a_session_and_needs_no_csrf(lead: Any, moderator: Any) -> None:
    _, raw = make_token(lead, name="machine")
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})
    client.force_login(moderator)
    assert create_escalation(client).status_code == 201
    assert escalation_trail().get().via == "token:machine"


# --- throttling -----------------------------------------------------------------------------------


@pytest.fixture
def three_a_minute(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    rates = {"service_token": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    # DRF reads the rates when the throttle class is defined.
    monkeypatch.setattr(ServiceTokenThrottle, "THROTTLE_RATES", rates)
    cache.clear()


@pytest.mark.usefixtures("three_a_minute")
def test_the_fourth_request_in_a_minute_is_429_with_retry_after(lead: Any, moderator: Any) -> None:
    _, raw = make_token(lead)
    with time_machine.travel(NOW, tick=False):
        client = bearer(raw)
        assert [client.get(API).status_code for _ in range(3)] == [200, 200, 200]
        throttled = create_escalation(client)
        assert throttled.status_code == 429
        retry_after = int(throttled["Retry-After"])
        assert 1 <= retry_after <= 60
        assert "detail" in throttled.json()
        assert Escalation.objects.count() == 0  # nothing written by a throttled request

        # Another token has its own allowance; people in the browser have none.
        _, other = make_token(lead, name="other")
        assert bearer(other).get(API).status_code == 200
        browser = Client()
        browser.force_login(moderator)
        assert all(browser.get(API).status_code == 200 for _ in range(10))

    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        assert bearer(raw).get(API).status_code == 200
