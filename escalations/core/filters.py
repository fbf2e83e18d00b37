"""One FilterSet for the escalation lists (and, later, the API). Parameter names are a contract:
a filtered list is a link anyone can share."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import django_filters
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django_filters.widgets import DateRangeWidget

from escalations.core import ncmec_report, search
from escalations.core.fast_select import FastSelect, FastSelectMixin
from escalations.core.people import User
from escalations.core.permissions import LEAD, MODERATOR
from escalations.core.selectors import deadline_state_q, hold_q
from escalations.models import (
    BreachReason,
    Destination,
    DestinationReport,
    Escalation,
    IncidentType,
    Priority,
    ReportAnnotation,
    Status,
)
from escalations.policy import STATE_LABELS

ANY = "Any"


class AnyYesNo(FastSelectMixin, django_filters.widgets.BooleanWidget):
    """true/false in the URL like django-filter's BooleanWidget, but "Any" rather than "Unknown"."""

    def __init__(self, attrs: dict[str, Any] | None = None):
        super().__init__(attrs)
        self.choices = [("", ANY), ("true", "Yes"), ("false", "No")]


def _assignable_users(request: HttpRequest | None) -> QuerySet[User]:
    """Moderators and leads, and anyone who still has escalations assigned (a person who lost the
    role keeps their work until a lead reassigns it)."""
    User = get_user_model()
    holds_work = Exists(Escalation.objects.filter(assignee=OuterRef("pk")))
    in_role = Exists(User.groups.through.objects.filter(user=OuterRef("pk"), group__name__in=(MODERATOR, LEAD)))
    return User.objects.filter(in_role | holds_work).order_by("username")


def _authority_choices() -> list[tuple[str, str]]:
    """The destinations an escalation can be reported to (one query, when the filter is drawn)."""
    return list(Destination.objects.order_by("name").values_list("code", "name"))


class EscalationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Find",
        method="filter_q",
        help_text="ESC key, or part of a platform reference, reported account or CyberTipline report ID (any case)",
    )
    search_described = ""
    status = django_filters.ChoiceFilter(widget=FastSelect, choices=Status.choices, empty_label=ANY)
    priority = django_filters.ChoiceFilter(widget=FastSelect, choices=Priority.choices, empty_label=ANY)
    incident_type = django_filters.ChoiceFilter(
        widget=FastSelect, choices=IncidentType.choices, label="Incident type", empty_label=ANY
    )
    assignee = django_filters.ModelChoiceFilter(
        widget=FastSelect, queryset=_assignable_users, empty_label=ANY, null_label="Nobody (unassigned)"
    )
    is_test = django_filters.BooleanFilter(label="Test records", widget=AnyYesNo())
    deadline_state = django_filters.ChoiceFilter(
        widget=FastSelect,
        label="Deadline state",
        choices=[(s.value, label) for s, label in STATE_LABELS.items()],
        method="filter_state",
        empty_label=ANY,
    )
    reported_on_time = django_filters.BooleanFilter(label="Report within target", widget=AnyYesNo())
    breach_reason = django_filters.ChoiceFilter(
        widget=FastSelect, choices=BreachReason.choices, label="Breach reason", empty_label=ANY
    )
    preservation_confirmed = django_filters.BooleanFilter(
        label="Preservation confirmed",
        field_name="preservation_confirmed_at",
        lookup_expr="isnull",
        exclude=True,
        widget=AnyYesNo(),
    )
    hold = django_filters.ChoiceFilter(
        widget=FastSelect,
        label="Preservation hold",
        choices=[("ending", "Ends within 30 days"), ("ended", "Ended, awaiting a decision")],
        method="filter_hold",
        empty_label=ANY,
    )
    annotation = django_filters.ChoiceFilter(
        widget=FastSelect,
        label="Report annotation",
        choices=ReportAnnotation.choices,
        method="filter_annotation",
        empty_label=ANY,
    )
    authority = django_filters.ChoiceFilter(
        widget=FastSelect,
        label="Reported to",
        choices=_authority_choices,
        method="filter_authority",
        empty_label=ANY,
    )
    knowledge_at = django_filters.DateFromToRangeFilter(
        label="Knowledge obtained (from, to)", widget=DateRangeWidget(attrs={"type": "date"})
    )
    reported_at = django_filters.DateFromToRangeFilter(
        label="Reported (from, to)", widget=DateRangeWidget(attrs={"type": "date"})
    )

    class Meta:
        model = Escalation
        fields = [
            "q",
            "status",
            "priority",
            "incident_type",
            "assignee",
            "deadline_state",
            "is_test",
            "reported_on_time",
            "breach_reason",
            "preservation_confirmed",
            "hold",
            "annotation",
            "authority",
            "knowledge_at",
            "reported_at",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read the destinations once per list, however often the form reads its choices (to check a
        # value, then to draw the menu).
        read: list[tuple[str, str]] = []

        def authority_choices() -> list[tuple[str, str]]:
            if not read:
                read.extend(_authority_choices())
            return read

        self.filters["authority"].extra["choices"] = authority_choices

    def filter_annotation(self, queryset: QuerySet[Escalation], name: str, value: str) -> QuerySet[Escalation]:
        return queryset.filter(ncmec_report.annotated_q(value))

    def filter_authority(self, queryset: QuerySet[Escalation], name: str, value: str) -> QuerySet[Escalation]:
        """Escalations owed to the authority whose code is `value`: every one for the default
        destination (NCMEC: the escalation itself is its report), else those with a report to it.
        The one place that knows how an escalation names its authorities."""
        owed_by_default = Exists(Destination.objects.filter(code=value, is_default=True))
        reported_to = Exists(DestinationReport.objects.filter(escalation=OuterRef("pk"), destination__code=value))
        return queryset.filter(owed_by_default | reported_to)

    def filter_hold(self, queryset: QuerySet[Escalation], name: str, value: str) -> QuerySet[Escalation]:
        return queryset.filter(hold_q(value, timezone.now()))

    def filter_state(self, queryset: QuerySet[Escalation], name: str, value: str) -> QuerySet[Escalation]:
        return queryset.filter(deadline_state_q(value, timezone.now()))

    def filter_q(self, queryset: QuerySet[Escalation], name: str, value: str) -> QuerySet[Escalation]:
        value = value.strip()
        if not value:
            return queryset
        found = search.search(value, connections[queryset.db].vendor)
        # The list says what was searched (escalations.core.search: partial, any case; bounded on SQLite).
        self.search_described = found.described
        return queryset.filter(found.condition)


def list_url(query: str = "", **params: Any) -> str:
    """The escalation list with this query string, or filtered by `params` (this module's filter names;
    None values dropped)."""
    if params:
        query = urlencode(sorted((name, str(value)) for name, value in params.items() if value is not None))
    base = reverse("escalations:list")
    return f"{base}?{query}" if query else base
