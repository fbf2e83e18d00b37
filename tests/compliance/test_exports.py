"""Exports: the tables' ?_export=csv|xlsx, the compliance report and one escalation's audit trail.
CSV is read back with the csv module, XLSX with openpyxl (and checked as a zip package)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.compliance import exports
from escalations.core import services
from escalations.models import AuditAction, AuditEvent, Priority, UserProfile

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TABLE_HEADERS = [
    "Key",
    "Status",
    "Deadline state",
    "Next deadline (UTC)",
    "Priority",
    "Urgent reason",
    "Incident type",
    "Platform reference",
    "Assignee",
    "Knowledge obtained (UTC)",
    "Report target (UTC)",
    "Reported at (UTC)",
    "CyberTipline report ID",
    "Time to report (hours)",
    "Outcome",
    "Breach reason",
    "Breach note",
    "Preservation confirmed at (UTC)",
    "Preservation confirmed by",
    "Preserve until (UTC)",
    "Status reason",
    "Next action",
    "Next action due (UTC)",
    "Report annotations",
    "Prior CyberTipline report ID",
    "Submission state at NCMEC",
]
COMPLIANCE_HEADERS = [
    "Key",
    "Priority",
    "Incident type",
    "Status",
    "Assignee",
    "Knowledge obtained (UTC)",
    "Report target (UTC)",
    "Reported at (UTC)",
    "Time to report (hours)",
    "CyberTipline report ID",
    "Preservation confirmed at (UTC)",
    "Preservation confirmation due (UTC)",
    "Preservation confirmation",
    "Preserve until (UTC)",
    "Outcome",
    "Breach reason",
    "Breach note",
    "Status reason",
    "Report annotations",
    "Prior CyberTipline report ID",
    "Submission state at NCMEC",
]


def read_csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, getattr(response, "content", b"")[:500]
    assert response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert "no-store" in response["Cache-Control"]
    text = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert len(set(header)) == len(header)
    return [dict(zip(header, row, strict=True)) for row in body]


def csv_header(response: Any) -> list[str]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return next(csv.reader(io.StringIO(text)))


def exported_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.EXPORTED).order_by("pk"))


@pytest.fixture
def three(make_escalation: Any, lead: Any) -> list[Any]:
    """An open standard one, a late-reported one (with a breach note), an urgent open one."""
    now = timezone.now()
    first = make_escalation(platform_reference="acct-a", knowledge_at=now - timedelta(hours=5))
    late = make_escalation(
        platform_reference="acct-b",
        knowledge_at=now - timedelta(days=3),
        reported_at=now - timedelta(days=1),
        breach_reason="staffing",
    )
    late = services.amend_breach(
        actor=lead,
        escalation_id=late.pk,
        version=late.version,
        breach_reason="other",
        breach_note="Night shift, alone.",
    )
    urgent = make_escalation(
        platform_reference="acct-c",
        knowledge_at=now - timedelta(minutes=20),
        priority=Priority.URGENT,
        urgent_reason="Imminent danger.",
    )
    return [first, late, urgent]


# --- Table exports ---------------------------------------------------------------------------------


def test_list_csv_has_one_header_and_one_row_per_record(client_for: Any, lead: Any, three: list[Any]) -> None:
    first, late, urgent = three
    response = client_for(lead).get("/escalations/?_export=csv")
    rows = read_csv(response)

    # The list's default order: newest knowledge first.
    assert [row["Key"] for row in rows] == [urgent.key, first.key, late.key]
    by_key = {row["Key"]: row for row in rows}
    row = by_key[late.key]
    assert row["Status"] == "Reported"
    assert row["Outcome"] == "Late"
    assert row["Breach reason"] == "Other (explain in the note)"
    assert row["Breach note"] == "Night shift, alone."
    assert row["Incident type"] == "Child Pornography (possession, manufacture, and distribution)"
    assert row["Priority"] == "Standard"
    assert row["Assignee"] == "mod"
    assert row["CyberTipline report ID"] == late.cybertipline_report_id
    assert float(row["Time to report (hours)"]) == pytest.approx(48, abs=0.01)
    for name in ("Knowledge obtained (UTC)", "Report target (UTC)", "Reported at (UTC)", "Preserve until (UTC)"):
        assert ISO_UTC.match(row[name]), (name, row[name])
    late.refresh_from_db()
    assert row["Reported at (UTC)"] == late.reported_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_key[urgent.key]["Priority"] == "Urgent (child in imminent danger)"
    assert by_key[urgent.key]["Urgent reason"] == "Imminent danger."
    assert by_key[first.key]["Outcome"] == "Open, within target"
    assert by_key[first.key]["Reported at (UTC)"] == ""


def test_csv_headers_are_the_documented_ones(client_for: Any, lead: Any, three: list[Any]) -> None:
    assert csv_header(client_for(lead).get("/escalations/?_export=csv")) == TABLE_HEADERS
    assert csv_header(client_for(lead).get("/escalations/mine/?_export=csv")) == TABLE_HEADERS


def test_export_respects_filters_and_sort(client_for: Any, lead: Any, three: list[Any]) -> None:
    first, late, urgent = three
    client = client_for(lead)

    rows = read_csv(client.get("/escalations/?status=open&sort=knowledge_at&_export=csv"))
    assert [row["Key"] for row in rows] == [first.key, urgent.key]

    rows = read_csv(client.get("/escalations/?status=open&sort=-knowledge_at&_export=csv"))
    assert [row["Key"] for row in rows] == [urgent.key, first.key]

    rows = read_csv(client.get("/escalations/?priority=urgent&_export=csv"))
    assert [row["Key"] for row in rows] == [urgent.key]

    rows = read_csv(client.get("/escalations/?reported_on_time=false&breach_reason=other&_export=csv"))
    assert [row["Key"] for row in rows] == [late.key]

    rows = read_csv(client.get(f"/escalations/?q={late.key}&_export=csv"))
    assert [row["Key"] for row in rows] == [late.key]

    # Sort by key (the primary key), both ways.
    rows = read_csv(client.get("/escalations/?sort=key&_export=csv"))
    assert [row["Key"] for row in rows] == [first.key, late.key, urgent.key]
    rows = read_csv(client.get("/escalations/?sort=-key&_export=csv"))
    assert [row["Key"] for row in rows] == [urgent.key, late.key, first.key]


def test_export_covers_every_page_not_just_the_first(client_for: Any, lead: Any, make_escalation: Any) -> None:
    now = timezone.now()
    for i in range(55):
        make_escalation(knowledge_at=now - timedelta(minutes=i + 1))
    rows = read_csv(client_for(lead).get("/escalations/?page=2&_export=csv"))
    assert len(rows) == 55
    assert len({row["Key"] for row in rows}) == 55


def test_invalid_filters_export_what_the_page_shows_no_500(client_for: Any, lead: Any, three: list[Any]) -> None:
    client = client_for(lead)
    # The page shows no rows for a filter it can't read; the export agrees.
    assert client.get("/escalations/?knowledge_at_after=not-a-date").status_code == 200
    assert read_csv(client.get("/escalations/?knowledge_at_after=not-a-date&_export=csv")) == []
    # An unknown sort column is ignored, as on the page.
    assert len(read_csv(client.get("/escalations/?sort=nonsense&_export=csv"))) == 3
    assert len(read_csv(client.get("/escalations/?q=ESC-" + "9" * 400 + "&_export=csv"))) == 0


def test_my_queue_exports_only_my_active_escalations(
    client_for: Any, lead: Any, make_escalation: Any, moderator: Any
) -> None:
    mine = make_escalation(actor=lead)
    make_escalation()  # the moderator's
    reported = make_escalation(actor=lead, reported_at=timezone.now() - timedelta(minutes=5))
    dismissed = make_escalation(actor=lead)
    services.dismiss_escalation(actor=lead, escalation_id=dismissed.pk, version=dismissed.version, reason="Spam.")

    rows = read_csv(client_for(lead).get("/escalations/mine/?_export=csv"))
    assert sorted(row["Key"] for row in rows) == sorted([mine.key, reported.key])
    assert exported_events()[-1].changes == {"export": "my-queue.csv", "filters": "_export=csv", "rows": 2}


def test_csv_neutralises_spreadsheet_formulas(client_for: Any, lead: Any, make_escalation: Any) -> None:
    esc = make_escalation(platform_reference='=HYPERLINK("http://x","y")')
    rows = read_csv(client_for(lead).get("/escalations/?_export=csv"))
    assert rows[0]["Key"] == esc.key
    assert rows[0]["Platform reference"] == '\'=HYPERLINK("http://x","y")'


def test_times_are_utc_whatever_the_viewers_zone(client_for: Any, lead: Any, make_escalation: Any) -> None:
    UserProfile.objects.create(user=lead, time_zone="America/New_York")
    knowledge = datetime(2025, 3, 1, 3, 4, 5, tzinfo=UTC)
    make_escalation(knowledge_at=knowledge)
    rows = read_csv(client_for(lead).get("/escalations/?_export=csv"))
    assert rows[0]["Knowledge obtained (UTC)"] == "2025-03-01T03:04:05Z"


def test_xlsx_is_a_readable_workbook_with_the_same_rows(client_for: Any, auditor: Any, three: list[Any]) -> None:
    first, late, urgent = three
    response = client_for(auditor).get("/escalations/?sort=knowledge_at&_export=xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == exports.XLSX_CONTENT_TYPE
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Disposition"].endswith('.xlsx"')
    content = b"".join(response.streaming_content)

    with zipfile.ZipFile(io.BytesIO(content)) as package:
        assert package.testzip() is None
        assert "xl/worksheets/sheet1.xml" in package.namelist()
        sheet_xml = package.read("xl/worksheets/sheet1.xml").decode()
    for esc in three:
        assert esc.key in sheet_xml

    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == TABLE_HEADERS
    assert [row[0] for row in rows[1:]] == [late.key, first.key, urgent.key]
    late_row = dict(zip(TABLE_HEADERS, rows[1], strict=True))
    late.refresh_from_db()
    # Real date cells, in UTC (Excel has no zones: the header says so).
    assert late_row["Reported at (UTC)"] == late.reported_at.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    assert late_row["Time to report (hours)"] == pytest.approx(48, abs=0.01)
    assert late_row["Breach reason"] == "Other (explain in the note)"
    book.close()
    assert exported_events()[-1].changes["rows"] == 3


def test_xlsx_never_writes_formulas(client_for: Any, lead: Any, make_escalation: Any) -> None:
    make_escalation(platform_reference="=1+1")
    content = b"".join(client_for(lead).get("/escalations/?_export=xlsx").streaming_content)
    book = openpyxl.load_workbook(io.BytesIO(content))
    cell = book.worksheets[0]["H2"]
    assert cell.value == "=1+1"
    assert cell.data_type == "s"


def test_every_export_is_an_audit_event_with_its_query_and_row_count(
    client_for: Any, lead: Any, auditor: Any, three: list[Any]
) -> None:
    client_for(lead).get("/escalations/?status=open&_export=csv")
    client_for(auditor).get("/escalations/?_export=xlsx")
    events = exported_events()
    assert [(e.actor, e.escalation, e.changes) for e in events] == [
        (lead, None, {"export": "escalations.csv", "filters": "status=open&_export=csv", "rows": 2}),
        (auditor, None, {"export": "escalations.xlsx", "filters": "_export=xlsx", "rows": 3}),
    ]


@pytest.mark.parametrize("url", ["/escalations/?_export=csv", "/escalations/mine/?_export=xlsx"])
def test_moderator_cannot_export(url: str, client_for: Any, moderator: Any, three: list[Any]) -> None:
    response = client_for(moderator).get(url)
    assert response.status_code == 403
    assert "Exports are for leads and auditors." in response.content.decode()
    assert exported_events() == []


def test_unknown_export_format_is_400_and_not_audited(client_for: Any, lead: Any, three: list[Any]) -> None:
    response = client_for(lead).get("/escalations/?_export=pdf")
    assert response.status_code == 400
    assert "use csv or xlsx" in response.content.decode()
    assert exported_events() == []


def test_csv_streams_in_chunks_from_an_iterator(
    client_for: Any, lead: Any, make_escalation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header goes out before any row is read; rows follow in chunks as the iterator yields."""
    for _ in range(5):
        make_escalation()
    monkeypatch.setattr(exports, "CSV_LINES_PER_CHUNK", 2)
    response = client_for(lead).get("/escalations/?_export=csv")
    chunks = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as ctx:
        header = next(chunks)
    assert header.decode().startswith("Key,Status,")
    assert len(ctx.captured_queries) == 0, "the header is sent before the rows are read"
    rest = list(chunks)
    assert len(rest) == 3  # 2 + 2 + 1 rows
    assert sum(chunk.decode().count("ESC-") for chunk in rest) == 5


