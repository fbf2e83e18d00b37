"""A reminder already sent for a deadline is never sent again because the deadline moved by a minute
or less (an edit that rewrote the seconds of a time); a deadline that moved by more is a new deadline,
and its reminder goes out again. Boundaries: 60 s and 61 s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalations.core import services
from escalations.models import Reminder
from escalations.reminders import sweep as reminders

KNOWLEDGE = datetime(2026, 5, 3, 19, 15, 44, tzinfo=UTC)
CLOCK_START = KNOWLEDGE + timedelta(hours=25)  # report overdue since an hour
SECOND = timedelta(seconds=1)


@pytest.fixture
def boss(lead: Any) -> Any:
    lead.email = "lead@example.org"
    lead.save()
    return lead


def overdue_mails(outbox: list[Any], user: Any) -> int:
    return sum(1 for m in outbox if m.to == [user.email] and "Report overdue" in m.subject)


@pytest.mark.parametrize(
    ("moved", "mails"),
    [
        (-timedelta(seconds=44), 1),  # what a form that dropped the seconds did
        (timedelta(seconds=60), 1),
        (-timedelta(seconds=60), 1),
        (timedelta(seconds=61), 2),
        (-timedelta(seconds=61), 2),
    ],
)
def test_report_overdue_again_only_when_the_target_moved_by_more_than_a_minute(
    clock: Any, moderator: Any, boss: Any, make_escalation: Any, mailoutbox: list[Any], moved: timedelta, mails: int
) -> None:
    esc = make_escalation(knowledge_at=KNOWLEDGE)
    reminders.sweep()
    assert overdue_mails(mailoutbox, boss) == 1
    services.edit_escalation(
        actor=moderator, escalation_id=esc.pk, version=esc.version, data={"knowledge_at": KNOWLEDGE + moved}
    )
    clock.shift(timedelta(minutes=2))
    reminders.sweep()
    reminders.sweep()
    assert overdue_mails(mailoutbox, boss) == mails
    assert Reminder.objects.filter(escalation=esc, kind="report_overdue").count() == mails


def test_the_moved_reminder_still_repeats_on_its_new_schedule(
    clock: Any, moderator: Any, boss: Any, make_escalation: Any, mailoutbox: list[Any]
) -> None:
    esc = make_escalation(knowledge_at=KNOWLEDGE)
    reminders.sweep()
    services.edit_escalation(
        actor=moderator,
        escalation_id=esc.pk,
        version=esc.version,
        data={"knowledge_at": KNOWLEDGE - timedelta(seconds=44)},
    )
    # The overdue reminder repeats every 4 hours after the (moved) target: one second before, nothing.
    target = KNOWLEDGE - timedelta(seconds=44) + timedelta(hours=24)
    clock.move_to(target + timedelta(hours=4) - SECOND)
    reminders.sweep()
    assert overdue_mails(mailoutbox, boss) == 1
    clock.move_to(target + timedelta(hours=4))
    reminders.sweep()
    assert overdue_mails(mailoutbox, boss) == 2
