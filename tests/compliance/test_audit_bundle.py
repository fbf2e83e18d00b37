"""What an auditor takes away: the legal requests and the access log as CSV and XLSX (filtered,
audited, safe to open in a spreadsheet), the compliance workbook's summary sheet, preservation
confirmed late or never flagged, and the reminders in one escalation's audit trail."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest

from escalations.core import services
from escalations.legal import services as legal_services
from escalations.models import AccessKind, AccessLog, AuditAction, AuditEvent, LegalRequestStatus
from escalations.reminders import sweep as reminder_sweep

T0 = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
CLOCK_START = T0
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def body(response: Any) -> bytes:
    assert response.status_code == 200, getattr(response, "content", b"")[:400]
    return b"".join(response.streaming_content)


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    rows = list(csv.reader(io.StringIO(body(response).decode())))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def exported(name: str) -> list[AuditEvent]:
    return [
        e for e in AuditEvent.objects.filter(action=AuditAction.EXPORTED).order_by("pk") if e.changes["export"] == name
    ]


# --- Legal requests --------------------------------------------------------------------------------


@pytest.fixture
def requests(clock: Any, lead: Any, make_escalation: Any) -> dict[str, Any]:
    escs = [make_escalation(knowledge_at=T0 - 3 * DAY, reported_at=T0 - 2 * DAY) for _ in range(12)]
    ids = [esc.pk for esc in escs]
    formula = legal_services.create_legal_request(
        actor=lead,
        data={
            "kind": "subpoena",
            "agency": '=HYPERLINK("http://evil.example","click")',
            "reference": "+SUBP-1",
            "received_at": T0 - 5 * DAY,
            "response_due_at": T0 + 5 * DAY,
            "escalations": ids,
            "notes": "",
        },
    )
    closed = legal_services.create_legal_request(
        actor=lead,
        data={
            "kind": "2703f_preservation",
            "agency": "FBI Field Office",
            "reference": "F-2026-1",
            "received_at": T0 - DAY,
            "escalations": ids[:1],
        },
    )
    closed = legal_services.close_legal_request(
        actor=lead, request_id=closed.pk, version=closed.version, reason="Withdrawn by the agency."
    )
    return {"escalations": escs, "formula": formula, "closed": closed}


def test_legal_requests_export_as_csv_with_every_escalation_audited_and_formula_safe(
    client_for: Any, auditor: Any, requests: dict[str, Any]
) -> None:
    rows = csv_rows(client_for(auditor).get("/legal-requests/?_export=csv"))
    by_key = {row["Request"]: row for row in rows}
    assert set(by_key) == {requests["formula"].key, requests["closed"].key}
    formula = by_key[requests["formula"].key]
    # A spreadsheet would run these as formulas: they are text.
    assert formula["Agency"] == '\'=HYPERLINK("http://evil.example","click")'
    assert formula["Agency reference"] == "'+SUBP-1"
    assert formula["Kind"] == "Subpoena"
    assert formula["Received (UTC)"] == "2026-03-15T12:00:00Z"
    assert formula["Response due (UTC)"] == "2026-03-25T12:00:00Z"
    # Every escalation it covers, not only the ten the page names.
    assert formula["Escalations"].split() == [esc.key for esc in requests["escalations"]]
    assert by_key[requests["closed"].key]["Status"] == "Closed (withdrawn or fulfilled)"
    assert by_key[requests["closed"].key]["Holds preservation until (UTC)"] == "2026-06-17T12:00:00Z"

    [event] = exported("legal-requests.csv")
    assert event.actor == auditor and event.changes["rows"] == 2 and event.changes["filters"] == "_export=csv"
    assert AccessLog.objects.filter(kind=AccessKind.EXPORTED, what="legal-requests.csv", user=auditor).count() == 1


def test_legal_requests_export_keeps_the_filters_and_xlsx_is_a_workbook(
    client_for: Any, lead: Any, requests: dict[str, Any]
) -> None:
    rows = csv_rows(client_for(lead).get(f"/legal-requests/?status={LegalRequestStatus.CLOSED}&_export=csv"))
    assert [row["Request"] for row in rows] == [requests["closed"].key]

    response = client_for(lead).get("/legal-requests/?_export=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(body(response)), read_only=True)
    sheet = list(book.worksheets[0].iter_rows(values_only=True))
    assert sheet[0][0] == "Request" and len(sheet) == 3
    agency = next(row[2] for row in sheet[1:] if row[0] == requests["formula"].key)
    assert agency == '=HYPERLINK("http://evil.example","click")'  # a string cell, never a formula
    book.close()
    assert len(exported("legal-requests.xlsx")) == 1


def test_legal_requests_page_links_its_exports_and_refuses_others(
    client_for: Any, lead: Any, moderator: Any, requests: dict[str, Any]
) -> None:
    html = client_for(lead).get("/legal-requests/?kind=subpoena").content.decode()
    assert 'href="?kind=subpoena&amp;_export=csv"' in html
    assert 'href="?kind=subpoena&amp;_export=xlsx"' in html
    assert client_for(moderator).get("/legal-requests/?_export=csv").status_code == 403
    bad = client_for(lead).get("/legal-requests/?_export=pdf")
    assert bad.status_code == 400 and b"use csv or xlsx" in bad.content
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORTED).exists()


# --- The access log ---------------------------------------------------------------------------------


def test_access_log_exports_its_filtered_rows_audited_and_formula_safe(
    clock: Any, client_for: Any, auditor: Any, lead: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    client_for(lead).get(f"/escalations/{esc.pk}/")
    AccessLog.objects.create(
        user=lead, at=T0, kind=AccessKind.EXPORTED, what="escalations.csv", query="=cmd|' /C calc'!A0"
    )
    client_for(auditor).get(f"/escalations/{esc.pk}/")

    rows = csv_rows(client_for(auditor).get("/access-log/?user=leader&_export=csv"))
    assert {row["User"] for row in rows} == {"leader"}
    assert {(row["Kind"], row["Escalation"]) for row in rows} >= {("Viewed escalation", esc.key)}
    assert "'=cmd|' /C calc'!A0" in {row["Filters"] for row in rows}
    assert all(row["At (UTC)"].endswith("Z") for row in rows)

    [event] = exported("access-log.csv")
    assert event.actor == auditor and event.changes["filters"] == "user=leader&_export=csv"
    # The export is itself in the access log.
    assert AccessLog.objects.filter(user=auditor, kind=AccessKind.EXPORTED, what="access-log.csv").count() == 1

    response = client_for(auditor).get("/access-log/?_export=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(body(response)), read_only=True)
    header = next(book.worksheets[0].iter_rows(values_only=True))
    assert header[:3] == ("At (UTC)", "User", "Via")
    book.close()


def test_access_log_page_links_exports_and_moderators_get_none(
    client_for: Any, auditor: Any, moderator: Any, db: Any
) -> None:
    html = client_for(auditor).get("/access-log/").content.decode()
    assert 'href="?_export=csv"' in html and 'href="?_export=xlsx"' in html
    assert client_for(moderator).get("/access-log/?_export=csv").status_code == 403


# --- The compliance report ------------------------------------------------------------------------


@pytest.fixture
def preserved(clock: Any, moderator: Any, make_escalation: Any) -> dict[str, Any]:
    """Reported on 10 March at 12:00 (preservation to confirm by 11 March 12:00)."""
    reported = T0 - 10 * DAY
    made = {
        name: make_escalation(knowledge_at=reported - HOUR, reported_at=reported)
        for name in ("on_time", "late", "never")
    }
    made["test"] = make_escalation(knowledge_at=reported - HOUR, is_test=True)
    clock.move_to(reported + 2 * HOUR)
    services.confirm_preservation(
        actor=moderator,
        escalation_id=made["on_time"].pk,
        version=made["on_time"].version,
        preservation_location="vault://case/1",
    )
    clock.move_to(reported + 30 * HOUR)
    services.confirm_preservation(
        actor=moderator,
        escalation_id=made["late"].pk,
        version=made["late"].version,
        preservation_location="vault://case/2",
    )
    clock.move_to(T0)
    return made


PERIOD = "/reports/compliance/?start=2026-03-01&end=2026-03-15"


def test_compliance_report_flags_preservation_confirmed_late_or_never(
    client_for: Any, lead: Any, preserved: dict[str, Any]
) -> None:
    rows = {row["Key"]: row for row in csv_rows(client_for(lead).get(PERIOD + "&_export=csv"))}
    assert rows[preserved["on_time"].key]["Preservation confirmation"] == "Confirmed on time"
    assert rows[preserved["late"].key]["Preservation confirmation"] == "Confirmed late"
    assert rows[preserved["never"].key]["Preservation confirmation"] == "Not confirmed, overdue"
    assert rows[preserved["late"].key]["Preservation confirmation due (UTC)"] == "2026-03-11T12:00:00Z"

    html = client_for(lead).get(PERIOD).content.decode()
    assert "Preservation confirmed late</dt><dd>1<" in html
    assert "Preservation not confirmed by its target</dt><dd>1<" in html
    late_row = html[html.index(f'<tr data-key="{preserved["late"].key}">') :].split("</tr>")[0]
    assert "Confirmed late" in late_row
    assert "left out: 1 in this period" in html


def test_compliance_xlsx_has_a_summary_sheet(client_for: Any, lead: Any, preserved: dict[str, Any]) -> None:
    response = client_for(lead).get(PERIOD + "&_export=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(body(response)), read_only=True)
    assert book.sheetnames == ["Compliance report", "Summary"]
    summary = {row[0]: row[1] if len(row) > 1 else None for row in book["Summary"].iter_rows(values_only=True) if row}
    book.close()
    assert str(summary["Period"]).startswith("2026-03-01 to 2026-03-15")
    assert summary["Escalations in the period"] == 3
    assert summary["Reported within target"] == 3
    assert summary["Preservation confirmed late"] == 1
    assert summary["Preservation not confirmed by its target"] == 1
    assert summary["Test records left out"] == 1
    assert summary["Generated by"] == "leader"

    response = client_for(lead).get(PERIOD + "&include_test=1&_export=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(body(response)), read_only=True)
    summary = {row[0]: row[1] if len(row) > 1 else None for row in book["Summary"].iter_rows(values_only=True) if row}
    book.close()
    assert summary["Test records"] == "Included" and summary["Escalations in the period"] == 4


# --- One escalation's audit trail ----------------------------------------------------------------


def test_audit_csv_includes_reminder_deliveries(
    clock: Any, client_for: Any, lead: Any, moderator: Any, make_escalation: Any
) -> None:
    moderator.email = "mod@example.org"
    moderator.save()
    esc = make_escalation(knowledge_at=T0 - 25 * HOUR)  # its report target passed an hour ago
    reminder_sweep.sweep()
    clock.shift(timedelta(minutes=5))
    rows = csv_rows(client_for(lead).get(f"/escalations/{esc.pk}/audit.csv"))
    sent = [row for row in rows if row["Action"] == "Reminder sent"]
    assert sent, rows
    assert {row["Field"] for row in sent} >= {"Reminder by Email", "Reminder by In-app"}
    assert {row["After"] for row in sent} >= {"Report overdue to mod"}, sent
    assert all(row["Actor"] == "the system" for row in sent)
    # Oldest first: logged, then the reminders, then this export.
    actions = [row["Action"] for row in rows]
    assert actions.index("Logged") < actions.index("Reminder sent") < actions.index("Exported")
    [event] = [e for e in AuditEvent.objects.filter(action=AuditAction.EXPORTED)]
    cancelled = [row for row in rows if row["Action"] == "Reminder cancelled"]
    # Its own event, the logging, each delivery and each reminder cancelled.
    assert event.changes["rows"] == 2 + len(sent) + len(cancelled)
