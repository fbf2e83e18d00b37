"""The rows of My queue and All escalations, written by the table's precompiled formatters, are the
bytes django-tables2 wrote through its template and the table's render_ methods before
(tests/web/frozen_escalation_table.py), over rows of every status, priority, next action and deadline
state, with empty values, HTML-special characters and non-ASCII text, in every sort order and on a
later page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import cycle
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model

from escalations.models import Escalation, IncidentType, Priority, Status, UserProfile
from escalations.policy.actions import ActionKind
from escalations.web.escalation_views import EscalationListView, MyQueueView
from tests.web.frozen_escalation_table import FrozenEscalationTable

NOW = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
# Moments around NOW: past (overdue), within the "soon" window, far ahead, and none.
MOMENTS = [NOW - timedelta(hours=5), NOW + timedelta(minutes=30), NOW + timedelta(days=3, hours=2), None]
ORDERABLE = ("key", "status", "knowledge_at", "next_action")


def masked(content: bytes) -> str:
    # The CSRF token is masked afresh on every response.
    return re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]+', r"\1CSRF", content.decode())


@pytest.fixture
def varied_rows(lead: Any, make_escalation: Any) -> list[Escalation]:
    """Rows covering each value a cell can show, set on the columns directly so that combinations
    the services would not reach in a few steps are shown too."""
    odd_user = get_user_model().objects.create_user(username="Zoë <b>&\"'x", password="correct-horse-battery")
    assignees = cycle([lead, None, odd_user, lead])
    actions = cycle([*ActionKind, ""])
    incident_types = cycle(IncidentType)
    rows = []
    with time_machine.travel(NOW - timedelta(hours=8), tick=False):
        for i, (status, due, deadline) in enumerate(
            (status, due, deadline) for status in Status for due in MOMENTS for deadline in MOMENTS[::-1]
        ):
            urgent = i % 3 == 0
            esc = make_escalation(
                assignee=lead,
                reported_at=None if status == Status.OPEN else NOW - timedelta(hours=8),
                is_test=i % 5 == 0,
                **({"priority": Priority.URGENT, "urgent_reason": "A child <b>at</b> risk & “more”"} if urgent else {}),
            )
            Escalation.objects.filter(pk=esc.pk).update(
                status=status,
                assignee=next(assignees),
                incident_type=next(incident_types),
                next_action=next(actions),
                next_action_due_at=due,
                next_deadline_at=deadline,
                next_deadline_soon_at=None if deadline is None else deadline - timedelta(hours=1),
                knowledge_at=NOW - timedelta(days=i % 4, minutes=i),
            )
            rows.append(esc)
    return rows


PAGES = [
    "/escalations/mine/",
    "/escalations/mine/?per_page=4&page=2",
    "/escalations/",
    "/escalations/?per_page=7&page=3",
    "/escalations/?status=closed",
    "/escalations/?q=nothing-matches-this",
    *(f"/escalations/?sort={sign}{column}" for column in ORDERABLE for sign in ("", "-")),
    *(f"/escalations/mine/?sort={sign}{column}" for column in ORDERABLE for sign in ("", "-")),
]


@pytest.mark.parametrize("viewer", ["lead", "moderator"])
@pytest.mark.parametrize("url", PAGES)
def test_rows_are_the_bytes_django_tables2_wrote(
    url: str,
    viewer: str,
    request: pytest.FixtureRequest,
    varied_rows: list[Escalation],
    client_for: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = request.getfixturevalue(viewer)
    UserProfile.objects.update_or_create(user=user, defaults={"time_zone": "America/New_York"})
    client = client_for(user)
    with time_machine.travel(NOW, tick=False):
        new = client.get(url)
        monkeypatch.setattr(MyQueueView, "table_class", FrozenEscalationTable)
        monkeypatch.setattr(EscalationListView, "table_class", FrozenEscalationTable)
        old = client.get(url)
    assert new.status_code == old.status_code == 200
    assert masked(new.content) == masked(old.content)


def test_the_pages_compared_show_every_kind_of_cell(lead: Any, varied_rows: list[Escalation], client_for: Any) -> None:
    # The comparison above would prove little over rows that all looked alike.
    with time_machine.travel(NOW, tick=False):
        content = masked(client_for(lead).get("/escalations/?per_page=100").content)
    assert content.count('<tr data-key="') == len(varied_rows)
    for needle in (
        "badge-overdue",
        "badge-due_soon",
        "badge-on_track",
        "badge-met",
        "badge-not_applicable",
        "badge-urgent",
        "badge-test",
        "Zoë &lt;b&gt;&amp;&quot;&#x27;x",
        "Take it</button>",
        'type="checkbox"',
        "data-due=",
        "Finish NCMEC report<br>",
        *(label for label in Status.labels),
        *(label.replace("&", "&amp;") for label in IncidentType.labels),
    ):
        assert needle in content, needle


@pytest.mark.parametrize("url", ["/escalations/mine/", "/escalations/?sort=-status"])
def test_the_pages_take_the_written_header_and_rows(
    url: str, lead: Any, varied_rows: list[Escalation], client_for: Any
) -> None:
    # Otherwise the comparison above would hold the template against itself.
    with time_machine.travel(NOW, tick=False):
        table = client_for(lead).get(url).context["table"]
        assert table.fast_thead() is not None
        assert table.fast_tbody() is not None
