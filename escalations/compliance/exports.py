"""Exports: CSV and XLSX of the escalation tables (the django-tables2 `?_export=` convention), the
compliance report and one escalation's audit trail.

- CSV streams: a header row, then the rows of `queryset.iterator(chunk_size=CHUNK_SIZE)` written by
  csv.writer as they are read, so memory stays flat however many rows there are.
- XLSX is written by xlsxwriter in constant-memory mode (each row is flushed to a temporary file as
  it is written) into an anonymous temporary file, which FileResponse then sends in blocks; the file
  is gone once the response is closed.
- Every export is an audit event (services.record_export), written before the first byte is sent,
  with the query string and the number of rows counted at that moment.

Cells: datetimes in ISO 8601 UTC (`2025-01-31T09:30:00Z`; XLSX: real date cells in UTC), choices by
their labels, escalations by their key (ESC-000123). CSV text cells that a spreadsheet would run as a
formula (starting with = + - @, tab or carriage return) get a leading apostrophe; XLSX cells are
always written as strings, never as formulas.
"""

from __future__ import annotations

import csv
import heapq
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import xlsxwriter
from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django_tables2 import RequestConfig

from escalations.compliance import access_log
from escalations.core import ncmec_report, redaction_text, selectors, services, validation
from escalations.core.display import FIELD_LABELS
from escalations.core.people import AuthenticatedHttpRequest, User, signed_in
from escalations.core.permissions import Action, can, require
from escalations.models import (
    AuditAction,
    AuditEvent,
    BreachReason,
    DeliveryAttempt,
    Escalation,
    IncidentType,
    Priority,
    Reminder,
    Status,
    SubmissionState,
)
from escalations.policy import STATE_LABELS, action_label, state_from_columns

EXPORT_PARAM = "_export"
CSV = "csv"
XLSX = "xlsx"
FORMATS = (CSV, XLSX)
CHUNK_SIZE = 2000
# An XLSX sheet holds 1,048,576 rows, the header included; larger exports must use CSV.
XLSX_MAX_ROWS = 1_048_575
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# How many CSV lines go out in one chunk: big enough to keep the server's writes few, small enough
# that memory does not grow with the export.
CSV_LINES_PER_CHUNK = 500
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Row = Sequence[Any]


# --- Cells -----------------------------------------------------------------------------------------


