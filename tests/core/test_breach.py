"""Breach reasons through the pages: a late report needs a reason (a note with "other"); leads amend
it (audited); nobody else can."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from escalations.core import services
from escalations.models import AuditAction, AuditEvent, Escalation, Status
from tests.conftest import FormClient


def _local(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def field_errors(html: str, field: str) -> list[str]:
    start = html.index(f'id="field-{field}"')
    end = html.find('id="field-', start + 1)
    block = html[start : end if end > 0 else len(html)]
    errors = re.search(r'<div class="field-errors" role="alert">(.*?)</div>', block, re.S)
    return re.findall(r"<p>(.*?)</p>", errors.group(1)) if errors else []


@pytest.fixture
def overdue(make_escalation: Any) -> Escalation:
    """Knowledge two days ago: the 24-hour target has passed."""
    return make_escalation(knowledge_at=timezone.now() - timedelta(days=2))


def report(client: Any, esc: Escalation, **extra: Any) -> Any:
    data = {
        "version": esc.version,
        "reported_at": _local(timezone.now() - timedelta(minutes=5)),
        "cybertipline_report_id": "5551234",
        "breach_reason": "",
        "breach_note": "",
    }
    data.update(extra)
    return client.post(f"/escalations/{esc.pk}/report/", data)


def test_report_form_offers_breach_fields(client_for: Any, moderator: Any, overdue: Escalation) -> None:
    html = client_for(moderator).get(f"/escalations/{overdue.pk}/report/").content.decode()
    assert '<select name="breach_reason"' in html
    assert '<option value="other">Other (explain in the note)</option>' in html
    assert '<textarea name="breach_note"' in html


def test_late_report_without_reason_is_refused_naming_the_field(
    client_for: Any, moderator: Any, overdue: Escalation
) -> None:
    response = report(client_for(moderator), overdue)
    assert response.status_code == 200
    errors = field_errors(response.content.decode(), "breach_reason")
    assert len(errors) == 1
    assert errors[0].startswith("Breach reason is required: the report was recorded after its target (")
    overdue.refresh_from_db()
    assert overdue.status == Status.OPEN and overdue.version == 1
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_RECORDED).exists()


def test_other_needs_a_note(client_for: Any, moderator: Any, overdue: Escalation) -> None:
    response = report(client_for(moderator), overdue, breach_reason="other", breach_note="   ")
    assert response.status_code == 200
    assert field_errors(response.content.decode(), "breach_note") == ["Breach note is required."]
    overdue.refresh_from_db()
    assert overdue.status == Status.OPEN


def test_late_report_with_reason_is_recorded_and_audited(client_for: Any, moderator: Any, overdue: Escalation) -> None:
    response = report(client_for(moderator), overdue, breach_reason="other", breach_note="Tool outage at NCMEC's side.")
    assert response.status_code == 302
    overdue.refresh_from_db()
    assert (overdue.status, overdue.reported_on_time) == (Status.REPORTED, False)
    assert (overdue.breach_reason, overdue.breach_note) == ("other", "Tool outage at NCMEC's side.")
    event = AuditEvent.objects.get(action=AuditAction.REPORT_RECORDED)
    assert event.changes["breach_reason"] == [None, "other"] or event.changes["breach_reason"] == ["", "other"]
    assert event.changes["breach_note"][1] == "Tool outage at NCMEC's side."
    html = client_for(moderator).get(f"/escalations/{overdue.pk}/").content.decode()
    assert "Reported late because" in html
    assert "Other (explain in the note): Tool outage at NCMEC&#x27;s side." in html


def test_on_time_report_keeps_no_reason(client_for: Any, moderator: Any, make_escalation: Any) -> None:
    esc = make_escalation(knowledge_at=timezone.now() - timedelta(hours=1))
    response = report(client_for(moderator), esc, breach_reason="volume", breach_note="Not needed.")
    assert response.status_code == 302
    esc.refresh_from_db()
    assert (esc.reported_on_time, esc.breach_reason, esc.breach_note) == (True, "", "")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"breach_reason": "made-up"}, "breach_reason", "Select a valid choice."),
        (
            {"breach_reason": "other", "breach_note": "x" * 5001},
            "breach_note",
            "Breach note is too long: at most 4000 characters (this one has 5001).",
        ),
        ({"breach_reason": "other", "breach_note": "data:image/png;base64,AAAA"}, "breach_note", "file content"),
    ],
)
def test_bad_breach_input_is_a_message_not_a_500(
    data: dict[str, str], field: str, message: str, client_for: Any, moderator: Any, overdue: Escalation
) -> None:
    response = report(client_for(moderator), overdue, **data)
    assert response.status_code == 200
    assert any(message in error for error in field_errors(response.content.decode(), field))
    overdue.refresh_from_db()
    assert overdue.status == Status.OPEN


# --- Amending (leads) ------------------------------------------------------------------------------


@pytest.fixture
def late(make_escalation: Any) -> Escalation:
    now = timezone.now()
    return make_escalation(
        knowledge_at=now - timedelta(days=3), reported_at=now - timedelta(days=1), breach_reason="volume"
    )


def test_lead_amends_the_reason_audited(client_for: Any, lead: Any, late: Escalation) -> None:
    client = client_for(lead)
    detail = client.get(f"/escalations/{late.pk}/").content.decode()
    assert f'href="/escalations/{late.pk}/breach/"' in detail

    form = client.get(f"/escalations/{late.pk}/breach/").content.decode()
    assert '<option value="volume" selected>' in form

    response = client.post(
        f"/escalations/{late.pk}/breach/",
        {"version": late.version, "breach_reason": "handoff", "breach_note": "Waited on legal."},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/escalations/{late.pk}/"
    late.refresh_from_db()
    assert (late.breach_reason, late.breach_note) == ("handoff", "Waited on legal.")
    event = AuditEvent.objects.get(action=AuditAction.BREACH_AMENDED)
    assert event.actor == lead
    assert event.changes == {"breach_reason": ["volume", "handoff"], "breach_note": ["", "Waited on legal."]}
    assert "Breach reason amended" in client.get(f"/escalations/{late.pk}/").content.decode()


def test_amend_to_other_needs_a_note(client_for: Any, lead: Any, late: Escalation) -> None:
    response = client_for(lead).post(
        f"/escalations/{late.pk}/breach/", {"version": late.version, "breach_reason": "other", "breach_note": ""}
    )
    assert response.status_code == 200
    assert field_errors(response.content.decode(), "breach_note") == ["Breach note is required."]
    assert not AuditEvent.objects.filter(action=AuditAction.BREACH_AMENDED).exists()


def test_amend_without_a_reason_is_refused(client_for: Any, lead: Any, late: Escalation) -> None:
    response = client_for(lead).post(
        f"/escalations/{late.pk}/breach/", {"version": late.version, "breach_reason": "", "breach_note": ""}
    )
    assert response.status_code == 200
    assert field_errors(response.content.decode(), "breach_reason")[0].startswith("Breach reason is required")
    late.refresh_from_db()
    assert late.breach_reason == "volume"


def test_amend_on_an_on_time_report_is_refused(client_for: Any, lead: Any, make_escalation: Any) -> None:
    esc = make_escalation(reported_at=timezone.now() - timedelta(minutes=1))
    client = client_for(lead)
    assert f"/escalations/{esc.pk}/breach/" not in client.get(f"/escalations/{esc.pk}/").content.decode()
    response = client.post(
        f"/escalations/{esc.pk}/breach/", {"version": esc.version, "breach_reason": "volume", "breach_note": ""}
    )
    assert response.status_code == 200
    assert f"{esc.key} has no late report, so it has no breach reason to amend." in response.content.decode()


def test_amend_on_a_stale_version_keeps_the_input(client_for: Any, lead: Any, late: Escalation) -> None:
    services.amend_breach(
        actor=lead, escalation_id=late.pk, version=late.version, breach_reason="staffing", breach_note=""
    )
    response = client_for(lead).post(
        f"/escalations/{late.pk}/breach/", {"version": late.version, "breach_reason": "tooling", "breach_note": ""}
    )
    assert response.status_code == 200
    assert "so nothing was saved" in response.content.decode()
    late.refresh_from_db()
    assert late.breach_reason == "staffing"


@pytest.mark.parametrize("version", ["", "abc", "0", "9" * 30])
def test_amend_with_a_bad_version_is_a_message(version: str, client_for: Any, lead: Any, late: Escalation) -> None:
    response = client_for(lead).post(
        f"/escalations/{late.pk}/breach/", {"version": version, "breach_reason": "tooling", "breach_note": ""}
    )
    assert response.status_code == 200
    late.refresh_from_db()
    assert late.breach_reason == "volume"


@pytest.mark.parametrize("role", ["moderator", "auditor"])
def test_only_leads_amend(role: str, request: Any, client_for: Any, late: Escalation) -> None:
    client = client_for(request.getfixturevalue(role))
    assert f"/escalations/{late.pk}/breach/" not in client.get(f"/escalations/{late.pk}/").content.decode()
    assert client.get(f"/escalations/{late.pk}/breach/").status_code == 403
    response = client.post(
        f"/escalations/{late.pk}/breach/", {"version": late.version, "breach_reason": "tooling", "breach_note": ""}
    )
    assert response.status_code == 403
    assert "Only a lead can amend a breach reason." in response.content.decode()
    late.refresh_from_db()
    assert late.breach_reason == "volume"


def test_amend_unknown_escalation_is_404(client_for: Any, lead: Any) -> None:
    assert client_for(lead).get("/escalations/999999/breach/").status_code == 404


def test_amend_needs_the_csrf_token(lead: Any, late: Escalation) -> None:
    client = FormClient(enforce_csrf_checks=True)
    client.force_login(lead)
    data = {"version": late.version, "breach_reason": "tooling", "breach_note": ""}
    assert client.post(f"/escalations/{late.pk}/breach/", data).status_code == 403
    html = client.get(f"/escalations/{late.pk}/breach/").content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match
    data["csrfmiddlewaretoken"] = match.group(1)
    assert client.post(f"/escalations/{late.pk}/breach/", data).status_code == 302
    late.refresh_from_db()
    assert late.breach_reason == "tooling"
