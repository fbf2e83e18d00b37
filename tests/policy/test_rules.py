"""Rules as dated data, pure: which rule governs a clock by the moment it starts (one second either side
of effective_from and effective_to), each regime's moment one second before and after it, across
daylight saving in London, Toronto and Sydney."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from escalations import policy
from escalations.policy import rules as R
from escalations.policy.base import STANDARD, DeadlineState, PolicyConfig

SECOND = timedelta(seconds=1)
LONDON = ZoneInfo("Europe/London")
TORONTO = ZoneInfo("America/Toronto")
SYDNEY = ZoneInfo("Australia/Sydney")
NEW_YORK = ZoneInfo("America/New_York")
BRUSSELS = ZoneInfo("Europe/Brussels")


def rule(**fields: Any) -> R.RuleData:
    base: dict[str, Any] = dict(
        id=1,
        code="x",
        version=1,
        regime="US",
        authority="ncmec",
        obligation=R.REPORT,
        title="t",
        clock_start=R.KNOWLEDGE,
        limit=R.DEADLINE,
        citation="c",
        link_text="l",
        status=R.IN_FORCE,
        certainty="confirmed",
    )
    base.update(fields)
    return R.RuleData(**base)


# The seeded rules' numbers (escalations/migrations/0023_seed_rules.py), as the policy reads them.
PRESERVE_90_DAYS = rule(
    id=2,
    code="us-2258a-h-preserve",
    obligation=R.PRESERVE,
    clock_start=R.NCMEC_REPORT,
    limit=R.MINIMUM,
    amount=90,
    unit=R.DAYS,
    status=R.LAPSED,
    effective_to=datetime(2024, 5, 7, tzinfo=NEW_YORK),
)
PRESERVE_YEAR = rule(
    id=3,
    code="us-2258a-h-preserve-1-year",
    obligation=R.PRESERVE,
    clock_start=R.NCMEC_REPORT,
    limit=R.MINIMUM,
    amount=1,
    unit=R.CALENDAR_YEARS,
    effective_from=datetime(2024, 5, 7, tzinfo=NEW_YORK),
)
STOP_CSAM = rule(id=4, code="us-stop-csam-60-days", amount=60, unit=R.DAYS, status=R.PENDING)
NCMEC_DELETION = rule(
    id=5,
    code="ncmec-unfinished-report-deletion",
    regime="NCMEC",
    obligation=R.UNFINISHED_DELETION,
    clock_start=R.NCMEC_OPENED,
    amount=24,
    second_amount=1,
    unit=R.HOURS,
)
UK_FROM = datetime(2026, 4, 7, tzinfo=LONDON)
UK_PHONE = rule(
    id=6,
    code="uk-nca-out-of-hours-phone",
    regime="UK",
    authority="nca",
    obligation=R.PHONE_FOLLOW_UP,
    clock_start=R.AUTHORITY_REPORT,
    limit=R.WINDOW,
    window_start=time(7, 0),
    window_end=time(17, 0),
    time_zone="Europe/London",
    applies_to="P1, P2",
    effective_from=UK_FROM,
    certainty="secondary",
)
UK_CONTENT = rule(
    id=7,
    code="uk-si-2026-268-content",
    regime="UK",
    authority="nca",
    obligation=R.PRESERVE,
    clock_start=R.AUTHORITY_REPORT,
    limit=R.MINIMUM,
    amount=1,
    unit=R.CALENDAR_YEARS,
    effective_from=UK_FROM,
)
UK_REFERENCE = replace(UK_CONTENT, id=8, code="uk-si-2026-268-reference", obligation=R.RETAIN_REFERENCE, amount=5)
CA_21_DAYS = rule(
    id=9,
    code="ca-mra-s4-preserve",
    regime="CA",
    authority="ca_police",
    obligation=R.PRESERVE,
    clock_start=R.AUTHORITY_REPORT,
    limit=R.MINIMUM,
    amount=21,
    unit=R.DAYS,
)
CA_C16 = replace(CA_21_DAYS, id=10, code="ca-c16-preserve-1-year", amount=1, unit=R.CALENDAR_YEARS, status=R.PENDING)
AU_REFER = rule(id=11, code="au-474-25-refer", regime="AU", authority="afp", limit=R.TARGET, unit=R.HOURS)
EU_LAPSE = datetime(2026, 4, 3, tzinfo=BRUSSELS)
EU_CAP = rule(
    id=12,
    code="eu-2021-1232-retention-cap",
    regime="EU",
    authority="eu",
    obligation=R.RETENTION_CAP,
    limit=R.CAP,
    amount=12,
    unit=R.CALENDAR_MONTHS,
    status=R.LAPSED,
    effective_to=EU_LAPSE,
)
US_TARGET = rule(id=13, code="us-2258a-report", limit=R.TARGET, unit=R.HOURS)

SEEDED = (
    US_TARGET,
    STOP_CSAM,
    PRESERVE_90_DAYS,
    PRESERVE_YEAR,
    NCMEC_DELETION,
    UK_PHONE,
    UK_CONTENT,
    UK_REFERENCE,
    CA_21_DAYS,
    CA_C16,
    AU_REFER,
    EU_CAP,
)


class Facts:
    priority = STANDARD
    status = "open"
    reported_at = None
    preservation_confirmed_at = None

    def __init__(self, knowledge_at: datetime):
        self.knowledge_at = knowledge_at


# --- when a rule applies ----------------------------------------------------------------------------


def test_a_rule_governs_clocks_from_its_effective_from_and_before_its_effective_to() -> None:
    assert not PRESERVE_YEAR.in_force_at(datetime(2024, 5, 7, 4, 0, tzinfo=UTC) - SECOND)
    assert PRESERVE_YEAR.in_force_at(datetime(2024, 5, 7, 4, 0, tzinfo=UTC))  # midnight in New York (EDT)
    assert PRESERVE_90_DAYS.in_force_at(datetime(2024, 5, 7, 4, 0, tzinfo=UTC) - SECOND)
    assert not PRESERVE_90_DAYS.in_force_at(datetime(2024, 5, 7, 4, 0, tzinfo=UTC))


def test_a_pending_rule_governs_nothing_until_it_is_law() -> None:
    assert not STOP_CSAM.in_force_at(datetime(2030, 1, 1, tzinfo=UTC))
    assert R.statutory_report_limit(SEEDED, datetime(2030, 1, 1, tzinfo=UTC)) is None
    assert R.as_if_in_force(STOP_CSAM, None).in_force_at(datetime(2030, 1, 1, tzinfo=UTC))


def test_the_latest_version_of_each_rule_unless_an_escalation_was_judged_by_an_older_one() -> None:
    v2 = replace(PRESERVE_YEAR, id=99, version=2, amount=2)
    assert R.latest_versions([PRESERVE_YEAR, v2]) == (v2,)
    assert R.latest_versions([v2, PRESERVE_YEAR], pinned=[PRESERVE_YEAR.id]) == (PRESERVE_YEAR,)
    assert R.latest_versions([PRESERVE_YEAR, v2], pinned=[PRESERVE_YEAR.id]) == (PRESERVE_YEAR,)


# --- United States ----------------------------------------------------------------------------------


def test_2258a_h_across_the_report_act_one_second_either_side() -> None:
    """Reported one second before 7 May 2024 (New York): the 90 days of the old law; at midnight: one
    year. With the platform's setting at 0 years so that the law alone decides."""
    cfg = PolicyConfig(preservation_years=0, rules=SEEDED)
    start = datetime(2024, 5, 7, 4, 0, tzinfo=UTC)
    before = start - SECOND
    assert policy.preservation_end(before, cfg) == before + timedelta(days=90)
    assert policy.preservation_end(start, cfg) == datetime(2025, 5, 7, 4, 0, tzinfo=UTC)


