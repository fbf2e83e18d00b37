"""Exports of the records beside the escalations: law-enforcement requests and the access log. The
same conventions as escalations.compliance.exports (streamed CSV, constant-memory XLSX, formulas
neutralised, ISO 8601 UTC times) and the same audit: every download goes through send_export."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, HttpResponse, StreamingHttpResponse

from escalations.compliance.exports import CHUNK_SIZE, Row, send_export
from escalations.core.people import AuthenticatedHttpRequest
from escalations.models import AccessLog, Escalation, LegalRequest


@dataclass(frozen=True)
class Column:
    """A header and how a record fills it (exports.Column is the same for escalations)."""

    header: str
    value: Callable[[Any], Any]


LEGAL_REQUEST_COLUMNS = [
    Column("Request", lambda r: r.key),
    Column("Kind", lambda r: r.get_kind_display()),
    Column("Agency", lambda r: r.agency),
    Column("Agency reference", lambda r: r.reference),
    Column("Received (UTC)", lambda r: r.received_at),
    Column("Response due (UTC)", lambda r: r.response_due_at),
    Column("Responded at (UTC)", lambda r: r.responded_at),
    Column("Status", lambda r: r.get_status_display()),
    Column("Holds preservation until (UTC)", lambda r: r.hold_until),
    Column("Renews", lambda r: r.renews.key if r.renews_id else ""),
    # Every escalation the request covers (the page names the first few).
    Column("Escalations", lambda r: " ".join(esc.key for esc in r.exported_escalations)),
    Column("Notes", lambda r: r.notes),
    Column("Recorded by", lambda r: r.created_by.get_username()),
    Column("Recorded at (UTC)", lambda r: r.created_at),
]


def export_legal_requests(
    request: AuthenticatedHttpRequest, *, fmt: str, queryset: QuerySet[LegalRequest], query: str
) -> HttpResponse | StreamingHttpResponse | FileResponse:
    """Every request of `queryset` (the list's filters and order), each with all its escalations."""
    rows_qs = queryset.select_related("created_by", "renews").prefetch_related(
        Prefetch("escalations", queryset=Escalation.objects.only("pk").order_by("pk"), to_attr="exported_escalations")
    )

    def rows() -> Iterator[Row]:
        for legal_request in rows_qs.iterator(chunk_size=CHUNK_SIZE):
            yield [column.value(legal_request) for column in LEGAL_REQUEST_COLUMNS]

    return send_export(
        request,
        export="legal-requests",
        fmt=fmt,
        headers=[column.header for column in LEGAL_REQUEST_COLUMNS],
        rows=rows,
        count=queryset.order_by().count(),
        query=query,
        title="Legal requests",
    )


ACCESS_LOG_COLUMNS = [
    Column("At (UTC)", lambda a: a.at),
    Column("User", lambda a: a.user.get_username()),
    Column("Via", lambda a: a.via),
    Column("Kind", lambda a: a.get_kind_display()),
    Column("What", lambda a: a.what),
    Column("Escalation", lambda a: a.escalation_key),
    Column("Filters", lambda a: a.query),
    Column("From (IP address)", lambda a: a.ip_address),
]


def export_access_log(
    request: AuthenticatedHttpRequest, *, fmt: str, queryset: QuerySet[AccessLog], query: str
) -> HttpResponse | StreamingHttpResponse | FileResponse:
    """Every entry of `queryset` (the page's filters, newest first). The export itself is an entry
    too, written before the rows are read, so it is the first row."""
    rows_qs: QuerySet[Any] = queryset.select_related("user")

    def rows() -> Iterator[Row]:
        for entry in rows_qs.iterator(chunk_size=CHUNK_SIZE):
            yield [column.value(entry) for column in ACCESS_LOG_COLUMNS]

    return send_export(
        request,
        export="access-log",
        fmt=fmt,
        headers=[column.header for column in ACCESS_LOG_COLUMNS],
        rows=rows,
        count=queryset.order_by().count(),
        query=query,
        title="Access log",
    )
