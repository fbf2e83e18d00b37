"""The escalation exports' CSV, byte for byte: what the list and the compliance report send must be
exactly what the exports wrote when each row was a model instance and each cell a call on it (the
reference below, kept as it was), over rows that reach every deadline state at its boundaries, every
outcome, empty values, user text a spreadsheet would run as a formula, values that are no choice,
text with commas, quotes, line breaks and other scripts, times a microsecond each side of a boundary
and at the ends of summer time. The database makes the CSV's cells (compliance.csv_cells): its key
text and formula guard are held to Python's over edge cases of their own, and the CSV is checked to
call none of the Python cell makers. Also: the number of queries an export makes does not grow with
its rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import CharField, IntegerField, Value
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.compliance import exports
from escalations.compliance.csv_cells import Guarded, KeyText
from escalations.compliance.utc_text import UtcText
from escalations.core import ncmec_report, selectors
from escalations.models import KEY_PREFIX, Escalation, Priority, Status, format_key
from escalations.policy import STATE_LABELS, action_label, state_from_columns

CLOCK_START = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
NOW = CLOCK_START
SECOND = timedelta(seconds=1)
MICRO = timedelta(microseconds=1)
HOSTILE = '=cmd|"/C calc"!A0, then "quotes",\nand a second line\r\nand a third'


# --- The reference: the export as it was, one model instance per row, one call per cell ---------


def _before_iso_utc(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _before_csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return _before_iso_utc(value)
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    if text.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + text
    return text


def _before_hours(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _before_username(user: Any) -> str:
    return user.get_username() if user is not None else ""


def _before_outcome(esc: Escalation, now: datetime) -> str:
    if esc.status == Status.DISMISSED:
        return "Dismissed"
    if esc.reported_at is not None:
        if esc.knowledge_unconfirmed_since is not None:
            return "Reported, knowledge time not confirmed"
        on_time = esc.reported_on_time if esc.reported_on_time is not None else esc.reported_at <= esc.report_due_at
        return "On time" if on_time else "Late"
    if now > esc.report_due_at:
        return "Open, overdue"
    return "Open, within target"


def _before_preservation(esc: Escalation, now: datetime) -> str:
    due = esc.preservation_confirm_due_at
    if esc.reported_at is None or due is None or esc.status == Status.DISMISSED:
        return ""
    if esc.preservation_confirmed_at is not None:
        return "Confirmed late" if esc.preservation_confirmed_at > due else "Confirmed on time"
    if esc.status == Status.CLOSED:
        return "Never confirmed"
    return "Not confirmed, overdue" if now > due else "Not confirmed, within target"


def _before_state(e: Escalation, now: datetime) -> str:
    return STATE_LABELS[state_from_columns(e.status, e.next_deadline_at, e.next_deadline_soon_at, now)]


Cell = tuple[str, Callable[[Escalation], Any]]


def _before_table(now: datetime) -> list[Cell]:
    return [
        ("Key", lambda e: e.key),
        ("Status", lambda e: e.get_status_display()),
        ("Deadline state", lambda e: _before_state(e, now)),
        ("Next deadline (UTC)", lambda e: e.next_deadline_at if e.is_active else None),
        ("Priority", lambda e: e.get_priority_display()),
        ("Urgent reason", lambda e: e.urgent_reason),
        ("Incident type", lambda e: e.get_incident_type_display()),
        ("Platform reference", lambda e: e.platform_reference),
        ("Assignee", lambda e: _before_username(e.assignee)),
        ("Knowledge obtained (UTC)", lambda e: e.knowledge_at),
        ("Report target (UTC)", lambda e: e.report_due_at),
        ("Reported at (UTC)", lambda e: e.reported_at),
        ("CyberTipline report ID", lambda e: e.cybertipline_report_id),
        ("Time to report (hours)", lambda e: _before_hours(e.report_seconds)),
        ("Outcome", lambda e: _before_outcome(e, now)),
        ("Breach reason", lambda e: e.get_breach_reason_display() if e.breach_reason else ""),
        ("Breach note", lambda e: e.breach_note),
        ("Preservation confirmed at (UTC)", lambda e: e.preservation_confirmed_at),
        ("Preservation confirmed by", lambda e: _before_username(e.preservation_confirmed_by)),
        ("Preserve until (UTC)", lambda e: e.preserve_until),
        ("Status reason", lambda e: e.status_reason),
        ("Next action", lambda e: action_label(e.next_action) if e.is_active else ""),
        ("Next action due (UTC)", lambda e: e.next_action_due_at if e.is_active else None),
        *_before_ncmec_report(),
    ]


def _before_compliance(now: datetime) -> list[Cell]:
    return [
        ("Key", lambda e: e.key),
        ("Priority", lambda e: e.get_priority_display()),
        ("Incident type", lambda e: e.get_incident_type_display()),
        ("Status", lambda e: e.get_status_display()),
        ("Assignee", lambda e: _before_username(e.assignee)),
        ("Knowledge obtained (UTC)", lambda e: e.knowledge_at),
        ("Report target (UTC)", lambda e: e.report_due_at),
        ("Reported at (UTC)", lambda e: e.reported_at),
        ("Time to report (hours)", lambda e: _before_hours(e.report_seconds)),
        ("CyberTipline report ID", lambda e: e.cybertipline_report_id),
        ("Preservation confirmed at (UTC)", lambda e: e.preservation_confirmed_at),
        ("Preservation confirmation due (UTC)", lambda e: e.preservation_confirm_due_at),
        ("Preservation confirmation", lambda e: _before_preservation(e, now)),
        ("Preserve until (UTC)", lambda e: e.preserve_until),
        ("Outcome", lambda e: _before_outcome(e, now)),
        ("Breach reason", lambda e: e.get_breach_reason_display() if e.breach_reason else ""),
        ("Breach note", lambda e: e.breach_note),
        ("Status reason", lambda e: e.status_reason),
        *_before_ncmec_report(),
    ]


def _before_ncmec_report() -> list[Cell]:
    return [
        ("Report annotations", lambda e: ncmec_report.labels(e.ncmec_annotations)),
        ("Prior CyberTipline report ID", lambda e: e.prior_report_id),
        (
            "Submission state at NCMEC",
            lambda e: e.get_ncmec_submission_state_display() if e.ncmec_submission_state else "",
        ),
    ]


class _Lines:
    def write(self, value: str) -> str:
        return value


def _before_csv(cells: Sequence[Cell], escalations: Iterable[Escalation]) -> bytes:
    writer = csv.writer(_Lines())
    lines = [writer.writerow([header for header, _ in cells])]
    for esc in escalations:
        lines.append(writer.writerow([_before_csv_cell(value(esc)) for _, value in cells]))
    return "".join(lines).encode("utf-8")


# --- The rows -----------------------------------------------------------------------------------


def _varied(make_escalation: Any, make_user: Any, lead: Any) -> list[Escalation]:
    """Escalations whose stored columns are set directly, so that every shape a row can take is
    there, whether or not today's services would write it."""
    odd = make_user('o\'brien, "the" =night\nshift', "moderator")
    at = make_user("@lead", "lead")
    knowledge = NOW - timedelta(hours=30)
    shapes: list[dict[str, Any]] = [
        # Open: every deadline state, each side of its boundaries.
        {"next_deadline_at": NOW + timedelta(hours=2), "next_deadline_soon_at": NOW + SECOND},
        {"next_deadline_at": NOW + timedelta(hours=2), "next_deadline_soon_at": NOW},
        {"next_deadline_at": NOW + SECOND, "next_deadline_soon_at": NOW - SECOND},
        {"next_deadline_at": NOW, "next_deadline_soon_at": NOW - timedelta(hours=1)},
        {"next_deadline_at": NOW - SECOND, "next_deadline_soon_at": NOW - timedelta(hours=1)},
        {"next_deadline_at": NOW + timedelta(hours=2), "next_deadline_soon_at": None},
        {"next_deadline_at": None, "next_deadline_soon_at": None, "next_action": ""},
        # Report targets each side of now (open: within target / overdue).
        {"report_due_at": NOW, "next_action": "file_report", "next_action_due_at": NOW},
        {"report_due_at": NOW - SECOND, "next_action": "no-such-action", "assignee": None},
        # Reported: on time, late, on time by the stored flag's absence, unconfirmed knowledge.
        {
            "status": Status.REPORTED,
            "reported_at": NOW - timedelta(hours=3, microseconds=5),
            "cybertipline_report_id": "9000001",
            "reported_on_time": True,
            "report_seconds": 5399,
            "preservation_confirm_due_at": NOW + timedelta(days=1),
            "preservation_confirmed_at": NOW - timedelta(hours=1),
            "preservation_confirmed_by": at,
            "preserve_until": NOW + timedelta(days=365),
            "assignee": odd,
        },
        {
            "status": Status.REPORTED,
            "reported_at": NOW - timedelta(hours=1),
            "cybertipline_report_id": "9000002",
            "reported_on_time": False,
            "report_seconds": 0,
            "breach_reason": "other",
            "breach_note": HOSTILE,
            "preservation_confirm_due_at": NOW - timedelta(hours=2),
            "preservation_confirmed_at": NOW - timedelta(hours=1),
            "preservation_confirmed_by": odd,
        },
        {
            "status": Status.REPORTED,
            "reported_at": NOW - timedelta(hours=1),
            "report_due_at": NOW - timedelta(hours=1),
            "cybertipline_report_id": "9000003",
            "reported_on_time": None,
            "report_seconds": 1,
            "breach_reason": "no-such-reason",
            "preservation_confirm_due_at": NOW,
        },
        {
            "status": Status.REPORTED,
            "reported_at": NOW - timedelta(hours=1),
            "report_due_at": NOW - timedelta(hours=1, seconds=1),
            "cybertipline_report_id": "9000004",
            "reported_on_time": None,
            "preservation_confirm_due_at": NOW - SECOND,
        },
        {
            "status": Status.REPORTED,
            "reported_at": NOW - timedelta(hours=1),
            "cybertipline_report_id": "9000005",
            "knowledge_unconfirmed_since": NOW - timedelta(hours=5),
            "reported_on_time": True,
        },
        # Closed (never confirmed, and confirmed), dismissed.
        {
            "status": Status.CLOSED,
            "reported_at": NOW - timedelta(days=400),
            "cybertipline_report_id": "9000006",
            "reported_on_time": True,
            "preservation_confirm_due_at": NOW - timedelta(days=399),
            "status_reason": "-1+1 released",
            "next_action": "file_report",
            "next_action_due_at": NOW,
        },
        {
            "status": Status.CLOSED,
            "reported_at": NOW - timedelta(days=400),
            "cybertipline_report_id": "9000007",
            "reported_on_time": False,
            "preservation_confirm_due_at": NOW - timedelta(days=399),
            "preservation_confirmed_at": NOW - timedelta(days=399),
        },
        {"status": Status.DISMISSED, "status_reason": '\tall spam, "obviously"', "next_deadline_at": NOW},
        {
            "status": Status.DISMISSED,
            "reported_at": NOW - timedelta(hours=1),
            "cybertipline_report_id": "9000008",
            "preservation_confirm_due_at": NOW,
        },
        # User text: formula prefixes, separators, quotes, line breaks, other scripts.
        {"platform_reference": "@SUM(A1:A2)", "incident_type": "no-such-type"},
        {"platform_reference": "+1 555", "breach_note": "\rcarriage"},
        {"platform_reference": "-acct", "status_reason": "plain"},
        {"platform_reference": 'a,b "c"\nd', "breach_note": "Ünïcødé ✓ 中文"},
        {"priority": Priority.URGENT, "urgent_reason": HOSTILE},
        # NCMEC's report details: annotations, a follow-up's prior report, each submission state.
        {"ncmec_annotations": "sextortion,spam", "ncmec_submission_state": "opened"},
        {
            "ncmec_annotations": "csam_solicitation",
            "prior_report_id": "=9000001",
            "ncmec_submission_state": "retracted",
        },
        {"prior_report_id": "9000002", "ncmec_submission_state": "deleted_unfinished"},
        {"ncmec_submission_state": "no-such-state"},
        {"ncmec_annotations": "=no-such-code,sextortion", "ncmec_submission_state": "@odd"},
        # Values that are no choice and would run as formulas; a status that is neither active nor done.
        {"status": "=odd", "priority": "@odd", "breach_reason": "+odd", "next_action": "file_report"},
        # A microsecond each side of now and of the targets (SQLite compares stored times as text).
        {"next_deadline_at": NOW - MICRO, "next_deadline_soon_at": NOW - timedelta(hours=1)},
        {"next_deadline_at": NOW + timedelta(hours=1), "next_deadline_soon_at": NOW + MICRO},
        {"next_deadline_at": NOW + timedelta(hours=1), "next_deadline_soon_at": NOW - MICRO},
        {"report_due_at": NOW - MICRO},
        {"report_due_at": NOW + MICRO},
        {
            "status": Status.REPORTED,
            "reported_at": NOW - timedelta(hours=1),
            "report_due_at": NOW - timedelta(hours=1, microseconds=1),
            "cybertipline_report_id": "9000009",
            "reported_on_time": None,
            "report_seconds": 18,
            "preservation_confirm_due_at": NOW - timedelta(minutes=30),
            "preservation_confirmed_at": NOW - timedelta(minutes=30),
        },
        {
            "status": Status.REPORTED,
            "reported_at": NOW - timedelta(hours=1, microseconds=1),
            "report_due_at": NOW - timedelta(hours=1),
            "cybertipline_report_id": "9000010",
            "reported_on_time": None,
            "report_seconds": 90_000_054,
            "preservation_confirm_due_at": NOW - timedelta(minutes=30),
            "preservation_confirmed_at": NOW - timedelta(minutes=30) + MICRO,
        },
        {
            "status": Status.REPORTED,
            "reported_at": NOW - timedelta(hours=1),
            "cybertipline_report_id": "9000011",
            "preservation_confirm_due_at": NOW - MICRO,
        },
        # Times at the ends of summer time (stored in UTC, written in UTC whatever zone they came in).
        {
            "knowledge_at": datetime(2025, 3, 30, 0, 59, 59, 999_999, tzinfo=UTC),
            "report_due_at": datetime(2025, 11, 2, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
            "preserve_until": datetime(2025, 10, 26, 1, 30, fold=0, tzinfo=ZoneInfo("Europe/London")),
        },
    ]
    made = []
    for index, shape in enumerate(shapes):
        esc = make_escalation(knowledge_at=knowledge - timedelta(minutes=index))
        Escalation.objects.filter(pk=esc.pk).update(**shape)
        made.append(esc)
    return made


def _columns(sent: bytes) -> dict[str, list[str]]:
    header, *rows = csv.reader(io.StringIO(sent.decode("utf-8"), newline=""))
    return {name: [row[index] for row in rows] for index, name in enumerate(header)}


def _list_order() -> list[Escalation]:
    """The list's own order (what to do first), as its export sorts it."""
    escalations = Escalation.objects.select_related("assignee", "preservation_confirmed_by")
    return list(escalations.order_by(*selectors.NEXT_ACTION_ORDER, "pk"))


def test_the_list_csv_is_byte_for_byte_what_it_was(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any, make_user: Any
) -> None:
    _varied(make_escalation, make_user, lead)
    response = client_for(lead).get("/escalations/?_export=csv")
    assert response.status_code == 200
    sent = b"".join(response.streaming_content)

    assert sent == _before_csv(_before_table(NOW), _list_order())
    # Every state and outcome is in it (the data set covers what it claims).
    table = _columns(sent)
    assert set(table["Deadline state"]) == {"On track", "Due soon", "Overdue", "Met", "Not applicable"}
    assert set(table["Outcome"]) == {
        "Open, within target",
        "Open, overdue",
        "On time",
        "Late",
        "Reported, knowledge time not confirmed",
        "Dismissed",
    }
    assert {"'=cm", "'@SU", "'+1 ", "'-ac", "'\tal"} <= {cell[:4] for cells in table.values() for cell in cells}
    assert "'@lead" in table["Preservation confirmed by"]


def test_the_compliance_csv_is_byte_for_byte_what_it_was(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any, make_user: Any
) -> None:
    _varied(make_escalation, make_user, lead)
    day = NOW.date()
    query = f"start={day - timedelta(days=500):%Y-%m-%d}&end={day:%Y-%m-%d}&include_test=1&_export=csv"
    response = client_for(lead).get(f"/reports/compliance/?{query}")
    assert response.status_code == 200
    sent = b"".join(response.streaming_content)

    start_at, end_at = exports.period_bounds(day - timedelta(days=500), day)
    expected = exports.compliance_queryset(start_at, end_at, include_test=True)
    assert sent == _before_csv(_before_compliance(NOW), expected)
    assert set(_columns(sent)["Preservation confirmation"]) == {
        "",
        "Confirmed on time",
        "Confirmed late",
        "Never confirmed",
        "Not confirmed, overdue",
        "Not confirmed, within target",
    }


@pytest.mark.parametrize("url", ["/escalations/?_export=csv", "/escalations/?_export=xlsx"])
def test_an_export_makes_as_many_queries_for_30_rows_as_for_3(
    url: str, client_for: Any, lead: Any, make_escalation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows read a few at a time: more rows means more fetches from one cursor, not more queries.
    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)
    client = client_for(lead)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
            assert response.status_code == 200
            b"".join(response.streaming_content)
        return len(ctx.captured_queries)

    queries()  # the first request of a session also writes what a sign-in leaves to do
    for _ in range(3):
        make_escalation(knowledge_at=timezone.now() - timedelta(hours=2))
    few = queries()
    for _ in range(27):
        make_escalation(knowledge_at=timezone.now() - timedelta(hours=2))
    assert queries() == few


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=ZoneInfo("Europe/London")),
        datetime(1999, 7, 4, 9, 5, 3, tzinfo=ZoneInfo("America/Los_Angeles")),
        datetime(2025, 11, 2, 1, 30, 0, fold=0, tzinfo=ZoneInfo("America/New_York")),
        datetime(2025, 11, 2, 1, 30, 0, fold=1, tzinfo=ZoneInfo("America/New_York")),
        datetime(2025, 10, 26, 1, 59, 59, 999_999, fold=1, tzinfo=ZoneInfo("Europe/London")),
    ],
)
def test_times_written_by_the_database_are_the_times_python_writes(moment: datetime, make_escalation: Any) -> None:
    esc = make_escalation()
    Escalation.objects.filter(pk=esc.pk).update(knowledge_at=moment)
    stored, text = Escalation.objects.filter(pk=esc.pk).values_list("knowledge_at", UtcText("knowledge_at")).get()

    assert text == exports.iso_utc(stored) == _before_iso_utc(moment)