def test_the_platform_setting_keeps_evidence_longer_than_the_law_never_shorter() -> None:
    reported = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)  # under the old 90 days
    assert policy.preservation_end(reported, PolicyConfig(rules=SEEDED)) == datetime(2025, 5, 6, 12, 0, tzinfo=UTC)
    assert policy.preservation_end(reported, PolicyConfig(preservation_years=2, rules=SEEDED)) == datetime(
        2026, 5, 6, 12, 0, tzinfo=UTC
    )


def test_the_stop_csam_limit_once_in_force_decides_where_the_platform_target_is_longer() -> None:
    """A platform target of 90 days; the 60-day limit in force from 1 July 2027 (New York): knowledge
    one second before keeps the target, knowledge at the moment gets the limit; the report is due at
    60 days, overdue one second after."""
    in_force = R.as_if_in_force(STOP_CSAM, datetime(2027, 7, 1, tzinfo=NEW_YORK))
    cfg = PolicyConfig(report_target=timedelta(days=90), rules=(US_TARGET, in_force))
    start = datetime(2027, 7, 1, 4, 0, tzinfo=UTC)
    assert policy.escalation_report_due_at(Facts(start - SECOND), cfg) == start - SECOND + timedelta(days=90)
    due = policy.escalation_report_due_at(Facts(start), cfg)
    assert due == start + timedelta(days=60)
    (report,) = [d for d in policy.deadlines(Facts(start), cfg) if d.kind == policy.DeadlineKind.REPORT]
    assert report.state(due) is DeadlineState.DUE_SOON
    assert report.state(due + SECOND) is DeadlineState.OVERDUE
    assert R.judged_by(cfg.rules, start, None, None) == {
        US_TARGET.id: R.JUDGED_REPORT,
        in_force.id: R.JUDGED_REPORT_LIMIT,
    }


