"""Microsoft Teams through a Workflows webhook, against a local receiver that checks the message
envelope and the Adaptive Card: the key, the deadline, the time left, Open and Acknowledge buttons;
the Acknowledge link opens a page (nothing changes on GET) whose button acknowledges, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from escalations.models import Acknowledgement, AuditEvent, Delivery
from escalations.reminders.sweep import sweep
from tests.integrations.receivers.support import own_channel, team_with

pytestmark = pytest.mark.integrations

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CLOCK_START = T0
HOUR = timedelta(hours=1)


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    (attachment,) = message["attachments"]
    return attachment["content"]


def facts(card: dict[str, Any]) -> dict[str, str]:
    found = {}
    for element in card["body"]:
        for item in element.get("items", []):
            if item["type"] == "FactSet":
                found.update({f["title"]: f["value"] for f in item["facts"]})
    return found


def test_a_teams_channel_gets_an_adaptive_card_and_its_acknowledge_link_works(
    clock: Any, moderator: Any, lead: Any, teams_hook: Any, make_escalation: Any, client_for: Any
) -> None:
    team_with(moderator, by=lead, teams=teams_hook.url + "/workflows/abc/triggers/manual/paths/invoke")
    esc = make_escalation(knowledge_at=T0 - 25 * HOUR)  # standard target an hour ago
    sweep()
    (message,) = teams_hook.accepted
    card = card_of(message)
    assert card["version"] == "1.4"
    assert facts(card) == {"Escalation": esc.key, "Deadline": "2026-05-04 08:00 UTC", "Time left": "1 h 0 min overdue"}
    open_action, ack_action = card["actions"]
    assert open_action == {
        "type": "Action.OpenUrl",
        "title": f"Open {esc.key}",
        "url": "http://127.0.0.1:8000" + reverse("escalations:detail", args=[esc.pk]),
    }
    assert ack_action["title"] == "Acknowledge"
    # A team's channel is delivered through the assignee's team: the timeline says so.
    page = client_for(moderator).get(reverse("escalations:detail", args=[esc.pk])).content.decode()
    assert "to team Night shift by Microsoft Teams" in page

    link = ack_action["url"].removeprefix("http://127.0.0.1:8000")
    browser = client_for(moderator)
    shown = browser.get(link)
    assert shown.status_code == 200 and "Acknowledge" in shown.content.decode()
    assert not Acknowledgement.objects.exists()  # a link preview or mail scanner changes nothing
    done = browser.post(link, follow=True)
    assert "Acknowledged" in done.content.decode()
    ack = Acknowledgement.objects.get()
    assert (ack.by, ack.via) == (moderator, "teams")
    event = AuditEvent.objects.get(escalation=esc, action="reminder_acknowledged")
    assert "by the link in Microsoft Teams" in event.changes["acknowledged"][1]
    assert "Reminder acknowledged" in done.content.decode()  # on the timeline


def test_an_outage_at_teams_is_retried_and_a_test_can_be_sent_from_the_profile(
    clock: Any, moderator: Any, teams_hook: Any, make_escalation: Any, client_for: Any
) -> None:
    channel = own_channel(moderator, "teams", teams_hook.url + "/workflows/mine")
    make_escalation(knowledge_at=T0 - 25 * HOUR)
    teams_hook.fail_next = 1
    sweep()
    delivery = Delivery.objects.get(channel="teams", cancelled_at__isnull=True)
    assert delivery.sent_at is None and "Microsoft Teams answered HTTP 500" in delivery.last_error
    clock.move_to(T0 + timedelta(minutes=1))
    sweep()
    assert len(teams_hook.accepted) == 1

    response = client_for(moderator).post(reverse("channel_test", args=[channel.pk]), follow=True)
    assert "test sent" in response.content.decode()
    test_card = card_of(teams_hook.accepted[-1])
    assert "this channel works" in test_card["body"][1]["text"]