def iso_utc(value: datetime | None) -> str:
    """`2025-01-31T09:30:00Z`: whole seconds, always UTC, whatever zone the viewer uses."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_PREFIXES):
        # A spreadsheet opening the file would run it as a formula (CSV injection).
        return "'" + text
    return text


def hours(seconds: int | None) -> float | None:
    """A duration in hours, two decimals (what a spreadsheet sums and averages)."""
    return None if seconds is None else round(seconds / 3600, 2)


def duration_text(seconds: int | None) -> str:
    """'1 d 2 h', '3 h 12 min', '45 min': for people reading the report."""
    if seconds is None:
        return ""
    days, rem = divmod(int(seconds), 86400)
    hrs, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        return f"{days} d {hrs} h"
    if hrs:
        return f"{hrs} h {minutes} min"
    return f"{minutes} min"


# --- Responses -------------------------------------------------------------------------------------


class _Echo:
    """A file whose write() hands back what it was given: csv.writer formats, we stream."""

    def write(self, value: str) -> str:
        return value


def _csv_chunks(headers: Sequence[str], rows: Iterable[Row]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(headers)
    chunk: list[str] = []
    for row in rows:
        chunk.append(writer.writerow([csv_cell(value) for value in row]))
        if len(chunk) >= CSV_LINES_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def _private(response: HttpResponse | StreamingHttpResponse) -> None:
    # Exports hold case metadata: no shared or browser cache keeps a copy.
    patch_cache_control(response, private=True, no_store=True)


def csv_response(headers: Sequence[str], rows: Iterable[Row], filename: str) -> StreamingHttpResponse:
    """Stream `rows` (an iterator: it is consumed while the response is sent) as a CSV download."""
    response = StreamingHttpResponse(_csv_chunks(headers, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    _private(response)
    return response


def xlsx_response(
    headers: Sequence[str],
    rows: Iterable[Row],
    filename: str,
    title: str,
    summary: Sequence[Row] | None = None,
) -> FileResponse:
    """Write `rows` to an XLSX file row by row (constant memory) and send it; the temporary file is
    anonymous (unlinked at once) and closed, so gone, when the response is closed. `summary` (label,
    value) rows, when given, go to a second sheet, "Summary", that a reader of the workbook alone
    needs (the period, the figures, what was left out)."""
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 (FileResponse closes it)
    try:
        workbook = xlsxwriter.Workbook(
            handle,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        sheet = workbook.add_worksheet(title[:31])
        bold = workbook.add_format({"bold": True})
        when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        sheet.set_column(0, len(headers) - 1, 22)
        sheet.freeze_panes(1, 0)
        for col, header in enumerate(headers):
            sheet.write_string(0, col, header, bold)
        for row_number, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, bool):
                    sheet.write_string(row_number, col, "Yes" if value else "No")
                elif isinstance(value, datetime):
                    # Excel has no time zones (the header says UTC); whole seconds, as in CSV.
                    sheet.write_datetime(
                        row_number, col, value.astimezone(UTC).replace(tzinfo=None, microsecond=0), when
                    )
                elif isinstance(value, int | float | Decimal):
                    sheet.write_number(row_number, col, value)
                else:
                    sheet.write_string(row_number, col, str(value))
        if summary is not None:
            _write_summary(workbook.add_worksheet("Summary"), summary, bold, when)
        workbook.close()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)
    _private(response)
    return response


def _write_summary(sheet: Any, summary: Sequence[Row], bold: Any, when: Any) -> None:
    sheet.set_column(0, 0, 44)
    sheet.set_column(1, 1, 24)
    for row_number, row in enumerate(summary):
        for col, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, datetime):
                sheet.write_datetime(row_number, col, value.astimezone(UTC).replace(tzinfo=None, microsecond=0), when)
            elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                sheet.write_number(row_number, col, value)
            else:
                sheet.write_string(row_number, col, str(value), bold if col == 0 and len(row) == 1 else None)


def bad_request(message: str) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def send_export(
    request: AuthenticatedHttpRequest,
    *,
    export: str,
    fmt: str,
    headers: Sequence[str],
    rows: Callable[[], Iterable[Row]],
    count: int,
    query: str,
    title: str,
    escalation: Escalation | None = None,
    summary: Sequence[Row] | None = None,
) -> HttpResponse | StreamingHttpResponse | FileResponse:
    """Record the export (an audit event), then send it. `rows` is called only after the event is
    written, and its iterator is read while the response goes out. `summary` is the XLSX's summary
    sheet (CSV has one table only)."""
    if fmt not in FORMATS:
        return bad_request(f"Unknown export format {fmt[:20]!r}: use csv or xlsx.")
    if fmt == XLSX and count > XLSX_MAX_ROWS:
        return bad_request(f"{count} rows are more than a spreadsheet holds ({XLSX_MAX_ROWS}); export CSV instead.")
    try:
        # The filters are copied into the audit trail and the access log: no file content in them.
        validation.refuse_file_content(query, "The export's query")
    except ValidationError as exc:
        return bad_request(" ".join(exc.messages) + " Nothing was exported.")
    services.record_export(actor=request.user, export=f"{export}.{fmt}", query=query, rows=count, escalation=escalation)
    # Need-to-know: the access log has every export too (one INSERT), beside the audit event.
    access_log.exported(request, f"{export}.{fmt}", query, escalation)
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    filename = f"{export}-{stamp}.{fmt}"
    if fmt == CSV:
        return csv_response(headers, rows(), filename)
    return xlsx_response(headers, rows(), filename, title, summary)


# --- Escalation tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Escalation], Any]


def _state_label(esc: Escalation, now: datetime) -> str:
    state = state_from_columns(esc.status, esc.next_deadline_at, esc.next_deadline_soon_at, now)
    return STATE_LABELS[state]


def _username(user: User | None) -> str:
    return user.get_username() if user is not None else ""


def outcome(esc: Escalation, now: datetime) -> str:
    """The compliance outcome of one escalation's report at `now`."""
    if esc.status == Status.DISMISSED:
        return "Dismissed"
    if esc.reported_at is not None:
        if esc.knowledge_unconfirmed_since is not None:
            # Made from Coop's report: in time or late depends on a knowledge time nobody confirmed yet.
            return "Reported, knowledge time not confirmed"
        on_time = esc.reported_on_time if esc.reported_on_time is not None else esc.reported_at <= esc.report_due_at
        return "On time" if on_time else "Late"
    if now > esc.report_due_at:
        return "Open, overdue"
    return "Open, within target"