def test_list_and_queue_pages_offer_export_links_to_leads_and_auditors_only(
    client_for: Any, lead: Any, auditor: Any, moderator: Any, three: list[Any]
) -> None:
    html = client_for(lead).get("/escalations/?status=open&page=1").content.decode()
    assert 'href="?status=open&amp;_export=csv"' in html
    assert 'href="?status=open&amp;_export=xlsx"' in html
    assert "/reports/compliance/" in html
    assert "_export=csv" in client_for(auditor).get("/escalations/mine/").content.decode()
    assert "_export=" not in client_for(moderator).get("/escalations/").content.decode()
    assert "_export=" not in client_for(moderator).get("/escalations/mine/").content.decode()


# --- Compliance report -----------------------------------------------------------------------------


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def march(make_escalation: Any, lead: Any) -> dict[str, Any]:
    """Escalations around a period of 2025-03-10 to 2025-03-20 (UTC)."""
    made = {
        "on_time": make_escalation(knowledge_at=_at(10), reported_at=_at(10, 20)),
        "late": make_escalation(knowledge_at=_at(12), reported_at=_at(14), breach_reason="volume"),
        # Knew before the period, reported inside it: in the report.
        "reported_in": make_escalation(knowledge_at=_at(1), reported_at=_at(11), breach_reason="handoff"),
        "open": make_escalation(knowledge_at=_at(15)),
        "dismissed": make_escalation(knowledge_at=_at(16)),
        "before": make_escalation(knowledge_at=_at(2), reported_at=_at(2, 13)),
        "after": make_escalation(knowledge_at=_at(21, 1)),
        "urgent_late": make_escalation(
            knowledge_at=_at(20, 22),
            reported_at=_at(20, 23) + timedelta(minutes=30),
            priority=Priority.URGENT,
            urgent_reason="Imminent danger.",
            breach_reason="tooling",
        ),
    }
    services.dismiss_escalation(
        actor=lead, escalation_id=made["dismissed"].pk, version=made["dismissed"].version, reason="Not reportable."
    )
    return made


