"""Every message on a form names its field, and all the problems show at once (not one per try)."""

from __future__ import annotations

from typing import Any


def test_missing_fields_and_bad_reference_are_all_named_at_once(client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).post(
        "/escalations/new/",
        {"platform_reference": "data:image/png;base64,AAAA", "incident_type": "", "priority": "standard"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["incident_type"] == ["Incident type is required."]
    assert errors["knowledge_at"] == ["Knowledge obtained is required."]
    assert "contains a data: URI" in errors["platform_reference"][0]
    assert "This field is required." not in response.content.decode()


def test_action_forms_name_their_required_fields(client_for: Any, moderator: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    response = client_for(moderator).post(f"/escalations/{esc.pk}/report/", {"version": esc.version})
    errors = response.context["form"].errors
    assert errors["reported_at"] == ["Reported at is required."]
    assert errors["cybertipline_report_id"] == ["CyberTipline report ID is required."]