CONFIRMED_ON_TIME = "Confirmed on time"
CONFIRMED_LATE = "Confirmed late"
NEVER_CONFIRMED = "Never confirmed"
NOT_CONFIRMED_OVERDUE = "Not confirmed, overdue"
NOT_CONFIRMED_WITHIN = "Not confirmed, within target"


def preservation_outcome(esc: Escalation, now: datetime) -> str:
    """Whether the preservation of a reported escalation was confirmed by its target: late or never
    is a finding an auditor asks about. Empty before the report (nothing to preserve yet)."""
    due = esc.preservation_confirm_due_at
    if esc.reported_at is None or due is None or esc.status == Status.DISMISSED:
        return ""
    if esc.preservation_confirmed_at is not None:
        return CONFIRMED_LATE if esc.preservation_confirmed_at > due else CONFIRMED_ON_TIME
    if esc.status == Status.CLOSED:
        return NEVER_CONFIRMED
    return NOT_CONFIRMED_OVERDUE if now > due else NOT_CONFIRMED_WITHIN


def escalation_columns(now: datetime) -> list[Column]:
    """What a row of an escalation table exports: the table's columns and the compliance facts."""
    return [
        Column("Key", lambda e: e.key),
        Column("Status", lambda e: e.get_status_display()),
        Column("Deadline state", lambda e: _state_label(e, now)),
        Column("Next deadline (UTC)", lambda e: e.next_deadline_at if e.is_active else None),
        Column("Priority", lambda e: e.get_priority_display()),
        Column("Urgent reason", lambda e: e.urgent_reason),
        Column("Incident type", lambda e: e.get_incident_type_display()),
        Column("Platform reference", lambda e: e.platform_reference),
        Column("Assignee", lambda e: _username(e.assignee)),
        Column("Knowledge obtained (UTC)", lambda e: e.knowledge_at),
        Column("Report target (UTC)", lambda e: e.report_due_at),
        Column("Reported at (UTC)", lambda e: e.reported_at),
        Column("CyberTipline report ID", lambda e: e.cybertipline_report_id),
        Column("Time to report (hours)", lambda e: hours(e.report_seconds)),
        Column("Outcome", lambda e: outcome(e, now)),
        Column("Breach reason", lambda e: e.get_breach_reason_display() if e.breach_reason else ""),
        Column("Breach note", lambda e: e.breach_note),
        Column("Preservation confirmed at (UTC)", lambda e: e.preservation_confirmed_at),
        Column("Preservation confirmed by", lambda e: _username(e.preservation_confirmed_by)),
        Column("Preserve until (UTC)", lambda e: e.preserve_until),
        Column("Status reason", lambda e: e.status_reason),
        # What the queues sort by: the deadline to act on first (an urgent report before any chore).
        Column("Next action", lambda e: action_label(e.next_action) if e.is_active else ""),
        Column("Next action due (UTC)", lambda e: e.next_action_due_at if e.is_active else None),
        # Appended last, so that every column before keeps its position for readers of older exports.
        *NCMEC_REPORT_COLUMNS,
    ]


# What the CyberTipline report carries beside the incident: stored columns, no query of their own.
NCMEC_REPORT_COLUMNS = [
    Column("Report annotations", lambda e: ncmec_report.labels(e.ncmec_annotations)),
    Column("Prior CyberTipline report ID", lambda e: e.prior_report_id),
    Column(
        "Submission state at NCMEC",
        lambda e: e.get_ncmec_submission_state_display() if e.ncmec_submission_state else "",
    ),
]


def compliance_columns(now: datetime) -> list[Column]:
    """The compliance report: each escalation's clocks, outcome and breach reason."""
    return [
        Column("Key", lambda e: e.key),
        Column("Priority", lambda e: e.get_priority_display()),
        Column("Incident type", lambda e: e.get_incident_type_display()),
        Column("Status", lambda e: e.get_status_display()),
        Column("Assignee", lambda e: _username(e.assignee)),
        Column("Knowledge obtained (UTC)", lambda e: e.knowledge_at),
        Column("Report target (UTC)", lambda e: e.report_due_at),
        Column("Reported at (UTC)", lambda e: e.reported_at),
        Column("Time to report (hours)", lambda e: hours(e.report_seconds)),
        Column("CyberTipline report ID", lambda e: e.cybertipline_report_id),
        Column("Preservation confirmed at (UTC)", lambda e: e.preservation_confirmed_at),
        Column("Preservation confirmation due (UTC)", lambda e: e.preservation_confirm_due_at),
        Column("Preservation confirmation", lambda e: preservation_outcome(e, now)),
        Column("Preserve until (UTC)", lambda e: e.preserve_until),
        Column("Outcome", lambda e: outcome(e, now)),
        Column("Breach reason", lambda e: e.get_breach_reason_display() if e.breach_reason else ""),
        Column("Breach note", lambda e: e.breach_note),
        Column("Status reason", lambda e: e.status_reason),
        *NCMEC_REPORT_COLUMNS,
    ]


