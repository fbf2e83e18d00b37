"""django-tables2 tables. Sorting is offered only on indexed columns, and pages use LazyPaginator so
no page runs COUNT(*) over the whole table."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, escape
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django_tables2.rows import BoundRows
from django_tables2.utils import AttributeDict

from escalations.core.permissions import Action, can
from escalations.models import Escalation
from escalations.web.table_rows import RowWriter, local_datetime_in

DATETIME_FORMAT = "Y-m-d H:i T"


class LocalDateTimeColumn(tables.Column):
    """A moment in the viewer's time zone as DATETIME_FORMAT. django-tables2's DateTimeColumn is a
    TemplateColumn that compiles its template again for every cell; this formats in Python."""

    def render(self, value: Any) -> str:
        return local_datetime_in(timezone.get_current_timezone(), value)


class SelectColumn(tables.CheckBoxColumn):
    """A checkbox per row for the bulk form (`name="ids"`, tied to the form by its id so the table
    needs no surrounding form). The header is a plain label: "select all" would need a script."""

    @property
    def header(self) -> str:
        return "Select"


# The columns the rows show or need (escalations/web/table_rows.py): a page loads only these, not
# the escalation's forty-odd columns and the assignee's whole row. A field read beyond them would cost
# a query per row, which the query count tests would catch.
ROW_FIELDS = (
    "id",
    "is_test",
    "priority",
    "status",
    "incident_type",
    "next_action",
    "next_action_due_at",
    "next_deadline_at",
    "next_deadline_soon_at",
    "knowledge_at",
    "version",
    "assignee",
)


def shown_fields_only(queryset: QuerySet[Escalation]) -> QuerySet[Escalation]:
    """`queryset` loading only what a page of the table shows (ROW_FIELDS, the assignee's username)."""
    return queryset.only(*ROW_FIELDS, f"assignee__{get_user_model().USERNAME_FIELD}")


BULK_FORM_ID = "bulk-form"
# Rows a page unless `?per_page=` asks for another number (escalations.web.page_size caps it).
PAGE_SIZE = 50


class EscalationTable(tables.Table):
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
    def row_writer(self) -> RowWriter:
        return RowWriter(now=self.now, may_take=self.may_take, request=getattr(self, "request", None))

    @cached_property
    def may_take(self) -> bool:
        request = getattr(self, "request", None)
        return request is not None and can(request.user, Action.TAKE)

    # django-tables2 calls these when it renders a cell itself (the template's fallback); they write
    # what the page's rows do (escalations/web/table_rows.py), already escaped.

    def render_key(self, record: Escalation) -> SafeString:
        return mark_safe(self.row_writer.key(record))  # noqa: S308 - escaped by the writer

    def render_priority(self, record: Escalation) -> SafeString:
        return mark_safe(self.row_writer.priority(record))  # noqa: S308 - escaped by the writer

    def render_next_action(self, record: Escalation) -> SafeString:
        return mark_safe(self.row_writer.next_action(record))  # noqa: S308 - escaped by the writer

    def render_time_left(self, record: Escalation) -> SafeString:
        return mark_safe(self.row_writer.time_left(record))  # noqa: S308 - escaped by the writer

    def render_assignee(self, record: Escalation) -> SafeString:
        return mark_safe(self.row_writer.assignee(record))  # noqa: S308 - escaped by the writer

    def render_state(self, record: Escalation) -> SafeString:
        return mark_safe(self.row_writer.state(record))  # noqa: S308 - escaped by the writer

    # --- The rows, written in Python -----------------------------------------------------------
    # django-tables2 renders each cell through its template and per-cell machinery (bound rows,
    # accessors, attrs computed per cell), several times the page's SQL. Its Table still defines the
    # columns, their order, the headers, the sorting and the exports; only the <tbody> is written by
    # escalations/web/table_rows.py, byte for byte as templates/django_tables2/bootstrap5.html would
    # write it (tests/web/test_table_rows.py and test_tables.py compare the two).

    def fast_thead(self) -> SafeString | None:
        """The table's <thead> as templates/django_tables2/bootstrap5.html writes it (its whitespace,
        aria-sort, and each sort link as its querystring_replace tag builds it), without a template
        variable and tag per column; None when the template must write it (no header, or no request
        to build the links from)."""
        request = getattr(self, "request", None)
        if not self.show_header or request is None:
            return None
        query = dict(request.GET)
        sort_field = self.prefixed_order_by_field
        cells = []
        for column in self.columns:
            sort = ""
            if column.is_ordered:
                sort = ' aria-sort="descending"' if column.order_by_alias.is_descending else ' aria-sort="ascending"'
            header = conditional_escape(column.header)
            if column.orderable:
                href = escape("?" + urlencode({**query, sort_field: column.order_by_alias.next}, doseq=True))
                inner = f'<a href="{href}">{header}</a>'
            else:
                inner = header
            cells.append(
                f'\n        <th {column.attrs["th"].as_html()} scope="col"{sort}>\n            '
                f"\n                {inner}\n            \n        </th>\n    "
            )
        thead = self.attrs.get("thead")
        thead_attrs = thead.as_html() if isinstance(thead, AttributeDict) else ""
        return mark_safe(  # noqa: S308 - the header and the links are escaped above
            f"\n\n    <thead {thead_attrs}>\n    <tr>\n    {''.join(cells)}\n    </tr>\n    </thead>\n\n"
        )

    def fast_tbody(self) -> SafeString | None:
        """The table's <tbody> (with the whitespace of django-tables2's template), or None when the
        template must write it: no rows (its empty text), a column or row attributes the writer does
        not know."""
        writer = self.row_writer
        known = writer.formatters()
        shown = [(column.name, column.attrs["td"].as_html()) for column in self.columns]
        if any(name not in known for name, _ in shown) or set(self.row_attrs) != {"data-key"}:
            return None
        page = self.paginated_rows
        if isinstance(page, BoundRows) and (page.pinned_data.get("top") or page.pinned_data.get("bottom")):
            return None
        # Even/odd as each BoundRow counts it (django-tables2 numbers rows per table, not per page).
        records = [(row.record, row.get_even_odd_css_class()) for row in page]
        body = writer.rows(records, shown)
        if not body:
            return None
        tbody = self.attrs.get("tbody")
        tbody_attrs = tbody.as_html() if isinstance(tbody, AttributeDict) else ""
        return mark_safe(  # noqa: S308 - every cell is escaped by the writer
            f"\n                <tbody {tbody_attrs}>\n                {body}\n                </tbody>\n            "
        )
