"""/security-events/: the audit events about accounts rather than escalations (sign-ins, failed
sign-ins, lockouts and unlocks, two-factor and password changes, service tokens, group and team
membership, webhook settings), newest first, for auditors and leads. Filters: a username (whoever
acted, or whom the event is about), the kind of event, and a date range in the viewer's time zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.generic import TemplateView

from escalations.core.people import RequestUser
from escalations.core.permissions import AUDITOR, LEAD, roles_of
from escalations.models import AuditAction, AuditEvent
from escalations.web.access_log_views import AccessLogFilterForm

# The kinds offered by the filter. The page lists every event that belongs to no escalation except
# exports (the access log lists those), so a kind added later shows up before it is offered here.
SECURITY_ACTIONS = (
    AuditAction.SIGNED_IN,
    AuditAction.SIGNED_IN_PROVIDER,
    AuditAction.SIGN_IN_FAILED,
    AuditAction.PROVIDER_ACCOUNT_CREATED,
    AuditAction.PROVIDER_ACCOUNT_LINKED,
    AuditAction.BREAK_GLASS_CHANGED,
    AuditAction.LOCKED_OUT,
    AuditAction.UNLOCKED,
    AuditAction.TWO_FACTOR_VERIFIED,
    AuditAction.TWO_FACTOR_ENABLED,
    AuditAction.TWO_FACTOR_DISABLED,
    AuditAction.BACKUP_CODES_ISSUED,
    AuditAction.TWO_FACTOR_DEVICE_ADDED,
    AuditAction.TWO_FACTOR_DEVICE_REMOVED,
    AuditAction.PASSWORD_CHANGED,
    AuditAction.TOKEN_CREATED,
    AuditAction.TOKEN_REVOKED,
    AuditAction.GROUPS_CHANGED,
    AuditAction.TEAM_MEMBERS_CHANGED,
    AuditAction.ACCOUNT_PROVISIONED,
    AuditAction.ACCOUNT_UPDATED,
    AuditAction.ACCOUNT_DEACTIVATED,
    AuditAction.ACCOUNT_REACTIVATED,
    AuditAction.TEAM_PROVISIONED,
    AuditAction.SCIM_TOKEN_CREATED,
    AuditAction.SCIM_TOKEN_REVOKED,
    AuditAction.SCIM_TOKEN_REFUSED,
)


def require_reader(user: RequestUser) -> None:
    if not roles_of(user) & {LEAD, AUDITOR}:
        raise PermissionDenied("Security events are for auditors and leads.")


def security_events() -> QuerySet[AuditEvent]:
    """Every audit event that belongs to no escalation, exports aside, newest first."""
    return (
        AuditEvent.objects.filter(escalation__isnull=True)
        .exclude(action=AuditAction.EXPORTED)
        .select_related("actor")
        .order_by("-at", "-pk")
    )


class SecurityEventFilterForm(AccessLogFilterForm):
    kind = forms.ChoiceField(
        label="Event", required=False, choices=[("", "Any")] + [(a.value, a.label) for a in SECURITY_ACTIONS]
    )
    field_order = ["user", "kind", "start", "end"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["escalation"]
        self.fields["user"].help_text = "Who acted, or whom it is about (a username as typed at sign-in)."
        self.fields["kind"].error_messages["invalid_choice"] = "Choose one of the listed events."


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def filtered(rows: QuerySet[AuditEvent], form: SecurityEventFilterForm) -> QuerySet[AuditEvent]:
    form.is_valid()
    data, errors = form.cleaned_data, form.errors
    if data.get("user") and "user" not in errors:
        name = data["user"].strip()
        rows = rows.filter(
            Q(actor__username__iexact=name)
            | Q(changes__username=name)
            | Q(changes__user=name)
            | Q(changes__created_by=name)
        )
    if data.get("kind") and "kind" not in errors:
        rows = rows.filter(action=data["kind"])
    if not form.non_field_errors():
        if data.get("start") and "start" not in errors:
            rows = rows.filter(at__gte=_day_start(data["start"]))
        if data.get("end") and "end" not in errors:
            rows = rows.filter(at__lt=_day_start(data["end"] + timedelta(days=1)))
    return rows


def details(changes: Any) -> list[tuple[str, str]]:
    """An event's recorded facts as (name, text) pairs for the page: lists joined, nothing dropped."""
    if not isinstance(changes, dict):
        return [("", str(changes))]
    shown = []
    for key, value in changes.items():
        if isinstance(value, list | tuple):
            text = ", ".join(str(item) for item in value) or "none"
        elif value is None or value == "":
            text = "—"
        else:
            text = str(value)
        shown.append((str(key).replace("_", " "), text))
    return shown


class SecurityEventsView(TemplateView):
    template_name = "accounts/security_events.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require_reader(request.user)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[return-value]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        params = {k: str(v) for k, v in self.request.GET.items() if k != "page" and str(v).strip()}
        form = SecurityEventFilterForm(params or None)
        rows = security_events()
        if form.is_bound:
            rows = filtered(rows, form)
        page = Paginator(rows, settings.ACCESS_LOG_PAGE_SIZE).get_page(self.request.GET.get("page"))
        for row in page.object_list:
            row.details = details(row.changes)  # type: ignore[attr-defined]
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(filter_form=form, page_obj=page, rows=page.object_list, query=query.urlencode())
        return context

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        response = super().render_to_response(context, **kwargs)
        response["Cache-Control"] = "no-store"
        return response
