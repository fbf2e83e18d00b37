"""The dashboard's figures against a direct count over random escalations, and how fresh they are:
the figures of now are counted at every visit; the period's (and the holds ending or ended) are
counted by the beat every minute (dashboard_period.refresh_viewed), never by a visit that finds them
in the cache, and say when they were counted.

Each random data set is made through the services (created, reported, preservation confirmed,
assigned), with knowledge times spread over the last 400 days so that some holds have ended, some
end soon and some reports fall in the period. The reference counts below read the rows in Python,
with the policy's own state function, not the dashboard's queries."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations import policy, tasks
from escalations.compliance import dashboard, dashboard_period
from escalations.core import services
from escalations.models import Escalation, Priority, Status

NOW = datetime(2025, 3, 19, 12, 0, tzinfo=UTC)
CLOCK_START = NOW
URGENT: dict[str, Any] = {"priority": Priority.URGENT, "urgent_reason": "A child may be in imminent danger."}


def _random_escalations(seed: int, make_escalation: Any, people: list[Any], lead: Any, count: int) -> None:
    rng = random.Random(seed)
    for _ in range(count):
        knowledge = NOW - timedelta(minutes=rng.randrange(5, 400 * 24 * 60))
        fields: dict[str, Any] = dict(URGENT) if rng.random() < 0.2 else {}
        fields["knowledge_at"] = knowledge
        if rng.random() < 0.05:
            fields["is_test"] = True
        actor = rng.choice(people)
        reported_at = None
        if rng.random() < 0.75:
            reported_at = min(knowledge + timedelta(minutes=rng.randrange(1, 60 * 60)), NOW)
        esc = make_escalation(actor=actor, reported_at=reported_at, **fields)
        if reported_at is not None and rng.random() < 0.8:
            esc = services.confirm_preservation(
                actor=actor, escalation_id=esc.pk, version=esc.version, preservation_location="vault://x"
            )
        if rng.random() < 0.15:
            services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=None)
        elif rng.random() < 0.3:
            services.assign_escalation(
                actor=lead, escalation_id=esc.pk, version=esc.version, assignee=rng.choice(people)
            )


def _nearest_rank(values: list[int], percent: int) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


def _check_stats(stats: dashboard.ReportStats, group: list[Escalation]) -> None:
    seconds = [e.report_seconds for e in group if e.report_seconds is not None]
    assert stats.reports.value == len(group), stats.label
    assert stats.within.value == sum(1 for e in group if e.reported_on_time), stats.label
    assert stats.median.seconds == _nearest_rank(seconds, 50), stats.label
    assert stats.p90.seconds == _nearest_rank(seconds, 90), stats.label


def _check_against_rows(data: dashboard.Dashboard, period: dashboard.Period, now: datetime) -> None:
    rows = list(Escalation.objects.filter(is_test=False))
    soon = policy.PolicyConfig.from_settings().preservation_ending_soon
    open_rows = [e for e in rows if e.status == Status.OPEN]
    states = [policy.state_from_columns(e.status, e.next_deadline_at, e.next_deadline_soon_at, now) for e in open_rows]
    c = data.current
    assert c.open_total.value == len(open_rows)
    assert c.overdue.value == states.count(policy.DeadlineState.OVERDUE)
    assert c.due_soon.value == states.count(policy.DeadlineState.DUE_SOON)
    assert c.on_track.value == states.count(policy.DeadlineState.ON_TRACK)
    assert c.open_unassigned == sum(1 for e in open_rows if e.assignee_id is None)
    reported = [e for e in rows if e.status == Status.REPORTED]
    assert c.unconfirmed.value == sum(1 for e in reported if e.preservation_confirmed_at is None)
    holds = [e.preserve_until for e in reported if e.preserve_until is not None]
    assert c.holds_ended.value == sum(1 for until in holds if until <= now)
    assert c.holds_ending.value == sum(1 for until in holds if now < until <= now + soon)
    for week in data.holds:
        end = week.week_start + timedelta(weeks=1)
        assert week.count == sum(1 for until in holds if until > now and week.week_start <= until < end)

    in_period = [e for e in rows if e.reported_at is not None and period.start_at <= e.reported_at <= period.end_at]
    f = data.figures
    for stats, group in (
        (f.overall, in_period),
        (f.standard, [e for e in in_period if e.priority == Priority.STANDARD]),
        (f.urgent, [e for e in in_period if e.priority == Priority.URGENT]),
    ):
        _check_stats(stats, group)
    late = [e for e in in_period if e.reported_on_time is False]
    assert f.breaches.value == len(late)
    assert {r.reason: r.figure.value for r in f.breach_reasons} == {
        reason: sum(1 for e in late if e.breach_reason == reason) for reason in {e.breach_reason for e in late}
    }
    for person in data.moderators:
        _check_stats(person.stats, [e for e in in_period if e.assignee_id == person.user_id])
        assert person.open_now.value == sum(1 for e in open_rows if e.assignee_id == person.user_id), person.name
    for weekly in data.weekly:
        end = weekly.week_start + timedelta(weeks=1)
        _check_stats(
            weekly.stats,
            [e for e in in_period if e.reported_at is not None and weekly.week_start <= e.reported_at < end],
        )
    assert [item.escalation.pk for item in f.breach_list] == [
        e.pk for e in sorted(late, key=lambda e: (e.reported_at, e.pk), reverse=True)
    ][: dashboard.BREACH_LIST_LIMIT]
    overdue = [e for e, s in zip(open_rows, states, strict=True) if s == policy.DeadlineState.OVERDUE]
    assert {item.escalation.pk for item in c.most_overdue} <= {e.pk for e in overdue}
    assert len(c.most_overdue) == min(len(overdue), dashboard.MOST_OVERDUE_LIMIT)
    leavers = set(get_user_model().objects.filter(is_active=False).values_list("pk", flat=True))
    active = [e for e in rows if e.status in (Status.OPEN, Status.REPORTED)]
    assert c.needs_reassignment == sum(1 for e in active if e.assignee_id in leavers)
    for point in data.backlog:
        waiting = [
            e
            for e in rows
            if e.status != Status.DISMISSED
            and e.knowledge_at <= point.at
            and (e.reported_at is None or e.reported_at > point.at)
        ]
        assert point.overdue == sum(1 for e in waiting if e.report_due_at < point.at)
        assert point.within == sum(1 for e in waiting if e.report_due_at >= point.at)


def _boundary_escalations(make_escalation: Any, moderator: Any) -> None:
    """Rows exactly at the figures' time thresholds at NOW: a hold ending at NOW (ended), one ending
    exactly at the end of the "ending soon" window (ending) and one a second later (neither); a
    report target exactly at NOW (overdue from NOW on) and a report filed at its target (within)."""
    soon = policy.PolicyConfig.from_settings().preservation_ending_soon
    year = policy.PolicyConfig.from_settings().preservation_years
    for until in (NOW, NOW + soon, NOW + soon + timedelta(seconds=1)):
        reported_at = until.replace(year=until.year - year)
        esc = make_escalation(knowledge_at=reported_at - timedelta(hours=2), reported_at=reported_at)
        assert esc.preserve_until == until
    make_escalation(knowledge_at=NOW - timedelta(hours=24))
    make_escalation(knowledge_at=NOW - timedelta(days=2, hours=24), reported_at=NOW - timedelta(days=2))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_figure_equals_a_direct_count_over_random_escalations(
    seed: int, clock: Any, make_user: Any, moderator: Any, lead: Any, make_escalation: Any
) -> None:
    people = [moderator, *(make_user(f"m{seed}{i}", "moderator") for i in range(3))]
    _random_escalations(seed, make_escalation, people, lead, 60)
    _boundary_escalations(make_escalation, moderator)
    # A leaver (deactivated by an admin or over SCIM) still holding escalations.
    people[-1].is_active = False
    people[-1].save(update_fields=["is_active"])
    for days in (7, 30, 90):
        period = dashboard.Period.last_days(days, NOW, UTC)
        _check_against_rows(dashboard.build(period, NOW, 24.0), period, NOW)
    # What a visit shows: the period's part from the cache, its holds with the figures of now.
    period = dashboard.Period.last_days(30, NOW, UTC)
    cache.clear()
    part = dashboard_period.part(period, NOW)
    _check_against_rows(dashboard.build(period, NOW, 24.0, part.figures()), period, NOW)


def _page(client: Any) -> tuple[dashboard.Dashboard, str]:
    response = client.get("/dashboard/")
    assert response.status_code == 200
    return response.context["data"], response.content.decode()


def test_a_change_shows_now_at_once_and_in_the_period_at_the_next_minute(
    clock: Any, lead: Any, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation(knowledge_at=NOW - timedelta(hours=30))  # open and overdue
    client = client_for(lead)
    first, _ = _page(client)
    assert (first.current.overdue.value, first.figures.overall.reports.value) == (1, 0)

    clock.move_to(NOW + timedelta(seconds=30))
    services.record_report(
        actor=moderator,
        escalation_id=esc.pk,
        version=esc.version,
        reported_at=NOW,
        cybertipline_report_id="9100001",
        breach_reason="needed_review",
    )
    seen, page = _page(client)
    # Now: the report is no longer overdue at once. The period: as counted 30 s ago, and the page
    # says when that was.
    assert seen.current.overdue.value == 0
    assert seen.figures.overall.reports.value == 0
    assert seen.period_as_of == NOW
    assert "counted at 12:00:00 UTC" in page

    # A minute later still as counted at 12:00 until the beat's tick counts the period again.
    clock.move_to(NOW + timedelta(seconds=60))
    assert _page(client)[0].figures.overall.reports.value == 0
    assert tasks.refresh_dashboard() == 1
    fresh, page = _page(client)
    assert fresh.figures.overall.reports.value == 1
    assert fresh.figures.breaches.value == 1
    assert "counted at 12:01:00 UTC" in page


def _queries(client: Any, path: str = "/dashboard/") -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len([q for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "UPDATE"))])


def test_a_visit_that_finds_the_period_in_the_cache_counts_only_the_figures_of_now(
    clock: Any, make_user: Any, lead: Any, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    people = [moderator, *(make_user(f"q{i}", "moderator") for i in range(3))]
    client = client_for(lead)
    client.get("/dashboard/?period=7")  # templates and per-process caches
    for size in (10, 60):
        _random_escalations(size, make_escalation, people, lead, size)
        cache.clear()
        counted, cached = _queries(client), _queries(client)
        # The page: session, user, the releases awaiting approval, the need-to-know log: 4. The
        # figures of now: open by state, unconfirmed, the deactivated people's, the most overdue, the
        # authority register's filings overdue, the open escalations by annotation: 6.
        # The period's part when counted: the backlog and holds per week, report times, breach
        # reasons, the breach list, the people, the holds ending or ended, the open unassigned: 7.
        assert (counted, cached) == (4 + 6 + 7, 4 + 6), size


def test_a_visit_shows_the_part_the_beat_counted_and_counts_it_only_once_stale(
    clock: Any, lead: Any, client_for: Any, make_escalation: Any
) -> None:
    client = client_for(lead)
    before, _ = _page(client)
    make_escalation(knowledge_at=NOW - timedelta(hours=3), reported_at=NOW - timedelta(hours=1))
    # Up to STALE_SECONDS without a tick of the beat (it is down): the part as counted, with its time.
    almost = NOW + timedelta(seconds=dashboard_period.STALE_SECONDS - 1)
    clock.move_to(almost)
    stale, page = _page(client)
    assert stale.period_as_of == before.period_as_of == NOW
    assert stale.figures.overall.reports.value == 0
    assert "counted at 12:00:00 UTC" in page
    # Older than that, the visit counts it itself, unless another visit is counting it already.
    later = NOW + timedelta(seconds=dashboard_period.STALE_SECONDS)
    clock.move_to(later)
    counting = dashboard_period.cache_key(dashboard.Period.last_days(30, NOW, UTC)) + ":counting"
    assert cache.add(counting, 1, 60)
    assert _page(client)[0].period_as_of == NOW
    cache.delete(counting)
    fresh, _ = _page(client)
    assert (fresh.period_as_of, fresh.figures.overall.reports.value) == (later, 1)


def test_the_beat_forgets_a_period_nobody_looked_at_for_an_hour(clock: Any, lead: Any, client_for: Any) -> None:
    client = client_for(lead)
    client.get("/dashboard/?period=7")
    client.get("/dashboard/?period=30")
    assert tasks.refresh_dashboard() == 2
    for key in list(cache.get(dashboard_period.REGISTRY_KEY)):
        if key.startswith(dashboard_period.cache_key(dashboard.Period.last_days(7, NOW, UTC))):
            cache.delete(key + ":viewed")  # as the cache does after VIEWED_SECONDS
    assert tasks.refresh_dashboard() == 1
