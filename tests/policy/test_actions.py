"""What must be done first (escalations/policy/actions.py): the action each queue row names and the
(rank, moment) every queue sorts by. Boundaries one second either side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from escalations import policy
from escalations.policy import CLOSED, DISMISSED, OPEN, REPORTED, STANDARD, URGENT, ActionKind, PolicyConfig

CFG = PolicyConfig()
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
K = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # knowledge obtained
R = K + 2 * HOUR  # reported


@dataclass
class Esc:
    priority: str = STANDARD
    status: str = OPEN
    knowledge_at: datetime = K
    reported_at: datetime | None = None
    preservation_confirmed_at: datetime | None = None
    ncmec_opened_at: datetime | None = None
    ncmec_last_change_at: datetime | None = None
    legal_response_due_at: datetime | None = None
    preservation_hold_until: datetime | None = None


def order(*escalations: Esc) -> list[int]:
    """The positions of `escalations` as a queue sorts them: (rank, due moment)."""
    keyed = [(policy.next_action(e, CFG), i) for i, e in enumerate(escalations)]
    return [i for action, i in sorted(keyed, key=lambda pair: (pair[0].rank, pair[0].due_at, pair[1]))]  # type: ignore[union-attr]


def test_each_deadline_has_its_name_and_rank() -> None:
    urgent = policy.next_action(Esc(priority=URGENT), CFG)
    standard = policy.next_action(Esc(), CFG)
    legal = policy.next_action(Esc(status=REPORTED, reported_at=R, legal_response_due_at=R + 48 * HOUR), CFG)
    confirm = policy.next_action(Esc(status=REPORTED, reported_at=R), CFG)
    end = policy.next_action(Esc(status=REPORTED, reported_at=R, preservation_confirmed_at=R + HOUR), CFG)
    assert (urgent.label, urgent.due_at) == ("File report", K + HOUR)  # type: ignore[union-attr]
    assert (standard.label, standard.due_at) == ("File report", K + 24 * HOUR)  # type: ignore[union-attr]
    assert (legal.label, legal.due_at) == ("Respond to legal request", R + 48 * HOUR)  # type: ignore[union-attr]
    assert (confirm.label, confirm.due_at) == ("Confirm preservation", R + 24 * HOUR)  # type: ignore[union-attr]
    assert end.label == "Close or extend preservation"  # type: ignore[union-attr]
    assert end.due_at == datetime(2027, 5, 4, 11, 0, tzinfo=UTC)  # type: ignore[union-attr]
    ranks = [a.rank for a in (urgent, standard, legal, confirm, end)]  # type: ignore[union-attr]
    assert ranks == sorted(ranks) and len(set(ranks)) == 5


@pytest.mark.parametrize("status", [CLOSED, DISMISSED])
def test_nothing_to_do_for_a_closed_or_dismissed_escalation(status: str) -> None:
    assert policy.next_action(Esc(status=status, reported_at=R if status == CLOSED else None), CFG) is None
    columns = policy.stored_columns(Esc(status=status, reported_at=R if status == CLOSED else None), CFG)
    assert (columns["next_action"], columns["next_action_rank"], columns["next_action_due_at"]) == (
        "",
        policy.RANK_NONE,
        None,
    )


def test_an_urgent_report_due_in_a_minute_sits_above_preservation_79_days_late() -> None:
    now = K + 79 * 24 * HOUR
    chores = [Esc(status=REPORTED, knowledge_at=K - i * HOUR, reported_at=K - i * HOUR + HOUR) for i in range(16)]
    urgent = Esc(priority=URGENT, knowledge_at=now - HOUR + timedelta(minutes=1))
    assert order(*chores, urgent)[0] == 16


def test_urgent_before_standard_before_legal_before_confirmation_before_the_end() -> None:
    end_overdue = Esc(status=REPORTED, knowledge_at=K - 900 * 24 * HOUR, reported_at=K - 899 * 24 * HOUR)
    end_overdue.preservation_confirmed_at = end_overdue.reported_at
    confirm_overdue = Esc(status=REPORTED, knowledge_at=K - 80 * 24 * HOUR, reported_at=K - 79 * 24 * HOUR)
    legal_later = Esc(status=REPORTED, reported_at=R, legal_response_due_at=R + 30 * 24 * HOUR)
    standard_overdue = Esc(knowledge_at=K - 100 * HOUR)
    urgent_later = Esc(priority=URGENT, knowledge_at=K + 10 * HOUR)
    assert order(end_overdue, confirm_overdue, legal_later, standard_overdue, urgent_later) == [4, 3, 2, 1, 0]


def test_within_a_rank_the_earlier_moment_first() -> None:
    assert order(Esc(knowledge_at=K), Esc(knowledge_at=K - SECOND)) == [1, 0]
    assert order(Esc(priority=URGENT, knowledge_at=K), Esc(priority=URGENT, knowledge_at=K - SECOND)) == [1, 0]


def test_an_unfinished_ncmec_report_deleted_before_the_target_is_the_action_one_second_either_side() -> None:
    target = K + 24 * HOUR
    # NCMEC deletes 24 h after opening (or an hour after the last change, if later).
    before = Esc(ncmec_opened_at=target - 24 * HOUR - SECOND)
    at = Esc(ncmec_opened_at=target - 24 * HOUR)
    after = Esc(ncmec_opened_at=target - 24 * HOUR + SECOND)
    action = policy.next_action(before, CFG)
    assert (action.kind, action.due_at, action.rank) == (  # type: ignore[union-attr]
        ActionKind.FINISH_NCMEC_REPORT,
        target - SECOND,
        policy.next_action(Esc(), CFG).rank,  # type: ignore[union-attr]
    )
    assert policy.next_action(at, CFG).kind is ActionKind.FILE_REPORT  # type: ignore[union-attr]
    assert policy.next_action(after, CFG).kind is ActionKind.FILE_REPORT  # type: ignore[union-attr]
    # Still below every urgent report, above every legal response.
    legal = Esc(status=REPORTED, reported_at=R, legal_response_due_at=K - 1000 * HOUR)
    assert order(legal, before, Esc(priority=URGENT, knowledge_at=K + 100 * HOUR)) == [2, 1, 0]


def test_the_legal_response_takes_the_earliest_open_requests_date_and_stops_with_the_report_pending() -> None:
    # Before the report, the report is what must be done first, whatever the request.
    action = policy.next_action(Esc(legal_response_due_at=K + HOUR), CFG)
    assert action.kind is ActionKind.FILE_REPORT  # type: ignore[union-attr]
