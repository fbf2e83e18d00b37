"""An escalation made from Coop's report holds the receipt time as its knowledge time until someone
confirms it: a reminder asks at the receipt, then every 24 hours; the figures leave it out meanwhile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from escalations import policy
from escalations.policy import CLOSED, DISMISSED, REPORTED, PolicyConfig, ReminderKind
from tests.support import Facts

CFG = PolicyConfig()
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
R = datetime(2026, 5, 4, 20, 30, tzinfo=UTC)  # Coop's call arrived: report filed, knowledge unknown
KIND = ReminderKind.KNOWLEDGE_UNCONFIRMED


@dataclass(frozen=True)
class CoopFacts(Facts):
    knowledge_unconfirmed_since: datetime | None = None


FROM_COOP = CoopFacts(status=REPORTED, knowledge_at=R, reported_at=R, knowledge_unconfirmed_since=R)
CONFIRMED = CoopFacts(status=REPORTED, knowledge_at=R - 5 * HOUR, reported_at=R)


def asked(esc: Facts, now: datetime, cfg: PolicyConfig = CFG) -> list[datetime]:
    return [at for kind, at in policy.due_reminders(esc, cfg, now) if kind == KIND]


def test_the_assignee_is_asked_the_moment_it_arrives_not_a_second_before() -> None:
    assert asked(FROM_COOP, R - SECOND) == []
    assert asked(FROM_COOP, R) == [R]


def test_then_again_every_24_hours_until_confirmed() -> None:
    assert asked(FROM_COOP, R + 24 * HOUR - SECOND) == [R]
    assert asked(FROM_COOP, R + 24 * HOUR) == [R + 24 * HOUR]
    assert policy.next_reminder_at(FROM_COOP, CFG, R) == min(R + 24 * HOUR, R + CFG.preservation_confirm_window)


def test_the_repeat_follows_the_setting() -> None:
    cfg = PolicyConfig(knowledge_confirm_repeat=6 * HOUR)
    assert asked(FROM_COOP, R + 6 * HOUR, cfg) == [R + 6 * HOUR]


def test_a_confirmed_or_a_persons_own_knowledge_time_asks_nothing() -> None:
    assert asked(CONFIRMED, R + 48 * HOUR) == []
    assert asked(Facts(), R) == []


@pytest.mark.parametrize("status", [CLOSED, DISMISSED])
def test_closed_or_dismissed_asks_nothing(status: str) -> None:
    from dataclasses import replace

    assert asked(replace(FROM_COOP, status=status), R + HOUR) == []


def test_once_confirmed_a_recorded_reminder_is_overtaken() -> None:
    assert policy.why_overtaken(KIND, R, FROM_COOP, CFG, R + HOUR) is None
    assert policy.why_overtaken(KIND, R, CONFIRMED, CFG, R + HOUR) == "The knowledge time was confirmed."


def test_it_goes_to_the_assignee_and_every_lead() -> None:
    assert KIND in policy.REMINDER_KINDS_FOR_LEADS


def test_a_placeholder_knowledge_time_yields_no_time_to_report_and_no_verdict() -> None:
    """The placeholder is the latest knowledge can be: the report always looks in time with it, so
    the figures wait for a confirmed time."""
    assert policy.seconds_to_report(FROM_COOP) is None
    assert policy.reported_on_time(FROM_COOP, CFG) is None
    assert policy.seconds_to_report(CONFIRMED) == 5 * 3600
    assert policy.reported_on_time(CONFIRMED, CFG) is True


def test_the_report_deadline_is_met_and_preservation_runs_from_the_receipt() -> None:
    report, confirm, end = policy.deadlines(FROM_COOP, CFG)
    assert report.state(R) == policy.DeadlineState.MET
    assert confirm.due_at == R + CFG.preservation_confirm_window
    assert end.due_at == datetime(2027, 5, 4, 20, 30, tzinfo=UTC)