def test_the_platform_target_still_decides_when_shorter_than_the_legal_limit() -> None:
    cfg = PolicyConfig(rules=(US_TARGET, R.as_if_in_force(STOP_CSAM, None)))
    knowledge = datetime(2027, 8, 1, 9, 0, tzinfo=UTC)
    assert policy.escalation_report_due_at(Facts(knowledge), cfg) == knowledge + timedelta(hours=24)


# --- NCMEC --------------------------------------------------------------------------------------------


def test_ncmec_deletion_by_its_rule_is_the_later_of_24_h_after_opening_and_1_h_after_the_last_change() -> None:
    opened = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # New York springs forward at 07:00 UTC that day
    assert R.ncmec_deletion_by_rule(NCMEC_DELETION, opened, None) == opened + timedelta(hours=24)
    assert R.ncmec_deletion_by_rule(NCMEC_DELETION, opened, opened + timedelta(hours=23)) == opened + timedelta(
        hours=24
    )
    late = opened + timedelta(hours=23, seconds=1)
    assert R.ncmec_deletion_by_rule(NCMEC_DELETION, opened, late) == late + timedelta(hours=1)
    # The same as the tracker's own timer.
    for change in (None, opened + timedelta(hours=23), late):
        assert R.ncmec_deletion_by_rule(NCMEC_DELETION, opened, change) == policy.ncmec_deletion_at(opened, change)


