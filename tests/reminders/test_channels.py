"""The in-app inbox (bell, notifications page, mark as read), the channel preferences on the profile,
the "send a test notification" buttons, and the delivery attempts on the escalation's timeline: what a
person sees in the browser."""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from escalations import policy
from escalations.models import Delivery, DeliveryAttempt, Escalation, Notification, UserProfile
from escalations.reminders import channels as notify
from escalations.reminders import sweep as reminders
from tests.conftest import FormClient
from tests.support import Receiver, webhook_receiver

# --- helpers -----------------------------------------------------------------------------------


def page(response: Any) -> str:
    return response.content.decode()


def text(response: Any) -> str:
    """The page as a person reads it: tags removed, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page(response))))


def bell(response: Any) -> int:
    """The unread count the bell in the header shows."""
    match = re.search(
        r'class="bell"[^>]*aria-label="Notifications: (\d+) unread">.*?<span class="count[^"]*">(\d+)</span>',
        page(response),
    )
    assert match, "the page has a bell"
    assert match.group(1) == match.group(2), "the bell's label and its number agree"
    return int(match.group(2))


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def notify_user(user: Any, title: str, *, minutes_ago: int = 0, escalation: Escalation | None = None) -> Notification:
    return Notification.objects.create(
        user=user,
        escalation=escalation,
        title=title,
        body=f"Body of {title}",
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def unread(user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def field_block(response: Any, name: str) -> str:
    """The rendered HTML of one form field: its input, its errors and its help."""
    content = page(response)
    start = content.find(f'id="field-{name}"')
    assert start != -1, f"no field {name} on the page"
    end = min(i for i in (content.find('id="field-', start + 1), content.find("</form>", start)) if i != -1)
    return html.unescape(content[start:end])


def csrf_token(response: Any) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page(response))
    assert match, "the page carries a CSRF token"
    return match.group(1)


def with_email(user: Any, address: str) -> Any:
    user.email = address
    user.save(update_fields=["email"])
    return user


# --- the bell and the notifications page -----------------------------------------------------------


def test_bell_shows_the_signed_in_users_unread_count_only(
    client_for: Any, moderator: Any, lead: Any, nobody: Any
) -> None:
    for i in range(3):
        notify_user(moderator, f"mod unread {i}")
    Notification.objects.filter(pk=notify_user(moderator, "mod read").pk).update(read_at=timezone.now())
    notify_user(lead, "lead unread")

    mod_page = client_for(moderator).get("/escalations/")
    assert bell(mod_page) == 3
    assert '<span class="count unread">3</span>' in page(mod_page)
    assert bell(client_for(lead).get("/escalations/")) == 1
    # Signed in without any role: the bell is there, and empty.
    empty = client_for(nobody).get("/accounts/profile/")
    assert bell(empty) == 0
    assert '<span class="count">0</span>' in page(empty)
    # Signed out: no bell at all.
    assert 'class="bell"' not in page(FormClient().get("/accounts/login/"))


def test_notifications_page_lists_only_own_newest_first_with_links(
    client_for: Any, moderator: Any, lead: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    notify_user(moderator, "Oldest reminder", minutes_ago=30)
    notify_user(moderator, "Newest reminder", minutes_ago=1, escalation=esc)
    notify_user(moderator, "Middle reminder", minutes_ago=10)
    notify_user(lead, "Someone else's reminder")

    response = client_for(moderator).get("/notifications/")
    assert response.status_code == 200
    content = text(response)
    positions = [content.find(title) for title in ("Newest reminder", "Middle reminder", "Oldest reminder")]
    assert -1 not in positions and positions == sorted(positions), content
    assert "Someone else's reminder" not in content
    newest = Notification.objects.get(title="Newest reminder")
    assert f'action="/notifications/{newest.pk}/open/"' in page(response)
    assert f"Open {esc.key}" in content
    assert content.count("Mark as read") == 3


def test_opening_a_notification_marks_it_read_and_goes_to_the_escalation(
    client_for: Any, moderator: Any, lead: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    notify_user(moderator, "Report overdue", escalation=esc)
    mine = Notification.objects.get(user=moderator)
    notify_user(lead, "Lead's copy", escalation=esc)
    theirs = Notification.objects.get(user=lead)
    client = client_for(moderator)

    response = client.post(f"/notifications/{mine.pk}/open/")
    assert response.status_code == 302
    assert response["Location"] == f"/escalations/{esc.pk}/"
    mine.refresh_from_db()
    assert mine.read_at is not None
    # Someone else's notification can't be opened (or marked read) through its id.
    assert client.post(f"/notifications/{theirs.pk}/open/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert client.get(f"/notifications/{mine.pk}/open/").status_code == 405


def test_notifications_page_when_empty(client_for: Any, nobody: Any) -> None:
    response = client_for(nobody).get("/notifications/")
    assert response.status_code == 200
    assert "No notifications yet." in text(response)


def test_mark_as_read_lowers_the_count(client_for: Any, moderator: Any) -> None:
    first = notify_user(moderator, "First", minutes_ago=2)
    notify_user(moderator, "Second", minutes_ago=1)
    client = client_for(moderator)
    assert bell(client.get("/notifications/")) == 2

    response = client.post(f"/notifications/{first.pk}/read/")
    assert response.status_code == 302
    assert response["Location"] == "/notifications/"
    after = client.get("/notifications/")
    assert bell(after) == 1
    assert f"/notifications/{first.pk}/read/" not in page(after), "a read notification offers no button"
    first.refresh_from_db()
    assert first.read_at is not None

    # Marking it again is harmless and keeps the first reading time.
    read_at = first.read_at
    assert client.post(f"/notifications/{first.pk}/read/").status_code == 302
    first.refresh_from_db()
    assert first.read_at == read_at
    assert bell(client.get("/notifications/")) == 1


def test_mark_all_as_read(client_for: Any, moderator: Any, lead: Any) -> None:
    for i in range(3):
        notify_user(moderator, f"Mine {i}")
    notify_user(lead, "The lead's")
    client = client_for(moderator)

    response = client.post("/notifications/read-all/", follow=True)
    assert response.redirect_chain == [("/notifications/", 302)]
    assert "3 notifications marked as read." in messages_of(response)
    assert bell(response) == 0
    assert unread(lead) == 1, "only the signed-in user's notifications are marked"

    again = client.post("/notifications/read-all/", follow=True)
    assert "0 notifications marked as read." in messages_of(again)


def test_marking_someone_elses_notification_is_404_and_changes_nothing(
    client_for: Any, moderator: Any, lead: Any
) -> None:
    theirs = notify_user(lead, "The lead's own")
    response = client_for(moderator).post(f"/notifications/{theirs.pk}/read/")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert bell(client_for(lead).get("/notifications/")) == 1
    # The same answer as for a notification that does not exist: nothing tells the two apart.
    assert client_for(moderator).post("/notifications/999999/read/").status_code == 404


def test_get_on_mark_read_is_405(client_for: Any, moderator: Any) -> None:
    mine = notify_user(moderator, "Mine")
    client = client_for(moderator)
    assert client.get(f"/notifications/{mine.pk}/read/").status_code == 405
    assert client.get("/notifications/read-all/").status_code == 405
    assert unread(moderator) == 1


def test_mark_read_needs_the_csrf_token(moderator: Any) -> None:
    mine = notify_user(moderator, "Mine")
    client = FormClient(enforce_csrf_checks=True)
    client.force_login(moderator)

    assert client.post(f"/notifications/{mine.pk}/read/").status_code == 403
    assert client.post("/notifications/read-all/").status_code == 403
    assert unread(moderator) == 1

    token = csrf_token(client.get("/notifications/"))
    assert client.post(f"/notifications/{mine.pk}/read/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert unread(moderator) == 0


def test_notifications_page_is_paginated_but_the_bell_counts_all(client_for: Any, moderator: Any) -> None:
    for i in range(55):
        notify_user(moderator, f"Reminder number {i:02d}", minutes_ago=i)
    response = client_for(moderator).get("/notifications/")
    assert bell(response) == 55
    assert text(response).count("Mark as read") == 50
    assert 'href="?page=2">Older</a>' in page(response)
    older = client_for(moderator).get("/notifications/?page=2")
    assert "Reminder number 54" in text(older)
    assert "Reminder number 00" not in text(older)


# --- channel preferences on the profile ---------------------------------------------------------------


@pytest.fixture
def no_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Saving a profile must never fetch the webhook URL."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("the webhook URL was fetched while saving the profile")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def prefs(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"time_zone": "UTC", "email_notifications": "on", "in_app_notifications": "on"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_profile_saves_channel_preferences(client_for: Any, moderator: Any, no_fetch: None) -> None:
    client = client_for(moderator)
    response = client.post(
        "/accounts/profile/",
        prefs(email_notifications=None, webhook_url="https://hooks.example.org/services/T1/B2"),
        follow=True,
    )
    assert response.redirect_chain == [("/accounts/profile/", 302)]
    assert "Profile saved." in messages_of(response)
    profile = UserProfile.objects.get(user=moderator)
    assert profile.email_notifications is False
    assert profile.in_app_notifications is True
    assert profile.webhook_url == "https://hooks.example.org/services/T1/B2"
    assert reminders.channels_for(moderator) == ["in_app", "webhook"]

    # The page shows the choices as saved.
    assert 'name="email_notifications"' in field_block(response, "email_notifications")
    assert "checked" not in field_block(response, "email_notifications")
    assert "checked" in field_block(response, "in_app_notifications")
    assert 'value="https://hooks.example.org/services/T1/B2"' in field_block(response, "webhook_url")

    # Everything off but email.
    client.post("/accounts/profile/", prefs(in_app_notifications=None, webhook_url=""))
    profile.refresh_from_db()
    assert (profile.email_notifications, profile.in_app_notifications, profile.webhook_url) == (True, False, "")


def test_saving_a_webhook_url_generates_a_secret_shown_on_the_profile(
    client_for: Any, moderator: Any, make_user: Any, no_fetch: None
) -> None:
    client = client_for(moderator)
    assert "Webhook signing secret" not in text(client.get("/accounts/profile/"))

    client.post("/accounts/profile/", prefs(webhook_url="https://hooks.example.org/a"))
    secret = UserProfile.objects.get(user=moderator).webhook_secret
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    shown = client.get("/accounts/profile/")
    assert "Webhook signing secret" in text(shown)
    assert f"<code>{secret}</code>" in page(shown)

    # Saving again (a new time zone) keeps the secret the receiver already verifies with; another URL
    # gets a new one (tests/reminders/test_webhook_profile.py).
    client.post("/accounts/profile/", prefs(time_zone="Europe/Berlin", webhook_url="https://hooks.example.org/a"))
    assert UserProfile.objects.get(user=moderator).webhook_secret == secret
    client.post("/accounts/profile/", prefs(webhook_url="https://hooks.example.org/b"))
    assert UserProfile.objects.get(user=moderator).webhook_secret not in ("", secret)

    # Another person gets another secret.
    other = client_for(make_user("other"))
    other.post("/accounts/profile/", prefs(webhook_url="https://hooks.example.org/a"))
    assert UserProfile.objects.get(user__username="other").webhook_secret not in ("", secret)


HTTPS_ONLY = "Webhook URL must start with https:// and name a host."


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org",
        "http://example.org/hook",
        "ftp://example.org/hook",
        "http://127.0.0.1.example.org/hook",  # a name that merely starts like loopback
        "http://10.0.0.5/hook",  # private, not loopback
    ],
)
def test_webhook_url_must_be_https(client_for: Any, moderator: Any, no_fetch: None, url: str) -> None:
    response = client_for(moderator).post("/accounts/profile/", prefs(webhook_url=url))
    assert response.status_code == 200
    block = field_block(response, "webhook_url")
    assert 'class="field-errors" role="alert"' in block
    assert HTTPS_ONLY in block or "Enter a valid URL." in block, block
    assert not UserProfile.objects.filter(user=moderator).exists()


def test_plain_http_webhook_url_says_why(client_for: Any, moderator: Any, no_fetch: None) -> None:
    response = client_for(moderator).post("/accounts/profile/", prefs(webhook_url="http://example.org"))
    assert HTTPS_ONLY in field_block(response, "webhook_url")
    assert response.context["form"].errors["webhook_url"] == [HTTPS_ONLY]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/hook", "http://localhost:8765/hook", "http://[::1]:8765/"])
def test_http_loopback_webhook_only_where_the_setting_allows(
    client_for: Any, moderator: Any, no_fetch: None, settings: Any, url: str
) -> None:
    client = client_for(moderator)
    assert client.post("/accounts/profile/", prefs(webhook_url=url)).status_code == 302
    assert UserProfile.objects.get(user=moderator).webhook_url == url

    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False
    other = url.replace("8765", "8766")
    response = client.post("/accounts/profile/", prefs(webhook_url=other))
    assert response.status_code == 200
    assert HTTPS_ONLY in field_block(response, "webhook_url")
    assert UserProfile.objects.get(user=moderator).webhook_url == url


# --- "send a test notification" ----------------------------------------------------------------------


def test_test_email_goes_to_the_users_address(client_for: Any, moderator: Any) -> None:
    with_email(moderator, "mod@example.org")
    response = client_for(moderator).post("/accounts/profile/test/email/", follow=True)
    assert response.redirect_chain == [("/accounts/profile/", 302)]
    assert "Email test sent. Check that it arrived." in messages_of(response)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["mod@example.org"]
    assert message.subject == "[Escalations] Test notification"
    assert "this channel works" in message.body
    assert "mod@example.org" in text(response), "the profile says where test email goes"


def test_test_email_without_an_address_says_so(client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).post("/accounts/profile/test/email/", follow=True)
    assert messages_of(response) == ["Email test failed: no email address on this account."]
    assert 'class="message error"' in page(response)
    assert mail.outbox == []
    assert "(no address on your account)" in text(response)


def test_test_in_app_rings_the_bell(client_for: Any, nobody: Any) -> None:
    client = client_for(nobody)
    assert bell(client.get("/accounts/profile/")) == 0
    response = client.post("/accounts/profile/test/in_app/", follow=True)
    assert "In-app test sent. Check that it arrived." in messages_of(response)
    assert bell(response) == 1
    assert "Test notification" in text(client.get("/notifications/"))


def test_test_webhook_without_url_says_so(client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).post("/accounts/profile/test/webhook/", follow=True)
    assert messages_of(response) == ["Webhook test failed: no webhook URL configured."]


def test_unknown_channel_and_get_are_refused(client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    response = client.post("/accounts/profile/test/pager/", follow=True)
    assert messages_of(response) == ["Unknown channel."]
    assert client.get("/accounts/profile/test/in_app/").status_code == 405
    assert Notification.objects.count() == 0


def test_test_buttons_need_the_csrf_token(moderator: Any) -> None:
    client = FormClient(enforce_csrf_checks=True)
    client.force_login(moderator)
    assert client.post("/accounts/profile/test/in_app/").status_code == 403
    assert Notification.objects.count() == 0
    token = csrf_token(client.get("/accounts/profile/"))
    assert client.post("/accounts/profile/test/in_app/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert Notification.objects.filter(user=moderator).count() == 1


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with webhook_receiver() as state:
        yield state


def test_test_webhook_posts_signed_json(client_for: Any, moderator: Any, hook: Receiver) -> None:
    client = client_for(moderator)
    assert client.post("/accounts/profile/", prefs(webhook_url=hook.url), follow=True).status_code == 200
    assert hook.requests == [], "saving the URL fetched nothing"
    secret = UserProfile.objects.get(user=moderator).webhook_secret

    response = client.post("/accounts/profile/test/webhook/", follow=True)
    assert messages_of(response) == ["Webhook test sent. Check that it arrived."]
    assert len(hook.requests) == 1
    headers, body = hook.requests[0]
    payload = json.loads(body)
    assert payload["test"] is True
    assert "this channel works" in payload["text"]
    assert headers["content-type"] == "application/json"
    # The receiver verifies it with the secret the profile shows, the Standard Webhooks way.
    signed = {name.lower(): value for name, value in headers.items()}
    assert Webhook(secret).verify(body, signed)["test"] is True
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"not-the-secret-not-the-secret-32").decode()).verify(body, signed)


def test_test_webhook_failure_is_reported(client_for: Any, moderator: Any, hook: Receiver) -> None:
    client = client_for(moderator)
    client.post("/accounts/profile/", prefs(webhook_url=hook.url), follow=True)
    hook.status = 500
    response = client.post("/accounts/profile/test/webhook/", follow=True)
    assert messages_of(response) == ["Webhook test failed: webhook answered HTTP 500."]
    assert len(hook.requests) == 1


# --- test sends are limited per person and channel ---------------------------------------------------

FIRST_TEST = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # 11:00 in Berlin


def test_test_sends_are_limited_per_person_and_channel(client_for: Any, moderator: Any, make_user: Any) -> None:
    UserProfile.objects.create(user=moderator, time_zone="Europe/Berlin")
    client = client_for(moderator)
    with time_machine.travel(FIRST_TEST, tick=False) as clock:
        for minute in range(5):
            clock.move_to(FIRST_TEST + timedelta(minutes=minute))
            response = client.post("/accounts/profile/test/in_app/", follow=True)
            assert messages_of(response) == ["In-app test sent. Check that it arrived."]

        # The sixth within ten minutes of the first: the message says when, in the person's zone.
        clock.move_to(FIRST_TEST + timedelta(minutes=10) - timedelta(seconds=1))
        response = client.post("/accounts/profile/test/in_app/", follow=True)
        assert messages_of(response) == ["You sent 5 test notifications in the last 10 minutes; try again at 11:10."]
        assert 'class="message error"' in page(response)
        assert Notification.objects.filter(user=moderator).count() == 5, "nothing sent"

        # Another channel, another person: counted apart.
        assert messages_of(client.post("/accounts/profile/test/email/", follow=True)) == [
            "Email test failed: no email address on this account."
        ]
        other = make_user("other")
        assert messages_of(client_for(other).post("/accounts/profile/test/in_app/", follow=True)) == [
            "In-app test sent. Check that it arrived."
        ]

        # Ten minutes after the first, it has left the window: one more may go, and then the next
        # one waits for the second to leave it.
        clock.move_to(FIRST_TEST + timedelta(minutes=10))
        response = client.post("/accounts/profile/test/in_app/", follow=True)
        assert messages_of(response) == ["In-app test sent. Check that it arrived."]
        response = client.post("/accounts/profile/test/in_app/", follow=True)
        assert messages_of(response) == ["You sent 5 test notifications in the last 10 minutes; try again at 11:11."]
    assert Notification.objects.filter(user=moderator).count() == 6


def test_a_limited_webhook_test_sends_nothing(client_for: Any, moderator: Any, hook: Receiver) -> None:
    client = client_for(moderator)
    client.post("/accounts/profile/", prefs(webhook_url=hook.url), follow=True)
    said = [messages_of(client.post("/accounts/profile/test/webhook/", follow=True)) for _ in range(6)]
    assert said[:5] == [["Webhook test sent. Check that it arrived."]] * 5
    assert said[5][0].startswith("You sent 5 test notifications in the last 10 minutes; try again at ")
    assert len(hook.requests) == 5


# --- delivery attempts on the escalation's timeline ---------------------------------------------------


def report_target(esc: Escalation) -> datetime:
    return policy.report_due_at(esc.knowledge_at, esc.priority, policy.PolicyConfig.from_settings())


@pytest.fixture
def overdue(make_escalation: Any, moderator: Any, lead: Any) -> Escalation:
    """An unassigned escalation by the moderator; both people have an email address."""
    with_email(moderator, "mod@example.org")
    with_email(lead, "lead@example.org")
    return make_escalation(actor=moderator)


def sweep_at(moment: datetime) -> reminders.SweepStats:
    with time_machine.travel(moment, tick=False):
        return reminders.sweep()


def test_timeline_lists_each_delivery(client_for: Any, overdue: Escalation, lead: Any) -> None:
    target = report_target(overdue)
    soon = policy.due_soon_window(overdue.priority, policy.PolicyConfig.from_settings())
    sweep_at(target - soon + timedelta(minutes=1))  # due soon: to the creator only
    assert [m.to for m in mail.outbox] == [["mod@example.org"]]
    stats = sweep_at(target + timedelta(minutes=1))  # overdue: to the creator and every lead
    assert stats.deliveries_failed == 0
    assert sorted(m.to[0] for m in mail.outbox) == ["lead@example.org", "mod@example.org", "mod@example.org"]

    response = client_for(lead).get(f"/escalations/{overdue.pk}/")
    assert response.status_code == 200
    timeline = text(response)
    assert "Reminder report overdue sent to mod by Email" in timeline
    assert "Reminder report overdue sent to leader by Email" in timeline
    assert "Reminder report overdue sent to mod by In-app" in timeline
    assert "Reminder report due soon sent to mod by Email" in timeline
    assert "failed" not in timeline
    attempts = DeliveryAttempt.objects.filter(escalation=overdue).count()
    assert timeline.count("Reminder report ") == attempts == Delivery.objects.count()


def test_timeline_shows_a_failed_delivery_and_its_retry(
    client_for: Any, overdue: Escalation, lead: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def smtp_down(user: Any, message: Any) -> None:
        raise notify.DeliveryError("smtp down")

    monkeypatch.setattr(notify, "send_email", smtp_down)
    first = report_target(overdue) + timedelta(minutes=1)
    stats = sweep_at(first)
    assert stats.deliveries_failed > 0
    assert mail.outbox == []

    timeline = text(client_for(lead).get(f"/escalations/{overdue.pk}/"))
    assert "Reminder report overdue failed to leader by Email" in timeline
    assert "Reminder report overdue failed to mod by Email" in timeline
    assert "smtp down" in timeline
    # The other channel went through regardless.
    assert "Reminder report overdue sent to leader by In-app" in timeline
    assert 'class="attempt attempt-failed"' in page(client_for(lead).get(f"/escalations/{overdue.pk}/"))

    # The mail server is back: the retry after the backoff is sent and listed after the failure.
    monkeypatch.undo()
    sweep_at(first + reminders.backoff(1) + timedelta(seconds=1))
    timeline = text(client_for(lead).get(f"/escalations/{overdue.pk}/"))
    failed = timeline.find("Reminder report overdue failed to leader by Email")
    sent = timeline.find("Reminder report overdue sent to leader by Email")
    assert -1 < failed < sent, timeline
    assert "lead@example.org" in {m.to[0] for m in mail.outbox}


def test_sweep_reminders_ring_the_bell_and_link_to_the_escalation(
    client_for: Any, overdue: Escalation, lead: Any
) -> None:
    sweep_at(report_target(overdue) + timedelta(minutes=1))
    response = client_for(lead).get("/notifications/")
    assert bell(response) == 1
    assert f"{overdue.key}: Report overdue" in text(response)
    assert f"Open {overdue.key}</button>" in page(response)