def export_queryset(
    request: AuthenticatedHttpRequest,
    *,
    export: str,
    fmt: str,
    queryset: QuerySet[Escalation],
    columns: Sequence[Column],
    query: str,
    title: str,
    summary: Sequence[Row] | None = None,
) -> HttpResponse | StreamingHttpResponse | FileResponse:
    """Export every row of `queryset` (its order kept), one `columns` row per escalation."""
    queryset = queryset.select_related("assignee", "preservation_confirmed_by")

    def rows() -> Iterator[Row]:
        for esc in queryset.iterator(chunk_size=CHUNK_SIZE):
            yield [column.value(esc) for column in columns]

    return send_export(
        request,
        export=export,
        fmt=fmt,
        headers=[column.header for column in columns],
        rows=rows,
        count=queryset.count() if fmt in FORMATS else 0,
        query=query,
        title=title,
        summary=summary,
    )


def export_links(request: HttpRequest) -> dict[str, str]:
    """`?<current filters and sort>&_export=csv` (and xlsx): the links an export button follows."""
    params = request.GET.copy()
    params.pop("page", None)
    links = {}
    for fmt in FORMATS:
        params[EXPORT_PARAM] = fmt
        links[fmt] = "?" + params.urlencode()
    return links


class TableExportMixin:
    """`?_export=csv|xlsx` on a SingleTableMixin view (with or without a FilterSet) exports every row
    of the table as filtered and sorted by the same request, not only the current page. Only users
    allowed Action.EXPORT may export (others get 403); each export is audited."""

    export_name = "escalations"
    export_title = "Escalations"
    request: HttpRequest

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        fmt = request.GET.get(EXPORT_PARAM)
        if fmt is None:
            return super().get(request, *args, **kwargs)  # type: ignore[misc]
        require(request.user, Action.EXPORT)
        if fmt not in FORMATS:
            return bad_request(f"Unknown export format {fmt[:20]!r}: use csv or xlsx.")
        return export_queryset(
            signed_in(request),
            export=self.export_name,
            fmt=fmt,
            queryset=selectors.visible_to(request.user, self.get_export_queryset()),
            columns=escalation_columns(timezone.now()),
            query=request.GET.urlencode(),
            title=self.export_title,
        )

    def get_export_data(self) -> QuerySet[Escalation]:
        """The table's rows before sorting: the FilterSet's result, as FilterView.get computes it."""
        view: Any = self
        if hasattr(view, "get_filterset_class"):
            filterset = view.get_filterset(view.get_filterset_class())
            if not filterset.is_bound or filterset.is_valid() or not view.get_strict():
                return filterset.qs
            return filterset.queryset.none()
        return view.get_table_data()

    def get_export_queryset(self) -> QuerySet[Escalation]:
        """The table's queryset, sorted by the request's `sort` the way the page sorts it, with the
        primary key as the last tie-breaker so that an export is reproducible."""
        view: Any = self
        table = view.get_table_class()(data=self.get_export_data(), **view.get_table_kwargs())
        RequestConfig(self.request, paginate=False).configure(table)
        queryset: QuerySet[Escalation] = table.data.data
        ordering: list[Any] = list(queryset.query.order_by or ()) or list(Escalation._meta.ordering or ())
        if not any(item in ("pk", "-pk", "id", "-id") for item in ordering if isinstance(item, str)):
            ordering.append("pk")
        return queryset.order_by(*ordering)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]
        if can(self.request.user, Action.EXPORT):
            context["export_links"] = export_links(self.request)
        return context


# --- Compliance report -----------------------------------------------------------------------------


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in the current (the viewer's) time zone."""
    zone = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), zone),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), zone),
    )


