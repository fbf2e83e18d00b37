"""The dashboard's open escalations by NCMEC report annotation: one GROUP BY over the indexed
annotation rows, counted at every visit like the other figures of now; each count links to the
filtered list behind it."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from escalations.compliance.dashboard import figure_url
from escalations.models import EscalationAnnotation, ReportAnnotation, Status


@dataclass(frozen=True)
class AnnotationCount:
    annotation: str
    label: str
    count: int
    url: str


def open_by_annotation() -> list[AnnotationCount]:
    """Every annotation, with how many open escalations (test records left out) carry it. One query."""
    counted = dict(
        EscalationAnnotation.objects.filter(escalation__status=Status.OPEN, escalation__is_test=False)
        .values_list("annotation")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("annotation", "n")
    )
    return [
        AnnotationCount(code, label, counted.get(code, 0), figure_url(status=Status.OPEN, annotation=code))
        for code, label in ReportAnnotation.choices
    ]
