"""When each reminder falls due (escalations/policy.py, reminder section). Pure: no database, no clock.

Every moment is checked one second either side, because a reminder one second early is noise and one
second late, at scale, is a missed deadline.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalations import policy
from escalations.policy import (
    CLOSED,
    DISMISSED,
    REPORTED,
    URGENT,
    PolicyConfig,
    ReminderKind,
)
from tests.support import Facts

CFG = PolicyConfig()
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
K = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # knowledge obtained
TARGET = K + 24 * HOUR  # standard report target
URGENT_TARGET = K + HOUR
R = datetime(2026, 5, 4, 20, 30, tzinfo=UTC)  # report sent to NCMEC
PRESERVE_UNTIL = datetime(2027, 5, 4, 20, 30, tzinfo=UTC)  # one calendar year after R


OPEN_ESC = Facts()
URGENT_ESC = Facts(priority=URGENT)
REPORTED_ESC = Facts(status=REPORTED, reported_at=R)
CONFIRMED_ESC = replace(REPORTED_ESC, preservation_confirmed_at=R + HOUR)


def due(esc: Facts, now: datetime, cfg: PolicyConfig = CFG) -> set[tuple[ReminderKind, datetime]]:
    return set(policy.due_reminders(esc, cfg, now))


def due_of(kind: ReminderKind, esc: Facts, now: datetime, cfg: PolicyConfig = CFG) -> list[datetime]:
    return sorted(at for k, at in policy.due_reminders(esc, cfg, now) if k == kind)


def plan_kinds(esc: Facts, cfg: PolicyConfig = CFG) -> set[ReminderKind]:
    return {spec.kind for spec in policy.reminder_plan(esc, cfg)}


def test_preservation_end_of_the_fixture_is_one_calendar_year_after_the_report():
    assert policy.preservation_end(R, CFG) == PRESERVE_UNTIL


# --- report_due_soon ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("esc", "soon_at"),
    [(OPEN_ESC, TARGET - 4 * HOUR), (URGENT_ESC, URGENT_TARGET - timedelta(minutes=15))],
    ids=["standard-4h", "urgent-15min"],
)
def test_report_due_soon_falls_due_exactly_at_the_due_soon_window(esc, soon_at):
    assert due_of(ReminderKind.REPORT_DUE_SOON, esc, soon_at - SECOND) == []
    assert due_of(ReminderKind.REPORT_DUE_SOON, esc, soon_at) == [soon_at]
    assert due_of(ReminderKind.REPORT_DUE_SOON, esc, soon_at + SECOND) == [soon_at]
    # Nothing else is due before the target (but, for an urgent one, the leads' news of it).
    logged = {(ReminderKind.URGENT_LOGGED, K)} if esc.priority == URGENT else set()
    assert due(esc, soon_at + SECOND) == {(ReminderKind.REPORT_DUE_SOON, soon_at)} | logged


def test_nothing_is_due_right_after_logging_but_the_news_of_an_urgent_one():
    assert due(OPEN_ESC, K) == set()
    assert due(URGENT_ESC, K) == {(ReminderKind.URGENT_LOGGED, K)}


# --- report_overdue -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [TARGET, URGENT_TARGET], ids=["standard", "urgent"])
@pytest.mark.parametrize("n", [0, 1, 2, 6])
def test_report_overdue_at_the_target_then_every_4_hours_latest_occurrence_only(target, n):
    esc = OPEN_ESC if target == TARGET else URGENT_ESC
    occurrence = target + n * 4 * HOUR
    previous = [target + (n - 1) * 4 * HOUR] if n else []
    assert due_of(ReminderKind.REPORT_OVERDUE, esc, occurrence - SECOND) == previous
    assert due_of(ReminderKind.REPORT_OVERDUE, esc, occurrence) == [occurrence]
    assert due_of(ReminderKind.REPORT_OVERDUE, esc, occurrence + SECOND) == [occurrence]


def test_after_a_long_outage_one_overdue_reminder_stands_for_all_the_missed_ones():
    now = TARGET + 3 * DAY + 5 * HOUR
    assert due(OPEN_ESC, now) == {
        (ReminderKind.REPORT_DUE_SOON, TARGET - 4 * HOUR),
        (ReminderKind.REPORT_OVERDUE, TARGET + 3 * DAY + 4 * HOUR),
    }


def test_report_overdue_repeat_follows_the_config():
    cfg = PolicyConfig(report_overdue_repeat=timedelta(hours=1))
    assert due_of(ReminderKind.REPORT_OVERDUE, OPEN_ESC, TARGET + 3 * HOUR, cfg) == [TARGET + 3 * HOUR]
    assert due_of(ReminderKind.REPORT_OVERDUE, OPEN_ESC, TARGET + 3 * HOUR - SECOND, cfg) == [TARGET + 2 * HOUR]


# --- preservation reminders -----------------------------------------------------------------------


def test_preservation_unconfirmed_24_hours_after_the_report():
    at = R + 24 * HOUR
    assert due_of(ReminderKind.PRESERVATION_UNCONFIRMED, REPORTED_ESC, at - SECOND) == []
    assert due_of(ReminderKind.PRESERVATION_UNCONFIRMED, REPORTED_ESC, at) == [at]
    # It does not repeat.
    assert due_of(ReminderKind.PRESERVATION_UNCONFIRMED, REPORTED_ESC, at + 30 * DAY) == [at]


def test_preservation_unconfirmed_is_not_due_once_preservation_is_confirmed():
    assert due_of(ReminderKind.PRESERVATION_UNCONFIRMED, CONFIRMED_ESC, R + 25 * HOUR) == []
    assert ReminderKind.PRESERVATION_UNCONFIRMED not in plan_kinds(CONFIRMED_ESC)
    assert ReminderKind.PRESERVATION_UNCONFIRMED in plan_kinds(REPORTED_ESC)


@pytest.mark.parametrize("days", [30, 7, 1])
def test_preservation_ending_30_7_and_1_days_before_preserve_until(days):
    at = PRESERVE_UNTIL - days * DAY
    assert (ReminderKind.PRESERVATION_ENDING, at) not in due(CONFIRMED_ESC, at - SECOND)
    assert (ReminderKind.PRESERVATION_ENDING, at) in due(CONFIRMED_ESC, at)
    assert (ReminderKind.PRESERVATION_ENDING, at) in due(CONFIRMED_ESC, at + SECOND)


def test_preservation_ending_is_not_due_before_30_days_out():
    assert due(CONFIRMED_ESC, PRESERVE_UNTIL - 30 * DAY - SECOND) == set()


@pytest.mark.parametrize("n", [0, 1, 5])
def test_preservation_ended_at_preserve_until_then_every_24_hours(n):
    occurrence = PRESERVE_UNTIL + n * DAY
    previous = [PRESERVE_UNTIL + (n - 1) * DAY] if n else []
    assert due_of(ReminderKind.PRESERVATION_ENDED, CONFIRMED_ESC, occurrence - SECOND) == previous
    assert due_of(ReminderKind.PRESERVATION_ENDED, CONFIRMED_ESC, occurrence) == [occurrence]
    assert due_of(ReminderKind.PRESERVATION_ENDED, CONFIRMED_ESC, occurrence + SECOND) == [occurrence]


# --- what the plan holds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "esc",
    [
        replace(CONFIRMED_ESC, status=CLOSED),
        replace(REPORTED_ESC, status=CLOSED),
        replace(OPEN_ESC, status=DISMISSED),
        replace(URGENT_ESC, status=DISMISSED),
    ],
    ids=["closed-confirmed", "closed-unconfirmed", "dismissed", "dismissed-urgent"],
)
def test_closed_and_dismissed_escalations_get_no_reminders(esc):
    assert policy.reminder_plan(esc, CFG) == []
    later = PRESERVE_UNTIL + 10 * DAY
    assert policy.due_reminders(esc, CFG, later) == []
    assert policy.next_reminder_at(esc, CFG, K) is None
    assert policy.stored_columns(esc, CFG)["next_reminder_at"] is None


def test_reported_escalations_have_no_report_reminders():
    kinds = plan_kinds(REPORTED_ESC)
    assert ReminderKind.REPORT_DUE_SOON not in kinds
    assert ReminderKind.REPORT_OVERDUE not in kinds
    assert kinds == {
        ReminderKind.PRESERVATION_UNCONFIRMED,
        ReminderKind.PRESERVATION_ENDING,
        ReminderKind.PRESERVATION_ENDED,
    }
    # A report recorded late does not leave the overdue reminder running.
    late = replace(REPORTED_ESC, reported_at=TARGET + 10 * HOUR)
    assert not {k for k, _ in policy.due_reminders(late, CFG, TARGET + 11 * HOUR)} & {
        ReminderKind.REPORT_DUE_SOON,
        ReminderKind.REPORT_OVERDUE,
    }


def test_open_escalations_have_only_report_reminders():
    assert plan_kinds(OPEN_ESC) == {ReminderKind.REPORT_DUE_SOON, ReminderKind.REPORT_OVERDUE}


# --- next_reminder_at: when the sweep must look again ---------------------------------------------


@pytest.mark.parametrize(
    ("esc", "now", "expected"),
    [
        (OPEN_ESC, K, TARGET - 4 * HOUR),
        (OPEN_ESC, TARGET - 4 * HOUR - SECOND, TARGET - 4 * HOUR),
        # Strictly after now: at the due-soon moment itself the next one is the target.
        (OPEN_ESC, TARGET - 4 * HOUR, TARGET),
        (OPEN_ESC, TARGET - SECOND, TARGET),
        (OPEN_ESC, TARGET, TARGET + 4 * HOUR),
        (OPEN_ESC, TARGET + 4 * HOUR - SECOND, TARGET + 4 * HOUR),
        (OPEN_ESC, TARGET + 4 * HOUR, TARGET + 8 * HOUR),
        (URGENT_ESC, K, URGENT_TARGET - timedelta(minutes=15)),
        (REPORTED_ESC, R, R + 24 * HOUR),
        (REPORTED_ESC, R + 24 * HOUR, PRESERVE_UNTIL - 30 * DAY),
        (CONFIRMED_ESC, R, PRESERVE_UNTIL - 30 * DAY),
        (CONFIRMED_ESC, PRESERVE_UNTIL - 30 * DAY, PRESERVE_UNTIL - 7 * DAY),
        (CONFIRMED_ESC, PRESERVE_UNTIL - 7 * DAY, PRESERVE_UNTIL - DAY),
        (CONFIRMED_ESC, PRESERVE_UNTIL - DAY, PRESERVE_UNTIL),
        (CONFIRMED_ESC, PRESERVE_UNTIL, PRESERVE_UNTIL + DAY),
    ],
)
def test_next_reminder_at_is_the_first_occurrence_strictly_after_now(esc, now, expected):
    assert policy.next_reminder_at(esc, CFG, now) == expected


@pytest.mark.parametrize(
    ("esc", "expected"),
    [
        (OPEN_ESC, TARGET - 4 * HOUR),
        # The leads hear of an urgent escalation from the moment of knowledge on: the first sweep sends it.
        (URGENT_ESC, K),
        (REPORTED_ESC, R + 24 * HOUR),
        (CONFIRMED_ESC, PRESERVE_UNTIL - 30 * DAY),
    ],
)
def test_stored_next_reminder_at_is_the_earliest_reminder_of_the_plan(esc, expected):
    assert policy.stored_columns(esc, CFG)["next_reminder_at"] == expected


ESCALATIONS = st.sampled_from([OPEN_ESC, URGENT_ESC, REPORTED_ESC, CONFIRMED_ESC])
OFFSETS = st.integers(min_value=-2 * 86400, max_value=400 * 86400).map(lambda s: timedelta(seconds=s))


@given(esc=ESCALATIONS, start=OFFSETS, gap=st.integers(min_value=1, max_value=40 * 86400))
def test_a_sweep_at_next_reminder_at_never_skips_an_occurrence(esc, start, gap):
    """Whatever falls due in (t1, t2] makes next_reminder_at(t1) <= t2: the sweep, which looks at an
    escalation again only at its next_reminder_at, can never sleep through a reminder."""
    t1 = K + start
    t2 = t1 + timedelta(seconds=gap)
    came_due = due(esc, t2) - due(esc, t1)
    following = policy.next_reminder_at(esc, CFG, t1)
    if came_due:
        assert following is not None
        assert t1 < following <= t2
    else:
        assert following is None or following > t2
    assert all(at <= t2 for _, at in due(esc, t2))


# --- reminder_still_applies: cancel what the record has overtaken ----------------------------------


def test_report_reminders_stop_applying_once_the_report_is_recorded():
    now = TARGET + 5 * HOUR
    assert policy.reminder_still_applies(ReminderKind.REPORT_OVERDUE, TARGET + 4 * HOUR, OPEN_ESC, CFG, now)
    reported = replace(OPEN_ESC, status=REPORTED, reported_at=TARGET + 4 * HOUR + 30 * 60 * SECOND)
    assert not policy.reminder_still_applies(ReminderKind.REPORT_OVERDUE, TARGET + 4 * HOUR, reported, CFG, now)
    assert not policy.reminder_still_applies(
        ReminderKind.REPORT_DUE_SOON, TARGET - 4 * HOUR, reported, CFG, TARGET - HOUR
    )


@pytest.mark.parametrize(
    ("kind", "due_at"),
    [
        (ReminderKind.PRESERVATION_ENDED, PRESERVE_UNTIL),
        (ReminderKind.PRESERVATION_ENDED, PRESERVE_UNTIL + 2 * DAY),
        (ReminderKind.PRESERVATION_UNCONFIRMED, R + 24 * HOUR),
    ],
)
def test_preservation_reminders_stop_applying_once_closed(kind, due_at):
    now = PRESERVE_UNTIL + 2 * DAY + HOUR
    assert policy.reminder_still_applies(kind, due_at, REPORTED_ESC, CFG, now)
    closed = replace(REPORTED_ESC, status=CLOSED)
    assert not policy.reminder_still_applies(kind, due_at, closed, CFG, now)


def test_dismissed_escalation_reminders_stop_applying():
    dismissed = replace(OPEN_ESC, status=DISMISSED)
    assert not policy.reminder_still_applies(ReminderKind.REPORT_OVERDUE, TARGET, dismissed, CFG, TARGET + HOUR)


def test_preservation_unconfirmed_stops_applying_once_confirmed():
    at = R + 24 * HOUR
    assert policy.reminder_still_applies(ReminderKind.PRESERVATION_UNCONFIRMED, at, REPORTED_ESC, CFG, at)
    assert not policy.reminder_still_applies(ReminderKind.PRESERVATION_UNCONFIRMED, at, CONFIRMED_ESC, CFG, at)


@pytest.mark.parametrize(("esc", "target"), [(OPEN_ESC, TARGET), (URGENT_ESC, URGENT_TARGET)])
def test_report_due_soon_stops_applying_once_the_target_passed(esc, target):
    soon_at = target - policy.due_soon_window(esc.priority, CFG)
    assert policy.reminder_still_applies(ReminderKind.REPORT_DUE_SOON, soon_at, esc, CFG, soon_at)
    assert policy.reminder_still_applies(ReminderKind.REPORT_DUE_SOON, soon_at, esc, CFG, target)
    assert not policy.reminder_still_applies(ReminderKind.REPORT_DUE_SOON, soon_at, esc, CFG, target + SECOND)
    # The overdue one keeps applying while the report is missing.
    later = target + 3 * DAY
    assert policy.reminder_still_applies(ReminderKind.REPORT_OVERDUE, target, esc, CFG, later)


def test_preservation_ending_stops_applying_once_the_period_ended():
    at = PRESERVE_UNTIL - DAY
    assert policy.reminder_still_applies(
        ReminderKind.PRESERVATION_ENDING, at, CONFIRMED_ESC, CFG, PRESERVE_UNTIL - SECOND
    )
    assert not policy.reminder_still_applies(ReminderKind.PRESERVATION_ENDING, at, CONFIRMED_ESC, CFG, PRESERVE_UNTIL)


def test_an_earlier_preservation_ending_stage_is_overtaken_by_a_later_one():
    """After an outage (or a report recorded late), "30 days left" and "7 days left" may be due at
    once: leads hear the latest only, as the due-soon reminder gives way to the overdue one."""
    now = PRESERVE_UNTIL - 7 * DAY + HOUR
    stages = due_of(ReminderKind.PRESERVATION_ENDING, CONFIRMED_ESC, now)
    assert stages == [PRESERVE_UNTIL - 30 * DAY, PRESERVE_UNTIL - 7 * DAY]
    applies = [
        policy.reminder_still_applies(ReminderKind.PRESERVATION_ENDING, at, CONFIRMED_ESC, CFG, now) for at in stages
    ]
    assert applies == [False, True]
    # Before the 7-day stage is due, the 30-day one still applies.
    assert policy.reminder_still_applies(
        ReminderKind.PRESERVATION_ENDING,
        PRESERVE_UNTIL - 30 * DAY,
        CONFIRMED_ESC,
        CFG,
        PRESERVE_UNTIL - 7 * DAY - SECOND,
    )


# --- reminder_deadline_at: what the message says the deadline is ----------------------------------


@pytest.mark.parametrize(
    ("kind", "esc", "expected"),
    [
        (ReminderKind.REPORT_DUE_SOON, OPEN_ESC, TARGET),
        (ReminderKind.REPORT_OVERDUE, OPEN_ESC, TARGET),
        (ReminderKind.REPORT_DUE_SOON, URGENT_ESC, URGENT_TARGET),
        (ReminderKind.REPORT_OVERDUE, URGENT_ESC, URGENT_TARGET),
        (ReminderKind.PRESERVATION_UNCONFIRMED, REPORTED_ESC, R + 24 * HOUR),
        (ReminderKind.PRESERVATION_ENDING, CONFIRMED_ESC, PRESERVE_UNTIL),
        (ReminderKind.PRESERVATION_ENDED, CONFIRMED_ESC, PRESERVE_UNTIL),
    ],
)
def test_reminder_deadline_is_the_deadline_not_the_reminder_time(kind, esc, expected):
    assert policy.reminder_deadline_at(kind, esc, CFG) == expected


def test_a_repeated_overdue_reminder_still_names_the_original_target():
    (at,) = due_of(ReminderKind.REPORT_OVERDUE, OPEN_ESC, TARGET + 9 * HOUR)
    assert at == TARGET + 8 * HOUR
    assert policy.reminder_deadline_at(ReminderKind.REPORT_OVERDUE, OPEN_ESC, CFG) == TARGET


# --- settings ---------------------------------------------------------------------------------------


def test_reminder_times_follow_the_settings(settings):
    settings.REPORT_TARGET_HOURS = 12
    settings.URGENT_REPORT_TARGET_HOURS = 2
    settings.DUE_SOON_HOURS = 2
    settings.URGENT_DUE_SOON_MINUTES = 30
    settings.REPORT_OVERDUE_REPEAT_HOURS = 1
    settings.PRESERVATION_CONFIRM_HOURS = 48
    settings.PRESERVATION_ENDING_REMINDER_DAYS = [14, 2]
    settings.PRESERVATION_ENDED_REPEAT_HOURS = 12
    cfg = PolicyConfig.from_settings()

    target = K + 12 * HOUR
    assert due(OPEN_ESC, target - 2 * HOUR - SECOND, cfg) == set()
    assert due(OPEN_ESC, target - 2 * HOUR, cfg) == {(ReminderKind.REPORT_DUE_SOON, target - 2 * HOUR)}
    assert due_of(ReminderKind.REPORT_OVERDUE, OPEN_ESC, target + HOUR - SECOND, cfg) == [target]
    assert due_of(ReminderKind.REPORT_OVERDUE, OPEN_ESC, target + HOUR, cfg) == [target + HOUR]

    urgent_target = K + 2 * HOUR
    assert policy.next_reminder_at(URGENT_ESC, cfg, K) == urgent_target - 30 * 60 * SECOND

    assert policy.next_reminder_at(REPORTED_ESC, cfg, R) == R + 48 * HOUR
    ending = sorted(s.first_at for s in policy.reminder_plan(CONFIRMED_ESC, cfg) if s.kind == "preservation_ending")
    assert ending == [PRESERVE_UNTIL - 14 * DAY, PRESERVE_UNTIL - 2 * DAY]
    assert due_of(ReminderKind.PRESERVATION_ENDED, CONFIRMED_ESC, PRESERVE_UNTIL + 12 * HOUR, cfg) == [
        PRESERVE_UNTIL + 12 * HOUR
    ]


def test_default_settings_give_the_documented_reminder_times():
    assert PolicyConfig.from_settings() == CFG