def compliance_queryset(start_at: datetime, end_at: datetime, include_test: bool = False) -> QuerySet[Escalation]:
    """Every escalation whose knowledge or report falls in [start_at, end_at), oldest knowledge first;
    test records (is_test) only when asked for."""
    in_period = Q(knowledge_at__gte=start_at, knowledge_at__lt=end_at) | Q(
        reported_at__gte=start_at, reported_at__lt=end_at
    )
    if not include_test:
        in_period &= Q(is_test=False)
    return (
        Escalation.objects.filter(in_period)
        .select_related("assignee", "preservation_confirmed_by")
        .order_by("knowledge_at", "pk")
    )


def compliance_summary(queryset: QuerySet[Escalation], now: datetime) -> dict[str, int]:
    """Counts by outcome, in one aggregate query (the same rules as outcome() and
    preservation_outcome())."""
    not_dismissed = ~Q(status=Status.DISMISSED)
    reported = not_dismissed & Q(reported_at__isnull=False)
    unreported = not_dismissed & Q(reported_at__isnull=True)
    unconfirmed = reported & Q(preservation_confirmed_at__isnull=True, preservation_confirm_due_at__isnull=False)
    return queryset.order_by().aggregate(
        total=Count("pk"),
        on_time=Count("pk", filter=reported & Q(reported_on_time=True)),
        late=Count("pk", filter=reported & Q(reported_on_time=False)),
        open_overdue=Count("pk", filter=unreported & Q(report_due_at__lt=now)),
        open_within=Count("pk", filter=unreported & Q(report_due_at__gte=now)),
        dismissed=Count("pk", filter=Q(status=Status.DISMISSED)),
        preservation_late=Count(
            "pk", filter=reported & Q(preservation_confirmed_at__gt=F("preservation_confirm_due_at"))
        ),
        preservation_never=Count(
            "pk", filter=unconfirmed & (Q(status=Status.CLOSED) | Q(preservation_confirm_due_at__lt=now))
        ),
    )


def test_records_left_out(start_at: datetime, end_at: datetime) -> int:
    """How many test records the period holds (what the report leaves out unless asked)."""
    in_period = Q(knowledge_at__gte=start_at, knowledge_at__lt=end_at) | Q(
        reported_at__gte=start_at, reported_at__lt=end_at
    )
    return Escalation.objects.filter(in_period, is_test=True).count()


SUMMARY_FIGURES = (
    ("total", "Escalations in the period"),
    ("on_time", "Reported within target"),
    ("late", "Reported late"),
    ("open_overdue", "Open, past target"),
    ("open_within", "Open, within target"),
    ("dismissed", "Dismissed"),
    ("preservation_late", "Preservation confirmed late"),
    ("preservation_never", "Preservation not confirmed by its target"),
)


def compliance_summary_rows(
    *,
    start: date,
    end: date,
    start_at: datetime,
    end_at: datetime,
    summary: dict[str, int],
    include_test: bool,
    test_left_out: int,
    generated_at: datetime,
    generated_by: str,
) -> list[Row]:
    """The compliance workbook's "Summary" sheet: what a reader of the file alone must know."""
    zone = timezone.get_current_timezone_name()
    rows: list[Row] = [
        ["Compliance report"],
        ["Period", f"{start:%Y-%m-%d} to {end:%Y-%m-%d} ({zone}, both days included)"],
        ["From (UTC)", start_at],
        ["Up to, excluded (UTC)", end_at],
        ["Generated (UTC)", generated_at],
        ["Generated by", generated_by],
        [],
        ["Figures"],
    ]
    rows += [[label, summary.get(name, 0)] for name, label in SUMMARY_FIGURES]
    rows.append([])
    if include_test:
        rows.append(["Test records", "Included"])
    else:
        rows.append(["Test records left out", test_left_out])
    return rows


# --- One escalation's audit trail ------------------------------------------------------------------

AUDIT_HEADERS = ("At (UTC)", "Actor", "Action", "Field", "Before", "After", "Reason")
_CHOICE_LABELS: dict[str, dict[str, str]] = {
    "incident_type": dict(IncidentType.choices),
    "priority": dict(Priority.choices),
    "status": dict(Status.choices),
    "breach_reason": dict(BreachReason.choices),
    "ncmec_submission_state": dict(SubmissionState.choices),
}
_DATETIME_FIELDS = {
    "knowledge_at",
    "reported_at",
    "preservation_confirmed_at",
    "report_due_at",
    "preservation_confirm_due_at",
    "preserve_until",
}