def test_urgent_late_fixture_is_really_late(march: dict[str, Any]) -> None:
    esc = march["urgent_late"]
    esc.refresh_from_db()
    assert esc.reported_on_time is False


def test_compliance_page_lists_the_period_with_clocks_outcome_and_breach(
    client_for: Any, lead: Any, march: dict[str, Any]
) -> None:
    response = client_for(lead).get("/reports/compliance/?start=2025-03-10&end=2025-03-20")
    assert response.status_code == 200
    html = response.content.decode()
    shown = re.findall(r'<tr data-key="(ESC-\d+)">', html)
    expected = ["reported_in", "on_time", "late", "open", "dismissed", "urgent_late"]
    assert sorted(shown) == sorted(march[name].key for name in expected)
    assert march["before"].key not in shown and march["after"].key not in shown
    # Oldest knowledge first.
    assert shown[0] == march["reported_in"].key

    def row_of(name: str) -> str:
        key = march[name].key
        return html[html.index(f'<tr data-key="{key}">') :].split("</tr>")[0]

    assert "On time" in row_of("on_time")
    late = row_of("late")
    assert "Late" in late and "Volume surge or queue backlog" in late
    assert "2025-03-12 12:00" in late and "2025-03-13 12:00" in late and "2025-03-14 12:00" in late
    assert "2 d 0 h" in late  # time to report
    assert "2026-03-14" in late  # preserve until: a year after the report
    assert "Open, overdue" in row_of("open")
    assert "Dismissed" in row_of("dismissed")
    assert "Internal escalation or handoff delay" in row_of("reported_in")
    # The summary is counted in the database.
    assert re.search(r"Reported late</dt><dd>3<", html)
    assert re.search(r"Reported within target</dt><dd>1<", html)
    assert re.search(r"Escalations in the period</dt><dd>6<", html)
    # Printable: the report's own print rules, and links to the downloads.
    assert 'class="compliance-report"' in html
    assert "start=2025-03-10&amp;end=2025-03-20&amp;_export=csv" in html
    # Viewing the page is not a download: nothing is recorded.
    assert exported_events() == []


