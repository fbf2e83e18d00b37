"""The escalation table as escalations/web/tables.py defined it before its rows were written by
precompiled formatters: each cell rendered by django-tables2 through its template and the render_
methods below. Frozen here so that tests/web/test_table_rows.py can hold the new rows to the bytes
this one writes; not to be edited to follow the app."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from escalations import policy
from escalations.core.permissions import Action, can
from escalations.models import Escalation

DATETIME_FORMAT = "Y-m-d H:i T"


def local_datetime(value: Any) -> str:
    """`value` in the current time zone as DATETIME_FORMAT ("2025-03-19 12:00 UTC"), written with
    strftime: the same text as django.utils.dateformat, at a tenth of its cost per cell."""
    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def state_badge(state: policy.DeadlineState) -> str:
    return format_html('<span class="badge badge-{}">{}</span>', state.value, state.label)


class LocalDateTimeColumn(tables.Column):
    """A moment in the viewer's time zone as DATETIME_FORMAT. django-tables2's DateTimeColumn is a
    TemplateColumn that compiles its template again for every cell; this formats in Python."""

    def render(self, value: Any) -> str:
        return local_datetime(value)


class SelectColumn(tables.CheckBoxColumn):
    """A checkbox per row for the bulk form (`name="ids"`, tied to the form by its id so the table
    needs no surrounding form). The header is a plain label: "select all" would need a script."""

    @property
    def header(self) -> str:
        return "Select"


BULK_FORM_ID = "bulk-form"
# Rows a page unless `?per_page=` asks for another number (escalations.web.page_size caps it).
PAGE_SIZE = 50


class FrozenEscalationTable(tables.Table):
    # Shown only where bulk actions are offered (the views exclude it elsewhere).
    select = SelectColumn(
        accessor="pk",
        orderable=False,
        exclude_from_export=True,
        attrs={"td__input": {"name": "ids", "form": BULK_FORM_ID, "aria-label": lambda record: f"Select {record.key}"}},
    )
    key = tables.Column(verbose_name="Key", accessor="pk", attrs={"td": {"class": "key"}})
    priority = tables.Column(orderable=False)
    incident_type = tables.Column(orderable=False, verbose_name="Incident type")
    status = tables.Column()
    # Always rendered (empty_values=()): an unassigned active row offers "Take it" to whoever may take.
    assignee = tables.Column(orderable=False, empty_values=(), attrs={"td": {"class": "take-cell"}})
    knowledge_at = LocalDateTimeColumn(verbose_name="Knowledge obtained")
    # What must be done first and when (policy/actions.py); sorting by it sorts by (rank, moment).
    next_action = tables.Column(
        verbose_name="Next action",
        accessor="next_action_due_at",
        order_by=("next_action_rank", "next_action_due_at", "pk"),
        default="—",
    )
    time_left = tables.Column(empty_values=(), orderable=False, verbose_name="Time left")
    state = tables.Column(empty_values=(), orderable=False, verbose_name="State")

    class Meta:
        model = Escalation
        fields = ("key", "priority", "incident_type", "status", "assignee", "knowledge_at")
        sequence = (
            "select",
            "key",
            "state",
            "next_action",
            "time_left",
            "priority",
            "incident_type",
            "status",
            "assignee",
            "knowledge_at",
        )
        attrs = {"class": "table"}
        empty_text = "No escalations match."
        # What django-tables2 falls back to for ?per_page=0.
        per_page = PAGE_SIZE
        row_attrs = {"data-key": lambda record: record.key}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.now = timezone.now()

    @cached_property
    def _detail_url(self) -> tuple[str, str]:
        # reverse() once per table, not per row: the detail URL around a placeholder number.
        head, _, tail = reverse("escalations:detail", kwargs={"pk": 987654321}).partition("987654321")
        return head, tail

    def render_key(self, record: Escalation) -> str:
        # The link is built here rather than with linkify, which costs a second call per cell.
        head, tail = self._detail_url
        url = f"{head}{record.pk}{tail}"
        if record.is_test:
            return format_html('<a href="{}">{}</a> <span class="badge badge-test">Test</span>', url, record.key)
        return format_html('<a href="{}">{}</a>', url, record.key)

    def render_priority(self, record: Escalation) -> str:
        if record.priority == "urgent":
            return format_html('<span class="badge badge-{}">{}</span>', "urgent", "Urgent")
        return "Standard"

    def render_next_action(self, record: Escalation, value: Any) -> str:
        if not record.is_active or not record.next_action:
            return "—"
        return format_html(
            '{}<br><span class="nowrap">{}</span>',
            policy.action_label(record.next_action),
            local_datetime(value),
        )

    def render_time_left(self, record: Escalation) -> str:
        due = record.next_action_due_at or record.next_deadline_at
        if due is None or not record.is_active:
            return "—"
        # data-due: static/js/live.js counts it down between refreshes (the same wording as here).
        return format_html(
            '<span data-due="{}">{}</span>', due.isoformat(), policy.humanize_delta(policy.time_left(due, self.now))
        )

    @cached_property
    def may_take(self) -> bool:
        request = getattr(self, "request", None)
        return request is not None and can(request.user, Action.TAKE)

    def render_assignee(self, record: Escalation) -> str:
        if record.assignee is not None:
            return record.assignee.get_username()
        if not (record.is_active and self.may_take):
            return "—"
        request = self.request
        return format_html(
            'Nobody <form method="post" action="{}" class="inline">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<input type="hidden" name="version" value="{}"><input type="hidden" name="next" value="{}">'
            '<button type="submit" aria-label="Take it: {}">Take it</button></form>',
            reverse("escalations:take", args=[record.pk]),
            get_token(request),
            record.version,
            request.get_full_path(),
            record.key,
        )

    def render_state(self, record: Escalation) -> str:
        return state_badge(
            policy.state_from_columns(record.status, record.next_deadline_at, record.next_deadline_soon_at, self.now)
        )
