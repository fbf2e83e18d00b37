"""The rows of the escalation table (escalations/web/tables.py), written by one formatter per column
that returns escaped HTML, joined once. django-tables2 renders a cell through bound rows, accessors,
per-cell attributes, its render methods and a template variable; a page of 50 rows paid more for that
than for its SQL. Everything that is the same for every row (labels, badges, URLs, the CSRF token,
the time zone) is escaped once per page here, not once per cell.

Escaping is the standard library's html.escape, which is what django.utils.html.escape applies
(without its SafeString and lazy-string wrapping, which a joined string does not need). The text is
byte for byte what django-tables2's template wrote (tests/web/test_table_rows.py compares the two)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from django.db import models
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import timezone

from escalations import policy
from escalations.models import ACTIVE_STATUSES, Escalation, Priority

Formatter = Callable[[Escalation], str]

# The whitespace django-tables2's template leaves around a row and its cells (kept, so the page's
# bytes do not change).
CELL_START = "\n" + " " * 24 + "\n" + " " * 28
ROW_START = "\n" + " " * 20 + "\n" + " " * 20
ROW_END = "\n" + " " * 24 + "\n" + " " * 20 + "</tr>\n" + " " * 20 + "\n" + " " * 16
DASH = "—"
# A number no escalation has, replaced in a reversed URL by each row's own.
PLACEHOLDER_PK = 987654321


def url_around_pk(name: str) -> tuple[str, str]:
    """The URL named `name` for an escalation, split around its number (reverse() once a page)."""
    head, _, tail = reverse(name, args=[PLACEHOLDER_PK]).partition(str(PLACEHOLDER_PK))
    return escape(head), escape(tail)


def local_datetime_in(zone: tzinfo, value: datetime) -> str:
    """escalations.web.tables.local_datetime with the time zone looked up once a page."""
    local = value.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def escaped_labels(name: str) -> dict[Any, str]:
    """What get_<name>_display() shows for each stored value, escaped."""
    field = Escalation._meta.get_field(name)
    assert isinstance(field, models.Field)  # a column, not a relation
    return {value: escape(str(label)) for value, label in field.flatchoices}


class RowWriter:
    """The formatters of one page of the table: `now`, the viewer's time zone and what the viewer
    may do are those of the request the table renders for."""

    def __init__(self, *, now: datetime, may_take: bool, request: Any) -> None:
        self.now = now
        self.zone = timezone.get_current_timezone()
        self.may_take = may_take
        self.request = request
        self.detail = url_around_pk("escalations:detail")
        self.incident_types = escaped_labels("incident_type")
        self.statuses = escaped_labels("status")
        self.badges = {
            state: f'<span class="badge badge-{escape(state.value)}">{escape(state.label)}</span>'
            for state in policy.DeadlineState
        }
        self.actions = {kind.value: escape(policy.action_label(kind)) for kind in policy.ActionKind}
        self.take_form: tuple[str, str, str] | None = None
        self.next_field = ""

    def formatters(self) -> dict[str, Formatter]:
        return {
            "select": self.select,
            "key": self.key,
            "state": self.state,
            "next_action": self.next_action,
            "time_left": self.time_left,
            "priority": self.priority,
            "incident_type": self.incident_type,
            "status": self.status,
            "assignee": self.assignee,
            "knowledge_at": self.knowledge_at,
        }

    def select(self, record: Escalation) -> str:
        # django_tables2.CheckBoxColumn's <input>, with the attributes SelectColumn adds (tables.py).
        return (
            f'<input type="checkbox" name="ids" value="{record.pk}" form="bulk-form" '
            f'aria-label="Select {escape(record.key)}" />'
        )

    def key(self, record: Escalation) -> str:
        head, tail = self.detail
        link = f'<a href="{head}{record.pk}{tail}">{escape(record.key)}</a>'
        return f'{link} <span class="badge badge-test">Test</span>' if record.is_test else link

    def priority(self, record: Escalation) -> str:
        return '<span class="badge badge-urgent">Urgent</span>' if record.priority == Priority.URGENT else "Standard"

    def next_action(self, record: Escalation) -> str:
        due = record.next_action_due_at
        if due is None or record.status not in ACTIVE_STATUSES or not record.next_action:
            return DASH
        label = self.actions.get(record.next_action, "")
        return f'{label}<br><span class="nowrap">{escape(local_datetime_in(self.zone, due))}</span>'

    def time_left(self, record: Escalation) -> str:
        due = record.next_action_due_at or record.next_deadline_at
        if due is None or record.status not in ACTIVE_STATUSES:
            return DASH
        # data-due: static/js/live.js counts it down between refreshes (the same wording as here).
        left = policy.humanize_delta(policy.time_left(due, self.now))
        return f'<span data-due="{escape(due.isoformat())}">{escape(left)}</span>'

    def state(self, record: Escalation) -> str:
        return self.badges[
            policy.state_from_columns(record.status, record.next_deadline_at, record.next_deadline_soon_at, self.now)
        ]

    def incident_type(self, record: Escalation) -> str:
        value = record.incident_type
        label = self.incident_types.get(value)
        return escape(str(value)) if label is None else label

    def status(self, record: Escalation) -> str:
        value = record.status
        label = self.statuses.get(value)
        return escape(str(value)) if label is None else label

    def assignee(self, record: Escalation) -> str:
        assignee = record.assignee
        if assignee is not None:
            return escape(assignee.get_username())
        if not (self.may_take and record.status in ACTIVE_STATUSES):
            return DASH
        head, tail, fields = self.take()
        return (
            f'Nobody <form method="post" action="{head}{record.pk}{tail}" class="inline">{fields}'
            f'<input type="hidden" name="version" value="{record.version}">{self.next_field}'
            f'<button type="submit" aria-label="Take it: {escape(record.key)}">Take it</button></form>'
        )

    def take(self) -> tuple[str, str, str]:
        # Asked for only when a row offers "Take it", as before: get_token() marks the response to
        # set the CSRF cookie. One masked token for every form of the page, as {% csrf_token %} does.
        if self.take_form is None:
            head, tail = url_around_pk("escalations:take")
            token = f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(get_token(self.request))}">'
            self.take_form = (head, tail, token)
            self.next_field = f'<input type="hidden" name="next" value="{escape(self.request.get_full_path())}">'
        return self.take_form

    def knowledge_at(self, record: Escalation) -> str:
        return escape(local_datetime_in(self.zone, record.knowledge_at))

    def rows(self, records: Iterable[tuple[Escalation, str]], columns: list[tuple[str, str]]) -> str:
        """The <tr> elements for `records` (each with its row's class, "even" or "odd"), each with the
        cells of `columns` (name, <td> attributes as HTML)."""
        formatters = self.formatters()
        cells = [(f"{CELL_START}<td {td}>", formatters[name]) for name, td in columns]
        return "".join(
            f'{ROW_START}<tr data-key="{escape(record.key)}" class="{row_class}">'
            + "".join([f"{start}{formatter(record)}</td>" for start, formatter in cells])
            + ROW_END
            for record, row_class in records
        )
