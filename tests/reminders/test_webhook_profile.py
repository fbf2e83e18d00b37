"""A person's webhook on their profile: a changed URL gets a new signing secret, the secret can be
replaced at will, each change is in the audit trail (naming the receiver's host, never the secret or
the URL's path), an address that can't receive webhooks is refused as it is typed, and the admin
neither shows the secret nor changes the URL behind the owner's back."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from escalations.models import AuditAction, AuditEvent, UserProfile
from tests.conftest import FormClient
from tests.reminders.test_channels import csrf_token, field_block, messages_of, page, prefs, text

SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")
REFUSED = "Webhook URL: that address can't receive webhooks (it must be a public https address)."
NEW_SECRET = "Your webhook has a new signing secret (below): set it in your receiver."


@pytest.fixture
def no_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Saving a profile must never resolve or fetch the webhook URL."""
    import socket

    def refuse(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("the webhook URL was looked up or fetched while saving the profile")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def secret_of(user: Any) -> str:
    return UserProfile.objects.get(user=user).webhook_secret


def events(user: Any) -> list[tuple[str, dict[str, Any]]]:
    # The person's webhook events (signing in is a security event of its own).
    rows = AuditEvent.objects.filter(actor=user, escalation=None).exclude(action=AuditAction.SIGNED_IN).order_by("pk")
    return [(e.action, e.changes) for e in rows]


@pytest.mark.usefixtures("no_fetch")
def test_a_changed_webhook_url_gets_a_new_secret_and_both_are_audited(client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    response = client.post("/accounts/profile/", prefs(webhook_url="https://hooks.example.org/a"), follow=True)
    assert messages_of(response) == ["Profile saved.", NEW_SECRET]
    first = secret_of(moderator)
    assert SECRET.fullmatch(first)
    assert f"<code>{first}</code>" in page(response)

    # Another time zone, the same URL: the receiver's secret stands, nothing to audit about it.
    response = client.post(
        "/accounts/profile/",
        prefs(time_zone="Europe/Berlin", webhook_url="https://hooks.example.org/a"),
        follow=True,
    )
    assert messages_of(response) == ["Profile saved."]
    assert secret_of(moderator) == first

    # Another URL: whoever ran the old receiver must not hold the new one's secret.
    response = client.post("/accounts/profile/", prefs(webhook_url="https://hooks.example.net/b"), follow=True)
    second = secret_of(moderator)
    assert SECRET.fullmatch(second) and second != first
    assert f"<code>{second}</code>" in page(response)
    assert first not in page(response)

    # No URL: no secret.
    client.post("/accounts/profile/", prefs(webhook_url=""))
    assert secret_of(moderator) == ""

    trail = events(moderator)
    assert [action for action, _ in trail] == [
        AuditAction.WEBHOOK_URL_CHANGED,
        AuditAction.WEBHOOK_SECRET_REPLACED,
        AuditAction.WEBHOOK_URL_CHANGED,
        AuditAction.WEBHOOK_SECRET_REPLACED,
        AuditAction.WEBHOOK_URL_CHANGED,
    ]
    a, b = trail[0][1]["webhook_url"][1], trail[2][1]["webhook_url"][1]
    assert trail[0][1]["webhook_url"][0] == ""
    assert a.startswith("https://hooks.example.org/…") and b.startswith("https://hooks.example.net/…")
    assert trail[2][1]["webhook_url"] == [a, b]
    assert trail[4][1] == {"webhook_url": [b, ""], "webhook_secret": "removed"}
    assert trail[3][1] == {"webhook_secret": "replaced: the webhook URL changed"}
    assert first not in json.dumps(trail) and second not in json.dumps(trail)


@pytest.mark.usefixtures("no_fetch")
def test_the_audit_trail_keeps_the_host_not_a_credential_in_the_path(client_for: Any, moderator: Any) -> None:
    """A Slack-style incoming webhook URL is its own credential: auditors see where, not the key."""
    url = "https://hooks.slack.example/services/T0000/B0000/XXXXcredentialXXXX"
    client_for(moderator).post("/accounts/profile/", prefs(webhook_url=url))
    [(_, changes), _] = events(moderator)
    shown = changes["webhook_url"][1]
    assert shown.startswith("https://hooks.slack.example/… (sha256 ")
    assert "credential" not in json.dumps(events(moderator))
    # The same URL always reads the same, and another one differently: changes can be told apart.
    client_for(moderator).post("/accounts/profile/", prefs(webhook_url=url + "2"))
    assert events(moderator)[2][1]["webhook_url"][0] == shown
    assert events(moderator)[2][1]["webhook_url"][1] != shown


@pytest.mark.usefixtures("no_fetch")
def test_a_new_secret_on_request(client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    client.post("/accounts/profile/", prefs(webhook_url="https://hooks.example.org/a"))
    before = secret_of(moderator)
    profile = client.get("/accounts/profile/")
    assert "Make a new signing secret" in text(profile)

    response = client.post("/accounts/profile/webhook/new-secret/", follow=True)
    assert response.redirect_chain == [("/accounts/profile/", 302)]
    assert messages_of(response) == [NEW_SECRET]
    after = secret_of(moderator)
    assert SECRET.fullmatch(after) and after != before
    assert f"<code>{after}</code>" in page(response)
    assert events(moderator)[-1] == (AuditAction.WEBHOOK_SECRET_REPLACED, {"webhook_secret": "replaced on request"})

    assert client.get("/accounts/profile/webhook/new-secret/").status_code == 405
    assert secret_of(moderator) == after


def test_a_new_secret_needs_a_webhook_and_the_csrf_token(client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).post("/accounts/profile/webhook/new-secret/", follow=True)
    assert messages_of(response) == ["There is no webhook URL on your profile, so there is no secret to replace."]
    assert events(moderator) == []

    UserProfile.objects.create(user=moderator, webhook_url="https://hooks.example.org/a", webhook_secret="x" * 64)
    strict = FormClient(enforce_csrf_checks=True)
    strict.force_login(moderator)
    assert strict.post("/accounts/profile/webhook/new-secret/").status_code == 403
    assert secret_of(moderator) == "x" * 64
    token = csrf_token(strict.get("/accounts/profile/"))
    assert strict.post("/accounts/profile/webhook/new-secret/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert SECRET.fullmatch(secret_of(moderator))


@pytest.mark.usefixtures("no_fetch")
@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://[fec0::1]/hook",
        "https://192.0.0.9/hook",
    ],
)
def test_an_address_that_cant_receive_webhooks_is_refused_as_it_is_typed(
    client_for: Any, moderator: Any, url: str
) -> None:
    response = client_for(moderator).post("/accounts/profile/", prefs(webhook_url=url))
    assert response.status_code == 200
    assert REFUSED in field_block(response, "webhook_url")
    assert not UserProfile.objects.filter(user=moderator).exists()
    assert events(moderator) == []


def test_the_profile_says_how_a_receiver_verifies(client_for: Any, moderator: Any) -> None:
    UserProfile.objects.create(user=moderator, webhook_url="https://hooks.example.org/a", webhook_secret="x" * 64)
    shown = text(client_for(moderator).get("/accounts/profile/"))
    for words in ("webhook-id", "webhook-timestamp", "webhook-signature", "Standard Webhooks", "5 minutes"):
        assert words in shown
    assert "X-Escalations-Signature" not in shown


def test_the_admin_neither_shows_the_secret_nor_changes_the_url(client_for: Any, moderator: Any) -> None:
    profile = UserProfile.objects.create(
        user=moderator, webhook_url="https://hooks.example.org/a", webhook_secret="whsec_" + "S" * 43 + "="
    )
    admin = client_for(get_user_model().objects.create_superuser("root", "root@example.org", "root-pass-123456"))
    url = f"/admin/escalations/userprofile/{profile.pk}/change/"
    shown = admin.get(url)
    assert shown.status_code == 200
    assert profile.webhook_secret not in page(shown)
    admin.post(
        url,
        {
            "user": moderator.pk,
            "time_zone": "UTC",
            "email_notifications": "on",
            "in_app_notifications": "on",
            "webhook_url": "https://elsewhere.example/steal",
            "webhook_secret": "whsec_" + "A" * 43 + "=",
        },
    )
    profile.refresh_from_db()
    assert (profile.webhook_url, profile.webhook_secret) == ("https://hooks.example.org/a", "whsec_" + "S" * 43 + "=")
