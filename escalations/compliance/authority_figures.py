"""The dashboard's figure of the authority register: unfiled obligations past their deadline, by
authority. One aggregate query over the partial index of unfiled, dated, live obligations (due_at,
authority), never the escalations' table: `live` already leaves out test records and escalations no
longer active, as the dashboard's other figures do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count

from escalations.models import AuthorityObligation, ObligationState


@dataclass(frozen=True)
class AuthorityOverdue:
    authority: str
    overdue: int


def overdue_by_authority(now: datetime) -> list[AuthorityOverdue]:
    """Each authority with at least one obligation still Due after its deadline, most first. One query."""
    rows = (
        AuthorityObligation.objects.filter(state=ObligationState.DUE, due_at__isnull=False, live=True, due_at__lt=now)
        .values("authority__name")
        .annotate(overdue=Count("pk"))
        .order_by("-overdue", "authority__name")
    )
    return [AuthorityOverdue(authority=row["authority__name"], overdue=row["overdue"]) for row in rows]
