"""The deadline rules (escalations/policy.py): what a moderator sees on a badge, what a lead reads in a
compliance finding, and what the sweep selects by. Every boundary is checked one second either side."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from escalations import policy
from escalations.policy import (
    CLOSED,
    DISMISSED,
    OPEN,
    REPORTED,
    STANDARD,
    URGENT,
    DeadlineKind,
    DeadlineState,
    PolicyConfig,
)
from tests.support import Facts

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
CFG = PolicyConfig()
SECOND = timedelta(seconds=1)
K = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # knowledge obtained, a quiet Monday morning


def by_kind(esc: Facts, cfg: PolicyConfig = CFG) -> dict[DeadlineKind, policy.Deadline]:
    return {d.kind: d for d in policy.deadlines(esc, cfg)}


def state_via_columns(esc: Facts, now: datetime, cfg: PolicyConfig = CFG) -> DeadlineState:
    cols = policy.stored_columns(esc, cfg)
    return policy.state_from_columns(esc.status, cols["next_deadline_at"], cols["next_deadline_soon_at"], now)


# --- Report target: elapsed time from actual knowledge -------------------------------------------------


def test_report_target_is_24_hours_standard_and_1_hour_urgent():
    assert policy.report_due_at(K, STANDARD, CFG) == datetime(2026, 5, 5, 9, 0, tzinfo=UTC)
    assert policy.report_due_at(K, URGENT, CFG) == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("priority", "offset", "expected"),
    [
        # standard: due soon from 4 h before the 24 h target
        (STANDARD, -timedelta(hours=4) - SECOND, DeadlineState.ON_TRACK),
        (STANDARD, -timedelta(hours=4), DeadlineState.DUE_SOON),
        (STANDARD, -timedelta(hours=4) + SECOND, DeadlineState.DUE_SOON),
        (STANDARD, -SECOND, DeadlineState.DUE_SOON),
        (STANDARD, timedelta(0), DeadlineState.DUE_SOON),
        (STANDARD, SECOND, DeadlineState.OVERDUE),
        # urgent: due soon from 15 min before the 1 h target
        (URGENT, -timedelta(minutes=15) - SECOND, DeadlineState.ON_TRACK),
        (URGENT, -timedelta(minutes=15), DeadlineState.DUE_SOON),
        (URGENT, -timedelta(minutes=15) + SECOND, DeadlineState.DUE_SOON),
        (URGENT, -SECOND, DeadlineState.DUE_SOON),
        (URGENT, timedelta(0), DeadlineState.DUE_SOON),
        (URGENT, SECOND, DeadlineState.OVERDUE),
    ],
)
def test_open_escalation_state_around_report_target(priority, offset, expected):
    esc = Facts(priority=priority)
    target = K + (timedelta(hours=1) if priority == URGENT else timedelta(hours=24))
    moment = target + offset
    # Pure: now is an argument...
    assert policy.escalation_state(esc, moment, CFG) is expected
    assert state_via_columns(esc, moment) is expected
    # ...and with the wall clock frozen at that moment, as the list pages and the sweep use it.
    with time_machine.travel(moment, tick=False):
        assert policy.escalation_state(esc, timezone.now(), CFG) is expected
        assert state_via_columns(esc, timezone.now()) is expected


def test_state_labels_are_what_people_read():
    assert DeadlineState.OVERDUE.label == "Overdue"
    assert DeadlineState.DUE_SOON.label == "Due soon"
    assert DeadlineState.ON_TRACK.label == "On track"


def test_urgent_target_well_before_standard_one():
    # Two hours after knowledge: an urgent escalation is already overdue, a standard one is on track.
    now = K + timedelta(hours=2)
    assert policy.escalation_state(Facts(priority=URGENT), now, CFG) is DeadlineState.OVERDUE
    assert policy.escalation_state(Facts(priority=STANDARD), now, CFG) is DeadlineState.ON_TRACK


def test_report_target_is_24_elapsed_hours_across_spring_forward():
    # 01:30 EST on 8 March 2026; the clocks jump from 02:00 to 03:00 that night.
    knowledge = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    assert knowledge.utcoffset() == timedelta(hours=-5)
    due = policy.report_due_at(knowledge, STANDARD, CFG)
    assert due == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    assert due - knowledge == timedelta(hours=24)  # elapsed
    local_due = due.astimezone(NEW_YORK)
    assert local_due.replace(tzinfo=None) == datetime(2026, 3, 9, 2, 30)  # 02:30 EDT the next day
    assert local_due.replace(tzinfo=None) - knowledge.replace(tzinfo=None) == timedelta(hours=25)  # wall clock
    # Naive wall-clock arithmetic in New York would give an hour less than 24 elapsed hours.
    assert due != knowledge + timedelta(hours=24)

    esc = Facts(knowledge_at=knowledge)
    with time_machine.travel(due, tick=False):
        assert policy.escalation_state(esc, timezone.now(), CFG) is DeadlineState.DUE_SOON
    with time_machine.travel(due + SECOND, tick=False):
        assert policy.escalation_state(esc, timezone.now(), CFG) is DeadlineState.OVERDUE


def test_report_target_is_24_elapsed_hours_across_fall_back():
    # 00:30 EDT on 1 November 2026; the clocks go back from 02:00 to 01:00 that night.
    knowledge = datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK)
    assert knowledge.utcoffset() == timedelta(hours=-4)
    due = policy.report_due_at(knowledge, STANDARD, CFG)
    assert due == datetime(2026, 11, 2, 4, 30, tzinfo=UTC)
    assert due - knowledge == timedelta(hours=24)
    local_due = due.astimezone(NEW_YORK)
    assert local_due.replace(tzinfo=None) == datetime(2026, 11, 1, 23, 30)  # 23:30 EST the same day
    assert local_due.replace(tzinfo=None) - knowledge.replace(tzinfo=None) == timedelta(hours=23)
    assert due != knowledge + timedelta(hours=24)

    esc = Facts(knowledge_at=knowledge)
    with time_machine.travel(due - SECOND, tick=False):
        assert policy.escalation_state(esc, timezone.now(), CFG) is DeadlineState.DUE_SOON
    with time_machine.travel(due + SECOND, tick=False):
        assert policy.escalation_state(esc, timezone.now(), CFG) is DeadlineState.OVERDUE


def test_urgent_target_across_spring_forward_is_one_elapsed_hour():
    # 01:30 EST + 1 elapsed hour is 03:30 EDT: the skipped hour does not shorten or lengthen the target.
    knowledge = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    due = policy.report_due_at(knowledge, URGENT, CFG)
    assert due - knowledge == timedelta(hours=1)
    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)


def test_same_instant_in_any_time_zone_gives_same_results():
    in_utc = Facts(knowledge_at=K, reported_at=K + timedelta(hours=30), status=REPORTED)
    in_berlin = Facts(
        knowledge_at=K.astimezone(BERLIN),
        reported_at=(K + timedelta(hours=30)).astimezone(BERLIN),
        status=REPORTED,
    )
    assert in_berlin.knowledge_at.utcoffset() == timedelta(hours=2)
    assert policy.deadlines(in_utc, CFG) == policy.deadlines(in_berlin, CFG)
    assert policy.stored_columns(in_utc, CFG) == policy.stored_columns(in_berlin, CFG)
    for d in policy.deadlines(in_berlin, CFG):
        assert d.due_at is not None
        assert d.due_at.utcoffset() == timedelta(0)  # stored and compared in UTC
    assert by_kind(in_berlin)[DeadlineKind.REPORT].met_late is True
    for now in (K, K + timedelta(hours=50), K + timedelta(hours=54) + SECOND):
        assert policy.escalation_state(in_utc, now, CFG) is policy.escalation_state(
            in_berlin, now.astimezone(BERLIN), CFG
        )


def test_report_target_follows_config_and_settings(settings):
    cfg = PolicyConfig(report_target=timedelta(hours=12), due_soon=timedelta(hours=2))
    esc = Facts()
    assert policy.report_due_at(K, STANDARD, cfg) == K + timedelta(hours=12)
    assert policy.escalation_state(esc, K + timedelta(hours=10) - SECOND, cfg) is DeadlineState.ON_TRACK
    assert policy.escalation_state(esc, K + timedelta(hours=10), cfg) is DeadlineState.DUE_SOON
    assert policy.escalation_state(esc, K + timedelta(hours=12) + SECOND, cfg) is DeadlineState.OVERDUE

    settings.REPORT_TARGET_HOURS = 12
    settings.URGENT_REPORT_TARGET_HOURS = 0.5
    from_settings = PolicyConfig.from_settings()
    assert policy.report_due_at(K, STANDARD, from_settings) == K + timedelta(hours=12)
    assert policy.report_due_at(K, URGENT, from_settings) == K + timedelta(minutes=30)


def test_default_settings_give_the_documented_numbers():
    cfg = PolicyConfig.from_settings()
    assert cfg.report_target == timedelta(hours=24)
    assert cfg.urgent_report_target == timedelta(hours=1)
    assert cfg.preservation_years == 1
    assert cfg.preservation_confirm_window == timedelta(hours=24)
    assert cfg.due_soon == timedelta(hours=4)
    assert cfg.urgent_due_soon == timedelta(minutes=15)
    assert cfg.clock_skew == timedelta(minutes=5)


# --- met_late: a compliance finding --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "target"),
    [(STANDARD, timedelta(hours=24)), (URGENT, timedelta(hours=1))],
)
@pytest.mark.parametrize(("offset", "late"), [(-SECOND, False), (timedelta(0), False), (SECOND, True)])
def test_report_met_late_only_after_target(priority, target, offset, late):
    reported_at = K + target + offset
    esc = Facts(priority=priority, status=REPORTED, reported_at=reported_at)
    report = by_kind(esc)[DeadlineKind.REPORT]
    assert report.met_at == reported_at
    assert report.met_late is late
    # Filed is filed: the badge says met, however late, and long after the target.
    assert report.state(K + timedelta(days=3)) is DeadlineState.MET
    # The same instant given in another zone reads the same.
    esc_berlin = replace(esc, reported_at=reported_at.astimezone(BERLIN))
    assert by_kind(esc_berlin)[DeadlineKind.REPORT].met_late is late


# --- Preservation period: one calendar year after the report, in UTC ----------------------------------


@pytest.mark.parametrize(
    ("reported_at", "end"),
    [
        (datetime(2026, 6, 15, 14, 5, 9, tzinfo=UTC), datetime(2027, 6, 15, 14, 5, 9, tzinfo=UTC)),
        # 29 February into a common year: 1 March, same time (366 days, never fewer than 365)
        (datetime(2028, 2, 29, 22, 15, tzinfo=UTC), datetime(2029, 3, 1, 22, 15, tzinfo=UTC)),
        # A year that contains 29 February is 366 days long
        (datetime(2027, 3, 1, 0, 0, tzinfo=UTC), datetime(2028, 3, 1, 0, 0, tzinfo=UTC)),
        (datetime(2028, 2, 28, 12, 0, tzinfo=UTC), datetime(2029, 2, 28, 12, 0, tzinfo=UTC)),
        # Late evening in New York is already the next day in UTC: counted on the UTC date
        (datetime(2027, 12, 31, 23, 30, tzinfo=ZoneInfo("Etc/GMT+5")), datetime(2029, 1, 1, 4, 30, tzinfo=UTC)),
        (datetime(2027, 12, 31, 23, 30, tzinfo=NEW_YORK), datetime(2029, 1, 1, 4, 30, tzinfo=UTC)),
        # Just after midnight on 1 March in Berlin is still 29 February in UTC: so 1 March next year
        (datetime(2028, 3, 1, 0, 30, tzinfo=BERLIN), datetime(2029, 3, 1, 23, 30, tzinfo=UTC)),
        # Summer time in New York: same UTC time next year, although New York's offset is then the same
        (datetime(2026, 7, 4, 20, 0, tzinfo=NEW_YORK), datetime(2027, 7, 5, 0, 0, tzinfo=UTC)),
    ],
)
def test_preservation_end_is_one_calendar_year_in_utc(reported_at, end):
    got = policy.preservation_end(reported_at, CFG)
    assert got == end
    assert got.utcoffset() == timedelta(0)
    assert got - reported_at >= timedelta(days=365)
    esc = Facts(status=REPORTED, knowledge_at=reported_at - timedelta(hours=1), reported_at=reported_at)
    assert policy.stored_columns(esc, CFG)["preserve_until"] == end
    assert by_kind(esc)[DeadlineKind.PRESERVATION_END].due_at == end


def test_preservation_end_from_29_february_is_1_march_same_time():
    end = policy.preservation_end(datetime(2028, 2, 29, 8, 45, 30, tzinfo=UTC), CFG)
    assert end == datetime(2029, 3, 1, 8, 45, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reported_at", "end"),
    [
        (datetime(2026, 6, 15, 14, 5, tzinfo=UTC), datetime(2028, 6, 15, 14, 5, tzinfo=UTC)),
        (datetime(2028, 2, 29, 10, 0, tzinfo=UTC), datetime(2030, 3, 1, 10, 0, tzinfo=UTC)),
        (datetime(2027, 12, 31, 23, 30, tzinfo=ZoneInfo("Etc/GMT+5")), datetime(2030, 1, 1, 4, 30, tzinfo=UTC)),
    ],
)
def test_preservation_years_config(reported_at, end):
    assert policy.preservation_end(reported_at, PolicyConfig(preservation_years=2)) == end


def test_preservation_years_setting(settings):
    settings.PRESERVATION_YEARS = 2
    cfg = PolicyConfig.from_settings()
    reported_at = datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
    assert policy.preservation_end(reported_at, cfg) == datetime(2030, 3, 1, 10, 0, tzinfo=UTC)
    esc = Facts(status=REPORTED, knowledge_at=reported_at - timedelta(hours=3), reported_at=reported_at)
    assert policy.stored_columns(esc, cfg)["preserve_until"] == datetime(2030, 3, 1, 10, 0, tzinfo=UTC)


def test_leap_day_to_leap_day_over_four_years():
    assert policy.preservation_end(
        datetime(2028, 2, 29, 10, 0, tzinfo=UTC), PolicyConfig(preservation_years=4)
    ) == datetime(2032, 2, 29, 10, 0, tzinfo=UTC)


@given(
    reported_at=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 12, 31),
        timezones=st.sampled_from([UTC, NEW_YORK, BERLIN, ZoneInfo("Pacific/Kiritimati")]),
        allow_imaginary=False,
    ),
    years=st.integers(min_value=1, max_value=5),
)
def test_preservation_never_shorter_than_365_days_a_year(reported_at, years):
    end = policy.preservation_end(reported_at, PolicyConfig(preservation_years=years))
    start = reported_at.astimezone(UTC)
    assert end - reported_at >= timedelta(days=365 * years)
    assert end - reported_at <= timedelta(days=366 * years)
    assert end.time() == start.time()  # same UTC time of day
    assert end.year == start.year + years
    if (start.month, start.day) == (2, 29):
        assert (end.month, end.day) in {(2, 29), (3, 1)}
    else:
        assert (end.month, end.day) == (start.month, start.day)


def test_preservation_ending_soon_and_overdue():
    reported_at = K + timedelta(hours=5)
    end = datetime(2027, 5, 4, 14, 0, tzinfo=UTC)
    esc = Facts(status=REPORTED, reported_at=reported_at, preservation_confirmed_at=reported_at + timedelta(hours=1))
    nxt = policy.next_deadline(esc, CFG)
    assert nxt is not None
    assert nxt.kind is DeadlineKind.PRESERVATION_END
    assert nxt.due_at == end
    assert policy.escalation_state(esc, end - timedelta(days=30) - SECOND, CFG) is DeadlineState.ON_TRACK
    assert policy.escalation_state(esc, end - timedelta(days=30), CFG) is DeadlineState.DUE_SOON
    assert policy.escalation_state(esc, end, CFG) is DeadlineState.DUE_SOON
    with time_machine.travel(end + SECOND, tick=False):
        assert policy.escalation_state(esc, timezone.now(), CFG) is DeadlineState.OVERDUE
        assert state_via_columns(esc, timezone.now()) is DeadlineState.OVERDUE


# --- Preservation confirmation: within 24 h of the report ---------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(hours=-4) - SECOND, DeadlineState.ON_TRACK),
        (timedelta(hours=-4), DeadlineState.DUE_SOON),
        (-SECOND, DeadlineState.DUE_SOON),
        (timedelta(0), DeadlineState.DUE_SOON),
        (SECOND, DeadlineState.OVERDUE),
    ],
)
def test_preservation_confirmation_window(offset, expected):
    reported_at = K + timedelta(hours=3)
    confirm_due = reported_at + timedelta(hours=24)
    esc = Facts(status=REPORTED, reported_at=reported_at)
    assert policy.preservation_confirm_due_at(reported_at, CFG) == confirm_due
    nxt = policy.next_deadline(esc, CFG)
    assert nxt is not None
    assert nxt.kind is DeadlineKind.PRESERVATION_CONFIRM
    assert nxt.due_at == confirm_due
    with time_machine.travel(confirm_due + offset, tick=False):
        now = timezone.now()
        assert policy.escalation_state(esc, now, CFG) is expected
        assert state_via_columns(esc, now) is expected


@pytest.mark.parametrize(("offset", "late"), [(-SECOND, False), (timedelta(0), False), (SECOND, True)])
def test_preservation_confirmed_late_only_after_window(offset, late):
    reported_at = K + timedelta(hours=3)
    confirmed = reported_at + timedelta(hours=24) + offset
    esc = Facts(status=REPORTED, reported_at=reported_at, preservation_confirmed_at=confirmed)
    confirm = by_kind(esc)[DeadlineKind.PRESERVATION_CONFIRM]
    assert confirm.met_at == confirmed
    assert confirm.met_late is late
    assert confirm.state(confirmed + timedelta(days=1)) is DeadlineState.MET
    # Once confirmed, the next thing to watch is the end of the preservation period.
    nxt = policy.next_deadline(esc, CFG)
    assert nxt is not None
    assert nxt.kind is DeadlineKind.PRESERVATION_END


def test_confirmation_before_the_report_counts_from_the_report():
    reported_at = K + timedelta(hours=10)
    esc = Facts(status=REPORTED, reported_at=reported_at, preservation_confirmed_at=K + timedelta(hours=1))
    confirm = by_kind(esc)[DeadlineKind.PRESERVATION_CONFIRM]
    assert confirm.met_at == reported_at
    assert confirm.met_late is False


def test_confirmation_window_follows_config():
    cfg = PolicyConfig(preservation_confirm_window=timedelta(hours=48))
    reported_at = K + timedelta(hours=3)
    esc = Facts(status=REPORTED, reported_at=reported_at)
    assert policy.stored_columns(esc, cfg)["preservation_confirm_due_at"] == reported_at + timedelta(hours=48)
    assert policy.escalation_state(esc, reported_at + timedelta(hours=25), cfg) is DeadlineState.ON_TRACK


# --- Each status: deadlines, next deadline, state, stored columns --------------------------------------


def test_open_escalation_has_only_the_report_deadline():
    esc = Facts(status=OPEN)
    ds = by_kind(esc)
    assert list(ds) == [DeadlineKind.REPORT, DeadlineKind.PRESERVATION_CONFIRM, DeadlineKind.PRESERVATION_END]
    report = ds[DeadlineKind.REPORT]
    assert report.applicable
    assert report.due_at == K + timedelta(hours=24)
    assert report.soon_at == K + timedelta(hours=20)
    assert report.met_at is None
    assert report.met_late is False
    assert report.label == "File the CyberTipline report (internal target)"
    for kind in (DeadlineKind.PRESERVATION_CONFIRM, DeadlineKind.PRESERVATION_END):
        assert not ds[kind].applicable
        assert ds[kind].due_at is None
        assert ds[kind].state(K + timedelta(days=800)) is DeadlineState.NOT_APPLICABLE
    assert policy.next_deadline(esc, CFG) == report
    assert policy.stored_columns(esc, CFG) == {
        "report_due_at": K + timedelta(hours=24),
        "preservation_confirm_due_at": None,
        "preserve_until": None,
        "next_deadline_at": K + timedelta(hours=24),
        "next_deadline_soon_at": K + timedelta(hours=20),
        # The first reminder: report due soon, 4 h before the target.
        "next_reminder_at": K + timedelta(hours=20),
        "report_seconds": None,
        "reported_on_time": None,
        # What the queues sort by: a standard report (rank 2), due at its target.
        "next_action": "file_report",
        "next_action_rank": 2,
        "next_action_due_at": K + timedelta(hours=24),
    }
    assert policy.escalation_state(esc, K, CFG) is DeadlineState.ON_TRACK


def test_urgent_open_escalation_stored_columns():
    cols = policy.stored_columns(Facts(priority=URGENT), CFG)
    assert cols["next_deadline_at"] == K + timedelta(hours=1)
    assert cols["next_deadline_soon_at"] == K + timedelta(minutes=45)


def test_reported_escalation_waits_for_preservation_confirmation():
    reported_at = K + timedelta(hours=2)
    esc = Facts(status=REPORTED, reported_at=reported_at)
    ds = policy.deadlines(esc, CFG)
    # In the order they fall due
    due = [d.due_at for d in ds]
    assert due == sorted(due)
    report, confirm, end = ds
    assert report.state(K + timedelta(days=2)) is DeadlineState.MET
    assert report.met_late is False
    assert confirm.applicable and end.applicable
    assert confirm.due_at == reported_at + timedelta(hours=24)
    assert confirm.soon_at == reported_at + timedelta(hours=20)
    assert end.due_at == datetime(2027, 5, 4, 11, 0, tzinfo=UTC)
    assert end.soon_at == datetime(2027, 4, 4, 11, 0, tzinfo=UTC)
    assert end.met_at is None
    assert policy.next_deadline(esc, CFG) == confirm
    assert policy.stored_columns(esc, CFG) == {
        "report_due_at": K + timedelta(hours=24),
        "preservation_confirm_due_at": reported_at + timedelta(hours=24),
        "preserve_until": datetime(2027, 5, 4, 11, 0, tzinfo=UTC),
        "next_deadline_at": reported_at + timedelta(hours=24),
        "next_deadline_soon_at": reported_at + timedelta(hours=20),
        # The first reminder: preservation still unconfirmed 24 h after the report.
        "next_reminder_at": reported_at + timedelta(hours=24),
        "report_seconds": 2 * 3600,
        "reported_on_time": True,
        "next_action": "confirm_preservation",
        "next_action_rank": 4,
        "next_action_due_at": reported_at + timedelta(hours=24),
    }
    # The report target passing does not make a filed escalation overdue...
    assert policy.escalation_state(esc, K + timedelta(hours=24) + SECOND, CFG) is DeadlineState.DUE_SOON
    # ...but an unconfirmed preservation does.
    assert policy.escalation_state(esc, reported_at + timedelta(hours=24) + SECOND, CFG) is DeadlineState.OVERDUE


def test_reported_and_confirmed_escalation_waits_for_preservation_end():
    reported_at = K + timedelta(hours=2)
    esc = Facts(status=REPORTED, reported_at=reported_at, preservation_confirmed_at=reported_at + timedelta(hours=1))
    nxt = policy.next_deadline(esc, CFG)
    assert nxt is not None
    assert nxt.kind is DeadlineKind.PRESERVATION_END
    cols = policy.stored_columns(esc, CFG)
    assert cols["next_deadline_at"] == datetime(2027, 5, 4, 11, 0, tzinfo=UTC)
    assert cols["next_deadline_soon_at"] == datetime(2027, 4, 4, 11, 0, tzinfo=UTC)
    assert policy.escalation_state(esc, reported_at + timedelta(days=2), CFG) is DeadlineState.ON_TRACK


def test_closed_escalation_has_nothing_pending():
    reported_at = K + timedelta(hours=30)  # filed late
    end = policy.preservation_end(reported_at, CFG)
    esc = Facts(
        status=CLOSED,
        reported_at=reported_at,
        preservation_confirmed_at=reported_at + timedelta(hours=1),
    )
    ds = by_kind(esc)
    assert all(d.met_at is not None for d in ds.values())
    assert ds[DeadlineKind.REPORT].met_late is True  # the finding stays on record after closing
    assert ds[DeadlineKind.PRESERVATION_END].met_late is False
    assert policy.next_deadline(esc, CFG) is None
    for now in (K, end, end + timedelta(days=400)):
        assert policy.escalation_state(esc, now, CFG) is DeadlineState.MET
        assert state_via_columns(esc, now) is DeadlineState.MET
    cols = policy.stored_columns(esc, CFG)
    assert cols["next_deadline_at"] is None
    assert cols["next_deadline_soon_at"] is None
    assert cols["preserve_until"] == end


def test_dismissed_escalation_is_not_applicable_even_past_target():
    esc = Facts(status=DISMISSED)
    ds = policy.deadlines(esc, CFG)
    assert not any(d.applicable for d in ds)
    far_past_target = K + timedelta(days=10)
    assert all(d.state(far_past_target) is DeadlineState.NOT_APPLICABLE for d in ds)
    assert policy.next_deadline(esc, CFG) is None
    assert policy.escalation_state(esc, far_past_target, CFG) is DeadlineState.NOT_APPLICABLE
    assert state_via_columns(esc, far_past_target) is DeadlineState.NOT_APPLICABLE
    cols = policy.stored_columns(esc, CFG)
    assert cols["next_deadline_at"] is None
    assert cols["preserve_until"] is None


# --- The stored columns tell the same story as the rules -----------------------------------------------


def _facts_strategy() -> st.SearchStrategy[Facts]:
    hours = st.integers(min_value=0, max_value=24 * 500).map(lambda h: timedelta(hours=h))

    @st.composite
    def build(draw: st.DrawFn) -> Facts:
        priority = draw(st.sampled_from([STANDARD, URGENT]))
        status = draw(st.sampled_from([OPEN, REPORTED, CLOSED, DISMISSED]))
        knowledge_at = K + timedelta(seconds=draw(st.integers(min_value=-86400, max_value=86400)))
        reported_at = None
        if status in (REPORTED, CLOSED):
            reported_at = knowledge_at + draw(hours)
        confirmed = draw(st.one_of(st.none(), hours.map(lambda d: knowledge_at + d)))
        return Facts(priority, status, knowledge_at, reported_at, confirmed)

    return build()


@given(
    esc=_facts_strategy(),
    now_offset=st.integers(min_value=-3600, max_value=86400 * 800),
    zone=st.sampled_from([UTC, NEW_YORK, BERLIN]),
)
def test_state_from_columns_agrees_with_escalation_state(esc, now_offset, zone):
    now = (K + timedelta(seconds=now_offset)).astimezone(zone)
    assert state_via_columns(esc, now) is policy.escalation_state(esc, now, CFG)


@pytest.mark.parametrize("status", [OPEN, REPORTED, CLOSED, DISMISSED])
@pytest.mark.parametrize("priority", [STANDARD, URGENT])
@pytest.mark.parametrize("confirmed", [False, True])
@pytest.mark.parametrize(
    "now_offset",
    [
        timedelta(0),
        timedelta(minutes=45) - SECOND,
        timedelta(minutes=45),
        timedelta(hours=1),
        timedelta(hours=1) + SECOND,
        timedelta(hours=20),
        timedelta(hours=24),
        timedelta(hours=24) + SECOND,
        timedelta(hours=30),
        timedelta(days=200),
        timedelta(days=366),
    ],
)
def test_state_from_columns_agrees_on_a_grid(status, priority, confirmed, now_offset):
    reported_at = K + timedelta(minutes=50) if status in (REPORTED, CLOSED) else None
    esc = Facts(
        priority=priority,
        status=status,
        reported_at=reported_at,
        preservation_confirmed_at=K + timedelta(hours=2) if confirmed else None,
    )
    now = K + now_offset
    assert state_via_columns(esc, now) is policy.escalation_state(esc, now, CFG)


# --- What people read in a table cell ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=3, minutes=12), "3 h 12 min left"),
        (timedelta(hours=3, minutes=12, seconds=59), "3 h 12 min left"),
        (-timedelta(days=2, hours=4), "2 d 4 h overdue"),
        (-timedelta(days=2, hours=4, minutes=59), "2 d 4 h overdue"),
        (timedelta(days=1), "1 d 0 h left"),
        (timedelta(hours=23, minutes=59, seconds=59), "23 h 59 min left"),
        (timedelta(hours=1), "1 h 0 min left"),
        (timedelta(minutes=15), "15 min left"),
        (timedelta(minutes=1), "1 min left"),
        (timedelta(seconds=59), "under 1 min left"),
        (timedelta(0), "under 1 min left"),
        (-timedelta(seconds=1), "under 1 min overdue"),
        (-timedelta(milliseconds=500), "under 1 min overdue"),
        (-timedelta(minutes=90), "1 h 30 min overdue"),
        (timedelta(days=365), "365 d 0 h left"),
    ],
)
def test_humanize_delta(delta, text):
    assert policy.humanize_delta(delta) == text


def test_time_left_and_its_words_match_the_state():
    due = policy.report_due_at(K, STANDARD, CFG)
    assert policy.humanize_delta(policy.time_left(due, due - timedelta(hours=3, minutes=12))) == "3 h 12 min left"
    assert policy.humanize_delta(policy.time_left(due, due.astimezone(BERLIN))) == "under 1 min left"
    assert policy.time_left(due, due + timedelta(days=2, hours=4)) == -timedelta(days=2, hours=4)
    # Half a second past the target the badge says overdue; so must the words.
    later = due + timedelta(milliseconds=500)
    assert policy.escalation_state(Facts(), later, CFG) is DeadlineState.OVERDUE
    assert policy.humanize_delta(policy.time_left(due, later)).endswith("overdue")


# --- Naive datetimes are a programming error, caught loudly --------------------------------------------

NAIVE = datetime(2026, 5, 4, 9, 0)


def test_naive_datetimes_raise_value_error():
    with pytest.raises(ValueError, match="naive"):
        policy.report_due_at(NAIVE, STANDARD, CFG)
    with pytest.raises(ValueError, match="naive"):
        policy.preservation_end(NAIVE, CFG)
    with pytest.raises(ValueError, match="naive"):
        policy.preservation_confirm_due_at(NAIVE, CFG)
    with pytest.raises(ValueError, match="naive"):
        policy.time_left(NAIVE, K)
    with pytest.raises(ValueError, match="naive"):
        policy.time_left(K, NAIVE)
    with pytest.raises(ValueError, match="naive"):
        policy.deadlines(Facts(knowledge_at=NAIVE), CFG)
    with pytest.raises(ValueError, match="naive"):
        policy.stored_columns(Facts(status=REPORTED, reported_at=NAIVE), CFG)
    with pytest.raises(ValueError, match="naive"):
        policy.deadlines(Facts(status=REPORTED, reported_at=K, preservation_confirmed_at=NAIVE), CFG)


def test_naive_now_raises_value_error():
    with pytest.raises(ValueError, match="naive"):
        policy.escalation_state(Facts(), NAIVE, CFG)
    with pytest.raises(ValueError, match="naive"):
        policy.state_from_columns(OPEN, K, K - timedelta(hours=4), NAIVE)
