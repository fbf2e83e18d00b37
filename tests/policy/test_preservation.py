"""After the report, the pure rules (escalations/policy.py): 2703(f) holds and renewals, destinations'
preservation minimums, retention caps and their conflicts, NCMEC's unfinished-report timer, and the
reminders that go with them. No database, no clock: every boundary is checked one second either side.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalations import policy
from escalations.policy import (
    REPORTED,
    URGENT,
    DeadlineState,
    LegalReminderFacts,
    PolicyConfig,
    ReminderKind,
    RetentionConflict,
)
from tests.support import Facts

CFG = PolicyConfig()
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
K = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # knowledge obtained
R = datetime(2026, 5, 4, 20, 30, tzinfo=UTC)  # report completed at NCMEC
YEAR_AFTER_R = datetime(2027, 5, 4, 20, 30, tzinfo=UTC)


@dataclass(frozen=True)
class After(Facts):
    """The escalation double, with what the services store after the report."""

    ncmec_opened_at: datetime | None = None
    ncmec_last_change_at: datetime | None = None
    preservation_hold_until: datetime | None = None
    destination_target_hours: float | None = None
    destination_urgent_target_hours: float | None = None


def plan_of(esc: After, kind: ReminderKind) -> list[policy.ReminderSpec]:
    return [spec for spec in policy.reminder_plan(esc, CFG) if spec.kind == kind]


def due_of(esc: After, kind: ReminderKind, now: datetime) -> list[datetime]:
    return [at for k, at in policy.due_reminders(esc, CFG, now) if k == kind]


# --- 2703(f): 90 days from receipt; a renewal, 90 more from the end of the first period --------------


def test_a_2703f_request_holds_preservation_90_days_from_its_receipt():
    received = datetime(2026, 6, 1, 14, 15, 16, tzinfo=UTC)
    assert policy.legal_hold_until("2703f_preservation", received, None) == received + 90 * DAY
    assert policy.legal_hold_until("2703f_preservation", received, None) == datetime(
        2026, 8, 30, 14, 15, 16, tzinfo=UTC
    )


def test_a_renewal_holds_90_days_from_the_end_of_the_period_it_renews_not_from_its_own_receipt():
    received = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    first_end = policy.legal_hold_until("2703f_preservation", received, None)
    assert first_end is not None
    # Received early (day 60) or late (day 89): the renewed period starts where the first one ends.
    for renewal_received in (received + 60 * DAY, received + 90 * DAY - SECOND):
        assert policy.legal_hold_until("2703f_renewal", renewal_received, first_end) == first_end + 90 * DAY
    # A renewal of a renewal: 90 more days again.
    second_end = first_end + 90 * DAY
    assert policy.legal_hold_until("2703f_renewal", received + 170 * DAY, second_end) == second_end + 90 * DAY


def test_a_renewal_without_the_renewed_period_counts_from_its_own_receipt():
    received = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert policy.legal_hold_until("2703f_renewal", received, None) == received + 90 * DAY


@pytest.mark.parametrize("kind", ["subpoena", "court_order", "search_warrant", "emergency_disclosure", "other"])
def test_other_legal_process_holds_nothing_of_its_own(kind):
    assert policy.legal_hold_until(kind, R, None) is None


# --- preserve_until: the latest of every rule ------------------------------------------------------


def test_preserve_until_is_the_year_after_the_report_until_a_later_hold_wins():
    reported = After(status=REPORTED, reported_at=R)
    assert policy.escalation_preserve_until(reported, CFG) == YEAR_AFTER_R
    # A hold ending before the year changes nothing; one ending a second after it decides.
    assert policy.escalation_preserve_until(replace(reported, preservation_hold_until=YEAR_AFTER_R - SECOND), CFG) == (
        YEAR_AFTER_R
    )
    assert policy.escalation_preserve_until(replace(reported, preservation_hold_until=YEAR_AFTER_R), CFG) == (
        YEAR_AFTER_R
    )
    assert policy.escalation_preserve_until(replace(reported, preservation_hold_until=YEAR_AFTER_R + SECOND), CFG) == (
        YEAR_AFTER_R + SECOND
    )


def test_explain_preservation_lists_every_rule_latest_first_and_marks_the_deciding_one():
    holds = [
        ("2703(f) preservation request LR-00001", YEAR_AFTER_R + 10 * DAY),
        ("Police (Canada): 21 days after the report", R + 21 * DAY),
        ("Voluntary extension by leader: counsel asked", YEAR_AFTER_R + 30 * DAY),
    ]
    rules = policy.explain_preservation(R, holds, CFG)
    assert [(r.label, r.until, r.deciding) for r in rules] == [
        ("Voluntary extension by leader: counsel asked", YEAR_AFTER_R + 30 * DAY, True),
        ("2703(f) preservation request LR-00001", YEAR_AFTER_R + 10 * DAY, False),
        ("18 U.S.C. 2258A(h): one calendar year after the report", YEAR_AFTER_R, False),
        ("Police (Canada): 21 days after the report", R + 21 * DAY, False),
    ]
    # Before the report: only the holds, and none at all without them.
    assert [r.label for r in policy.explain_preservation(None, holds[1:2], CFG)] == [holds[1][0]]
    assert policy.explain_preservation(None, [], CFG) == []


# --- destinations: their own preservation minimum ----------------------------------------------------


def test_canada_police_keep_21_days_after_the_report_to_them():
    notified = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    until = policy.destination_preservation_until("days_after_report", 21, notified)
    assert until == datetime(2026, 7, 22, 10, 0, tzinfo=UTC)
    assert policy.destination_preservation_label("Police (Canada)", "days_after_report", 21) == (
        "Police (Canada): 21 days after the report"
    )


def test_a_destination_years_rule_counts_calendar_years_like_2258a_h():
    assert policy.destination_preservation_until("years_after_report", 1, R) == YEAR_AFTER_R
    leap = datetime(2028, 2, 29, 8, 0, tzinfo=UTC)
    # From 29 February: 1 March, never fewer than 365 days.
    assert policy.destination_preservation_until("years_after_report", 1, leap) == datetime(
        2029, 3, 1, 8, 0, tzinfo=UTC
    )
    assert policy.destination_preservation_label("National Crime Agency (United Kingdom)", "years_after_report", 1) == (
        "National Crime Agency (United Kingdom): 1 calendar year after the report"
    )


def test_a_destination_without_a_rule_or_not_yet_reported_to_holds_nothing():
    assert policy.destination_preservation_until("none", 0, R) is None
    assert policy.destination_preservation_until("days_after_report", 21, None) is None


def test_the_report_target_is_the_strictest_of_the_platform_and_its_destinations():
    platform = After(knowledge_at=K)
    assert policy.escalation_report_due_at(platform, CFG) == K + 24 * HOUR
    # A destination asking for 6 hours wins; one asking for more than the platform's 24 does not.
    assert policy.escalation_report_due_at(replace(platform, destination_target_hours=6), CFG) == K + 6 * HOUR
    assert policy.escalation_report_due_at(replace(platform, destination_target_hours=48), CFG) == K + 24 * HOUR
    urgent = After(knowledge_at=K, priority=URGENT, destination_target_hours=6)
    # An urgent escalation uses the urgent target: the standard one of a destination does not apply.
    assert policy.escalation_report_due_at(urgent, CFG) == K + HOUR
    assert policy.escalation_report_due_at(replace(urgent, destination_urgent_target_hours=0.5), CFG) == (
        K + 30 * timedelta(minutes=1)
    )


# --- retention caps (EU: 12 months from detection) and conflicts --------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 5, 4, 9, 0, tzinfo=UTC), 12, datetime(2027, 5, 4, 9, 0, tzinfo=UTC)),
        (datetime(2026, 1, 31, 9, 0, tzinfo=UTC), 1, datetime(2026, 2, 28, 9, 0, tzinfo=UTC)),
        (datetime(2028, 1, 31, 9, 0, tzinfo=UTC), 1, datetime(2028, 2, 29, 9, 0, tzinfo=UTC)),
        (datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC), 1, datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC)),
        (datetime(2026, 12, 31, 9, 0, tzinfo=UTC), 2, datetime(2027, 2, 28, 9, 0, tzinfo=UTC)),
        (datetime(2026, 11, 15, 9, 0, tzinfo=UTC), 3, datetime(2027, 2, 15, 9, 0, tzinfo=UTC)),
        # From 29 February, 12 months: the last day of February, never 1 March (never longer than the cap).
        (datetime(2028, 2, 29, 9, 0, tzinfo=UTC), 12, datetime(2029, 2, 28, 9, 0, tzinfo=UTC)),
        (datetime(2026, 8, 31, 9, 0, tzinfo=UTC), 0, datetime(2026, 8, 31, 9, 0, tzinfo=UTC)),
    ],
)
def test_retention_cap_counts_calendar_months_from_detection_from_the_31st_to_the_last_day(start, months, expected):
    assert policy.retention_cap_until(start, months) == expected


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)),
    st.integers(min_value=0, max_value=120),
)
def test_a_cap_of_months_is_never_longer_than_that_many_months(start, months):
    cap = policy.retention_cap_until(start, months)
    # Never past the same day `months` later: not past the first of the month after the target month.
    index = start.month - 1 + months
    month_after = datetime(start.year + (index + 1) // 12, (index + 1) % 12 + 1, 1, tzinfo=UTC)
    assert start <= cap < month_after
    assert cap.time() == start.time()
    if months % 12 == 0:
        assert cap <= policy.add_calendar_years(start, months // 12)


def test_a_cap_ending_before_the_us_year_is_a_conflict_with_both_dates():
    cap = policy.retention_cap_until(K, 12)  # 2027-05-04 09:00
    us_year = ("18 U.S.C. 2258A(h): one calendar year after the report", YEAR_AFTER_R)  # 2027-05-04 20:30
    conflicts = policy.retention_conflicts([us_year], [("EU authority: at most 12 months from detection", cap)])
    assert conflicts == [
        RetentionConflict(
            "EU authority: at most 12 months from detection",
            datetime(2027, 5, 4, 9, 0, tzinfo=UTC),
            "18 U.S.C. 2258A(h): one calendar year after the report",
            YEAR_AFTER_R,
        )
    ]
    # A tuple too: (cap_label, cap_until, minimum_label, minimum_until).
    assert conflicts[0][1] == cap and conflicts[0][3] == YEAR_AFTER_R


def test_a_cap_ending_with_or_after_the_minimum_is_no_conflict():
    minimum = ("the year", YEAR_AFTER_R)
    assert policy.retention_conflicts([minimum], [("cap", YEAR_AFTER_R - SECOND)]) != []
    assert policy.retention_conflicts([minimum], [("cap", YEAR_AFTER_R)]) == []
    assert policy.retention_conflicts([minimum], [("cap", YEAR_AFTER_R + SECOND)]) == []
    assert policy.retention_conflicts([], [("cap", R)]) == []
    assert policy.retention_conflicts([minimum], []) == []


def test_each_cap_is_set_against_each_minimum_it_falls_before():
    conflicts = policy.retention_conflicts(
        [("year", YEAR_AFTER_R), ("hold", YEAR_AFTER_R + 30 * DAY), ("police", R + 21 * DAY)],
        [("EU", YEAR_AFTER_R - DAY), ("short", R + 10 * DAY)],
    )
    assert [(c.cap_label, c.minimum_label) for c in conflicts] == [
        ("short", "hold"),
        ("short", "year"),
        ("short", "police"),
        ("EU", "hold"),
        ("EU", "year"),
    ]


# --- NCMEC's unfinished report: deleted 24 h after opening or 1 h after the last change ---------------

OPENED = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_ncmec_deletion_time_is_24_hours_after_opening_without_changes():
    assert policy.ncmec_deletion_at(None, None) is None
    assert policy.ncmec_deletion_at(OPENED, None) == OPENED + 24 * HOUR
    assert policy.ncmec_deletion_at(OPENED, OPENED) == OPENED + 24 * HOUR


@pytest.mark.parametrize(
    ("change_after_opening", "deleted_after_opening"),
    [
        (22 * HOUR, 24 * HOUR),
        (23 * HOUR - SECOND, 24 * HOUR),
        (23 * HOUR, 24 * HOUR),  # both rules give the same moment
        (23 * HOUR + SECOND, 24 * HOUR + SECOND),  # now the last change decides
        (30 * HOUR, 31 * HOUR),
    ],
)
def test_ncmec_deletion_time_is_whichever_is_later_opening_plus_24h_or_last_change_plus_1h(
    change_after_opening, deleted_after_opening
):
    assert policy.ncmec_deletion_at(OPENED, OPENED + change_after_opening) == OPENED + deleted_after_opening


def test_ncmec_state_turns_due_soon_2h_before_and_overdue_at_the_deletion_time():
    deletion = OPENED + 24 * HOUR

    def state(now: datetime, reported_at: datetime | None = None) -> DeadlineState:
        return policy.ncmec_unfinished_state(OPENED, None, reported_at, now, CFG)

    assert state(deletion - 2 * HOUR - SECOND) == DeadlineState.ON_TRACK
    assert state(deletion - 2 * HOUR) == DeadlineState.DUE_SOON
    assert state(deletion - SECOND) == DeadlineState.DUE_SOON
    assert state(deletion) == DeadlineState.OVERDUE
    assert state(deletion, reported_at=deletion - HOUR) == DeadlineState.MET
    assert policy.ncmec_unfinished_state(None, None, None, deletion, CFG) == DeadlineState.NOT_APPLICABLE


def test_the_ncmec_reminder_is_due_2_hours_before_the_deletion_once():
    esc = After(knowledge_at=K, ncmec_opened_at=OPENED)
    at = OPENED + 22 * HOUR
    assert due_of(esc, ReminderKind.NCMEC_UNFINISHED, at - SECOND) == []
    assert due_of(esc, ReminderKind.NCMEC_UNFINISHED, at) == [at]
    assert due_of(esc, ReminderKind.NCMEC_UNFINISHED, at + 5 * DAY) == [at]  # once, no repeat
    assert policy.reminder_deadline_at(ReminderKind.NCMEC_UNFINISHED, esc, CFG) == OPENED + 24 * HOUR
    assert ReminderKind.NCMEC_UNFINISHED in policy.REMINDER_KINDS_FOR_LEADS
    # A later change moves the deletion, and the reminder with it.
    changed = replace(esc, ncmec_last_change_at=OPENED + 30 * HOUR)
    assert [s.first_at for s in plan_of(changed, ReminderKind.NCMEC_UNFINISHED)] == [OPENED + 29 * HOUR]


def test_no_ncmec_reminder_without_an_opened_report_or_once_the_report_is_recorded():
    assert plan_of(After(knowledge_at=K), ReminderKind.NCMEC_UNFINISHED) == []
    reported = After(knowledge_at=K, ncmec_opened_at=OPENED, status=REPORTED, reported_at=OPENED + HOUR)
    assert plan_of(reported, ReminderKind.NCMEC_UNFINISHED) == []


def test_an_ncmec_reminder_is_overtaken_by_the_report_a_later_change_or_the_deletion_itself():
    esc = After(knowledge_at=K, ncmec_opened_at=OPENED)
    at = OPENED + 22 * HOUR
    assert policy.why_overtaken(ReminderKind.NCMEC_UNFINISHED, at, esc, CFG, at) is None
    assert policy.why_overtaken(ReminderKind.NCMEC_UNFINISHED, at, esc, CFG, at + 2 * HOUR - SECOND) is None
    assert "deleted" in (policy.why_overtaken(ReminderKind.NCMEC_UNFINISHED, at, esc, CFG, at + 2 * HOUR) or "")
    reported = replace(esc, status=REPORTED, reported_at=at)
    assert policy.why_overtaken(ReminderKind.NCMEC_UNFINISHED, at, reported, CFG, at) == (
        "The report was recorded, so it was finished at NCMEC."
    )
    changed = replace(esc, ncmec_last_change_at=OPENED + 23 * HOUR + 30 * 60 * SECOND)
    assert "new deletion time" in (policy.why_overtaken(ReminderKind.NCMEC_UNFINISHED, at, changed, CFG, at) or "")
    cleared = replace(esc, ncmec_opened_at=None)
    assert policy.why_overtaken(ReminderKind.NCMEC_UNFINISHED, at, cleared, CFG, at) == (
        "No unfinished NCMEC report is recorded any more."
    )


# --- legal requests' response dates ------------------------------------------------------------------

DUE = datetime(2026, 6, 10, 17, 0, tzinfo=UTC)


def legal_due(now: datetime, status: str = "open") -> list[tuple[ReminderKind, datetime]]:
    return policy.legal_due_reminders(status, DUE, CFG, now)


def test_legal_response_due_soon_24_hours_before_the_response_date():
    assert legal_due(DUE - 24 * HOUR - SECOND) == []
    assert legal_due(DUE - 24 * HOUR) == [(ReminderKind.LEGAL_RESPONSE_DUE_SOON, DUE - 24 * HOUR)]
    assert legal_due(DUE - SECOND) == [(ReminderKind.LEGAL_RESPONSE_DUE_SOON, DUE - 24 * HOUR)]


def test_legal_response_overdue_at_the_response_date_then_daily():
    assert legal_due(DUE) == [
        (ReminderKind.LEGAL_RESPONSE_DUE_SOON, DUE - 24 * HOUR),
        (ReminderKind.LEGAL_RESPONSE_OVERDUE, DUE),
    ]
    # Past the response date the due-soon one is no longer due: the overdue one says more.
    assert legal_due(DUE + SECOND) == [(ReminderKind.LEGAL_RESPONSE_OVERDUE, DUE)]
    assert legal_due(DUE + DAY - SECOND) == [(ReminderKind.LEGAL_RESPONSE_OVERDUE, DUE)]
    assert legal_due(DUE + DAY) == [(ReminderKind.LEGAL_RESPONSE_OVERDUE, DUE + DAY)]
    assert legal_due(DUE + 10 * DAY + HOUR) == [(ReminderKind.LEGAL_RESPONSE_OVERDUE, DUE + 10 * DAY)]


@pytest.mark.parametrize("status", ["responded", "closed"])
def test_no_legal_reminder_once_the_request_is_answered_or_closed_or_without_a_response_date(status):
    assert legal_due(DUE + DAY, status=status) == []
    assert policy.legal_due_reminders("open", None, CFG, DUE) == []


def test_a_legal_reminder_is_matched_to_its_request_by_the_response_date():
    soon, overdue = ReminderKind.LEGAL_RESPONSE_DUE_SOON, ReminderKind.LEGAL_RESPONSE_OVERDUE
    assert policy.legal_reminder_matches(soon, DUE - 24 * HOUR, DUE, CFG)
    assert not policy.legal_reminder_matches(soon, DUE - 24 * HOUR + SECOND, DUE, CFG)
    assert policy.legal_reminder_matches(overdue, DUE, DUE, CFG)
    assert policy.legal_reminder_matches(overdue, DUE + 3 * DAY, DUE, CFG)
    assert not policy.legal_reminder_matches(overdue, DUE + 3 * DAY + SECOND, DUE, CFG)
    assert not policy.legal_reminder_matches(overdue, DUE - DAY, DUE, CFG)
    assert not policy.legal_reminder_matches(overdue, DUE, None, CFG)
    assert not policy.legal_reminder_matches(ReminderKind.REPORT_OVERDUE, DUE, DUE, CFG)


def test_a_legal_reminder_is_overtaken_once_its_request_is_no_longer_open():
    overdue = ReminderKind.LEGAL_RESPONSE_OVERDUE
    open_ = LegalReminderFacts("LR-00001", "open", DUE)
    assert policy.why_legal_overtaken(overdue, DUE, [open_], CFG, DUE) is None
    answered = replace(open_, status="responded")
    assert policy.why_legal_overtaken(overdue, DUE, [answered], CFG, DUE) == "LR-00001 was answered."
    closed = replace(open_, status="closed")
    assert policy.why_legal_overtaken(overdue, DUE, [closed], CFG, DUE) == "LR-00001 was closed."
    # Two requests due at once share the reminder: it stands while either is open.
    other = LegalReminderFacts("LR-00002", "open", DUE)
    assert policy.why_legal_overtaken(overdue, DUE, [answered, other], CFG, DUE) is None
    assert policy.why_legal_overtaken(overdue, DUE, [answered, replace(other, status="closed")], CFG, DUE) == (
        "LR-00001 was answered. LR-00002 was closed."
    )
    # A request due at another time is not what this reminder is about.
    later = LegalReminderFacts("LR-00003", "open", DUE + HOUR)
    assert "response date changed" in (policy.why_legal_overtaken(overdue, DUE, [later], CFG, DUE) or "")


def test_a_legal_due_soon_reminder_not_sent_by_the_response_date_gives_way_to_the_overdue_one():
    soon = ReminderKind.LEGAL_RESPONSE_DUE_SOON
    open_ = LegalReminderFacts("LR-00001", "open", DUE)
    assert policy.why_legal_overtaken(soon, DUE - 24 * HOUR, [open_], CFG, DUE) is None
    assert "overdue reminder replaces it" in (
        policy.why_legal_overtaken(soon, DUE - 24 * HOUR, [open_], CFG, DUE + SECOND) or ""
    )


def test_legal_reminders_are_not_about_the_escalation_they_are_recorded_on():
    """A closed first escalation does not cancel a request's reminder (why_legal_overtaken decides)."""
    closed = After(status="closed", reported_at=R)
    assert policy.why_overtaken(ReminderKind.LEGAL_RESPONSE_OVERDUE, DUE, closed, CFG, DUE) is None
    assert policy.reminder_deadline_at(ReminderKind.LEGAL_RESPONSE_OVERDUE, closed, CFG) is None
    assert policy.LEGAL_REMINDER_KINDS <= policy.REMINDER_KINDS_LEADS_ONLY
