"""The lists' `q` finds what a person pastes: an ESC key, or any part of a platform reference, a
reported account or a report ID, in any case; by trigram index on PostgreSQL, by a bounded scan on
SQLite; and the list says what it searched."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from escalations.core.filters import EscalationFilter
from escalations.models import Escalation


def keys(response: Any) -> set[str]:
    assert response.status_code == 200
    return set(re.findall(r'<tr[^>]*data-key="(ESC-\d{6,})"', response.content.decode()))


@pytest.fixture
def found(make_escalation: Any, moderator: Any) -> dict[str, Escalation]:
    made = {
        "ticket": make_escalation(platform_reference="TICKET-7788"),
        "url": make_escalation(platform_reference="https://platform.example/Post/AbC-991"),
        "account": make_escalation(platform_reference="ticket-1", account_reference="User-4242-xy"),
        "reported": make_escalation(platform_reference="ticket-2", reported_at=None),
        "other": make_escalation(platform_reference="ticket-3", account_reference="someone"),
    }
    from django.utils import timezone

    from escalations.core import services

    esc = made["reported"]
    made["reported"] = services.record_report(
        actor=moderator,
        escalation_id=esc.pk,
        version=esc.version,
        reported_at=timezone.now(),
        cybertipline_report_id="4564655",
        breach_reason="",
    )
    return made


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("7788", {"ticket"}),
        ("ticket-77", {"ticket"}),
        ("abc-99", {"url"}),
        ("POST/abc", {"url"}),
        ("4242", {"account"}),
        ("user-4242-XY", {"account"}),
        ("56465", {"reported"}),
        ("4564655", {"reported"}),
    ],
)
def test_q_matches_part_of_a_reference_account_or_report_id_in_any_case(
    query: str, expected: set[str], client_for: Any, lead: Any, found: dict[str, Escalation]
) -> None:
    response = client_for(lead).get("/escalations/", {"q": query})
    assert keys(response) == {found[name].key for name in expected}, query
    html = response.content.decode()
    assert "Searched ESC keys, platform references, reported accounts and CyberTipline report IDs containing" in html
    assert f"“{query}”" in html


def test_the_api_finds_the_same(client_for: Any, lead: Any, found: dict[str, Escalation]) -> None:
    body = client_for(lead).get("/api/v1/escalations/", {"q": "7788"}).json()
    assert [row["key"] for row in body["results"]] == [found["ticket"].key]


def test_wildcards_are_text_and_short_queries_match_exactly(
    client_for: Any, lead: Any, found: dict[str, Escalation]
) -> None:
    client = client_for(lead)
    assert keys(client.get("/escalations/", {"q": "%%%"})) == set()
    assert keys(client.get("/escalations/", {"q": "___"})) == set()
    assert keys(client.get("/escalations/", {"q": found["ticket"].key.lower()})) == {found["ticket"].key}
    # Two characters: a trigram needs three; only an exact value matches, and the list says so.
    response = client.get("/escalations/", {"q": "77"})
    assert keys(response) == set()
    assert "fewer than 3 characters: exact matches only" in response.content.decode()


def test_sqlite_bounds_the_partial_scan_and_says_so(
    client_for: Any, lead: Any, found: dict[str, Escalation], make_escalation: Any
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the bounded scan is SQLite's; PostgreSQL searches by index")
    for _ in range(3):
        make_escalation()
    with override_settings(SEARCH_SCAN_ROWS=3):
        response = client_for(lead).get("/escalations/", {"q": "7788"})
        # TICKET-7788 is older than the three newest: not read by the partial match ...
        assert keys(response) == set()
        assert "among the 3 newest escalations (exact matches among all of them)" in response.content.decode()
        # ... but an exact value still finds it, by its index.
        assert keys(client_for(lead).get("/escalations/", {"q": "TICKET-7788"})) == {found["ticket"].key}
        fresh = make_escalation(platform_reference="TICKET-77880")
        assert keys(client_for(lead).get("/escalations/", {"q": "7788"})) == {fresh.key}


@pytest.mark.postgres
def test_postgresql_answers_a_partial_search_by_trigram_index(found: dict[str, Escalation]) -> None:
    from escalations.core import search

    queryset = EscalationFilter({"q": "7788"}, queryset=Escalation.objects.all()).qs
    assert list(queryset.values_list("platform_reference", flat=True)) == ["TICKET-7788"]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A five-row table is read faster than by any index: forbid the sequential scan, and the
        # walk of the sort's index, to ask whether the planner can answer `q` by index at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for name in search.TRIGRAM_INDEXES:
        assert name in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "Bitmap Index Scan on escalation_ref_trgm" in plan, plan