def _audit_cell(field: str, value: Any) -> Any:
    if value is None or value == "":
        return ""
    if field in _DATETIME_FIELDS and isinstance(value, str):
        try:
            return iso_utc(datetime.fromisoformat(value))
        except ValueError:
            return value
    if field == "ncmec_annotations":
        return ncmec_report.labels(str(value))
    return _CHOICE_LABELS.get(field, {}).get(value, value)


def _event_rows(escalation: Escalation) -> Iterator[tuple[datetime, int, int, Row]]:
    events = (
        AuditEvent.objects.filter(escalation=escalation)
        .select_related("actor")
        .order_by("at", "pk")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for event in events:
        head = [event.at, _username(event.actor) or "the system", event.get_action_display()]
        changes = event.changes if isinstance(event.changes, dict) else {}
        if event.action == AuditAction.EXPORTED:
            detail = f"{changes.get('export', '')}, {changes.get('rows', '')} rows"
            if changes.get("filters"):
                detail += f", filters {changes['filters']}"
            yield (event.at, 0, event.pk, [*head, "Export", "", detail, event.reason])
            continue
        if event.action in redaction_text.ACTIONS:
            yield (
                event.at,
                0,
                event.pk,
                [*head, "Redaction", "", redaction_text.describe(event.action, changes), event.reason],
            )
            continue
        pairs = [(f, v) for f, v in changes.items() if isinstance(v, list | tuple) and len(v) == 2]
        if not pairs:
            yield (event.at, 0, event.pk, [*head, "", "", "", event.reason])
        for field, (before, after) in pairs:
            yield (
                event.at,
                0,
                event.pk,
                [
                    *head,
                    FIELD_LABELS.get(field, field),
                    _audit_cell(field, before),
                    _audit_cell(field, after),
                    event.reason,
                ],
            )


REMINDER_SENT = "Reminder sent"
REMINDER_FAILED = "Reminder not delivered"
REMINDER_CANCELLED = "Reminder cancelled"


def _reminder_rows(escalation: Escalation) -> Iterator[tuple[datetime, int, int, Row]]:
    """Every delivery attempt of the escalation's reminders (who was told what, on which channel, and
    whether the channel took it), then each reminder cancelled, in time order."""
    attempts = (
        DeliveryAttempt.objects.filter(escalation=escalation)
        .select_related("delivery__recipient", "delivery__reminder")
        .order_by("at", "pk")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    cancelled = (
        Reminder.objects.filter(escalation=escalation, cancelled_at__isnull=False)
        .order_by("cancelled_at", "pk")
        .iterator(chunk_size=CHUNK_SIZE)
    )

    def attempt_rows() -> Iterator[tuple[datetime, int, int, Row]]:
        for attempt in attempts:
            delivery = attempt.delivery
            what = f"{delivery.reminder.get_kind_display()} to {_username(delivery.recipient)}"
            yield (
                attempt.at,
                1,
                attempt.pk,
                [
                    attempt.at,
                    "the system",
                    REMINDER_SENT if attempt.ok else REMINDER_FAILED,
                    f"Reminder by {delivery.get_channel_display()}",
                    "",
                    what,
                    "" if attempt.ok else attempt.error,
                ],
            )

    def cancelled_rows() -> Iterator[tuple[datetime, int, int, Row]]:
        for reminder in cancelled:
            at = reminder.cancelled_at
            assert at is not None  # the filter above
            yield (
                at,
                2,
                reminder.pk,
                [
                    at,
                    "the system",
                    REMINDER_CANCELLED,
                    "Reminder",
                    "",
                    reminder.get_kind_display(),
                    reminder.cancel_reason,
                ],
            )

    return heapq.merge(attempt_rows(), cancelled_rows(), key=lambda item: item[:3])


def audit_trail_count(escalation: Escalation) -> int:
    """How many records audit_trail_rows draws on (audit events and reminder deliveries), for the
    export's own audit event."""
    return (
        AuditEvent.objects.filter(escalation=escalation).count()
        + DeliveryAttempt.objects.filter(escalation=escalation).count()
        + Reminder.objects.filter(escalation=escalation, cancelled_at__isnull=False).count()
    )


def audit_trail_rows(escalation: Escalation) -> Iterator[Row]:
    """One row per changed field of each event, oldest first; an event that changed no field (an
    export, say) is one row. Field names are the labels people see on the timeline. Reminders are in
    it too: each delivery attempt (sent or refused by its channel) and each reminder cancelled."""
    merged = heapq.merge(_event_rows(escalation), _reminder_rows(escalation), key=lambda item: item[:3])
    for _at, _order, _pk, row in merged:
        yield row
