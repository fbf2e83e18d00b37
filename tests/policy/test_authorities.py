"""The authority register's deadlines, pure: for each regime, the filing's deadline one second either
side of its due-soon and overdue boundaries, across daylight saving in London, Toronto and Sydney,
and across a rule's effective_from; the NCA's out-of-hours phone call at the edges of its window;
Canada's 21 days after notifying police; which authorities a triage answer makes apply."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from escalations.policy import authorities as A
from escalations.policy import rules as R
from escalations.policy.base import STANDARD, URGENT, DeadlineState, PolicyConfig
from tests.policy.test_rules import AU_REFER, CA_21_DAYS, SEEDED, UK_FROM, UK_PHONE, rule

SECOND = timedelta(seconds=1)
LONDON = ZoneInfo("Europe/London")
TORONTO = ZoneInfo("America/Toronto")
SYDNEY = ZoneInfo("Australia/Sydney")

# The seeded filing rules (0030_seed_rules): targets the platform sets, counted from knowledge.
UK_REPORT = rule(
    id=20, code="uk-osa-s66-report", regime="UK", authority="nca", limit=R.TARGET, unit=R.HOURS, effective_from=UK_FROM
)
C3P_REPORT = rule(id=21, code="ca-mra-s2-report", regime="CA", authority="c3p", limit=R.TARGET, unit=R.HOURS)
CA_NOTIFY = rule(
    id=22,
    code="ca-mra-s3-notify",
    regime="CA",
    authority="ca_police",
    obligation=R.NOTIFY,
    limit=R.TARGET,
    unit=R.HOURS,
)
RULES = (*SEEDED, UK_REPORT, C3P_REPORT, CA_NOTIFY)
CFG = PolicyConfig(rules=RULES)  # 24 h standard, 1 h urgent; due soon 4 h before (15 min urgent)


def due(authority: str, knowledge_at: datetime, priority: str = STANDARD, **targets: float | None) -> A.ObligationDue:
    return A.obligation_due(
        RULES,
        authority,
        knowledge_at=knowledge_at,
        priority=priority,
        target_hours=targets.get("target_hours"),
        urgent_target_hours=targets.get("urgent_target_hours"),
        cfg=CFG,
    )


def assert_boundaries(d: A.ObligationDue) -> None:
    """One second either side of "due soon" and of "overdue" (exactly at the deadline: still due soon)."""
    assert d.due_at is not None and d.soon_at is not None
    assert A.obligation_state(d, None, d.soon_at - SECOND) == DeadlineState.ON_TRACK
    assert A.obligation_state(d, None, d.soon_at + SECOND) == DeadlineState.DUE_SOON
    assert A.obligation_state(d, None, d.due_at - SECOND) == DeadlineState.DUE_SOON
    assert A.obligation_state(d, None, d.due_at) == DeadlineState.DUE_SOON
    assert A.obligation_state(d, None, d.due_at + SECOND) == DeadlineState.OVERDUE
    # Filed one second late is still met: the state of a filed obligation is not a clock.
    assert A.obligation_state(d, d.due_at + SECOND, d.due_at + timedelta(days=9)) == DeadlineState.MET


# --- United Kingdom: the NCA, from 7 April 2026 ---------------------------------------------------------


def test_uk_nothing_is_owed_to_the_nca_for_knowledge_one_second_before_the_act_took_effect() -> None:
    assert UK_FROM.astimezone(UTC) == datetime(2026, 4, 6, 23, 0, tzinfo=UTC)  # midnight in London (BST)
    before = due("nca", UK_FROM - SECOND)
    assert (before.due_at, before.rule) == (None, None)
    assert A.obligation_state(before, None, UK_FROM + timedelta(days=30)) == DeadlineState.NOT_APPLICABLE
    at = due("nca", UK_FROM)
    assert at.rule == UK_REPORT
    assert at.due_at == datetime(2026, 4, 7, 23, 0, tzinfo=UTC)
    assert_boundaries(at)


@pytest.mark.parametrize(
    ("knowledge_local", "due_local"),
    [
        # Into summer time (29 March 2026, 01:00 GMT -> 02:00 BST): 24 elapsed hours read 13:00 next day.
        (datetime(2026, 3, 28, 12, 0, tzinfo=LONDON), datetime(2026, 3, 29, 13, 0, tzinfo=LONDON)),
        # Out of it (25 October 2026, 02:00 BST -> 01:00 GMT): they read 11:00.
        (datetime(2026, 10, 24, 12, 0, tzinfo=LONDON), datetime(2026, 10, 25, 11, 0, tzinfo=LONDON)),
    ],
)
def test_uk_deadline_across_daylight_saving_in_london_is_elapsed_time(
    knowledge_local: datetime, due_local: datetime
) -> None:
    # The spring case falls before the Act: give the UK rule an earlier start to test the clock alone.
    rules = tuple(replace(r, effective_from=None) if r is UK_REPORT else r for r in RULES)
    d = A.obligation_due(
        rules,
        "nca",
        knowledge_at=knowledge_local,
        priority=STANDARD,
        target_hours=None,
        urgent_target_hours=None,
        cfg=CFG,
    )
    assert d.due_at == due_local.astimezone(UTC)
    assert d.due_at - knowledge_local.astimezone(UTC) == timedelta(hours=24)
    assert_boundaries(d)


def test_uk_the_nca_s_own_target_wins_over_the_platform_s_urgent_or_not() -> None:
    knowledge = datetime(2026, 10, 25, 0, 30, tzinfo=LONDON)  # BST, 90 minutes before the clocks go back
    standard = due("nca", knowledge, target_hours=6, urgent_target_hours=0.5)
    assert standard.due_at == knowledge.astimezone(UTC) + timedelta(hours=6)
    urgent = due("nca", knowledge, URGENT, target_hours=6, urgent_target_hours=0.5)
    assert urgent.due_at == knowledge.astimezone(UTC) + timedelta(minutes=30)
    assert urgent.soon_at == urgent.due_at - timedelta(minutes=15)
    assert_boundaries(urgent)
    # No target of its own: the platform's (1 h when urgent).
    assert due("nca", knowledge, URGENT).due_at == knowledge.astimezone(UTC) + timedelta(hours=1)


@pytest.mark.parametrize(
    "day",
    [
        datetime(2026, 7, 1, tzinfo=LONDON),  # BST: 07:00 London is 06:00 UTC
        datetime(2026, 12, 1, tzinfo=LONDON),  # GMT: 07:00 London is 07:00 UTC
        datetime(2026, 10, 25, tzinfo=LONDON),  # the day the clocks go back
        datetime(2027, 3, 28, tzinfo=LONDON),  # the day they go forward
    ],
)
def test_uk_phone_call_after_an_urgent_report_outside_07_to_17_london_time(day: datetime) -> None:
    def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
        return day.replace(hour=hour, minute=minute, second=second).astimezone(UTC)

    assert A.phone_call_owed(RULES, "nca", URGENT, at(6, 59, 59)) == UK_PHONE
    assert A.phone_call_owed(RULES, "nca", URGENT, at(7)) is None
    assert A.phone_call_owed(RULES, "nca", URGENT, at(16, 59, 59)) is None
    assert A.phone_call_owed(RULES, "nca", URGENT, at(17)) == UK_PHONE
    # A standard escalation is P3: no call, whatever the hour.
    assert A.phone_call_owed(RULES, "nca", STANDARD, at(3)) is None


def test_uk_no_phone_call_for_a_report_one_second_before_the_rule_took_effect() -> None:
    assert A.phone_call_owed(RULES, "nca", URGENT, UK_FROM - SECOND) is None
    assert A.phone_call_owed(RULES, "nca", URGENT, UK_FROM) == UK_PHONE  # midnight: out of hours


# --- Canada: the Canadian Centre and police ------------------------------------------------------------


@pytest.mark.parametrize(
    ("knowledge_local", "due_local"),
    [
        # 8 March 2026, 02:00 EST -> 03:00 EDT.
        (datetime(2026, 3, 7, 12, 0, tzinfo=TORONTO), datetime(2026, 3, 8, 13, 0, tzinfo=TORONTO)),
        # 1 November 2026, 02:00 EDT -> 01:00 EST.
        (datetime(2026, 10, 31, 12, 0, tzinfo=TORONTO), datetime(2026, 11, 1, 11, 0, tzinfo=TORONTO)),
    ],
)
@pytest.mark.parametrize("authority", ["c3p", "ca_police"])
def test_canada_deadlines_across_daylight_saving_in_toronto(
    authority: str, knowledge_local: datetime, due_local: datetime
) -> None:
    d = due(authority, knowledge_local)
    assert d.rule == (C3P_REPORT if authority == "c3p" else CA_NOTIFY)
    assert d.due_at == due_local.astimezone(UTC)
    assert_boundaries(d)


def test_canada_keep_the_data_21_days_after_notifying_police_across_the_autumn_change() -> None:
    notified = datetime(2026, 10, 20, 12, 0, tzinfo=TORONTO)  # EDT
    until, by = A.keep_after_filing(RULES, "ca_police", notified) or (None, None)
    assert by == CA_21_DAYS
    assert until == notified.astimezone(UTC) + timedelta(days=21)
    assert until == datetime(2026, 11, 10, 11, 0, tzinfo=TORONTO).astimezone(UTC)  # 11:00 EST, 21 x 24 h later
    # The Canadian Centre's report owes no preservation of its own; Bill C-16's year is not law.
    assert A.keep_after_filing(RULES, "c3p", notified) is None


# --- Australia: the AFP -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knowledge_local", "due_local"),
    [
        # 5 April 2026, 03:00 AEDT -> 02:00 AEST.
        (datetime(2026, 4, 4, 12, 0, tzinfo=SYDNEY), datetime(2026, 4, 5, 11, 0, tzinfo=SYDNEY)),
        # 4 October 2026, 02:00 AEST -> 03:00 AEDT.
        (datetime(2026, 10, 3, 12, 0, tzinfo=SYDNEY), datetime(2026, 10, 4, 13, 0, tzinfo=SYDNEY)),
    ],
)
def test_australia_deadline_across_daylight_saving_in_sydney(knowledge_local: datetime, due_local: datetime) -> None:
    d = due("afp", knowledge_local)
    assert d.rule == AU_REFER
    assert d.due_at == due_local.astimezone(UTC)
    assert_boundaries(d)
    # The platform may set the AFP its own target ("within a reasonable time").
    assert due("afp", knowledge_local, target_hours=72).due_at == knowledge_local.astimezone(UTC) + timedelta(hours=72)


# --- a rule's effective_from --------------------------------------------------------------------------------


def test_a_rule_that_starts_later_owes_nothing_for_knowledge_one_second_before_it() -> None:
    starts = datetime(2027, 1, 1, tzinfo=SYDNEY)
    later = tuple(replace(r, effective_from=starts) if r is AU_REFER else r for r in RULES)

    def afp(at: datetime) -> A.ObligationDue:
        return A.obligation_due(
            later, "afp", knowledge_at=at, priority=STANDARD, target_hours=None, urgent_target_hours=None, cfg=CFG
        )

    assert afp(starts - SECOND).due_at is None
    assert afp(starts).due_at == starts.astimezone(UTC) + timedelta(hours=24)
    # A pending rule owes nothing until it is law.
    pending = tuple(replace(r, status=R.PENDING) if r is AU_REFER else r for r in RULES)
    d = A.obligation_due(
        pending, "afp", knowledge_at=starts, priority=STANDARD, target_hours=None, urgent_target_hours=None, cfg=CFG
    )
    assert d.due_at is None


# --- triage ----------------------------------------------------------------------------------------------


def test_each_yes_makes_its_authorities_apply_and_no_or_unanswered_none() -> None:
    assert A.authorities_for({"uk_linked": True, "canada_connection": None, "australian_end_users": False}) == {"nca"}
    assert A.authorities_for({"canada_connection": True}) == {"c3p", "ca_police"}
    assert A.authorities_for({"australian_end_users": True, "uk_linked": True}) == {"afp", "nca"}
    assert A.authorities_for({}) == set()


# --- reminders -------------------------------------------------------------------------------------------


def test_reminders_due_soon_then_overdue_each_at_its_moment_one_second_either_side() -> None:
    due_at = datetime(2026, 10, 25, 11, 0, tzinfo=LONDON)  # the day London's clocks go back
    soon = due_at - timedelta(hours=4)
    kinds = A.ReminderKind

    def at(moment: datetime) -> tuple[list[tuple[str, datetime]], datetime | None]:
        owed, upcoming = A.obligation_reminders(due_at, STANDARD, CFG, moment)
        return [(str(k), m) for k, m in owed], upcoming

    assert at(soon - SECOND) == ([], soon)
    assert at(soon) == ([(kinds.AUTHORITY_DUE_SOON, soon)], due_at)
    assert at(due_at - SECOND) == ([(kinds.AUTHORITY_DUE_SOON, soon)], due_at)
    assert at(due_at) == ([(kinds.AUTHORITY_OVERDUE, due_at)], None)
    assert at(due_at + SECOND) == ([(kinds.AUTHORITY_OVERDUE, due_at)], None)
    assert A.obligation_reminders(None, STANDARD, CFG, due_at) == ([], None)
    # Urgent: due soon 15 minutes before.
    assert A.obligation_reminders(due_at, URGENT, CFG, due_at - timedelta(minutes=15))[0] == [
        (kinds.AUTHORITY_DUE_SOON, due_at - timedelta(minutes=15))
    ]


def test_a_recorded_reminder_is_overtaken_by_the_filing_the_removal_or_the_deadline() -> None:
    due_at = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)
    soon = due_at - timedelta(hours=4)
    nca = A.ObligationFacts("NCA", "due", due_at)

    def why(
        kind: str, at: datetime, obligations: list[A.ObligationFacts], now: datetime, status: str = "open"
    ) -> str | None:
        return A.why_reminder_overtaken(kind, at, status, STANDARD, obligations, CFG, now)

    assert why("authority_due_soon", soon, [nca], soon) is None
    assert why("authority_overdue", due_at, [nca], due_at) is None
    assert why("authority_due_soon", soon, [replace(nca, state="filed")], soon) == "The report to NCA was filed."
    assert "no longer owed" in (why("authority_due_soon", soon, [], soon) or "")
    moved = replace(nca, due_at=due_at + timedelta(hours=2))
    assert "deadline moved" in (why("authority_due_soon", soon, [moved], soon) or "")
    assert why("authority_due_soon", soon, [nca], due_at - SECOND) is None
    assert "overdue reminder replaces it" in (why("authority_due_soon", soon, [nca], due_at) or "")
    assert why("authority_overdue", due_at, [nca], due_at, status="dismissed") == "The escalation was dismissed."


def test_a_filing_at_the_deadline_is_on_time_and_one_second_after_is_late() -> None:
    d = due("nca", UK_FROM + timedelta(days=1))
    assert d.due_at is not None
    assert not A.filed_late(d, d.due_at)
    assert A.filed_late(d, d.due_at + timedelta(seconds=1))
    assert not A.filed_late(d, None)
