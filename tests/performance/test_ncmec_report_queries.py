"""NCMEC's report details cost no query per row: the list filtered by annotation and authority, the
page of a follow-up with its links both ways, and the dashboard's counts by annotation (one query)
cost the same for 1 tagged escalation as for 40."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.compliance import annotation_counts
from escalations.legal import services as legal_services
from escalations.models import Destination
from tests.performance.test_queries import MAX_QUERIES

pytestmark = pytest.mark.usefixtures("clock")

FILTERED = "/escalations/?annotation=sextortion&authority=nca"


def _measure(client: Any, url: str) -> int:
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _tagged(make_escalation: Any, moderator: Any, count: int) -> list[Any]:
    nca = Destination.objects.get(code="nca")
    made = []
    for _ in range(count):
        esc = make_escalation(ncmec_annotations=["sextortion", "spam"], prior_report_id="4564654")
        legal_services.report_to_destination(
            actor=moderator, escalation_id=esc.pk, version=None, destination_id=nca.pk, reported_at=None, report_id=""
        )
        made.append(esc)
    return made


def test_filtered_list_and_follow_up_page_cost_the_same_for_1_and_40(
    moderator: Any, client_for: Any, make_escalation: Any, django_assert_max_num_queries: Any
) -> None:
    client = client_for(moderator)
    earlier = make_escalation(reported_at=timezone.now() - timedelta(minutes=5), report_id="4564654")
    first = _tagged(make_escalation, moderator, 1)[0]
    one_list, one_page = _measure(client, FILTERED), _measure(client, f"/escalations/{earlier.pk}/")
    one_follow_up = _measure(client, f"/escalations/{first.pk}/")
    _tagged(make_escalation, moderator, 39)
    assert _measure(client, FILTERED) == one_list
    assert _measure(client, f"/escalations/{earlier.pk}/") == one_page
    with django_assert_max_num_queries(MAX_QUERIES["list-filtered"]):
        client.get(FILTERED)
    assert _measure(client, f"/escalations/{first.pk}/") == one_follow_up <= MAX_QUERIES["detail"]


def test_the_dashboard_counts_by_annotation_in_one_query(
    moderator: Any, make_escalation: Any, django_assert_num_queries: Any
) -> None:
    _tagged(make_escalation, moderator, 3)
    with django_assert_num_queries(1):
        counts = {item.annotation: item.count for item in annotation_counts.open_by_annotation()}
    assert counts == {
        "sextortion": 3,
        "csam_solicitation": 0,
        "minor_to_minor_interaction": 0,
        "spam": 3,
        "sadistic_online_exploitation": 0,
    }
