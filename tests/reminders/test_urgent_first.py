"""Urgent first in reminders too: every lead hears of a new urgent escalation when it is logged (once),
digests list urgent items first and say URGENT in the subject, and in-app digest items are links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalations.core import services
from escalations.models import Notification, Priority, Reminder
from escalations.policy import REMINDER_LABELS, ReminderKind
from escalations.reminders import sweep as reminders

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CLOCK_START = T0
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
LOGGED = REMINDER_LABELS[ReminderKind.URGENT_LOGGED]


@pytest.fixture
def people(moderator: Any, lead: Any, make_user: Any) -> dict[str, Any]:
    second_lead = make_user("lead2", "lead")
    for user, address in ((moderator, "mod@example.org"), (lead, "lead@example.org"), (second_lead, "l2@example.org")):
        user.email = address
        user.save()
    return {"mod": moderator, "lead": lead, "lead2": second_lead}


def subjects_to(outbox: list[Any], user: Any) -> list[str]:
    return [m.subject for m in outbox if m.to == [user.email]]


def test_every_lead_hears_once_when_an_urgent_escalation_is_logged(
    clock: Any, people: dict[str, Any], make_escalation: Any, mailoutbox: list[Any]
) -> None:
    urgent = make_escalation(knowledge_at=T0 - 10 * MINUTE, priority=Priority.URGENT, urgent_reason="Live stream")
    make_escalation(knowledge_at=T0 - 10 * MINUTE)  # standard: no news
    reminders.sweep()
    expected = f"[Escalations] URGENT {urgent.key}: {LOGGED}"
    assert subjects_to(mailoutbox, people["lead"]) == [expected]
    assert subjects_to(mailoutbox, people["lead2"]) == [expected]
    # Whoever logged it knows already.
    assert subjects_to(mailoutbox, people["mod"]) == []
    body = next(m.body for m in mailoutbox if m.to == [people["lead"].email])
    assert "URGENT" in body and f"/escalations/{urgent.pk}/" in body
    # Once: not again on the next sweep, nor after an edit of the knowledge time, nor after the
    # priority went standard and back to urgent.
    clock.move_to(T0 + MINUTE)
    reminders.sweep()
    edited = services.edit_escalation(
        actor=people["mod"],
        escalation_id=urgent.pk,
        version=urgent.version,
        data={"knowledge_at": T0 - 20 * MINUTE},
    )
    edited = services.edit_escalation(
        actor=people["mod"], escalation_id=edited.pk, version=edited.version, data={"priority": Priority.STANDARD}
    )
    services.edit_escalation(
        actor=people["mod"],
        escalation_id=edited.pk,
        version=edited.version,
        data={"priority": Priority.URGENT, "urgent_reason": "Live stream"},
    )
    clock.move_to(T0 + 2 * MINUTE)
    reminders.sweep()
    assert [s for s in subjects_to(mailoutbox, people["lead"]) if LOGGED in s] == [expected]
    assert Reminder.objects.filter(escalation=urgent, kind=ReminderKind.URGENT_LOGGED).count() == 1


def test_the_news_goes_out_at_the_first_sweep_not_before_knowledge(
    clock: Any, people: dict[str, Any], make_escalation: Any, mailoutbox: list[Any]
) -> None:
    make_escalation(knowledge_at=T0, priority=Priority.URGENT, urgent_reason="Live stream")
    clock.move_to(T0 - SECOND)
    reminders.sweep()
    assert mailoutbox == []
    clock.move_to(T0)
    reminders.sweep()
    assert len(subjects_to(mailoutbox, people["lead"])) == 1


def test_a_standard_escalation_made_urgent_is_news_then(
    clock: Any, people: dict[str, Any], make_escalation: Any, mailoutbox: list[Any]
) -> None:
    esc = make_escalation(knowledge_at=T0 - HOUR)
    reminders.sweep()
    assert mailoutbox == []
    services.edit_escalation(
        actor=people["mod"],
        escalation_id=esc.pk,
        version=esc.version,
        data={"priority": Priority.URGENT, "urgent_reason": "A meeting is planned"},
    )
    reminders.sweep()
    assert any(LOGGED in s for s in subjects_to(mailoutbox, people["lead"]))


def test_a_digest_lists_urgent_items_first_and_says_urgent(
    clock: Any, people: dict[str, Any], make_escalation: Any, mailoutbox: list[Any]
) -> None:
    # Five standard reports due soon (logged first, so first by id), then one urgent report overdue.
    standard = [make_escalation(knowledge_at=T0 - 21 * HOUR, assignee=people["mod"]) for _ in range(5)]
    urgent = make_escalation(
        knowledge_at=T0 - 2 * HOUR, priority=Priority.URGENT, urgent_reason="Live stream", assignee=people["mod"]
    )
    reminders.sweep()
    (digest,) = [m for m in mailoutbox if m.to == [people["mod"].email]]
    assert digest.subject == "[Escalations] URGENT: 6 reminders due (1 urgent)"
    keys = re.findall(r"(ESC-\d{6})", digest.body)
    assert keys[0] == urgent.key
    assert set(keys) == {e.key for e in [*standard, urgent]}
    assert f"URGENT {urgent.key}: Report overdue" in digest.body
    html = digest.alternatives[0][0]
    assert html.index(urgent.key) < min(html.index(e.key) for e in standard)

    # In the app, each item of the digest links to its escalation.
    note = Notification.objects.get(user=people["mod"])
    assert note.title.startswith("URGENT: 6 reminders due")
    client_page = _notifications_page(people["mod"])
    for esc in [*standard, urgent]:
        assert f'<a href="/escalations/{esc.pk}/">{esc.key}</a>' in client_page


def _notifications_page(user: Any) -> str:
    from tests.conftest import FormClient

    client = FormClient()
    client.force_login(user)
    return client.get("/notifications/").content.decode()


def test_after_an_outage_an_urgent_escalations_reminders_go_before_older_standard_ones(
    clock: Any, people: dict[str, Any], make_escalation: Any, mailoutbox: list[Any]
) -> None:
    # Three standard reports overdue since the day before (recorded first: their reminders came due
    # first), then one urgent report overdue.
    standard = [make_escalation(knowledge_at=T0 - 40 * HOUR, assignee=people["mod"]) for _ in range(3)]
    urgent = make_escalation(
        knowledge_at=T0 - 2 * HOUR, priority=Priority.URGENT, urgent_reason="Live stream", assignee=people["mod"]
    )
    reminders.sweep()
    first_urgent = min(i for i, m in enumerate(mailoutbox) if urgent.key in m.subject)
    first_standard = min(i for i, m in enumerate(mailoutbox) if any(e.key in m.subject for e in standard))
    assert first_urgent < first_standard
    assert len([m for m in mailoutbox if m.to == [people["mod"].email] and urgent.key not in m.subject]) == 3
