"""Slack through an incoming webhook, against a local receiver that checks Block Kit's shapes and
limits: the plain `text` kept, a header, the key, deadline and time left, Open and Acknowledge
buttons; a digest stays within 50 blocks; a removed channel's pending messages are cancelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from escalations.models import AuditEvent, Delivery
from escalations.reminders.sweep import sweep
from tests.integrations.receivers.support import own_channel, team_with

pytestmark = pytest.mark.integrations

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CLOCK_START = T0
HOUR = timedelta(hours=1)


def test_a_persons_slack_gets_block_kit_with_the_plain_text_kept(
    clock: Any, moderator: Any, slack_hook: Any, make_escalation: Any
) -> None:
    own_channel(moderator, "slack", slack_hook.url + "/services/T000/B000/XXXX")
    esc = make_escalation(knowledge_at=T0 - 25 * HOUR)
    sweep()
    (message,) = slack_hook.accepted
    assert message["text"].startswith(f"{esc.key}: Report overdue (deadline 2026-05-04 08:00 UTC)")
    header, section, actions = message["blocks"]
    assert header["text"]["text"] == f"[Escalations] {esc.key}: Report overdue"
    assert section["text"]["text"] == (
        f"*{esc.key}*: Report overdue\nDeadline: 2026-05-04 08:00 UTC\nTime left: 1 h 0 min overdue"
    )
    open_button, ack_button = actions["elements"]
    assert open_button["url"].endswith(reverse("escalations:detail", args=[esc.pk]))
    assert ack_button["text"]["text"] == "Acknowledge" and "/reminders/acknowledge/" in ack_button["url"]


def test_a_digest_to_a_teams_slack_stays_within_block_kits_limits(
    clock: Any, moderator: Any, lead: Any, slack_hook: Any, make_escalation: Any
) -> None:
    team_with(moderator, by=lead, slack=slack_hook.url + "/services/T000/B000/TEAM")
    for _ in range(30):
        make_escalation(knowledge_at=T0 - 25 * HOUR)
    sweep()
    (digest,) = slack_hook.accepted  # more than five at once: one message
    assert len(digest["blocks"]) <= 50
    assert digest["blocks"][-1]["elements"][0]["text"] == "…and 15 more reminders."
    assert digest["text"].startswith("30 reminders are due")


def test_removing_a_channel_cancels_what_it_still_had_to_send_and_is_audited_without_the_url(
    clock: Any, moderator: Any, lead: Any, slack_hook: Any, make_escalation: Any, client_for: Any
) -> None:
    url = slack_hook.url + "/services/T000/B000/SECRETPATH"
    team = team_with(moderator, by=lead, slack=url)
    channel = team.channel_endpoints.get()
    slack_hook.fail_next = 1
    make_escalation(knowledge_at=T0 - 25 * HOUR)
    sweep()  # refused: waiting for its retry
    response = client_for(lead).post(reverse("channel_remove", args=[channel.pk]), follow=True)
    assert "removed" in response.content.decode()
    pending = Delivery.objects.get(endpoint=channel, cancelled_at__isnull=False, attempts=1)
    assert pending.sent_at is None
    clock.move_to(T0 + HOUR)
    sweep()
    assert slack_hook.accepted == []
    trail = [e.changes for e in AuditEvent.objects.filter(action__in=["channel_added", "channel_removed"])]
    assert len(trail) == 2 and all("SECRETPATH" not in str(changes) for changes in trail)
    assert trail[0]["team"] == "Night shift" and trail[0]["channel"] == "Slack"


def test_send_a_test_to_a_persons_slack_from_the_profile(moderator: Any, slack_hook: Any, client_for: Any) -> None:
    client = client_for(moderator)
    added = client.post(
        reverse("profile_add_channel"), {"kind": "slack", "target": slack_hook.url + "/services/T/B/X"}, follow=True
    )
    assert "Slack added" in added.content.decode()
    channel = moderator.channel_endpoints.get()
    client.post(reverse("channel_test", args=[channel.pk]))
    (message,) = slack_hook.accepted
    assert message["text"] == "Test notification from the escalation tracker: this channel works."
