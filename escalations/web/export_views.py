"""Pages that take records away: the compliance report (printable page, CSV, XLSX) and one
escalation's audit trail as CSV. Leads and auditors only (Action.EXPORT); every download is audited
by escalations.compliance.exports.send_export."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.generic import TemplateView

from escalations.compliance import access_log, exports
from escalations.core.people import AuthenticatedHttpRequest, signed_in
from escalations.core.permissions import Action, require
from escalations.web import page_size
from escalations.web.base import RoleRequiredMixin, get_escalation
from escalations.web.period_forms import CompliancePeriodForm

DEFAULT_PERIOD_DAYS = 30


def default_period(today: date) -> dict[str, str]:
    """The last 30 days, today included."""
    return {"start": (today - timedelta(days=DEFAULT_PERIOD_DAYS - 1)).isoformat(), "end": today.isoformat()}


class ComplianceReportView(RoleRequiredMixin, TemplateView):
    """/reports/compliance/?start=YYYY-MM-DD&end=YYYY-MM-DD: every escalation whose knowledge or
    report falls in the period (dates in the viewer's time zone), with its clocks, outcome and breach
    reason. `&_export=csv` (or xlsx) downloads the same rows."""

    action = Action.EXPORT
    template_name = "compliance/report.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        asked = "start" in request.GET or "end" in request.GET
        form = CompliancePeriodForm(request.GET if asked else default_period(timezone.localdate()))
        fmt = request.GET.get(exports.EXPORT_PARAM)
        if not form.is_valid():
            if fmt is not None:
                return exports.bad_request(" ".join(form.messages()))
            return self.render_to_response(self.get_context_data(form=form), status=400)
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        start_at, end_at = exports.period_bounds(start, end)
        include_test = request.GET.get("include_test") == "1"
        queryset = exports.compliance_queryset(start_at, end_at, include_test)
        now = timezone.now()
        if fmt is not None:
            summary_sheet = None
            if fmt == exports.XLSX:
                summary_sheet = exports.compliance_summary_rows(
                    start=start,
                    end=end,
                    start_at=start_at,
                    end_at=end_at,
                    summary=exports.compliance_summary(queryset, now),
                    include_test=include_test,
                    test_left_out=0 if include_test else exports.test_records_left_out(start_at, end_at),
                    generated_at=now,
                    generated_by=request.user.get_username(),
                )
            return exports.export_queryset(  # type: ignore[return-value]
                signed_in(request),
                export=f"compliance-{start:%Y-%m-%d}-to-{end:%Y-%m-%d}",
                fmt=fmt,
                queryset=queryset,
                columns=exports.compliance_columns(now),
                query=request.GET.urlencode(),
                title="Compliance report",
                summary=summary_sheet,
            )
        period = {"start": start.isoformat(), "end": end.isoformat()}
        if include_test:
            period["include_test"] = "1"
        # The summary counts the whole period; the rows come a page at a time (a year of a large
        # platform is tens of thousands), the downloads hold them all.
        summary = exports.compliance_summary(queryset, now)
        size = page_size.page_size(request.GET.get(page_size.PER_PAGE_PARAM), default=page_size.max_per_page())
        page = page_size.KnownCountPaginator(queryset, size.rows, summary["total"]).get_page(request.GET.get("page"))
        rows = [
            {
                "escalation": esc,
                "outcome": exports.outcome(esc, now),
                "preservation": exports.preservation_outcome(esc, now),
                "time_to_report": exports.duration_text(esc.report_seconds),
            }
            for esc in page.object_list
        ]
        paging = dict(period)
        if size.capped or page_size.parse(request.GET.get(page_size.PER_PAGE_PARAM)) == size.rows:
            paging[page_size.PER_PAGE_PARAM] = str(size.rows)
        shown_query = urlencode({**paging, "page": str(page.number)} if page.number > 1 else paging)
        # Need-to-know: one access-log row per escalation this page shows.
        access_log.viewed_many(
            request, [row["escalation"].pk for row in rows], what="compliance report", query=shown_query
        )
        context = self.get_context_data(
            form=form,
            rows=rows,
            page=page,
            per_page=size,
            page_query=urlencode(paging),
            summary=summary,
            start=start,
            end=end,
            start_at=start_at,
            end_at=end_at,
            generated_at=now,
            include_test=include_test,
            test_left_out=0 if include_test else exports.test_records_left_out(start_at, end_at),
            csv_query=_query(period, exports.CSV),
            xlsx_query=_query(period, exports.XLSX),
            pack_query=urlencode(period),
        )
        return self.render_to_response(context)


def _query(period: dict[str, str], fmt: str) -> str:
    return urlencode({**period, exports.EXPORT_PARAM: fmt})


@require_GET
def audit_trail_csv(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One escalation's whole audit trail, oldest first, this export's own event included (it is
    written first) and its reminders' deliveries. The audit event's `rows` counts the audit events
    and reminder records exported."""
    require(request.user, Action.EXPORT)
    escalation = get_escalation(pk, request.user)
    count = exports.audit_trail_count(escalation) + 1
    return exports.send_export(  # type: ignore[return-value]
        request,
        export=f"{escalation.key}-audit-trail",
        fmt=exports.CSV,
        headers=exports.AUDIT_HEADERS,
        rows=lambda: exports.audit_trail_rows(escalation),
        count=count,
        query="",
        title="Audit trail",
        escalation=escalation,
    )
