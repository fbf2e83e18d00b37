"""Records made while trying the system (is_test): logged like any other, badged everywhere, and left
out of the dashboard and the compliance report unless asked for."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from django.utils import timezone

from escalations.models import Escalation


def test_the_log_form_marks_a_test_record_and_pages_badge_it(client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    knowledge = timezone.localtime() - timedelta(minutes=5)
    response = client.post(
        "/escalations/new/",
        {
            "platform_reference": "trial-1",
            "incident_type": "child_pornography",
            "priority": "standard",
            "knowledge_at": knowledge.strftime("%Y-%m-%dT%H:%M"),
            "is_test": "on",
        },
    )
    assert response.status_code == 302
    esc = Escalation.objects.get(platform_reference="trial-1")
    assert esc.is_test
    assert "Test record" in client.get(f"/escalations/{esc.pk}/").content.decode()
    listing = client.get("/escalations/mine/").content.decode()
    assert 'class="badge badge-test">Test</span>' in listing
    # The audit trail records that it was logged as a test record.
    assert esc.audit_events.get().changes["is_test"] == [None, True]


def _compliance_keys(client: Any, extra: str = "") -> set[str]:
    today = timezone.localdate()
    start = (today - timedelta(days=2)).isoformat()
    response = client.get(f"/reports/compliance/?start={start}&end={today.isoformat()}&_export=csv{extra}")
    content = b"".join(response.streaming_content).decode()
    return {row["Key"] for row in csv.DictReader(io.StringIO(content))}


def test_compliance_report_leaves_test_records_out_unless_asked(
    client_for: Any, lead: Any, make_escalation: Any
) -> None:
    real = make_escalation(knowledge_at=timezone.now() - timedelta(hours=2))
    trial = make_escalation(knowledge_at=timezone.now() - timedelta(hours=2), is_test=True)
    client = client_for(lead)
    assert _compliance_keys(client) == {real.key}
    assert _compliance_keys(client, "&include_test=1") == {real.key, trial.key}
    page = client.get("/reports/compliance/").content.decode()
    assert "Test records (made while trying the system" in page and trial.key not in page


def test_dashboard_leaves_test_records_out(client_for: Any, lead: Any, make_escalation: Any) -> None:
    make_escalation(knowledge_at=timezone.now() - timedelta(hours=30))
    make_escalation(knowledge_at=timezone.now() - timedelta(hours=30), is_test=True)
    data = client_for(lead).get("/dashboard/").context["data"]
    overdue = next(f for f in data.linked_figures() if "deadline_state=overdue" in (f.url or ""))
    assert overdue.value == 1
    assert "is_test=false" in overdue.url
