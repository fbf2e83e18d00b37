"""Where a report stands at NCMEC: which state may follow which, the deletion only once the countdown
ran out (at its exact moment, not a microsecond before), and the countdown stopping once the report
is finished, retracted or deleted (no reminder, no "Finish NCMEC report")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from escalations import policy
from escalations.policy import ncmec_submission as sub
from escalations.policy.actions import ActionKind, next_action
from escalations.policy.reminders import ReminderKind, reminder_plan

OPENED_AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DELETION = OPENED_AT + timedelta(hours=24)


def error(old: str, new: str, now: datetime, *, reported: bool = False, opened: datetime | None = OPENED_AT) -> str:
    return sub.transition_error(old, new, opened_at=opened, deletion_at=DELETION, reported=reported, now=now) or ""


def test_deleted_by_ncmec_only_from_the_moment_the_countdown_ran_out() -> None:
    assert "NCMEC keeps an unfinished report until 2026-03-02 10:00 UTC" in error(
        sub.OPENED, sub.DELETED_UNFINISHED, DELETION - timedelta(microseconds=1)
    )
    assert error(sub.OPENED, sub.DELETED_UNFINISHED, DELETION) == ""


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (sub.FINISHED, sub.RETRACTED, "a finished report can't be changed"),
        (sub.NOT_OPENED, sub.RETRACTED, "can't go from Not opened through NCMEC's API to Retracted"),
        (sub.NOT_OPENED, sub.DELETED_UNFINISHED, "can't go from Not opened"),
        (sub.RETRACTED, sub.DELETED_UNFINISHED, "it may become Opened, not finished"),
        (sub.OPENED, sub.FINISHED, "becomes Finished when the report is recorded"),
        (sub.OPENED, "sent", "'sent' is not one of opened, finished, retracted, deleted_unfinished"),
    ],
)
def test_illegal_transitions_are_refused_in_words(old: str, new: str, words: str) -> None:
    reported = old == sub.FINISHED
    assert words in error(old, new, DELETION + timedelta(days=1), reported=reported)


def test_legal_transitions() -> None:
    later = DELETION + timedelta(days=1)
    assert error(sub.NOT_OPENED, sub.OPENED, later) == ""
    assert error(sub.OPENED, sub.RETRACTED, OPENED_AT) == ""
    assert error(sub.RETRACTED, sub.OPENED, later) == ""
    assert error(sub.DELETED_UNFINISHED, sub.OPENED, later) == ""
    assert "needs NCMEC report opened" in error(sub.NOT_OPENED, sub.OPENED, later, opened=None)


def test_a_recorded_report_is_finished_and_an_opening_time_means_opened() -> None:
    assert sub.settled_state(sub.OPENED, opened_at=OPENED_AT, reported=True) == sub.FINISHED
    assert sub.settled_state(sub.NOT_OPENED, opened_at=OPENED_AT, reported=False) == sub.OPENED
    assert sub.settled_state(sub.RETRACTED, opened_at=OPENED_AT, reported=False) == sub.RETRACTED
    assert sub.settled_state(sub.NOT_OPENED, opened_at=None, reported=False) == sub.NOT_OPENED


@dataclass
class Facts:
    ncmec_submission_state: str
    priority: str = policy.STANDARD
    status: str = policy.OPEN
    knowledge_at: datetime = OPENED_AT - timedelta(hours=1)
    reported_at: datetime | None = None
    preservation_confirmed_at: datetime | None = None
    ncmec_opened_at: datetime | None = OPENED_AT
    ncmec_last_change_at: datetime | None = None


def test_the_countdown_runs_while_opened_and_stops_once_retracted_or_deleted() -> None:
    cfg = policy.PolicyConfig()
    opened = Facts(sub.OPENED)
    assert ReminderKind.NCMEC_UNFINISHED in {spec.kind for spec in reminder_plan(opened, cfg)}
    for state in (sub.RETRACTED, sub.DELETED_UNFINISHED):
        stopped = Facts(state)
        assert ReminderKind.NCMEC_UNFINISHED not in {spec.kind for spec in reminder_plan(stopped, cfg)}
        action = next_action(stopped, cfg)
        assert action is not None and action.kind == ActionKind.FILE_REPORT  # the report is still owed
        assert (
            policy.ncmec_unfinished_state(OPENED_AT, None, None, DELETION, cfg, state)
            == policy.DeadlineState.NOT_APPLICABLE
        )
    running = policy.ncmec_unfinished_state(OPENED_AT, None, None, DELETION, cfg, sub.OPENED)
    assert running == policy.DeadlineState.OVERDUE
