"""Reminders show times in their reader's zone (their profile's), with UTC beside it: in the email
(text and HTML), the webhook's text and the in-app notification. Around the night New York's clocks go
forward, and across midnight UTC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalations.models import Notification, UserProfile
from escalations.reminders import sweep as reminders
from tests.support import Receiver, webhook_receiver

# Knowledge 2026-03-07 07:30 UTC (02:30 EST): the 24-hour target is 2026-03-08 07:30 UTC, which is
# 03:30 EDT, the clocks having gone forward at 02:00 that night.
KNOWLEDGE = datetime(2026, 3, 7, 7, 30, tzinfo=UTC)
TARGET = KNOWLEDGE + timedelta(hours=24)
CLOCK_START = TARGET + timedelta(seconds=1)  # one second overdue


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as state:
        yield state


def zone(user: Any, name: str, email: str, **fields: Any) -> Any:
    user.email = email
    user.save()
    UserProfile.objects.update_or_create(user=user, defaults={"time_zone": name, **fields})
    user.refresh_from_db()
    return user


def test_each_reader_sees_the_deadline_in_their_zone_with_utc(
    clock: Any, moderator: Any, lead: Any, receiver: Receiver, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    zone(lead, "America/New_York", "lead@example.org", webhook_url=receiver.url)
    zone(moderator, "UTC", "mod@example.org")
    esc = make_escalation(knowledge_at=KNOWLEDGE)
    reminders.sweep()
    to_lead = next(m for m in mailoutbox if m.to == ["lead@example.org"])
    to_mod = next(m for m in mailoutbox if m.to == ["mod@example.org"])
    assert f"{esc.key}: Report overdue (deadline 2026-03-08 03:30 EDT (07:30 UTC))" in to_lead.body
    assert "2026-03-08 03:30 EDT (07:30 UTC)" in to_lead.alternatives[0][0]
    assert f"{esc.key}: Report overdue (deadline 2026-03-08 07:30 UTC)" in to_mod.body
    lead_note = Notification.objects.get(user=lead)
    assert "2026-03-08 03:30 EDT (07:30 UTC)" in lead_note.body
    assert "2026-03-08 07:30 UTC" in Notification.objects.get(user=moderator).body
    (payload,) = [json.loads(body) for _, body in receiver.requests]
    assert "2026-03-08 03:30 EDT (07:30 UTC)" in payload["text"]
    # The machine-readable moment stays UTC.
    assert payload["reminders"][0]["deadline_at"] == "2026-03-08T07:30:00+00:00"


def test_one_second_before_the_clocks_go_forward_it_is_still_standard_time(
    clock: Any, moderator: Any, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    # Target 2026-03-08 06:59:59 UTC: 01:59:59 EST, the last second before the change.
    zone(moderator, "America/New_York", "mod@example.org")
    target = datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC)
    clock.move_to(target + timedelta(seconds=1))
    esc = make_escalation(knowledge_at=target - timedelta(hours=24))
    reminders.sweep()
    (mail,) = mailoutbox
    assert f"{esc.key}: Report overdue (deadline 2026-03-08 01:59 EST (06:59 UTC))" in mail.body


def test_the_utc_date_is_written_out_when_it_is_another_day(
    clock: Any, moderator: Any, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    # Target 2026-05-05 02:00 UTC: 22:00 EDT the evening before.
    zone(moderator, "America/New_York", "mod@example.org")
    target = datetime(2026, 5, 5, 2, 0, tzinfo=UTC)
    clock.move_to(target + timedelta(seconds=1))
    esc = make_escalation(knowledge_at=target - timedelta(hours=24))
    reminders.sweep()
    (mail,) = mailoutbox
    assert f"{esc.key}: Report overdue (deadline 2026-05-04 22:00 EDT (2026-05-05 02:00 UTC))" in mail.body
