"""The dashboard's "filings overdue by authority": an obligation counts from one second after its
deadline while it is Due, on a live escalation that is not a test record; one query whatever the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.compliance import authority_figures
from escalations.core import services
from escalations.legal import authority_services
from escalations.legal import services as legal_services
from escalations.models import AuthorityObligation, Destination

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CLOCK_START = T0
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def owe(actor: Any, esc: Any, **answers: bool) -> None:
    authority_services.answer_triage(actor=actor, escalation_id=esc.pk, version=None, answers=answers)


def figures(now: datetime) -> dict[str, int]:
    return {row.authority: row.overdue for row in authority_figures.overdue_by_authority(now)}


def test_overdue_by_authority_counts_only_live_unfiled_obligations_past_their_deadline(
    clock: Any, make_escalation: Any, moderator: Any, lead: Any
) -> None:
    knowledge = T0 - 2 * HOUR
    deadline = knowledge + 24 * HOUR
    for _ in range(2):
        owe(moderator, make_escalation(knowledge_at=knowledge), canada_connection=True)
    owe(moderator, make_escalation(knowledge_at=knowledge), uk_linked=True)
    filed = make_escalation(knowledge_at=knowledge)
    owe(moderator, filed, uk_linked=True)
    legal_services.report_to_destination(
        actor=moderator,
        escalation_id=filed.pk,
        version=None,
        destination_id=Destination.objects.get(code="nca").pk,
        reported_at=T0,
        report_id="NCA-1",
    )
    owe(moderator, make_escalation(knowledge_at=knowledge, is_test=True), uk_linked=True)
    dismissed = make_escalation(knowledge_at=knowledge)
    owe(moderator, dismissed, uk_linked=True)
    services.dismiss_escalation(actor=lead, escalation_id=dismissed.pk, version=None, reason="Not reportable")

    assert figures(deadline) == {}  # exactly at the deadline: still due soon, as for NCMEC's report
    assert figures(deadline + SECOND) == {
        "Canadian Centre for Child Protection (Canada)": 2,
        "Police (Canada)": 2,
        "National Crime Agency (United Kingdom)": 1,
    }
    assert [r.authority for r in authority_figures.overdue_by_authority(deadline + SECOND)][:2] == [
        "Canadian Centre for Child Protection (Canada)",
        "Police (Canada)",
    ]
    assert AuthorityObligation.objects.count() == 8
    # Reopened, it counts again.
    services.reopen_escalation(actor=lead, escalation_id=dismissed.pk, version=None, reason="Review was wrong")
    assert figures(deadline + SECOND)["National Crime Agency (United Kingdom)"] == 2


def test_one_query_whatever_the_rows_and_the_dashboard_shows_it(
    clock: Any, make_escalation: Any, moderator: Any, lead: Any, client_for: Any
) -> None:
    for _ in range(5):
        owe(moderator, make_escalation(knowledge_at=T0 - 30 * HOUR), uk_linked=True, australian_end_users=True)
    with CaptureQueriesContext(connection) as ctx:
        assert figures(T0) == {"Australian Federal Police": 5, "National Crime Agency (United Kingdom)": 5}
    assert len(ctx.captured_queries) == 1
    page = client_for(lead).get("/dashboard/").content.decode()
    assert 'id="authority-overdue"' in page and "<td>National Crime Agency (United Kingdom)</td>" in page