# --- United Kingdom -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "owed"),
    [
        # Summer (BST, UTC+1), the duty's first days.
        (datetime(2026, 4, 8, 6, 59, 59, tzinfo=LONDON), True),
        (datetime(2026, 4, 8, 7, 0, 0, tzinfo=LONDON), False),
        (datetime(2026, 4, 8, 16, 59, 59, tzinfo=LONDON), False),
        (datetime(2026, 4, 8, 17, 0, 0, tzinfo=LONDON), True),
        # Winter (GMT), after the clocks went back on 25 October 2026.
        (datetime(2026, 10, 26, 6, 59, 59, tzinfo=LONDON), True),
        (datetime(2026, 10, 26, 7, 0, 0, tzinfo=LONDON), False),
        (datetime(2026, 10, 26, 16, 59, 59, tzinfo=LONDON), False),
        (datetime(2026, 10, 26, 17, 0, 0, tzinfo=LONDON), True),
        # The day the clocks go forward (28 March 2027, 01:00 GMT -> 02:00 BST): 07:00 BST is 06:00 UTC.
        (datetime(2027, 3, 28, 6, 59, 59, tzinfo=LONDON), True),
        (datetime(2027, 3, 28, 7, 0, 0, tzinfo=LONDON), False),
    ],
)
def test_a_p1_or_p2_report_outside_07_17_uk_time_needs_a_phone_call(local: datetime, owed: bool) -> None:
    at = local.astimezone(UTC)
    for priority in ("P1", "P2"):
        assert (R.phone_follow_up_owed(SEEDED, "nca", priority, at) is not None) is owed
    assert R.phone_follow_up_owed(SEEDED, "nca", "P3", at) is None


def test_the_same_utc_moment_is_in_hours_in_winter_and_out_of_hours_in_summer() -> None:
    # 06:30 UTC: 06:30 GMT in winter (out of hours), 07:30 BST in summer (in hours).
    assert R.phone_follow_up_owed(SEEDED, "nca", "P1", datetime(2026, 12, 1, 6, 30, tzinfo=UTC)) is not None
    assert R.phone_follow_up_owed(SEEDED, "nca", "P1", datetime(2026, 6, 1, 6, 30, tzinfo=UTC)) is None


def test_uk_rules_apply_from_7_april_2026_uk_time() -> None:
    start = UK_FROM.astimezone(UTC)
    assert start == datetime(2026, 4, 6, 23, 0, tzinfo=UTC)  # midnight BST
    # 23:59:59 BST on 6 April: before the duty (and out of hours), so no rule asks for a call.
    assert R.phone_follow_up_owed(SEEDED, "nca", "P1", start - SECOND) is None
    assert R.phone_follow_up_owed(SEEDED, "nca", "P1", start) == UK_PHONE
    assert R.authority_preservation(SEEDED, "nca", start - SECOND) is None
    until, decided = R.authority_preservation(SEEDED, "nca", start)  # type: ignore[misc]
    assert (until, decided) == (datetime(2027, 4, 6, 23, 0, tzinfo=UTC), UK_CONTENT)


def test_uk_report_reference_five_years_and_content_one_year_one_second_either_side() -> None:
    reported = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert UK_REFERENCE.until(reported) == datetime(2031, 7, 1, 12, 0, tzinfo=UTC)
    until = UK_CONTENT.until(reported)
    assert until == datetime(2027, 7, 1, 12, 0, tzinfo=UTC)
    assert policy.state_at(until, None, until - SECOND) is DeadlineState.ON_TRACK
    assert policy.state_at(until, None, until + SECOND) is DeadlineState.OVERDUE


# --- Canada -------------------------------------------------------------------------------------------


def test_canada_21_days_after_notifying_police_is_elapsed_time_across_toronto_dst() -> None:
    """Notified at 10:00 EST on 1 March 2026; Toronto springs forward on 8 March: 21 days of 24 hours
    end at 11:00 EDT on 22 March (the wall clock moved, the hours did not)."""
    notified = datetime(2026, 3, 1, 10, 0, tzinfo=TORONTO)
    until, decided = R.authority_preservation(SEEDED, "ca_police", notified)  # type: ignore[misc]
    assert decided == CA_21_DAYS
    assert until == notified.astimezone(UTC) + timedelta(days=21)
    assert until.astimezone(TORONTO).replace(tzinfo=None) == datetime(2026, 3, 22, 11, 0)
    assert policy.state_at(until, None, until - SECOND) is DeadlineState.ON_TRACK
    assert policy.state_at(until, None, until + SECOND) is DeadlineState.OVERDUE
    # The same as the destination's own setting (21 days after the report).
    assert until == policy.destination_preservation_until(policy.DAYS_AFTER_REPORT, 21, notified)


