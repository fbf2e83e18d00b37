"""Exports: CSV and XLSX of the escalation tables (the django-tables2 `?_export=` convention), the
compliance report and one escalation's audit trail.

- CSV streams: a header row, then the rows as they are read from one server-side cursor
  (`iterator(chunk_size=CHUNK_SIZE)`), CSV_LINES_PER_CHUNK at a time written by csv.writer into a
  buffer, so memory stays flat however many rows there are. An escalation table's CSV rows are its
  cells as the database makes them in the SELECT (each Column's csv_sql, compliance.csv_cells:
  labels, keys, formula guard, times, states and outcomes), never model instances, so csv.writer
  writes them as read and an export of every row costs little more than reading and writing them.
  Its XLSX reads plain values (export_rows) and makes its cells in Python.
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
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import islice
from operator import attrgetter
from typing import Any

import xlsxwriter
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Case, CharField, Count, F, Q, QuerySet, TextChoices, Value, When
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django_tables2 import RequestConfig

from escalations.compliance import access_log, csv_cells
from escalations.compliance.utc_text import UtcText
from escalations.core import ncmec_report, redaction_text, selectors, services, validation
from escalations.core.display import FIELD_LABELS
from escalations.core.people import AuthenticatedHttpRequest, User, signed_in
from escalations.core.permissions import Action, can, require
from escalations.models import (
    ACTIVE_STATUSES,
    KEY_PREFIX,
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
    format_key,
)
from escalations.policy import ACTION_LABELS, STATE_LABELS, DeadlineState, action_label, state_from_columns

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
    # isoformat() is twice as fast as strftime() and, to the second, the same text (a year has four
    # digits from 1000 on): it runs for every time of every row of an export.
    return value.astimezone(UTC).isoformat(timespec="seconds")[:-6] + "Z"


def guarded(text: str) -> str:
    """Typed text as a CSV cell: a leading apostrophe where a spreadsheet opening the file would run
    it as a formula (CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def csv_cell(value: Any) -> str:
    if type(value) is str:
        return guarded(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, int | float | Decimal):
        return str(value)
    return guarded(str(value))


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


def _csv_chunks(headers: Sequence[str], rows: Iterable[Row], cells_ready: bool = False) -> Iterator[str]:
    """The header line, then CSV_LINES_PER_CHUNK lines at a time, written by csv.writer into a buffer
    that is handed on and emptied. `cells_ready`: the rows' cells are already what the CSV holds
    (csv_cell applied, or None and numbers, which csv.writer writes as csv_cell would)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    lines = rows if cells_ready else ([csv_cell(value) for value in row] for row in rows)
    while True:
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(islice(lines, CSV_LINES_PER_CHUNK))
        if not buffer.tell():
            return


def _private(response: HttpResponse | StreamingHttpResponse) -> None:
    # Exports hold case metadata: no shared or browser cache keeps a copy.
    patch_cache_control(response, private=True, no_store=True)


def csv_response(
    headers: Sequence[str], rows: Iterable[Row], filename: str, cells_ready: bool = False
) -> StreamingHttpResponse:
    """Stream `rows` (an iterator: it is consumed while the response is sent) as a CSV download."""
    response = StreamingHttpResponse(_csv_chunks(headers, rows, cells_ready), content_type="text/csv; charset=utf-8")
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
    csv_rows: Callable[[], Iterable[Row]] | None = None,
) -> HttpResponse | StreamingHttpResponse | FileResponse:
    """Record the export (an audit event), then send it. `rows` is called only after the event is
    written, and its iterator is read while the response goes out. `summary` is the XLSX's summary
    sheet (CSV has one table only). `csv_rows`, when given, makes the CSV instead of `rows`: the same
    rows with their cells already as the CSV holds them."""
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
        if csv_rows is not None:
            return csv_response(headers, csv_rows(), filename, cells_ready=True)
        return csv_response(headers, rows(), filename)
    return xlsx_response(headers, rows(), filename, title, summary)


# --- Escalation tables -----------------------------------------------------------------------------
#
# An escalation export reads plain values, not model instances: `.values_list(*EXPORT_FIELDS)` with
# the two people's names joined in SQL, through a server-side cursor (iterator(chunk_size)), one named
# tuple per row whose attributes carry the model's field names. Building a model instance (and two
# users) per row cost most of an export's time. outcome() and preservation_outcome() read those
# attributes, so they serve a page's model instances and an export's rows alike.

# The assignee's and the confirming lead's usernames, joined in SQL.
ASSIGNEE_NAME = "export_assignee_name"
CONFIRMED_BY_NAME = "export_confirmed_by_name"
EXPORT_FIELDS = (
    "id",
    "status",
    "priority",
    "urgent_reason",
    "incident_type",
    "platform_reference",
    "knowledge_at",
    "report_due_at",
    "reported_at",
    "cybertipline_report_id",
    "report_seconds",
    "reported_on_time",
    "knowledge_unconfirmed_since",
    "breach_reason",
    "breach_note",
    "preservation_confirmed_at",
    "preservation_confirm_due_at",
    "preserve_until",
    "status_reason",
    "next_action",
    "next_action_due_at",
    "next_deadline_at",
    "next_deadline_soon_at",
    "ncmec_annotations",
    "prior_report_id",
    "ncmec_submission_state",
    ASSIGNEE_NAME,
    CONFIRMED_BY_NAME,
)

# What a column holds, which says how the Python path writes it without asking each value its type.
TEXT = "text"  # typed text (or a value not in a field's choices): guarded against formulas
TIME = "time"  # a datetime or None: ISO 8601 UTC
PLAIN = "plain"  # words, keys and numbers of our own making, or None: written as they are


@dataclass(frozen=True)
class Column:
    """A header and how one exported row (a named tuple of EXPORT_FIELDS) fills it."""

    header: str
    value: Callable[[Any], Any]
    kind: str = TEXT
    # The CSV cell made by the database (csv_cells): the text csv_cell(value(row)) writes, or NULL
    # for an empty cell. `finish`, when given, is the little Python left to do on what it reads.
    csv_sql: Any = None
    finish: Callable[[Any], Any] | None = None


def _text(header: str, field: str) -> Column:
    return Column(header, attrgetter(field), TEXT, csv_cells.text(field))


def _time(header: str, field: str) -> Column:
    return Column(header, attrgetter(field), TIME, UtcText(field))


def _choice(header: str, field: str, choices: type[TextChoices], blank_is_empty: bool = False) -> Column:
    """A choice column by its label; `blank_is_empty`: no value is an empty cell."""
    label = _label_of(choices)
    get = attrgetter(field)
    if blank_is_empty:
        return Column(
            header,
            lambda e: label(get(e)) if get(e) else "",
            TEXT,
            csv_cells.labelled(field, _labels(choices), blank_is_empty=True),
        )
    return Column(header, lambda e: label(get(e)), TEXT, csv_cells.labelled(field, _labels(choices)))


def _labels(choices: type[TextChoices]) -> list[tuple[str, str]]:
    """The choices' labels (in the active language) as a TEXT cell writes them."""
    return [(value, guarded(str(label))) for value, label in choices.choices]


def export_rows(queryset: QuerySet[Escalation]) -> Iterator[Any]:
    """Every row of `queryset`, in its order, as named tuples of EXPORT_FIELDS, read CHUNK_SIZE at a
    time from one cursor."""
    values = queryset.annotate(**_names()).values_list(*EXPORT_FIELDS, named=True)
    return values.iterator(chunk_size=CHUNK_SIZE)


def _names() -> dict[str, Any]:
    username = get_user_model().USERNAME_FIELD
    return {
        ASSIGNEE_NAME: F(f"assignee__{username}"),
        CONFIRMED_BY_NAME: F(f"preservation_confirmed_by__{username}"),
    }


def csv_export_rows(queryset: QuerySet[Escalation], columns: Sequence[Column]) -> Iterator[Row]:
    """Every row of `queryset`, in its order, as its CSV cells (each column's csv_sql), read
    CHUNK_SIZE at a time from one cursor; the columns with a `finish` get it applied."""
    names = {f"export_cell_{index}": column.csv_sql for index, column in enumerate(columns)}
    rows = queryset.annotate(**names).values_list(*names).iterator(chunk_size=CHUNK_SIZE)
    finishing = [(index, column.finish) for index, column in enumerate(columns) if column.finish is not None]
    if not finishing:
        yield from rows
        return
    for row in rows:
        cells = list(row)
        for index, finish in finishing:
            cells[index] = finish(cells[index])
        yield cells


def _label_of(choices: type[TextChoices]) -> Callable[[str], str]:
    """get_FOO_display() on a plain value: the label (in the active language), or the value itself
    when it is no choice."""
    labels = {value: str(label) for value, label in choices.choices}
    return lambda value: labels.get(value, value)


def _state_label(esc: Any, now: datetime) -> str:
    state = state_from_columns(esc.status, esc.next_deadline_at, esc.next_deadline_soon_at, now)
    return STATE_LABELS[state]


def _username(user: User | None) -> str:
    return user.get_username() if user is not None else ""


OUTCOME_DISMISSED = "Dismissed"
OUTCOME_UNCONFIRMED_KNOWLEDGE = "Reported, knowledge time not confirmed"
OUTCOME_ON_TIME = "On time"
OUTCOME_LATE = "Late"
OUTCOME_OVERDUE = "Open, overdue"
OUTCOME_WITHIN = "Open, within target"


def outcome(esc: Any, now: datetime) -> str:
    """The compliance outcome of one escalation's report at `now` (an Escalation or an export row)."""
    if esc.status == Status.DISMISSED:
        return OUTCOME_DISMISSED
    if esc.reported_at is not None:
        if esc.knowledge_unconfirmed_since is not None:
            # Made from Coop's report: in time or late depends on a knowledge time nobody confirmed yet.
            return OUTCOME_UNCONFIRMED_KNOWLEDGE
        on_time = esc.reported_on_time if esc.reported_on_time is not None else esc.reported_at <= esc.report_due_at
        return OUTCOME_ON_TIME if on_time else OUTCOME_LATE
    if now > esc.report_due_at:
        return OUTCOME_OVERDUE
    return OUTCOME_WITHIN


CONFIRMED_ON_TIME = "Confirmed on time"
CONFIRMED_LATE = "Confirmed late"
NEVER_CONFIRMED = "Never confirmed"
NOT_CONFIRMED_OVERDUE = "Not confirmed, overdue"
NOT_CONFIRMED_WITHIN = "Not confirmed, within target"


def preservation_outcome(esc: Any, now: datetime) -> str:
    """Whether the preservation of a reported escalation was confirmed by its target: late or never
    is a finding an auditor asks about. Empty before the report (nothing to preserve yet). An
    Escalation or an export row."""
    due = esc.preservation_confirm_due_at
    if esc.reported_at is None or due is None or esc.status == Status.DISMISSED:
        return ""
    if esc.preservation_confirmed_at is not None:
        return CONFIRMED_LATE if esc.preservation_confirmed_at > due else CONFIRMED_ON_TIME
    if esc.status == Status.CLOSED:
        return NEVER_CONFIRMED
    return NOT_CONFIRMED_OVERDUE if now > due else NOT_CONFIRMED_WITHIN


# The same rules as _state_label(), outcome() and preservation_outcome(), as SQL: the CSV's cells.
# A test holds each to its Python twin at every boundary.


def _state_sql(now: datetime) -> Case:
    labels = STATE_LABELS
    return Case(
        When(status=Status.DISMISSED, then=Value(labels[DeadlineState.NOT_APPLICABLE])),
        When(Q(status=Status.CLOSED) | Q(next_deadline_at__isnull=True), then=Value(labels[DeadlineState.MET])),
        When(next_deadline_at__lt=now, then=Value(labels[DeadlineState.OVERDUE])),
        When(next_deadline_soon_at__lte=now, then=Value(labels[DeadlineState.DUE_SOON])),
        default=Value(labels[DeadlineState.ON_TRACK]),
        output_field=CharField(),
    )


def _outcome_sql(now: datetime) -> Case:
    reported = Q(reported_at__isnull=False)
    return Case(
        When(status=Status.DISMISSED, then=Value(OUTCOME_DISMISSED)),
        When(
            reported & Q(knowledge_unconfirmed_since__isnull=False),
            then=Value(OUTCOME_UNCONFIRMED_KNOWLEDGE),
        ),
        When(reported & Q(reported_on_time=True), then=Value(OUTCOME_ON_TIME)),
        When(reported & Q(reported_on_time=False), then=Value(OUTCOME_LATE)),
        # The stored flag is missing: in time when filed by the target.
        When(reported & Q(reported_at__lte=F("report_due_at")), then=Value(OUTCOME_ON_TIME)),
        When(reported, then=Value(OUTCOME_LATE)),
        When(report_due_at__lt=now, then=Value(OUTCOME_OVERDUE)),
        default=Value(OUTCOME_WITHIN),
        output_field=CharField(),
    )


def _preservation_sql(now: datetime) -> Case:
    due = "preservation_confirm_due_at"
    return Case(
        When(
            Q(reported_at__isnull=True) | Q(**{f"{due}__isnull": True}) | Q(status=Status.DISMISSED),
            then=Value(""),
        ),
        When(preservation_confirmed_at__gt=F(due), then=Value(CONFIRMED_LATE)),
        When(preservation_confirmed_at__isnull=False, then=Value(CONFIRMED_ON_TIME)),
        When(status=Status.CLOSED, then=Value(NEVER_CONFIRMED)),
        When(**{f"{due}__lt": now}, then=Value(NOT_CONFIRMED_OVERDUE)),
        default=Value(NOT_CONFIRMED_WITHIN),
        output_field=CharField(),
    )


def _next_action_sql() -> Case:
    return Case(
        *(
            When(status__in=ACTIVE_STATUSES, next_action=kind.value, then=Value(label))
            for kind, label in ACTION_LABELS.items()
        ),
        default=Value(""),
        output_field=CharField(),
    )


def _active(row: Any) -> bool:
    return row.status in ACTIVE_STATUSES


_ACTIVE = Q(status__in=ACTIVE_STATUSES)


def _annotations_cell(stored: str | None) -> str | None:
    # Most rows have none: no call for them.
    return guarded(ncmec_report.labels(stored)) if stored else stored


def _key() -> Column:
    return Column("Key", lambda e: format_key(e.id), PLAIN, csv_cells.KeyText(F("id"), KEY_PREFIX))


def _hours() -> Column:
    # Python's float text (repr of the rounded hours) is not something SQL writes alike: left here.
    return Column("Time to report (hours)", lambda e: hours(e.report_seconds), PLAIN, F("report_seconds"), hours)


def _assignee() -> Column:
    name = f"assignee__{get_user_model().USERNAME_FIELD}"
    return Column("Assignee", lambda e: getattr(e, ASSIGNEE_NAME) or "", TEXT, csv_cells.text(name))


def _outcome(now: datetime) -> Column:
    return Column("Outcome", lambda e: outcome(e, now), PLAIN, _outcome_sql(now))


def _breach_reason() -> Column:
    return _choice("Breach reason", "breach_reason", BreachReason, blank_is_empty=True)


def escalation_columns(now: datetime) -> list[Column]:
    """What a row of an escalation table exports: the table's columns and the compliance facts."""
    return [
        _key(),
        _choice("Status", "status", Status),
        Column("Deadline state", lambda e: _state_label(e, now), PLAIN, _state_sql(now)),
        Column(
            "Next deadline (UTC)",
            lambda e: e.next_deadline_at if _active(e) else None,
            TIME,
            csv_cells.when_active(_ACTIVE, UtcText("next_deadline_at")),
        ),
        _choice("Priority", "priority", Priority),
        _text("Urgent reason", "urgent_reason"),
        _choice("Incident type", "incident_type", IncidentType),
        _text("Platform reference", "platform_reference"),
        _assignee(),
        _time("Knowledge obtained (UTC)", "knowledge_at"),
        _time("Report target (UTC)", "report_due_at"),
        _time("Reported at (UTC)", "reported_at"),
        _text("CyberTipline report ID", "cybertipline_report_id"),
        _hours(),
        _outcome(now),
        _breach_reason(),
        _text("Breach note", "breach_note"),
        _time("Preservation confirmed at (UTC)", "preservation_confirmed_at"),
        Column(
            "Preservation confirmed by",
            lambda e: getattr(e, CONFIRMED_BY_NAME) or "",
            TEXT,
            csv_cells.text(f"preservation_confirmed_by__{get_user_model().USERNAME_FIELD}"),
        ),
        _time("Preserve until (UTC)", "preserve_until"),
        _text("Status reason", "status_reason"),
        # What the queues sort by: the deadline to act on first (an urgent report before any chore).
        Column("Next action", lambda e: action_label(e.next_action) if _active(e) else "", PLAIN, _next_action_sql()),
        Column(
            "Next action due (UTC)",
            lambda e: e.next_action_due_at if _active(e) else None,
            TIME,
            csv_cells.when_active(_ACTIVE, UtcText("next_action_due_at")),
        ),
        # Appended last, so that every column before keeps its position for readers of older exports.
        *ncmec_report_columns(),
    ]


# What the CyberTipline report carries beside the incident: stored columns, no query of their own.
def ncmec_report_columns() -> list[Column]:
    return [
        Column(
            "Report annotations",
            lambda e: ncmec_report.labels(e.ncmec_annotations),
            TEXT,
            F("ncmec_annotations"),
            _annotations_cell,
        ),
        _text("Prior CyberTipline report ID", "prior_report_id"),
        _choice("Submission state at NCMEC", "ncmec_submission_state", SubmissionState, blank_is_empty=True),
    ]


def compliance_columns(now: datetime) -> list[Column]:
    """The compliance report: each escalation's clocks, outcome and breach reason."""
    return [
        _key(),
        _choice("Priority", "priority", Priority),
        _choice("Incident type", "incident_type", IncidentType),
        _choice("Status", "status", Status),
        _assignee(),
        _time("Knowledge obtained (UTC)", "knowledge_at"),
        _time("Report target (UTC)", "report_due_at"),
        _time("Reported at (UTC)", "reported_at"),
        _hours(),
        _text("CyberTipline report ID", "cybertipline_report_id"),
        _time("Preservation confirmed at (UTC)", "preservation_confirmed_at"),
        _time("Preservation confirmation due (UTC)", "preservation_confirm_due_at"),
        Column("Preservation confirmation", lambda e: preservation_outcome(e, now), PLAIN, _preservation_sql(now)),
        _time("Preserve until (UTC)", "preserve_until"),
        _outcome(now),
        _breach_reason(),
        _text("Breach note", "breach_note"),
        _text("Status reason", "status_reason"),
        *ncmec_report_columns(),
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
    """Export every row of `queryset` (its order kept), one `columns` row per escalation. CSV reads
    the cells made by the database when every column says how (csv_sql)."""
    cells = [column.value for column in columns]

    def rows() -> Iterator[Row]:
        for esc in export_rows(queryset):
            yield [cell(esc) for cell in cells]

    def csv_rows() -> Iterator[Row]:
        return csv_export_rows(queryset, columns)

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
        csv_rows=csv_rows if all(column.csv_sql is not None for column in columns) else None,
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
