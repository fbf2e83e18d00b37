"""The compliance dashboard: figures against a hand count, every link against the list it opens,
roles, period input, and a query count that does not grow with the rows.

The scenario below is 22 escalations at fixed times, with the clock frozen at NOW (Wednesday
2025-03-19 12:00 UTC). Standard target 24 h, urgent 1 h (settings defaults). Each expected number
in the tests is counted by hand from the table in `scenario`'s docstring, not computed."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.compliance import dashboard
from escalations.core import services
from escalations.models import BreachReason, Escalation, Priority, Status, UserProfile
from escalations.web.dashboard_views import DashboardView

NOW = datetime(2025, 3, 19, 12, 0, tzinfo=UTC)
# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = NOW
# The custom period of most tests: three UTC weeks (from Mondays 3, 10 and 17 March).
PERIOD = "?start=2025-03-03&end=2025-03-19"
# The smallest ceiling that passes. The page (3): session, user, and one query for the person's
# roles, time zone, unread notifications and the last sweep (a lead's banner). The figures of now (5):
# open escalations by state, unconfirmed preservations, holds ending or ended, the most overdue, open
# escalations by report annotation (one GROUP BY). The
# period's figures when they are counted again (5): the backlog and the holds per week together; the
# period's report times overall, by priority, by person and by week; breach reasons; the breach list;
# the people. The authority register's filings overdue by authority (1). 14, and 3 for the session
# save of every request (SAVEPOINT, UPDATE, RELEASE in a test's transaction).
MAX_QUERIES = 14 + 3
# The same page while the period's figures are fresh in the cache (dashboard.SNAPSHOT_SECONDS).
CACHED_QUERIES = 9 + 3


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def team(make_user: Any, moderator: Any, lead: Any) -> dict[str, Any]:
    return {
        "alice": make_user("alice", "moderator"),
        "bob": make_user("bob", "moderator"),
        "carol": make_user("carol", "moderator"),  # a moderator with nothing assigned
        "mod": moderator,
        "lead": lead,
    }


URGENT: dict[str, Any] = {"priority": Priority.URGENT, "urgent_reason": "A child may be in imminent danger."}


@pytest.fixture
def scenario(clock: Any, team: dict[str, Any], make_escalation: Any) -> dict[str, Escalation]:
    """
    key  prio  assignee  knowledge        reported          time    on time  breach     other
    E1   std   alice     03-03 08:00      03-03 18:00       10 h    yes                 confirmed
    E2   std   alice     03-04 09:00      03-05 15:00       30 h    no       volume
    E3   urg   bob       03-05 10:00      03-05 10:30       30 min  yes                 confirmed
    E4   std   bob       03-02 22:00      03-03 18:00       20 h    yes                 confirmed
    E5   std   alice     03-10 06:00      03-10 08:00       2 h     yes                 confirmed
    E6   urg   alice     03-11 12:00      03-11 14:00       2 h     no       staffing
    E7   std   bob       03-08 22:00      03-10 10:00       36 h    no       other+note
    E8   std   mod       03-12 10:00      03-12 14:00       4 h     yes                 confirmed
    E9   std   (nobody)  03-13 09:00      03-13 12:00       3 h     yes
    E10  std   alice     03-17 01:00      03-17 07:00       6 h     yes
    E11  urg   bob       03-18 09:00      03-18 10:15       75 min  no       tooling
    E12  std   mod       03-16 10:00      03-18 10:00       48 h    no       volume
    E13  std   alice     02-16 10:00      02-18 10:00       48 h    no       tooling    before the period
    E14  std   alice     03-18 06:00      open: target 03-19 06:00, overdue 6 h
    E15  std   bob       03-17 12:00      open: target 03-18 12:00, overdue 24 h
    E16  urg   mod       03-19 11:10      open: target 12:10, due soon from 11:55
    E17  std   alice     03-19 10:00      open: on track
    E18  std   (nobody)  03-18 14:00      open: target 03-19 14:00, due soon from 10:00
    E19  std   bob       2024-04-10 08:00 2024-04-10 12:00  hold ends 2025-04-10 (within 30 days)
    E20  std   (nobody)  2024-03-01 08:00 2024-03-01 12:00  hold ended 2025-03-01
    E21  std   (nobody)  2024-06-01 08:00 2024-06-01 12:00  hold ends 2025-06-01 (a Sunday)
    E22  std   alice     03-14 10:00      dismissed
    """
    lead = team["lead"]
    made: dict[str, Escalation] = {}

    def make(
        key: str,
        who: str | None,
        knowledge: datetime,
        reported: datetime | None = None,
        reason: str = "",
        note: str = "",
        confirm: bool = False,
        **fields: Any,
    ) -> None:
        owner = team[who] if who else team["mod"]
        esc = make_escalation(actor=owner, knowledge_at=knowledge, assignee=owner, **fields)
        if reported is not None:
            esc = services.record_report(
                actor=owner,
                escalation_id=esc.pk,
                version=esc.version,
                reported_at=reported,
                cybertipline_report_id=str(7_000_000 + esc.pk),
                breach_reason=reason,
                breach_note=note,
            )
        if confirm:
            esc = services.confirm_preservation(
                actor=owner, escalation_id=esc.pk, version=esc.version, preservation_location=f"vault://{key}"
            )
        if who is None:
            esc = services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=None)
        made[key] = esc

    make("E1", "alice", at(3, 3, 8), at(3, 3, 18), confirm=True)
    make("E2", "alice", at(3, 4, 9), at(3, 5, 15), BreachReason.VOLUME)
    make("E3", "bob", at(3, 5, 10), at(3, 5, 10, 30), confirm=True, **URGENT)
    make("E4", "bob", at(3, 2, 22), at(3, 3, 18), confirm=True)
    make("E5", "alice", at(3, 10, 6), at(3, 10, 8), confirm=True)
    make("E6", "alice", at(3, 11, 12), at(3, 11, 14), BreachReason.STAFFING, **URGENT)
    make("E7", "bob", at(3, 8, 22), at(3, 10, 10), BreachReason.OTHER, "Reviewer out sick")
    make("E8", "mod", at(3, 12, 10), at(3, 12, 14), confirm=True)
    make("E9", None, at(3, 13, 9), at(3, 13, 12))
    make("E10", "alice", at(3, 17, 1), at(3, 17, 7))
    make("E11", "bob", at(3, 18, 9), at(3, 18, 10, 15), BreachReason.TOOLING, **URGENT)
    make("E12", "mod", at(3, 16, 10), at(3, 18, 10), BreachReason.VOLUME)
    make("E13", "alice", at(2, 16, 10), at(2, 18, 10), BreachReason.TOOLING)
    make("E14", "alice", at(3, 18, 6))
    make("E15", "bob", at(3, 17, 12))
    make("E16", "mod", at(3, 19, 11, 10), **URGENT)
    make("E17", "alice", at(3, 19, 10))
    make("E18", None, at(3, 18, 14))
    make("E19", "bob", at(4, 10, 8, year=2024), at(4, 10, 12, year=2024), confirm=True)
    make("E20", None, at(3, 1, 8, year=2024), at(3, 1, 12, year=2024), confirm=True)
    make("E21", None, at(6, 1, 8, year=2024), at(6, 1, 12, year=2024), confirm=True)
    make("E22", "alice", at(3, 14, 10))
    e22 = made["E22"]
    made["E22"] = services.dismiss_escalation(
        actor=lead, escalation_id=e22.pk, version=e22.version, reason="Not reportable on review."
    )
    return made


def get_dashboard(client: Any, query: str = PERIOD) -> Any:
    response = client.get(f"/dashboard/{query}")
    assert response.status_code == 200
    return response


def listed_pks(client: Any, url: str) -> set[int]:
    """The primary keys of every row the escalation list shows for `url` (all pages)."""
    response = client.get(url)
    assert response.status_code == 200, url
    filterset = response.context["filter"]
    assert filterset.is_valid(), (url, filterset.errors)
    return set(filterset.qs.values_list("pk", flat=True))


def keys(made: dict[str, Escalation], *names: str) -> set[int]:
    return {made[name].pk for name in names}


# --- The hand count --------------------------------------------------------------------------------


def test_now_figures_match_the_hand_count(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    data = get_dashboard(client_for(lead)).context["data"]
    now = data.current
    assert (now.overdue.value, now.due_soon.value, now.on_track.value, now.open_total.value) == (2, 2, 1, 5)
    assert now.unconfirmed.value == 8  # E2, E6, E7, E9, E10, E11, E12, E13
    assert (now.holds_ending.value, now.holds_ended.value) == (1, 1)  # E19; E20
    assert [item.escalation.pk for item in now.most_overdue] == [scenario["E15"].pk, scenario["E14"].pk]
    assert [item.overdue_by for item in now.most_overdue] == ["24 h", "6 h"]


def test_period_figures_match_the_hand_count(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    data = get_dashboard(client_for(lead)).context["data"]
    f = data.figures
    assert (f.period.start.isoformat(), f.period.end.isoformat()) == ("2025-03-03", "2025-03-19")
    rows = {
        s.label: (s.reports.value, s.within.value, s.share_display, s.median.seconds, s.p90.seconds)
        for s in f.by_priority
    }
    assert rows == {
        "All reports": (12, 7, "58.3 %", 14_400, 129_600),  # median rank 6 (E8, 4 h); p90 rank 11 (E7, 36 h)
        "Standard": (9, 6, "66.7 %", 36_000, 172_800),  # rank 5 (E1, 10 h); rank 9 (E12, 48 h)
        "Urgent": (3, 1, "33.3 %", 4_500, 7_200),  # rank 2 (E11, 1 h 15 min); rank 3 (E6, 2 h)
    }
    assert (f.overall.median.display, f.overall.p90.display, f.urgent.median.display) == ("4 h", "36 h", "1 h 15 min")
    assert f.breaches.value == 5
    assert [(r.reason, r.figure.value) for r in f.breach_reasons] == [
        ("volume", 2),
        ("staffing", 1),
        ("tooling", 1),
        ("other", 1),
    ]
    # Newest report first.
    assert [(item.escalation.pk, item.late_by) for item in f.breach_list] == [
        (scenario["E11"].pk, "15 min"),
        (scenario["E12"].pk, "24 h"),
        (scenario["E6"].pk, "1 h"),
        (scenario["E7"].pk, "12 h"),
        (scenario["E2"].pk, "6 h"),
    ]
    assert not f.breach_list_is_partial


def test_breach_list_shows_the_latest_and_links_to_all(
    scenario: dict[str, Escalation], lead: Any, client_for: Any, monkeypatch: Any
) -> None:
    """A large platform's quarter can hold thousands of breaches: the page lists the latest few and
    its caption says how many there are, linked to the list that shows every one."""
    from escalations.compliance import dashboard

    monkeypatch.setattr(dashboard, "BREACH_LIST_LIMIT", 2)
    response = get_dashboard(client_for(lead))
    f = response.context["data"].figures
    assert [item.escalation.pk for item in f.breach_list] == [scenario["E11"].pk, scenario["E12"].pk]
    assert f.breach_list_is_partial
    page = response.content.decode()
    caption = page.split('id="breach-list"')[1].split("</caption>")[0]
    assert "The latest 2 of" in caption
    assert f'href="{f.breaches.url}"' in caption.replace("&amp;", "&")


def test_moderator_figures_match_the_hand_count(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    data = get_dashboard(client_for(lead)).context["data"]
    rows = [
        (m.name, m.open_now.value, m.stats.reports.value, m.stats.within.value, m.stats.median.seconds)
        for m in data.moderators
    ]
    assert rows == [
        ("alice", 2, 5, 3, 21_600),  # E14, E17 open; E1, E2, E5, E6, E10 filed; median rank 3 (E10)
        ("bob", 1, 4, 2, 4_500),  # E15; E3, E4, E7, E11; rank 2 (E11)
        ("carol", 0, 0, 0, None),
        ("mod", 1, 2, 1, 14_400),  # E16; E8, E12; rank 1 (E8)
        ("Unassigned", 1, 1, 1, 10_800),  # E18; E9
    ]
    assert data.moderators[0].stats.share_display == "60.0 %"
    # The list's "Nobody (unassigned)" choice: the link lists exactly the unassigned open one (E18).
    assert data.moderators[-1].open_now.url == "/escalations/?assignee=null&is_test=false&status=open"


def test_weekly_series_match_the_hand_count(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    data = get_dashboard(client_for(lead)).context["data"]
    weekly = [
        (w.week_start, w.stats.reports.value, w.stats.within.value, w.stats.median.seconds, w.stats.p90.seconds)
        for w in data.weekly
    ]
    assert weekly == [
        (at(3, 3), 4, 3, 36_000, 108_000),  # E1 E2 E3 E4
        (at(3, 10), 5, 3, 10_800, 129_600),  # E5 E6 E7 E8 E9
        (at(3, 17), 3, 1, 21_600, 172_800),  # E10 E11 E12
    ]
    assert [w.stats.share_display for w in data.weekly] == ["75.0 %", "60.0 %", "33.3 %"]


def test_backlog_and_holds_series_match_the_hand_count(
    scenario: dict[str, Escalation], lead: Any, client_for: Any
) -> None:
    data = get_dashboard(client_for(lead)).context["data"]
    # The backlog follows the period (3 to 19 March): its start, the week ends inside it, and now
    # (the period runs to today).
    assert [p.at for p in data.backlog] == [at(3, 3), at(3, 10), at(3, 17), NOW]
    # E4 waiting at 3 Mar; E7 overdue at 10 Mar; E12 at 17 Mar; now E14 and E15 overdue, E16, E17 and
    # E18 within their targets (E22, dismissed, not counted).
    assert [p.overdue for p in data.backlog] == [0, 1, 0, 2]
    assert [p.within for p in data.backlog] == [1, 0, 1, 3]
    assert [w.week_start for w in data.holds] == [at(3, 17) + timedelta(weeks=i) for i in range(12)]
    # E19 (10 April: week of 7 April) and E21 (Sunday 1 June: week of 26 May).
    assert [w.count for w in data.holds] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0]


def test_chart_series_are_the_figures(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    charts = {c.slug: c for c in get_dashboard(client_for(lead)).context["charts"]}
    time_chart = charts["time-to-report"]
    assert [row[0].text for row in time_chart.table.rows] == [
        "Week of Mon 03 Mar 2025",
        "Week of Mon 10 Mar 2025",
        "Week of Mon 17 Mar 2025 (partial week)",
    ]
    assert [[cell.text for cell in row[1:]] for row in time_chart.table.rows] == [
        ["10 h", "30 h", "4"],
        ["3 h", "36 h", "5"],
        ["6 h", "48 h", "3"],
    ]
    assert [r.label for r in time_chart.rules] == ["Target 24 h"]
    assert len(time_chart.points) == 6
    assert [[c.text for c in row[1:]] for row in charts["share-within-target"].table.rows] == [
        ["75.0 %", "3 of 4"],
        ["60.0 %", "3 of 5"],
        ["33.3 %", "1 of 3"],
    ]
    backlog_rows = charts["backlog"].table.rows
    assert [[c.text for c in row[1:]] for row in backlog_rows] == [
        ["0", "1", "1"],
        ["1", "0", "1"],
        ["0", "1", "1"],
        ["2", "3", "5"],
    ]
    assert [row[1].text for row in charts["holds-ending"].table.rows] == [
        "0", "0", "0", "1", "0", "0", "0", "0", "0", "0", "1", "0"
    ]  # fmt: skip
    assert len(charts["holds-ending"].bars) == 2


def test_default_period_is_the_last_30_days(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    data = get_dashboard(client_for(lead), "").context["data"]
    assert (data.period.start.isoformat(), data.period.end.isoformat()) == ("2025-02-18", "2025-03-19")
    assert data.figures.overall.reports.value == 13  # E1 to E12 and E13 (reported 18 February)
    assert data.figures.breaches.value == 6


@pytest.mark.parametrize(("query", "days", "reports"), [("?period=7", 7, 4), ("?period=90", 90, 13)])
def test_preset_periods(
    scenario: dict[str, Escalation], lead: Any, client_for: Any, query: str, days: int, reports: int
) -> None:
    data = get_dashboard(client_for(lead), query).context["data"]
    assert data.period.days == days
    assert data.period.end.isoformat() == "2025-03-19"
    # 7 days: 13 to 19 March (E9, E10, E11, E12); 90 days: from 20 December (E1 to E13).
    assert data.figures.overall.reports.value == reports


# --- Every number links to exactly the rows it counts -----------------------------------------------


def test_every_link_lists_exactly_the_rows_counted(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    client = client_for(lead)
    data = get_dashboard(client).context["data"]
    figures = [f for f in data.linked_figures() if f.url is not None]
    # 7 now, 6 by priority, 1 + 4 breaches, 4 people x 3 and the unassigned row x 3, 3 weeks x 2
    assert len(figures) == 39
    for figure in figures:
        assert len(listed_pks(client, figure.url)) == figure.value, figure.url
    for stats in [*data.figures.by_priority, *(m.stats for m in data.moderators[:-1])]:
        assert stats.median.url == stats.p90.url == stats.reports.url


def test_links_show_the_right_rows(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    client = client_for(lead)
    data = get_dashboard(client).context["data"]
    assert listed_pks(client, data.current.overdue.url) == keys(scenario, "E14", "E15")
    assert listed_pks(client, data.current.due_soon.url) == keys(scenario, "E16", "E18")
    assert listed_pks(client, data.current.holds_ending.url) == keys(scenario, "E19")
    assert listed_pks(client, data.current.holds_ended.url) == keys(scenario, "E20")
    assert listed_pks(client, data.figures.breaches.url) == keys(scenario, "E2", "E6", "E7", "E11", "E12")
    assert listed_pks(client, data.figures.urgent.within.url) == keys(scenario, "E3")
    volume = next(r for r in data.figures.breach_reasons if r.reason == "volume")
    assert listed_pks(client, volume.figure.url) == keys(scenario, "E2", "E12")
    bob = next(m for m in data.moderators if m.name == "bob")
    assert listed_pks(client, bob.stats.within.url) == keys(scenario, "E3", "E4")
    assert listed_pks(client, data.weekly[0].stats.reports.url) == keys(scenario, "E1", "E2", "E3", "E4")


def test_page_renders_every_figure_as_a_link(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    response = get_dashboard(client_for(lead))
    content = response.content.decode()
    data = response.context["data"]
    for figure in data.linked_figures():
        if figure.url is not None:
            href = figure.url.replace("&", "&amp;")
            # The number is the link's text ("3", or "3 of 4" in a chart's table).
            assert re.search(rf'href="{re.escape(href)}">{figure.value}(</a>| of )', content), figure.url
    for item in data.figures.breach_list:
        assert f'href="/escalations/{item.escalation.pk}/">{item.escalation.key}</a>' in content
    assert "Reviewer out sick" in content
    assert "Weeks start on Monday at 00:00 UTC" in content


def test_period_in_the_viewers_zone(clock: Any, lead: Any, client_for: Any, make_escalation: Any) -> None:
    """A New York viewer's 3 March starts at 05:00 UTC: a report at 03:00 UTC that day is in February
    for them, and the link (read in their zone too) agrees."""
    UserProfile.objects.create(user=lead, time_zone="America/New_York")
    inside = make_escalation(knowledge_at=at(3, 3, 4), reported_at=at(3, 3, 6))
    make_escalation(knowledge_at=at(3, 3, 1), reported_at=at(3, 3, 3))  # 2 March, 22:00 in New York
    client = client_for(lead)
    data = get_dashboard(client).context["data"]
    assert data.figures.overall.reports.value == 1
    assert listed_pks(client, data.figures.overall.reports.url) == {inside.pk}
    # Weeks are UTC: a New York date range can't select one, so the weekly counts are not linked.
    assert all(w.stats.reports.url is None for w in data.weekly)
    assert sum(w.stats.reports.value for w in data.weekly) == 1


def test_test_records_are_left_out(clock: Any, lead: Any, client_for: Any, make_escalation: Any) -> None:
    make_escalation(knowledge_at=at(3, 10), reported_at=at(3, 11, 12), breach_reason="volume", is_test=True)
    make_escalation(knowledge_at=at(3, 19, 8), is_test=True)
    data = get_dashboard(client_for(lead)).context["data"]
    assert data.figures.overall.reports.value == 0
    assert data.figures.breaches.value == 0
    assert data.current.open_total.value == 0
    assert sum(p.total for p in data.backlog) == 0


# --- Roles -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("moderator", 403), ("nobody", 403), ("lead", 200), ("auditor", 200)])
def test_dashboard_is_for_leads_and_auditors(request: Any, client_for: Any, who: str, status: int) -> None:
    user = request.getfixturevalue(who)
    response = client_for(user).get("/dashboard/")
    assert response.status_code == status
    home = client_for(user).get("/escalations/mine/" if who != "nobody" else "/accounts/profile/")
    assert ('href="/dashboard/"' in home.content.decode()) is (status == 200)


def test_signed_out_visitors_do_not_see_it(db: Any, client_for: Any) -> None:
    response = client_for(None).get("/dashboard/")
    assert response.status_code in (302, 403)
    assert b"Compliance dashboard" not in response.content


def test_view_declares_its_action() -> None:
    assert DashboardView.action == "view_dashboard"


# --- Period input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?start=2025-03-10&end=2025-03-01", "before the start date"),
        ("?start=2025-02-30&end=2025-03-01", "Enter the start date as YYYY-MM-DD"),
        ("?start=2025-03-01&end=31/03/2025", "Enter the end date as YYYY-MM-DD"),
        ("?start=2025-03-01", "the end date is missing"),
        ("?end=2025-03-01", "the start date is missing"),
        ("?period=5", "Choose a period of 7, 30 or 90 days"),
        ("?period=abc", "Choose a period of 7, 30 or 90 days"),
        ("?start=0001-01-01&end=2025-03-01", "on or after 2000-01-01"),
        ("?start=1999-12-31&end=2000-01-05", "on or after 2000-01-01"),
        ("?start=2025-03-01&end=2025-04-01", "can't end after today"),
        ("?start=2020-01-01&end=2025-03-01", "at most 731 days"),
        ("?start=99999-01-01&end=99999-01-02", "Enter the start date as YYYY-MM-DD"),
        ("?start=%3Cscript%3E&end=2025-03-01", "Enter the start date as YYYY-MM-DD"),
    ],
)
def test_bad_period_input_gives_a_message_not_a_500(
    clock: Any, lead: Any, client_for: Any, query: str, message: str
) -> None:
    response = get_dashboard(client_for(lead), query)
    content = response.content.decode()
    assert message in html.unescape(content)
    assert "Showing the last 30 days instead" in content
    assert response.context["data"].period.days == 30
    assert "<script>" not in content


def test_a_custom_period_of_one_day(clock: Any, lead: Any, client_for: Any) -> None:
    data = get_dashboard(client_for(lead), "?start=2025-03-19&end=2025-03-19").context["data"]
    assert data.period.days == 1
    assert len(data.weekly) == 1


def test_page_has_no_inline_scripts_or_styles(scenario: dict[str, Escalation], lead: Any, client_for: Any) -> None:
    content = get_dashboard(client_for(lead)).content.decode()
    # One script, the page's refresh (static/js/live.js), from our own origin: no inline script.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", content, flags=re.S)
    assert [(re.search(r'src="([^"]+)"', attrs).group(1), body) for attrs, body in scripts] == [  # type: ignore[union-attr]
        ("/static/js/live.js", "")
    ]
    assert not re.search(r"\son[a-z]+=", content)
    assert not re.search(r"\sstyle=", content)
    assert content.count('<svg class="chart"') == 4
    assert content.count("<title id=") == 4 and content.count("<desc id=") == 4


def test_empty_database_renders(clock: Any, auditor: Any, client_for: Any) -> None:
    response = get_dashboard(client_for(auditor))
    content = response.content.decode()
    assert "No data for this period" in content
    assert "No open escalation is overdue" in content
    assert response.context["data"].figures.overall.median.seconds is None


# --- Bounded queries -----------------------------------------------------------------------------


def _grow(make_escalation: Any, people: list[Any], lead: Any, count: int) -> None:
    """`count` escalations in every state the page shows a row for: late with reasons, on time,
    urgent, open overdue, unassigned, confirmed, different assignees."""
    now = timezone.now()
    for i in range(count):
        person = people[i % len(people)]
        fields: dict[str, Any] = {"actor": person, "assignee": person}
        if i % 5 == 0:
            fields.update(URGENT)
        knowledge = now - timedelta(days=2 + i % 40, hours=i % 7)
        kind = i % 4
        if kind == 0:  # late
            esc = make_escalation(knowledge_at=knowledge, reported_at=knowledge + timedelta(hours=30), **fields)
        elif kind == 1:  # on time, confirmed
            esc = make_escalation(knowledge_at=knowledge, reported_at=knowledge + timedelta(minutes=20), **fields)
            services.confirm_preservation(
                actor=person, escalation_id=esc.pk, version=esc.version, preservation_location="vault://x"
            )
        else:  # open (overdue, mostly)
            esc = make_escalation(knowledge_at=knowledge, **fields)
            if kind == 3:
                services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=None)


def _count_queries(client: Any) -> int:
    client.get(f"/dashboard/{PERIOD}")  # warm up per-process caches (content types, templates)
    cache.clear()  # the period's figures counted again: the page's most queries
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/dashboard/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_same_number_of_queries_for_1_and_200_escalations(
    make_user: Any, lead: Any, moderator: Any, client_for: Any, make_escalation: Any, django_assert_max_num_queries: Any
) -> None:
    people = [moderator, lead, *(make_user(f"m{i}", "moderator") for i in range(5))]
    client = client_for(lead)
    _grow(make_escalation, people, lead, 1)
    one = _count_queries(client)
    _grow(make_escalation, people, lead, 199)
    assert Escalation.objects.count() == 200
    many = _count_queries(client)
    assert one == many
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get("/dashboard/?period=90")
    data = response.context["data"]
    assert data.figures.breaches.value == 51  # i % 4 == 0: 1 of the first, 50 of the next 199
    assert len(data.current.most_overdue) == dashboard.MOST_OVERDUE_LIMIT
    assert data.current.open_total.value == Escalation.objects.filter(status=Status.OPEN).count() == 99


def test_charts_mark_partial_weeks_and_the_backlog_follows_the_period(
    scenario: dict[str, Escalation], lead: Any, client_for: Any
) -> None:
    # 5 to 19 March: the first week (from Monday 3 March) is cut by the period, the last is not over.
    response = get_dashboard(client_for(lead), "?start=2025-03-05&end=2025-03-19")
    data = response.context["data"]
    assert [(w.week_start, w.partial) for w in data.weekly] == [(at(3, 3), True), (at(3, 10), False), (at(3, 17), True)]
    assert data.weekly[0].days_covered == 5 and data.weekly[2].days_covered == 2.5
    charts = {c.slug: c for c in response.context["charts"]}
    assert "Weeks marked * (03 Mar, 17 Mar) are only partly in the period" in charts["time-to-report"].desc
    html = response.content.decode()
    assert "03 Mar*" in html and "17 Mar*" in html and "10 Mar*" not in html
    assert [p.at for p in data.backlog] == [at(3, 5), at(3, 10), at(3, 17), NOW]
    # A period in the past: the backlog is counted there, not in the last weeks before today.
    data = get_dashboard(client_for(lead), "?start=2025-02-10&end=2025-02-20").context["data"]
    assert [p.at for p in data.backlog] == [at(2, 10), at(2, 17), at(2, 20, 23, 59) + timedelta(seconds=59.999999)]
    # E13 (known 16 Feb 10:00, reported 18 Feb 10:00, target 17 Feb 10:00) was waiting at 17 Feb 00:00.
    assert [(p.overdue, p.within) for p in data.backlog] == [(0, 0), (0, 1), (0, 0)]
