"""One FilterSet for the escalation lists (and, later, the API). Parameter names are a contract:
a filtered list is a link anyone can share."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import KEY_PREFIX, Escalation, IncidentType, Priority, Status
from .permissions import LEAD, MODERATOR
from .policy import STATE_LABELS
from .selectors import deadline_state_q


def _assignable_users(request: Any) -> QuerySet[Any]:
    return get_user_model().objects.filter(groups__name__in=(MODERATOR, LEAD)).distinct().order_by("username")


class EscalationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Find", method="filter_q", help_text="ESC key, CyberTipline report ID or exact platform reference"
    )
    status = django_filters.ChoiceFilter(choices=Status.choices)
    priority = django_filters.ChoiceFilter(choices=Priority.choices)
    incident_type = django_filters.ChoiceFilter(choices=IncidentType.choices, label="Incident type")
    assignee = django_filters.ModelChoiceFilter(queryset=_assignable_users)
    deadline_state = django_filters.ChoiceFilter(
        label="Deadline state", choices=[(s.value, label) for s, label in STATE_LABELS.items()], method="filter_state"
    )
    knowledge_at = django_filters.DateFromToRangeFilter(label="Knowledge obtained (from to)")
    reported_at = django_filters.DateFromToRangeFilter(label="Reported (from to)")

    class Meta:
        model = Escalation
        fields = [
            "q",
            "status",
            "priority",
            "incident_type",
            "assignee",
            "deadline_state",
            "knowledge_at",
            "reported_at",
        ]

    def filter_state(self, queryset: QuerySet[Escalation], name: str, value: str) -> QuerySet[Escalation]:
        return queryset.filter(deadline_state_q(value, timezone.now()))

    def filter_q(self, queryset: QuerySet[Escalation], name: str, value: str) -> QuerySet[Escalation]:
        value = value.strip()
        if not value:
            return queryset
        condition = Q(platform_reference=value)
        upper = value.upper()
        if upper.startswith(KEY_PREFIX) and upper[len(KEY_PREFIX) :].isdigit():
            condition |= Q(pk=int(upper[len(KEY_PREFIX) :]))
        if value.isdigit():
            condition |= Q(cybertipline_report_id=str(int(value)))
        return queryset.filter(condition)