def test_canada_autumn_change_21_days_end_an_hour_earlier_on_the_wall() -> None:
    notified = datetime(2026, 10, 25, 10, 0, tzinfo=TORONTO)  # EDT; back to EST on 1 November
    until = CA_21_DAYS.until(notified)
    assert until is not None
    assert until.astimezone(TORONTO).replace(tzinfo=None) == datetime(2026, 11, 15, 9, 0)


def test_bill_c16_once_in_force_keeps_a_year_and_decides_over_21_days() -> None:
    passed = R.as_if_in_force(CA_C16, datetime(2027, 1, 1, tzinfo=TORONTO))
    rules = (CA_21_DAYS, passed)
    start = datetime(2027, 1, 1, 5, 0, tzinfo=UTC)  # midnight EST
    assert R.authority_preservation(rules, "ca_police", start - SECOND) == (
        start - SECOND + timedelta(days=21),
        CA_21_DAYS,
    )
    assert R.authority_preservation(rules, "ca_police", start) == (datetime(2028, 1, 1, 5, 0, tzinfo=UTC), passed)


# --- Australia ----------------------------------------------------------------------------------------


def test_australia_a_platform_set_target_is_elapsed_hours_across_sydney_dst() -> None:
    """'Within a reasonable time': once a platform sets 48 hours (a new version of the rule), knowledge
    at 12:00 AEDT on 4 April 2026 is due 48 elapsed hours later, 11:00 AEST on 6 April (Sydney's clocks
    went back at 03:00 on 5 April)."""
    assert AU_REFER.until(datetime(2026, 4, 4, tzinfo=UTC)) is None
    assert AU_REFER.duration_words == "a target the platform sets"
    set_target = replace(AU_REFER, version=2, amount=48)
    knowledge = datetime(2026, 4, 4, 12, 0, tzinfo=SYDNEY)
    due = set_target.until(knowledge)
    assert due is not None
    assert due.astimezone(SYDNEY).replace(tzinfo=None) == datetime(2026, 4, 6, 11, 0)
    assert policy.state_at(due, None, due - SECOND) is DeadlineState.ON_TRACK
    assert policy.state_at(due, None, due + SECOND) is DeadlineState.OVERDUE
    # Spring forward (4 October 2026, 02:00 AEST -> 03:00 AEDT): 48 hours show as 13:00 two days on.
    spring = set_target.until(datetime(2026, 10, 3, 12, 0, tzinfo=SYDNEY))
    assert spring is not None and spring.astimezone(SYDNEY).replace(tzinfo=None) == datetime(2026, 10, 5, 13, 0)


# --- European Union -----------------------------------------------------------------------------------


def test_the_eu_cap_applies_to_detection_before_its_lapse_and_not_after() -> None:
    lapse = EU_LAPSE.astimezone(UTC)
    assert lapse == datetime(2026, 4, 2, 22, 0, tzinfo=UTC)  # midnight CEST
    until, decided = R.retention_cap(SEEDED, "eu", lapse - SECOND)  # type: ignore[misc]
    assert decided == EU_CAP
    assert until == datetime(2027, 4, 2, 21, 59, 59, tzinfo=UTC)
    assert R.retention_cap(SEEDED, "eu", lapse) is None


def test_a_cap_is_the_shorter_reading_from_the_31st() -> None:
    assert EU_CAP.until(datetime(2025, 1, 31, 10, 0, tzinfo=UTC)) == datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    assert replace(EU_CAP, amount=1).until(datetime(2025, 1, 31, 10, 0, tzinfo=UTC)) == datetime(
        2025, 2, 28, 10, 0, tzinfo=UTC
    )


def test_without_rules_the_policy_is_what_it_was() -> None:
    knowledge = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    cfg = PolicyConfig()
    assert cfg.rules == ()
    assert policy.escalation_report_due_at(Facts(knowledge), cfg) == knowledge + timedelta(hours=24)
    assert policy.preservation_end(knowledge, cfg) == datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
