"""A test record (made while trying the system) never pages anyone as real: every reminder about one
says TEST in its subject and its text, on every channel, and the webhook's JSON says "test": true."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalations.models import Notification, Priority, UserProfile
from escalations.reminders import sweep as reminders
from tests.support import Receiver, webhook_receiver

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CLOCK_START = T0
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
OVERDUE = T0 - 25 * HOUR  # standard target an hour ago


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as state:
        yield state


@pytest.fixture
def mod(moderator: Any, receiver: Receiver) -> Any:
    moderator.email = "mod@example.org"
    moderator.save()
    UserProfile.objects.update_or_create(
        user=moderator,
        defaults={"email_notifications": True, "in_app_notifications": True, "webhook_url": receiver.url},
    )
    moderator.refresh_from_db()
    return moderator


def payloads(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in receiver.requests]


def test_every_reminder_about_a_test_record_says_test_on_every_channel(
    clock: Any, mod: Any, receiver: Receiver, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    trial = make_escalation(knowledge_at=OVERDUE, is_test=True)
    reminders.sweep()
    (mail,) = [m for m in mailoutbox if m.to == [mod.email]]
    assert mail.subject == f"[Escalations] TEST {trial.key}: Report overdue"
    assert mail.body.startswith("TEST: this reminder is about a test record, not a real escalation.")
    assert f"TEST {trial.key}: Report overdue" in mail.body
    assert "TEST" in mail.alternatives[0][0]
    note = Notification.objects.get(user=mod)
    assert note.title.startswith("TEST ") and note.body.startswith("TEST:")
    (payload,) = payloads(receiver)
    assert payload["test"] is True
    assert payload["reminders"][0]["test"] is True
    assert payload["subject"].startswith("[Escalations] TEST ")
    assert payload["text"].startswith("TEST:")


def test_a_real_record_says_no_test_and_its_payload_is_not_a_test(
    clock: Any, mod: Any, receiver: Receiver, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    real = make_escalation(knowledge_at=OVERDUE)
    reminders.sweep()
    (mail,) = [m for m in mailoutbox if m.to == [mod.email]]
    assert mail.subject == f"[Escalations] {real.key}: Report overdue"
    assert "TEST" not in mail.body
    (payload,) = payloads(receiver)
    assert payload["test"] is False
    assert payload["reminders"][0]["test"] is False


def test_a_test_record_made_urgent_says_test_before_urgent(
    clock: Any, mod: Any, receiver: Receiver, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    trial = make_escalation(knowledge_at=T0 - 2 * HOUR, is_test=True, priority=Priority.URGENT, urgent_reason="Drill")
    reminders.sweep()
    # With no lead to tell, the owner hears that it was logged, that it is overdue, and (nobody
    # acknowledged it for an hour) the escalation steps that would have gone to the leads.
    subjects = sorted(m.subject for m in mailoutbox if m.to == [mod.email])
    assert subjects == [
        f"[Escalations] TEST URGENT {trial.key}: Escalated to every lead: overdue and nobody acknowledged it",
        f"[Escalations] TEST URGENT {trial.key}: Escalated to the teams' PagerDuty: overdue and nobody acknowledged it",
        f"[Escalations] TEST URGENT {trial.key}: Report overdue",
        f"[Escalations] TEST URGENT {trial.key}: Urgent escalation logged: a child may be in imminent danger",
    ]


def test_a_digest_mixing_test_and_real_records_says_how_many_are_tests(
    clock: Any, mod: Any, receiver: Receiver, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    trials = [make_escalation(knowledge_at=OVERDUE, is_test=True) for _ in range(2)]
    reals = [make_escalation(knowledge_at=OVERDUE) for _ in range(4)]
    reminders.sweep()
    (digest,) = [m for m in mailoutbox if m.to == [mod.email]]
    assert digest.subject == "[Escalations] 6 reminders due (2 TEST)"
    assert digest.body.startswith("TEST: 2 of these 6 reminders are about test records")
    for trial in trials:
        assert f"TEST {trial.key}: Report overdue" in digest.body
    for real in reals:
        assert f"\n{real.key}: Report overdue" in digest.body
    # Real reminders in it: a pager must not treat the whole message as a test.
    (payload,) = payloads(receiver)
    assert payload["test"] is False
    assert sorted(r["test"] for r in payload["reminders"]) == [False] * 4 + [True] * 2


def test_a_digest_of_test_records_only_is_a_test(
    clock: Any, mod: Any, receiver: Receiver, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    for _ in range(6):
        make_escalation(knowledge_at=OVERDUE, is_test=True)
    reminders.sweep()
    (digest,) = [m for m in mailoutbox if m.to == [mod.email]]
    assert digest.subject == "[Escalations] 6 reminders due (all TEST)"
    (payload,) = payloads(receiver)
    assert payload["test"] is True
