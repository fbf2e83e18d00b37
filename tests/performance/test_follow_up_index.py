"""An escalation's page finds the follow-ups that name its report as their prior one through an index,
even though nearly every escalation names none: an index over the whole column holds one value ('')
for almost every row, so the planner, expecting the lookup to match them all, read the table instead
(half a second at a million rows, on every page of a reported escalation)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from escalations.core import selectors
from escalations.models import Escalation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ROWS = 4000


def plan_of(queryset: Any) -> str:
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_follow_up_lookup_reads_an_index_when_almost_no_escalation_is_a_follow_up(
    make_escalation: Any, lead: Any
) -> None:
    reported = make_escalation(reported_at=None)
    with connection.cursor() as cursor:
        # Copies of one escalation with references of their own, none of them a follow-up; then the
        # statistics the planner decides from.
        columns = [f.column for f in Escalation._meta.concrete_fields if f.column not in ("id", "platform_reference")]
        listed = ", ".join(f'"{c}"' for c in columns)
        cursor.execute(
            f'INSERT INTO escalations_escalation ("platform_reference", {listed}) '  # noqa: S608 - our own columns
            f"SELECT 'copy-' || n, {listed} FROM escalations_escalation, generate_series(1, %s) AS n WHERE id = %s",
            [ROWS, reported.pk],
        )
        cursor.execute("ANALYZE escalations_escalation")
    plan = plan_of(selectors.escalation_detail_queryset(lead).filter(pk=reported.pk))
    assert "Seq Scan on escalations_escalation" not in plan, plan
