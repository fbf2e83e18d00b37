"""Corrections are explained: a recorded report's time, ID or breach reason changes only through
"Correct the report", which requires a reason, on the page and in the API; the timeline shows the
old and new values with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from escalations.accounts import tokens
from escalations.core import services
from escalations.models import AuditAction, AuditEvent, Escalation

CLOCK_START = datetime(2025, 5, 6, 14, 0, 37, tzinfo=UTC)
KNOWN = CLOCK_START - timedelta(hours=30)  # the 24 h target passed six hours ago


def reload(esc: Escalation) -> Escalation:
    return Escalation.objects.get(pk=esc.pk)


def last_event(esc: Escalation) -> AuditEvent:
    return AuditEvent.objects.filter(escalation=esc).latest("pk")


@pytest.fixture
def reported(clock: Any, make_escalation: Any) -> Escalation:
    """Reported in time, 44 seconds past a minute, report ID 5550001."""
    return make_escalation(knowledge_at=KNOWN, reported_at=KNOWN + timedelta(hours=2, seconds=44), report_id="5550001")


def test_correcting_the_report_id_needs_a_reason_and_keeps_old_and_new(reported: Escalation, moderator: Any) -> None:
    fixed = services.correct_report(
        actor=moderator,
        escalation_id=reported.pk,
        version=reported.version,
        reason="Typed 5550001; NCMEC's receipt says 5550002.",
        cybertipline_report_id="5550002",
    )
    assert fixed.cybertipline_report_id == "5550002" and fixed.version == reported.version + 1
    assert fixed.reported_at == reported.reported_at  # left out: unchanged
    event = last_event(reported)
    assert event.action == AuditAction.REPORT_CORRECTED
    assert event.reason == "Typed 5550001; NCMEC's receipt says 5550002."
    assert event.changes == {"cybertipline_report_id": ["5550001", "5550002"]}


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_correction_without_a_reason_is_refused(reported: Escalation, moderator: Any, reason: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        services.correct_report(
            actor=moderator, escalation_id=reported.pk, version=None, reason=reason, cybertipline_report_id="5550002"
        )
    assert "reason" in excinfo.value.message_dict
    assert reload(reported).cybertipline_report_id == "5550001"
    assert last_event(reported).action == AuditAction.REPORT_RECORDED


def test_a_correction_that_changes_nothing_says_so(reported: Escalation, moderator: Any) -> None:
    with pytest.raises(ValidationError, match="Nothing to correct"):
        services.correct_report(
            actor=moderator, escalation_id=reported.pk, version=None, reason="Check.", cybertipline_report_id="5550001"
        )


def test_recording_a_report_again_is_refused_and_points_to_the_correction(reported: Escalation, moderator: Any) -> None:
    with pytest.raises(ValidationError, match="use Correct the report and say why"):
        services.record_report(
            actor=moderator,
            escalation_id=reported.pk,
            version=None,
            reported_at=reported.reported_at,
            cybertipline_report_id="5550009",
        )
    assert reload(reported).cybertipline_report_id == "5550001"


def test_a_time_corrected_past_the_target_needs_a_breach_reason_and_back_clears_it(
    reported: Escalation, moderator: Any
) -> None:
    late = KNOWN + timedelta(hours=26)
    with pytest.raises(ValidationError) as excinfo:
        services.correct_report(
            actor=moderator, escalation_id=reported.pk, version=None, reason="Sent later than noted.", reported_at=late
        )
    assert "breach_reason" in excinfo.value.message_dict
    esc = services.correct_report(
        actor=moderator,
        escalation_id=reported.pk,
        version=None,
        reason="Sent later than noted.",
        reported_at=late,
        breach_reason="volume",
    )
    assert (esc.reported_on_time, esc.breach_reason) == (False, "volume")
    assert last_event(reported).changes["breach_reason"] == ["", "volume"]
    esc = services.correct_report(
        actor=moderator, escalation_id=reported.pk, version=None, reason="The receipt says 17:00.",
        reported_at=KNOWN + timedelta(hours=3),
    )  # fmt: skip
    assert (esc.reported_on_time, esc.breach_reason) == (True, "")


def test_only_a_reported_escalation_is_corrected_and_auditors_cannot(
    clock: Any, reported: Escalation, make_escalation: Any, moderator: Any, auditor: Any
) -> None:
    with pytest.raises(PermissionDenied):
        services.correct_report(actor=auditor, escalation_id=reported.pk, version=None, reason="x", report_id="1")
    still_open = make_escalation()
    with pytest.raises(ValidationError, match="no recorded report to correct"):
        services.correct_report(
            actor=moderator, escalation_id=still_open.pk, version=None, reason="x", cybertipline_report_id="77"
        )


# --- the page -------------------------------------------------------------------------------------


def typed(moment: datetime | None) -> str:
    assert moment is not None
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_the_page_corrects_with_a_reason_and_the_timeline_explains(
    reported: Escalation, moderator: Any, client_for: Any
) -> None:
    client = client_for(moderator)
    detail = client.get(f"/escalations/{reported.pk}/").content.decode()
    assert f'href="/escalations/{reported.pk}/correct-report/">Correct the report</a>' in detail
    # The record form of a reported escalation is the correction.
    correction = f"/escalations/{reported.pk}/correct-report/"
    assert client.get(f"/escalations/{reported.pk}/report/")["Location"] == correction

    form = {
        "version": reported.version,
        "reported_at": typed(reported.reported_at),  # shown to the minute, left as shown
        "cybertipline_report_id": "5550002",
        "breach_reason": "",
        "breach_note": "",
    }
    refused = client.post(f"/escalations/{reported.pk}/correct-report/", {**form, "reason": ""})
    assert refused.status_code == 200
    assert "reason" in refused.context["form"].errors
    assert reload(reported).cybertipline_report_id == "5550001"

    done = client.post(
        f"/escalations/{reported.pk}/correct-report/", {**form, "reason": "Receipt says 5550002."}, follow=True
    )
    assert done.redirect_chain[-1][0] == f"/escalations/{reported.pk}/"
    esc = reload(reported)
    assert esc.cybertipline_report_id == "5550002"
    assert esc.reported_at == reported.reported_at  # its seconds kept: the minute shown was not changed
    timeline = " ".join(done.content.decode().split("<h2>Timeline</h2>")[1].split())
    assert "<strong>Report corrected</strong> by mod" in timeline
    assert "Reason: Receipt says 5550002." in timeline
    assert '<td>5550001</td><td aria-hidden="true">→</td><td>5550002</td>' in timeline
    assert "Reported at" not in timeline.split("Report corrected")[1].split("</li>")[0]


# --- the API --------------------------------------------------------------------------------------


def test_the_api_corrects_with_a_reason_on_the_same_service(reported: Escalation, lead: Any) -> None:
    _, raw = tokens.create_token(actor=lead, name="pipeline", scope="write", expires_at=CLOCK_START + timedelta(days=1))
    machine = Client(headers={"Authorization": f"Bearer {raw}"})
    url = f"/api/v1/escalations/{reported.pk}/correct-report/"
    missing = machine.post(url, {"cybertipline_report_id": "5550002"}, content_type="application/json")
    assert missing.status_code == 400 and "reason" in missing.json()
    blank = machine.post(url, {"cybertipline_report_id": "5550002", "reason": " "}, content_type="application/json")
    assert blank.status_code == 400 and "reason" in blank.json()
    done = machine.post(
        url, {"cybertipline_report_id": "5550002", "reason": "Receipt says so.", "version": reported.version},
        content_type="application/json",
    )  # fmt: skip
    assert done.status_code == 200, done.content
    assert done.json()["cybertipline_report_id"] == "5550002"
    event = last_event(reported)
    assert (event.action, event.reason, event.via) == ("report_corrected", "Receipt says so.", "token:pipeline")
    again = machine.post(
        f"/api/v1/escalations/{reported.pk}/report/",
        {"reported_at": typed(reported.reported_at) + ":00Z", "cybertipline_report_id": "5550003"},
        content_type="application/json",
    )
    assert again.status_code == 400 and "Correct the report" in str(again.json())
