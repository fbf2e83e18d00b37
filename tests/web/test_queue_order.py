"""Queues put what must be done first at the top, and each row names its deadline: My queue, All
escalations (its default order) and the dashboard's overdue list. A moderator at 3 a.m. sees the
urgent report due in a minute above 16 preservation chores that are 79 days late."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from escalations.legal import services as legal_services
from escalations.models import Escalation, Priority

T0 = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)
CLOCK_START = T0
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

pytestmark = pytest.mark.usefixtures("clock")


def row_keys(content: str) -> list[str]:
    return re.findall(r'<tr[^>]*data-key="(ESC-\d{6,})"', content)


def row_of(content: str, esc: Escalation) -> str:
    match = re.search(rf'<tr[^>]*data-key="{esc.key}"[^>]*>(.*?)</tr>', content, re.S)
    assert match, f"no row for {esc.key}"
    return match.group(1)


@pytest.fixture
def night(make_escalation: Any, moderator: Any) -> dict[str, Any]:
    """16 reported escalations whose preservation was never confirmed (up to 79 days late), one
    standard report overdue by a day, and one urgent report due in a minute; all the moderator's."""
    chores = [
        make_escalation(knowledge_at=T0 - (80 - i) * DAY - HOUR, reported_at=T0 - (80 - i) * DAY, assignee=moderator)
        for i in range(16)
    ]
    standard = make_escalation(knowledge_at=T0 - 48 * HOUR, assignee=moderator)
    # Urgent target: 1 hour after knowledge; due one minute from now.
    urgent = make_escalation(
        knowledge_at=T0 - HOUR + MINUTE, priority=Priority.URGENT, urgent_reason="Live stream", assignee=moderator
    )
    return {"chores": chores, "standard": standard, "urgent": urgent}


@pytest.mark.parametrize("url", ["/escalations/mine/", "/escalations/"])
def test_the_urgent_report_due_in_a_minute_is_first_and_each_row_names_its_deadline(
    url: str, moderator: Any, lead: Any, client_for: Any, night: dict[str, Any]
) -> None:
    viewer = moderator if url.endswith("mine/") else lead
    content = client_for(viewer).get(url).content.decode()
    chores = night["chores"]
    # The chores: the most overdue confirmation first.
    assert row_keys(content)[:18] == [night["urgent"].key, night["standard"].key] + [e.key for e in chores]
    assert "File report" in row_of(content, night["urgent"])
    assert "File report" in row_of(content, night["standard"])
    assert "Confirm preservation" in row_of(content, chores[0])
    assert "Next action" in content
    assert "Next deadline" not in content


def test_a_legal_response_comes_before_confirmation_chores_until_it_is_answered(
    moderator: Any, lead: Any, client_for: Any, night: dict[str, Any], make_escalation: Any
) -> None:
    asked = make_escalation(knowledge_at=T0 - 3 * DAY, reported_at=T0 - 3 * DAY + HOUR, assignee=moderator)
    request = legal_services.create_legal_request(
        actor=lead,
        data={
            "kind": "subpoena",
            "agency": "FBI Field Office",
            "reference": "FBI-2026-77",
            "received_at": T0 - HOUR,
            "response_due_at": T0 + 20 * DAY,
            "escalations": [asked.pk],
        },
    )
    asked.refresh_from_db()
    assert asked.legal_response_due_at == T0 + 20 * DAY
    content = client_for(moderator).get("/escalations/mine/").content.decode()
    assert row_keys(content)[:3] == [night["urgent"].key, night["standard"].key, asked.key]
    assert "Respond to legal request" in row_of(content, asked)

    legal_services.respond_legal_request(actor=lead, request_id=request.pk, version=request.version, responded_at=None)
    asked.refresh_from_db()
    assert asked.legal_response_due_at is None
    content = client_for(moderator).get("/escalations/mine/").content.decode()
    assert asked.key not in row_keys(content)[:3]
    assert "Confirm preservation" in row_of(content, asked)


def test_the_dashboard_lists_the_urgent_overdue_report_first_and_names_the_deadline(
    lead: Any, client_for: Any, make_escalation: Any
) -> None:
    very_late = make_escalation(knowledge_at=T0 - 10 * DAY)  # standard, 9 days overdue
    # Urgent, overdue by one second only.
    urgent = make_escalation(knowledge_at=T0 - HOUR - timedelta(seconds=1), priority=Priority.URGENT, urgent_reason="x")
    content = client_for(lead).get("/dashboard/").content.decode()
    section = content[content.index('id="overdue-heading"') :]
    section = section[: section.index("</table>")]
    assert section.index(urgent.key) < section.index(very_late.key)
    assert section.count("File report") == 2


def test_one_second_before_its_target_an_urgent_report_is_not_in_the_overdue_list(
    lead: Any, client_for: Any, make_escalation: Any, clock: Any
) -> None:
    urgent = make_escalation(knowledge_at=T0 - HOUR + timedelta(seconds=1), priority=Priority.URGENT, urgent_reason="x")
    assert urgent.key not in client_for(lead).get("/dashboard/").content.decode()
    clock.move_to(T0 + timedelta(seconds=2))  # one second after the target
    assert urgent.key in client_for(lead).get("/dashboard/").content.decode()
    assert timezone.now() == urgent.next_action_due_at + timedelta(seconds=1)