def test_the_keys_written_by_the_database_are_the_keys_python_writes(make_escalation: Any) -> None:
    esc = make_escalation()
    ids = [0, 7, 99_999, 999_999, 1_000_000, 1_234_567, 2_147_483_647]
    cells = {f"key_{n}": KeyText(Value(n, output_field=IntegerField()), KEY_PREFIX) for n in ids}
    written = Escalation.objects.filter(pk=esc.pk).annotate(**cells).values_list(*cells).get()

    assert list(written) == [format_key(n) for n in ids]


GUARD_CASES = [
    "",
    "plain",
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    "\tTab",
    "\rReturn",
    "\nnew line (not a formula)",
    " =leading space",
    "'=already quoted",
    "Ü=",
    "中文",
    "✓ done",
    "\u2212 a minus sign that is not ASCII",
    "=",
]


def test_text_guarded_by_the_database_is_text_guarded_by_python(make_escalation: Any) -> None:
    esc = make_escalation()
    cells = {f"text_{n}": Guarded(Value(text, output_field=CharField())) for n, text in enumerate(GUARD_CASES)}
    cells["none"] = Guarded(Value(None, output_field=CharField()))
    written = Escalation.objects.filter(pk=esc.pk).annotate(**cells).values_list(*cells).get()

    assert list(written) == [exports.guarded(text) for text in GUARD_CASES] + [None]


@pytest.mark.parametrize(
    "url", ["/escalations/?_export=csv", "/escalations/?_export=csv&status=open&sort=-knowledge_at"]
)
def test_the_list_csv_makes_no_cell_in_python(
    url: str, client_for: Any, lead: Any, make_escalation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database writes every cell (what makes an export of a million rows affordable): the
    # Python cell makers (which XLSX and exports without database-made cells use) are never called.
    make_escalation(knowledge_at=timezone.now() - timedelta(hours=2))

    def refuse(*values: Any) -> str:
        raise AssertionError(f"a cell made in Python: {values!r}")

    for maker in ("csv_cell", "iso_utc", "format_key", "outcome", "preservation_outcome", "action_label"):
        monkeypatch.setattr(exports, maker, refuse)
    response = client_for(lead).get(url)
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode("utf-8").splitlines()
    assert len(lines) == 2 and lines[1].startswith("ESC-")
