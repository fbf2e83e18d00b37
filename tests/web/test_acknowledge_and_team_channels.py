"""Acknowledging a reminder on the escalation's page and by a signed link (GET shows, POST acts; an
altered or expired link is refused with a message; auditors and people without need-to-know are
refused), and the leads' page for a team's channels (validation names the field, audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from escalations.models import Acknowledgement, AuditEvent, ChannelEndpoint, Reminder, Team
from escalations.reminders.ack_links import ack_url
from escalations.reminders.sweep import sweep

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CLOCK_START = T0
HOUR = timedelta(hours=1)
SITE = "http://127.0.0.1:8000"


@pytest.fixture
def overdue(clock: Any, make_escalation: Any, moderator: Any) -> Reminder:
    moderator.email = "mod@example.org"
    moderator.save()
    esc = make_escalation(knowledge_at=T0 - 25 * HOUR)
    sweep()
    return Reminder.objects.get(escalation=esc, kind="report_overdue")


def test_the_page_offers_acknowledge_and_the_timeline_shows_who(
    overdue: Reminder, moderator: Any, client_for: Any
) -> None:
    client = client_for(moderator)
    page = client.get(reverse("escalations:detail", args=[overdue.escalation_id])).content.decode()
    assert reverse("acknowledge", args=[overdue.pk]) in page
    after = client.post(reverse("acknowledge", args=[overdue.pk]), follow=True).content.decode()
    assert "Acknowledged: the escalation steps of this reminder stop" in after
    assert "Reminder acknowledged" in after and "in the app" in after
    assert reverse("acknowledge", args=[overdue.pk]) not in after  # nothing left to acknowledge
    again = client.post(reverse("acknowledge", args=[overdue.pk]), follow=True).content.decode()
    assert "Already acknowledged by mod" in again
    assert Acknowledgement.objects.count() == 1
    assert AuditEvent.objects.filter(action="reminder_acknowledged").count() == 1


def test_an_emails_link_shows_first_and_acknowledges_on_the_button(
    overdue: Reminder, moderator: Any, client_for: Any, mailoutbox: list[Any]
) -> None:
    (mail,) = [m for m in mailoutbox if m.to == [moderator.email]]
    link = next(word for word in mail.body.split() if "/reminders/acknowledge/" in word).removeprefix(SITE)
    client = client_for(moderator)
    assert client.get(link).status_code == 200
    assert not Acknowledgement.objects.exists()
    client.post(link)
    assert Acknowledgement.objects.get().via == "email"


def test_a_signed_out_visitor_is_asked_to_sign_in_first(overdue: Reminder, client_for: Any) -> None:
    link = ack_url(overdue.pk, "slack", T0).removeprefix(SITE)
    response = client_for(None).post(link)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Acknowledgement.objects.exists()


def test_an_altered_or_expired_link_is_refused_with_a_message(
    clock: Any, overdue: Reminder, moderator: Any, client_for: Any, settings: Any
) -> None:
    client = client_for(moderator)
    link = ack_url(overdue.pk, "email", T0).removeprefix(SITE)
    forged = link.replace(":", ":x", 1)
    response = client.post(forged)
    assert response.status_code == 400 and "not valid" in response.content.decode()
    clock.move_to(T0 + timedelta(hours=settings.ACK_LINK_MAX_AGE_HOURS) + timedelta(seconds=1))
    response = client_for(moderator).post(link)  # signed in again: the old session idled out
    assert response.status_code == 400 and "has expired" in response.content.decode()
    assert not Acknowledgement.objects.exists()


def test_auditors_and_people_without_need_to_know_cannot_acknowledge(
    overdue: Reminder, auditor: Any, make_user: Any, client_for: Any, settings: Any
) -> None:
    assert client_for(auditor).post(reverse("acknowledge", args=[overdue.pk])).status_code == 403
    settings.RESTRICT_MODERATORS_TO_ASSIGNED = True
    stranger = make_user("stranger", "moderator")
    link = ack_url(overdue.pk, "teams", T0).removeprefix(SITE)
    assert client_for(stranger).get(link).status_code == 403
    assert client_for(stranger).post(reverse("acknowledge", args=[overdue.pk])).status_code == 403
    assert not Acknowledgement.objects.exists()


def test_a_lead_adds_a_teams_channel_and_a_bad_key_is_named(lead: Any, moderator: Any, client_for: Any) -> None:
    team = Team.objects.create(name="Day shift")
    client = client_for(lead)
    bad = client.post(reverse("team_channels"), {"team": team.pk, "kind": "pagerduty", "target": "not-a-key"})
    assert bad.status_code == 400
    assert "Routing key: a PagerDuty integration key is 32 letters and digits" in bad.content.decode()
    refused = client.post(
        reverse("team_channels"), {"team": team.pk, "kind": "slack", "target": "https://10.0.0.5/services/x"}
    )
    assert refused.status_code == 400 and "can&#x27;t receive webhooks" in refused.content.decode()
    ok = client.post(
        reverse("team_channels"),
        {"team": team.pk, "kind": "slack", "target": "https://hooks.slack.com/services/T1/B2/S3CR3T"},
        follow=True,
    )
    assert "Slack of team Day shift added" in ok.content.decode()
    assert "S3CR3T" not in ok.content.decode()  # the list shows the host and a fingerprint
    (event,) = AuditEvent.objects.filter(action="channel_added")
    assert event.actor == lead and "S3CR3T" not in str(event.changes)
    assert client_for(moderator).get(reverse("team_channels")).status_code == 403
    channel = ChannelEndpoint.objects.get()
    assert client_for(moderator).post(reverse("channel_remove", args=[channel.pk])).status_code == 403
