"""Bulk actions on All escalations: leads assign selected rows (each through the service, so each is
audited), leads and auditors export selected rows (audited)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from django.contrib.messages import get_messages

from escalations.core import services
from escalations.models import AuditAction, AuditEvent, Escalation
from tests.conftest import FormClient


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def assigned_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.ASSIGNED).order_by("pk"))


@pytest.fixture
def rows(make_escalation: Any) -> list[Escalation]:
    return [make_escalation() for _ in range(3)]


def test_leads_get_checkboxes_and_both_actions(client_for: Any, lead: Any, rows: list[Escalation]) -> None:
    html = client_for(lead).get("/escalations/").content.decode()
    for esc in rows:
        assert (
            f'<input type="checkbox" name="ids" value="{esc.pk}" form="bulk-form" aria-label="Select {esc.key}" />'
            in html
        )
    assert '<form id="bulk-form" method="post" action="/escalations/bulk/"' in html
    assert 'name="action" value="assign"' in html
    assert 'name="action" value="export"' in html
    assert '<select id="id_bulk_assignee" name="assignee">' in html


def test_auditors_may_only_export_selected(client_for: Any, auditor: Any, rows: list[Escalation]) -> None:
    html = client_for(auditor).get("/escalations/").content.decode()
    assert html.count('name="ids"') == 3
    assert 'name="action" value="export"' in html
    assert 'name="action" value="assign"' not in html
    assert 'name="assignee"' not in html.split('id="bulk-form"')[1].split("</form>")[0]


def test_moderators_get_no_bulk_form_and_the_queue_has_no_checkboxes(
    client_for: Any, moderator: Any, lead: Any, rows: list[Escalation]
) -> None:
    html = client_for(moderator).get("/escalations/").content.decode()
    assert 'name="ids"' not in html and "bulk-form" not in html
    assert ">Select<" not in html
    assert 'name="ids"' not in client_for(lead).get("/escalations/mine/").content.decode()


def test_lead_assigns_selected_each_audited_and_reports_failures(
    client_for: Any, lead: Any, make_user: Any, make_escalation: Any, rows: list[Escalation]
) -> None:
    target = make_user("newmod", "moderator")
    dismissed = make_escalation()
    services.dismiss_escalation(actor=lead, escalation_id=dismissed.pk, version=dismissed.version, reason="Spam.")
    ids = [str(esc.pk) for esc in rows] + [str(dismissed.pk), "999999", "abc", "9" * 30, str(rows[0].pk)]

    response = client_for(lead).post(
        "/escalations/bulk/",
        {"action": "assign", "assignee": target.pk, "ids": ids, "query": "status=open&page=2&sort=key"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/escalations/?status=open&sort=key"
    success, warning = messages_of(response)
    keys = ", ".join(esc.key for esc in rows)
    assert success == f"Assigned 3 escalations to newmod: {keys}."
    assert warning.startswith("4 not assigned: ")
    assert "'abc' (not an escalation number)" in warning
    assert f"{dismissed.key} ({dismissed.key} is dismissed; only active escalations are assigned.)" in warning
    assert "ESC-999999 (no such escalation)" in warning

    for esc in rows:
        esc.refresh_from_db()
        assert esc.assignee == target
    events = assigned_events()
    assert [e.escalation_id for e in events] == [esc.pk for esc in rows]
    assert all(e.actor == lead and e.changes == {"assignee": ["mod", "newmod"]} for e in events)
    dismissed.refresh_from_db()
    assert dismissed.assignee != target


def test_already_assigned_rows_are_left_alone(
    client_for: Any, lead: Any, moderator: Any, rows: list[Escalation]
) -> None:
    response = client_for(lead).post(
        "/escalations/bulk/", {"action": "assign", "assignee": moderator.pk, "ids": [rows[0].pk]}
    )
    assert messages_of(response) == [f"1 not assigned: {rows[0].key} (already assigned to mod)"]
    assert assigned_events() == []


@pytest.mark.parametrize("assignee", ["", "abc", "999999", "9" * 40, "auditor"])
def test_assignee_must_be_an_active_moderator_or_lead(
    assignee: str, client_for: Any, lead: Any, auditor: Any, rows: list[Escalation]
) -> None:
    value = str(auditor.pk) if assignee == "auditor" else assignee
    response = client_for(lead).post("/escalations/bulk/", {"action": "assign", "assignee": value, "ids": [rows[0].pk]})
    assert response.status_code == 302
    assert messages_of(response) == ["Choose the moderator or lead to assign the selected escalations to."]
    assert assigned_events() == []


def test_nothing_selected(client_for: Any, lead: Any, moderator: Any) -> None:
    for data in (
        {"action": "assign", "assignee": moderator.pk},
        {"action": "export"},
        {"action": "export", "ids": "x"},
    ):
        response = client_for(lead).post("/escalations/bulk/", data)
        assert response.status_code == 302
        assert response["Location"] == "/escalations/"
        assert messages_of(response)[-1] == "Select at least one escalation first (tick its box in the table)."
    assert not AuditEvent.objects.filter(action__in=(AuditAction.ASSIGNED, AuditAction.EXPORTED)).exists()


def test_too_many_selected(client_for: Any, lead: Any, moderator: Any) -> None:
    response = client_for(lead).post(
        "/escalations/bulk/", {"action": "assign", "assignee": moderator.pk, "ids": [str(i) for i in range(1, 502)]}
    )
    assert messages_of(response) == ["Select at most 500 escalations at once."]


@pytest.mark.parametrize("role", ["moderator", "auditor"])
def test_only_leads_bulk_assign(role: str, request: Any, client_for: Any, lead: Any, rows: list[Escalation]) -> None:
    user = request.getfixturevalue(role)
    response = client_for(user).post(
        "/escalations/bulk/", {"action": "assign", "assignee": lead.pk, "ids": [e.pk for e in rows]}
    )
    assert response.status_code == 403
    assert "Only a lead can assign escalations." in response.content.decode()
    assert assigned_events() == []


@pytest.mark.parametrize("role", ["lead", "auditor"])
def test_export_selected(role: str, request: Any, client_for: Any, rows: list[Escalation]) -> None:
    user = request.getfixturevalue(role)
    chosen = [rows[0].pk, rows[2].pk]
    response = client_for(user).post(
        "/escalations/bulk/", {"action": "export", "ids": [*chosen, "abc", "424242"], "query": "status=open"}
    )
    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0][0] == "Key"
    assert sorted(row[0] for row in table[1:]) == sorted([rows[0].key, rows[2].key])

    event = AuditEvent.objects.get(action=AuditAction.EXPORTED)
    assert event.actor == user
    assert event.changes == {
        "export": "escalations-selected.csv",
        "filters": f"ids={chosen[0]},{chosen[1]},424242",
        "rows": 2,
    }


def test_moderators_cannot_export_selected(client_for: Any, moderator: Any, rows: list[Escalation]) -> None:
    response = client_for(moderator).post("/escalations/bulk/", {"action": "export", "ids": [rows[0].pk]})
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORTED).exists()


@pytest.mark.parametrize("action", ["", "delete", "ASSIGN", "x" * 5000])
def test_unknown_action_is_400(action: str, client_for: Any, lead: Any, rows: list[Escalation]) -> None:
    data: dict[str, Any] = {"ids": [rows[0].pk], "assignee": lead.pk}
    if action:
        data["action"] = action
    response = client_for(lead).post("/escalations/bulk/", data)
    assert response.status_code == 400
    assert "Unknown bulk action" in response.content.decode()
    assert not AuditEvent.objects.filter(action__in=(AuditAction.ASSIGNED, AuditAction.EXPORTED)).exists()


def test_get_is_not_allowed_and_nobody_is_refused(client_for: Any, lead: Any, nobody: Any) -> None:
    assert client_for(lead).get("/escalations/bulk/").status_code == 405
    assert client_for(nobody).post("/escalations/bulk/", {"action": "export", "ids": "1"}).status_code == 403


def test_redirect_stays_on_the_list(client_for: Any, lead: Any, moderator: Any, rows: list[Escalation]) -> None:
    response = client_for(lead).post(
        "/escalations/bulk/",
        {"action": "assign", "assignee": moderator.pk, "ids": [rows[0].pk], "query": "//evil.example/?a=1"},
    )
    assert response["Location"].startswith("/escalations/?")
    assert "evil.example" not in response["Location"].split("?")[0]


def test_bulk_post_needs_the_csrf_token(lead: Any, moderator: Any, make_user: Any, rows: list[Escalation]) -> None:
    target = make_user("other", "moderator")
    client = FormClient(enforce_csrf_checks=True)
    client.force_login(lead)
    data: dict[str, Any] = {"action": "assign", "assignee": target.pk, "ids": [rows[0].pk]}
    assert client.post("/escalations/bulk/", data).status_code == 403
    assert assigned_events() == []

    html = client.get("/escalations/").content.decode()
    form = html[html.index('id="bulk-form"') :]
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert match
    data["csrfmiddlewaretoken"] = match.group(1)
    assert client.post("/escalations/bulk/", data).status_code == 302
    assert len(assigned_events()) == 1