def test_print_stylesheet_covers_the_compliance_report() -> None:
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()
    assert "@page compliance" in css
    print_blocks = css.split("@media print")[1:]
    ours = [block for block in print_blocks if ".compliance-report { page: compliance; }" in block]
    assert len(ours) == 1
    assert ".compliance-report thead { display: table-header-group; }" in ours[0]


def test_compliance_csv_has_the_same_rows_and_is_audited(client_for: Any, auditor: Any, march: dict[str, Any]) -> None:
    response = client_for(auditor).get("/reports/compliance/?start=2025-03-10&end=2025-03-20&_export=csv")
    assert csv_header(client_for(auditor).get("/reports/compliance/?start=2025-03-10&end=2025-03-20&_export=csv")) == (
        COMPLIANCE_HEADERS
    )
    rows = read_csv(response)
    by_key = {row["Key"]: row for row in rows}
    assert len(rows) == 6
    late = by_key[march["late"].key]
    assert late["Outcome"] == "Late"
    assert late["Knowledge obtained (UTC)"] == "2025-03-12T12:00:00Z"
    assert late["Report target (UTC)"] == "2025-03-13T12:00:00Z"
    assert late["Reported at (UTC)"] == "2025-03-14T12:00:00Z"
    assert late["Time to report (hours)"] == "48.0"
    assert late["Preserve until (UTC)"] == "2026-03-14T12:00:00Z"
    assert late["Breach reason"] == "Volume surge or queue backlog"
    assert by_key[march["on_time"].key]["Outcome"] == "On time"
    assert by_key[march["on_time"].key]["Breach reason"] == ""
    assert by_key[march["dismissed"].key]["Outcome"] == "Dismissed"
    assert by_key[march["dismissed"].key]["Status reason"] == "Not reportable."
    assert by_key[march["open"].key]["Outcome"] == "Open, overdue"
    assert by_key[march["urgent_late"].key]["Priority"] == "Urgent (child in imminent danger)"

    event = exported_events()[0]
    assert event.actor == auditor
    assert event.changes == {
        "export": "compliance-2025-03-10-to-2025-03-20.csv",
        "filters": "start=2025-03-10&end=2025-03-20&_export=csv",
        "rows": 6,
    }


