"""The queues' order, what must be done first, is read from an index: PostgreSQL can walk one of the
next-action indexes in order and stop after a page, with no sort over every active escalation."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from escalations.compliance import dashboard
from escalations.core import selectors

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def plan_of(queryset: Any) -> str:
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        # With so few rows the planner would rather sort them: tell it sorting is off the table, so
        # the plan shows whether an index can give the order at all.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_my_queue_walks_an_index_in_order(moderator: Any) -> None:
    plan = plan_of(selectors.my_queue(moderator)[:50])
    assert "next_action" in plan, plan
    assert "Sort" not in plan, plan


def test_the_list_walks_an_index_in_order(lead: Any) -> None:
    plan = plan_of(selectors.escalations(lead).order_by(*selectors.NEXT_ACTION_ORDER)[:50])
    assert "esc_next_action" in plan, plan
    assert "Sort" not in plan, plan


def test_the_dashboards_overdue_list_walks_an_index_in_order() -> None:
    from django.utils import timezone

    from escalations.models import Escalation
    from escalations.policy import DeadlineState

    queryset = Escalation.objects.filter(
        dashboard.IS_OPEN & selectors.deadline_state_q(DeadlineState.OVERDUE, timezone.now())
    ).order_by(*selectors.NEXT_ACTION_ORDER)[: dashboard.MOST_OVERDUE_LIMIT]
    plan = plan_of(queryset)
    assert "next_action" in plan, plan
    assert "Sort" not in plan, plan
