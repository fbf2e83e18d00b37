"""Production reads a request's session and person from the shared cache (settings/prod.py:
cached_db sessions, PERSON_CACHE_SECONDS): no database round trip for them, and still every change
that decides who may do what counts at the next request."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.cached_db import SessionStore
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.core.permissions import LEAD

CACHED = {"PERSON_CACHE_SECONDS": 10, "SESSION_ENGINE": "django.contrib.sessions.backends.cached_db"}
PAGE = "/escalations/mine/"


@pytest.fixture
def cached(settings: Any) -> None:
    for name, value in CACHED.items():
        setattr(settings, name, value)


def _sql(client: Any, path: str = PAGE) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    return response.status_code, [q["sql"] for q in ctx.captured_queries]


def test_a_second_request_reads_neither_session_nor_person_from_the_database(
    cached: None, moderator: Any, client_for: Any
) -> None:
    client = client_for(moderator)
    client.get(PAGE)
    status, sql = _sql(client)
    assert status == 200
    # My queue's one query (its rows, their assignees joined): nothing about the session or the person.
    assert len(sql) == 1, sql
    assert sql[0].startswith('SELECT "escalations_escalation"."id"')
    assert "django_session" not in sql[0]


def test_without_the_setting_the_person_is_read_at_every_request(moderator: Any, client_for: Any) -> None:
    client = client_for(moderator)
    client.get(PAGE)
    _, sql = _sql(client)
    assert any('FROM "auth_user"' in q for q in sql)


def test_a_deactivated_user_is_signed_out_at_the_next_request(cached: None, moderator: Any, client_for: Any) -> None:
    client = client_for(moderator)
    assert client.get(PAGE).status_code == 200
    moderator.is_active = False
    moderator.save()
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_new_password_ends_the_other_sessions(cached: None, moderator: Any, client_for: Any) -> None:
    client = client_for(moderator)
    assert client.get(PAGE).status_code == 200
    moderator.set_password("another-horse-battery-staple")
    moderator.save()
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_role_taken_away_counts_at_the_next_request(cached: None, lead: Any, client_for: Any) -> None:
    client = client_for(lead)
    assert client.get("/dashboard/").status_code == 200
    lead.groups.remove(Group.objects.get(name=LEAD))
    assert client.get("/dashboard/").status_code == 403


def test_a_role_taken_away_from_the_groups_side_counts_too(cached: None, lead: Any, client_for: Any) -> None:
    client = client_for(lead)
    assert client.get("/dashboard/").status_code == 200
    Group.objects.get(name=LEAD).user_set.remove(lead)
    assert client.get("/dashboard/").status_code == 403


def test_a_session_deleted_through_its_store_ends_at_once(cached: None, moderator: Any, client_for: Any) -> None:
    client = client_for(moderator)
    assert client.get(PAGE).status_code == 200
    SessionStore(session_key=client.session.session_key).delete()
    assert client.get(PAGE).status_code == 302