def test_compliance_xlsx(client_for: Any, lead: Any, march: dict[str, Any]) -> None:
    response = client_for(lead).get("/reports/compliance/?start=2025-03-10&end=2025-03-20&_export=xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert list(rows[0]) == COMPLIANCE_HEADERS
    assert len(rows) == 7
    book.close()


def test_compliance_period_is_in_the_viewers_time_zone(client_for: Any, lead: Any, make_escalation: Any) -> None:
    esc = make_escalation(knowledge_at=datetime(2025, 3, 1, 3, tzinfo=UTC))  # 28 Feb, 22:00 in New York
    url = "/reports/compliance/?start=2025-03-01&end=2025-03-01"
    assert esc.key in client_for(lead).get(url).content.decode()
    UserProfile.objects.create(user=lead, time_zone="America/New_York")
    html = client_for(lead).get(url).content.decode()
    assert esc.key not in html
    assert "2025-03-01 00:00 EST" in html


def test_compliance_defaults_to_the_last_30_days(client_for: Any, lead: Any, make_escalation: Any) -> None:
    recent = make_escalation(knowledge_at=timezone.now() - timedelta(days=3))
    old = make_escalation(knowledge_at=timezone.now() - timedelta(days=45))
    html = client_for(lead).get("/reports/compliance/").content.decode()
    assert recent.key in html and old.key not in html
    today = timezone.localdate()
    assert f'value="{(today - timedelta(days=29)).isoformat()}"' in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2025-13-01&end=2025-03-20", "Start: enter a date as YYYY-MM-DD."),
        ("start=2025-03-01&end=tomorrow", "End: enter a date as YYYY-MM-DD."),
        ("start=2025-03-01", "End: enter a date."),
        ("start=2025-03-20&end=2025-03-01", "The period starts (2025-03-20) after it ends (2025-03-01)."),
        ("start=0001-01-01&end=2025-03-01", "Start: choose a date between 1900 and 9998."),
        ("start=2025-01-01&end=9999-12-31", "End: choose a date between 1900 and 9998."),
        ("start=2025-01-01&end=" + "9" * 5000, "End: enter a date as YYYY-MM-DD."),
    ],
)
def test_compliance_bad_dates_say_what_is_wrong(query: str, message: str, client_for: Any, lead: Any) -> None:
    response = client_for(lead).get(f"/reports/compliance/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert message.replace("(", "(") in html.replace("&#x27;", "'")
    assert 'data-key="' not in html

    response = client_for(lead).get(f"/reports/compliance/?{query}&_export=csv")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert exported_events() == []


def test_compliance_is_for_leads_and_auditors(client_for: Any, moderator: Any, auditor: Any) -> None:
    assert client_for(moderator).get("/reports/compliance/").status_code == 403
    assert client_for(moderator).get("/reports/compliance/?_export=csv").status_code == 403
    assert client_for(auditor).get("/reports/compliance/").status_code == 200


def test_compliance_page_costs_the_same_for_1_and_100_rows(
    client_for: Any,
    lead: Any,
    make_user: Any,
    make_escalation: Any,
    django_assert_num_queries: Any,
    django_assert_max_num_queries: Any,
) -> None:
    """Session, user, profile, roles, the bell, the lead's sweep banner, the summary, the rows, and
    one INSERT of the access-log rows of the escalations shown (124 rows fit one on SQLite)."""
    people = [lead, *(make_user(f"m{i}", "moderator") for i in range(3))]
    now = timezone.now()
    client = client_for(lead)
    url = "/reports/compliance/"
    make_escalation(knowledge_at=now - timedelta(days=2))
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    one_row = len(ctx.captured_queries)

    for i in range(99):
        esc = make_escalation(
            actor=people[i % len(people)],
            knowledge_at=now - timedelta(days=2, hours=i),
            reported_at=now - timedelta(hours=i) if i % 2 else None,
            breach_reason="staffing" if i % 3 else "volume",
        )
        if i % 5 == 0 and esc.reported_at:
            services.confirm_preservation(
                actor=people[i % 3 + 1], escalation_id=esc.pk, version=esc.version, preservation_location="s/1"
            )
    # 8, and 3 for the session save of every request (SAVEPOINT, UPDATE, RELEASE in a test's transaction).
    with django_assert_num_queries(one_row), django_assert_max_num_queries(8 + 3):
        response = client.get(url)
    assert response.content.decode().count('<tr data-key="') == 100


# --- One escalation's audit trail ------------------------------------------------------------------


def test_audit_trail_csv(client_for: Any, lead: Any, auditor: Any, make_escalation: Any, moderator: Any) -> None:
    esc = make_escalation(knowledge_at=datetime(2025, 3, 1, 9, tzinfo=UTC))
    esc = services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=lead)
    services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, reason="Duplicate of ESC-1.")
    other = make_escalation()

    response = client_for(auditor).get(f"/escalations/{esc.pk}/audit.csv")
    assert response["Content-Disposition"].startswith(f'attachment; filename="{esc.key}-audit-trail-')
    rows = read_csv(response)
    assert list(rows[0]) == ["At (UTC)", "Actor", "Action", "Field", "Before", "After", "Reason"]
    assert all(ISO_UTC.match(row["At (UTC)"]) for row in rows)
    logged = [row for row in rows if row["Action"] == "Logged"]
    assert {"Field": "Knowledge obtained", "Before": "", "After": "2025-03-01T09:00:00Z"}.items() <= next(
        row for row in logged if row["Field"] == "Knowledge obtained"
    ).items()
    assert any(r["Field"] == "Incident type" and r["After"].startswith("Child Pornography") for r in logged)
    assigned = [row for row in rows if row["Action"] == "Assigned"]
    assert assigned == [
        {
            "At (UTC)": assigned[0]["At (UTC)"],
            "Actor": "leader",
            "Action": "Assigned",
            "Field": "Assignee",
            "Before": "mod",
            "After": "leader",
            "Reason": "",
        }
    ]
    dismissed = [row for row in rows if row["Action"] == "Dismissed"]
    assert {(r["Field"], r["Before"], r["After"]) for r in dismissed} >= {("Status", "Open", "Dismissed")}
    assert all(r["Reason"] == "Duplicate of ESC-1." for r in dismissed)
    # This export is itself in the trail, last; nothing of the other escalation is.
    assert rows[-1]["Action"] == "Exported" and rows[-1]["Actor"] == "aud"
    assert (
        other.key not in b"".join(client_for(lead).get(f"/escalations/{esc.pk}/audit.csv").streaming_content).decode()
    )

    event = AuditEvent.objects.filter(action=AuditAction.EXPORTED).order_by("pk").first()
    assert event is not None
    assert event.escalation_id == esc.pk and event.actor == auditor
    assert event.changes == {"export": f"{esc.key}-audit-trail.csv", "filters": "", "rows": 4}


def test_audit_trail_access(client_for: Any, moderator: Any, lead: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    assert client_for(moderator).get(f"/escalations/{esc.pk}/audit.csv").status_code == 403
    assert client_for(lead).get("/escalations/999999/audit.csv").status_code == 404
    assert client_for(lead).get("/escalations/" + "9" * 30 + "/audit.csv").status_code == 404
    assert client_for(lead).post(f"/escalations/{esc.pk}/audit.csv").status_code == 405
    assert exported_events() == []


def test_detail_page_links_the_audit_trail_for_export_users_and_shows_exports(
    client_for: Any, lead: Any, moderator: Any, auditor: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    link = f'href="/escalations/{esc.pk}/audit.csv"'
    assert link in client_for(lead).get(f"/escalations/{esc.pk}/").content.decode()
    assert link in client_for(auditor).get(f"/escalations/{esc.pk}/").content.decode()
    assert link not in client_for(moderator).get(f"/escalations/{esc.pk}/").content.decode()
    assert "Export audit trail (CSV)" in client_for(auditor).get(f"/escalations/{esc.pk}/").content.decode()

    b"".join(client_for(auditor).get(f"/escalations/{esc.pk}/audit.csv").streaming_content)
    html = client_for(moderator).get(f"/escalations/{esc.pk}/").content.decode()
    assert "<strong>Exported</strong> by aud" in html
    assert f"{esc.key}-audit-trail.csv: 2 rows" in html
