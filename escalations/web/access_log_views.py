"""/access-log/: who read which escalation and took which export (escalations.compliance.access_log), for
auditors and leads. Filters: user, escalation key, date range (days in the viewer's time zone)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from escalations.compliance import access_log, exports, record_exports
from escalations.core.people import RequestUser, signed_in
from escalations.core.permissions import AUDITOR, LEAD, Action, can, require, roles_of
from escalations.models import KEY_PREFIX
from escalations.web.period_forms import FIRST_YEAR, LAST_YEAR, date_field

KEY_PATTERN = re.compile(rf"^\s*(?:{KEY_PREFIX})?0*([0-9]{{1,18}})\s*$", re.IGNORECASE | re.ASCII)


def require_access_log_reader(user: RequestUser) -> None:
    if not roles_of(user) & {LEAD, AUDITOR}:
        raise PermissionDenied("The access log is for auditors and leads.")


class AccessLogFilterForm(forms.Form):
    user = forms.CharField(label="User", required=False, max_length=150)
    escalation = forms.CharField(label="Escalation", required=False, max_length=30, help_text="ESC-000123 or 123")
    start = date_field("From", required=False, error_messages={"invalid": "Enter a date as YYYY-MM-DD."})
    end = date_field("To (inclusive)", required=False, error_messages={"invalid": "Enter a date as YYYY-MM-DD."})

    def clean_escalation(self) -> int | None:
        raw = self.cleaned_data.get("escalation") or ""
        if not raw.strip():
            return None
        match = KEY_PATTERN.match(raw)
        if not match or int(match.group(1)) == 0:
            raise forms.ValidationError("Enter an escalation key such as ESC-000123.")
        return int(match.group(1))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("start", "end"):
            value = data.get(name)
            if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
                self.add_error(name, f"Choose a date between {FIRST_YEAR} and {LAST_YEAR}.")
        start, end = data.get("start"), data.get("end")
        if start and end and start > end and not self.errors:
            raise forms.ValidationError(f"The period starts ({start:%Y-%m-%d}) after it ends ({end:%Y-%m-%d}).")
        return data


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class AccessLogView(TemplateView):
    template_name = "compliance/access_log.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require_access_log_reader(request.user)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[return-value]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        fmt = request.GET.get(exports.EXPORT_PARAM)
        if fmt is None:
            return super().get(request, *args, **kwargs)
        require(request.user, Action.EXPORT)
        if fmt not in exports.FORMATS:
            return exports.bad_request(f"Unknown export format {fmt[:20]!r}: use csv or xlsx.")
        _form, rows = self.filtered()
        return record_exports.export_access_log(  # type: ignore[return-value]
            signed_in(request), fmt=fmt, queryset=rows, query=request.GET.urlencode()
        )

    def filtered(self) -> tuple[AccessLogFilterForm, Any]:
        """The filter form and the entries it selects; a filter in error is left out."""
        params = {
            k: str(v) for k, v in self.request.GET.items() if k in AccessLogFilterForm.base_fields and str(v).strip()
        }
        form = AccessLogFilterForm(params or None)
        rows = access_log.entries()
        if form.is_bound:
            form.is_valid()
            data = form.cleaned_data
            if data.get("user") and "user" not in form.errors:
                rows = rows.filter(user__username__iexact=data["user"].strip())
            if data.get("escalation") and "escalation" not in form.errors:
                rows = rows.filter(escalation_id=data["escalation"])
            if not form.non_field_errors():
                if data.get("start") and "start" not in form.errors:
                    rows = rows.filter(at__gte=_day_start(data["start"]))
                if data.get("end") and "end" not in form.errors:
                    rows = rows.filter(at__lt=_day_start(data["end"] + timedelta(days=1)))
        return form, rows

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form, rows = self.filtered()
        page = Paginator(rows, settings.ACCESS_LOG_PAGE_SIZE).get_page(self.request.GET.get("page"))
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            filter_form=form,
            page_obj=page,
            rows=page.object_list,
            query=query.urlencode(),
            export_links=exports.export_links(self.request) if can(self.request.user, Action.EXPORT) else None,
            people=get_user_model().objects.order_by("username").values_list("username", flat=True),
        )
        return context
