"""A page costs the same few queries for 1 row as for 100: no query per row, ever.

Each test measures the page with 1 row, adds 99 more (with different assignees, audit events and
duplicate references, so that any per-row lookup would show), and asserts the count is unchanged and
under a fixed ceiling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.core import services
from escalations.models import Notification, Priority

ROWS = 100

# The smallest ceilings that pass. Every page: the session, then one query for the user with their
# roles, time zone, unread count and last sweep (escalations/request_context.py). Then
# list: the rows (assignee joined), the filter's assignee and authority (destination) choices and the
# user's saved views; mine:
# the rows; detail: the escalation (people joined), its timeline (actors joined), delivery attempts,
# cancelled reminders, and what follows the report (legal requests, extensions, destination reports,
# evidence items and related escalations: one query each, whatever their number); the rules and the
# rule versions it was judged by (two); its authority register (one, the triage joined to the
# escalation); and one access-log row (need-to-know). notifications: the
# paginator's count and the rows
# (escalations joined). The session is written at most once a minute (escalations/idle_session.py),
# so not by these requests: the clock stands still in this module (tests/accounts/test_idle_sessions.py counts
# that write).
MAX_QUERIES = {
    "list": 6,
    "list-filtered": 6,
    "mine": 3,
    "detail": 11 + 1 + 2 + 1,
    "notifications": 4,
}


# How many rows each page shows with the 100 escalations (a page holds 50).
MIN_ROWS_SHOWN = {"list": 50, "list-filtered": 30, "mine": 20}


# Every test here with the clock standing still at its start (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def people(make_user: Any, moderator: Any, lead: Any) -> list[Any]:
    return [moderator, lead, *(make_user(f"mod{i}", "moderator") for i in range(3))]


def _grow(make_escalation: Any, lead: Any, people: list[Any], count: int) -> list[Any]:
    """`count` escalations in mixed states, assigned round-robin, some reported, some urgent."""
    now = timezone.now()
    made = []
    for i in range(count):
        fields: dict[str, Any] = {
            "knowledge_at": now - timedelta(hours=1 + i % 30),
            "assignee": people[i % len(people)] if i % 7 else people[0],
        }
        if i % 5 == 0:
            fields.update(priority=Priority.URGENT, urgent_reason="Imminent danger.")
        if i % 3 == 0:
            fields.update(reported_at=now - timedelta(minutes=30))
        made.append(make_escalation(**fields))
    return made


def _measure(client: Any, url: str) -> int:
    client.get(url)  # warm up anything cached per process (content types, templates)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("list", "/escalations/"),
        ("list-filtered", "/escalations/?status=open&deadline_state=on_track&priority=standard"),
        ("mine", "/escalations/mine/"),
    ],
)
def test_list_pages_cost_the_same_for_1_and_100_rows(
    name: str,
    url: str,
    moderator: Any,
    lead: Any,
    people: list[Any],
    client_for: Any,
    make_escalation: Any,
    django_assert_num_queries: Any,
    django_assert_max_num_queries: Any,
) -> None:
    client = client_for(moderator)
    make_escalation(knowledge_at=timezone.now() - timedelta(hours=1))
    one_row = _measure(client, url)

    _grow(make_escalation, lead, people, ROWS - 1)
    with django_assert_num_queries(one_row), django_assert_max_num_queries(MAX_QUERIES[name]):
        response = client.get(url)
    assert response.status_code == 200
    # The page really did render many rows (a page of 50), not an empty table.
    assert response.content.decode().count("data-key=") >= MIN_ROWS_SHOWN[name]


def test_detail_page_costs_the_same_for_1_and_100_timeline_rows(
    moderator: Any,
    lead: Any,
    people: list[Any],
    client_for: Any,
    make_escalation: Any,
    django_assert_num_queries: Any,
    django_assert_max_num_queries: Any,
) -> None:
    client = client_for(moderator)
    small = make_escalation(platform_reference="acct-small")
    one_row = _measure(client, f"/escalations/{small.pk}/")

    # A long history by several people, a recorded report, and many escalations on the same reference.
    big = make_escalation(platform_reference="acct-big", knowledge_at=timezone.now() - timedelta(hours=3))
    for i in range(ROWS - 3):
        big = services.assign_escalation(
            actor=lead, escalation_id=big.pk, version=big.version, assignee=people[i % len(people)]
        )
    big = services.record_report(
        actor=moderator,
        escalation_id=big.pk,
        version=big.version,
        reported_at=timezone.now() - timedelta(hours=1),
        cybertipline_report_id="9876543",
    )
    big = services.confirm_preservation(
        actor=people[2], escalation_id=big.pk, version=big.version, preservation_location="store/1"
    )
    assert big.audit_events.count() == ROWS
    for _ in range(25):
        make_escalation(platform_reference="acct-big")

    with django_assert_num_queries(one_row), django_assert_max_num_queries(MAX_QUERIES["detail"]):
        response = client.get(f"/escalations/{big.pk}/")
    assert response.status_code == 200
    assert response.content.decode().count("<li>") >= ROWS


def test_notifications_page_costs_the_same_for_1_and_100_notifications(
    moderator: Any,
    lead: Any,
    people: list[Any],
    client_for: Any,
    make_escalation: Any,
    django_assert_num_queries: Any,
    django_assert_max_num_queries: Any,
) -> None:
    """Each notification links its escalation: no query per row for it, nor for anything else."""
    client = client_for(lead)
    now = timezone.now()

    def add(count: int) -> None:
        for i in range(count):
            Notification.objects.create(
                user=lead,
                escalation=make_escalation(),
                title=f"Reminder {i}",
                body="Report overdue",
                created_at=now - timedelta(minutes=i),
                read_at=now if i % 2 else None,
            )

    add(1)
    one_row = _measure(client, "/notifications/")

    add(ROWS - 1)
    # Someone else's notifications are neither shown nor counted.
    Notification.objects.create(user=moderator, title="Not yours", created_at=now)
    with django_assert_num_queries(one_row), django_assert_max_num_queries(MAX_QUERIES["notifications"]):
        response = client.get("/notifications/")
    assert response.status_code == 200
    content = response.content.decode()
    # A page of 50, each with the link to its escalation.
    assert content.count('<li class="unread">') + content.count('<li class="read">') == 50
    assert content.count(">Open ESC-") == 50
    assert "Not yours" not in content
