"""A read replica (DATABASE_REPLICA_URL) serves the dashboard and the exports, and nothing else:
sign-in, sessions and every write stay on the primary (escalations/db_router.py).

The replica here is Django's test mirror of the test database (settings/test.py): a second
connection to the same data, so the tests can see which connection each query went through. The
data must be committed to be seen through it: transactional tests, with serialized rollback like the
suite's other transactional tests (a flush that re-created the migrations' rows would collide with
their restore).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.core.append_only import APPEND_ONLY, ensure_triggers
from escalations.models import AuditEvent, Escalation
from escalations.ops import db_router

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True, databases=["default", "replica"])

ESCALATION_TABLE = '"escalations_escalation"'


@pytest.fixture(autouse=True)
def flushable(transactional_db: Any) -> Iterator[None]:
    """A transactional test ends with a flush, which on SQLite deletes row by row, and the audit
    trail's triggers refuse that: they are dropped just before the flush, and made again at the start
    of the next test here (the serialized rollback's flush sends no post_migrate, which would).
    pytest-django runs transactional tests after all others, and those that follow use databases of
    their own. PostgreSQL flushes by TRUNCATE, which the row triggers do not see."""
    ensure_triggers()
    yield
    connection = connections["default"]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for table in APPEND_ONLY:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table.short}_no_update")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table.short}_no_delete")


@pytest.fixture(autouse=True)
def replica_in_use(settings: Any) -> None:
    middleware = list(settings.MIDDLEWARE)
    if settings.REPLICA_MIDDLEWARE not in middleware:
        middleware.insert(middleware.index("axes.middleware.AxesMiddleware"), settings.REPLICA_MIDDLEWARE)
    settings.MIDDLEWARE = middleware


@contextmanager
def queries() -> Iterator[dict[str, list[str]]]:
    """The SQL each connection ran meanwhile, by alias."""
    found: dict[str, list[str]] = {}
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(connections["replica"]) as rep:
        yield found
    found["default"] = [q["sql"] for q in primary.captured_queries]
    found["replica"] = [q["sql"] for q in rep.captured_queries]


def reads_escalations(sqls: list[str]) -> bool:
    return any(sql.lstrip().upper().startswith("SELECT") and ESCALATION_TABLE in sql for sql in sqls)


@pytest.fixture
def logged(make_escalation: Any, lead: Any) -> Escalation:
    esc: Escalation = make_escalation(knowledge_at=timezone.now() - timedelta(hours=30))
    return esc


def test_the_dashboard_reads_escalations_from_the_replica_and_the_session_from_the_primary(
    logged: Escalation, lead: Any, client_for: Any
) -> None:
    client = client_for(lead)
    with queries() as ran:
        response = client.get("/dashboard/")
    assert response.status_code == 200
    assert b"ESC-" in response.content or b"overdue" in response.content.lower()
    assert reads_escalations(ran["replica"])
    assert not reads_escalations(ran["default"])
    # The session and the signed-in user came from the primary, before the request was marked.
    assert any('"django_session"' in sql for sql in ran["default"])
    assert not any('"django_session"' in sql or '"axes_' in sql or '"otp_' in sql for sql in ran["replica"])


def test_an_export_reads_from_the_replica_and_writes_its_audit_event_to_the_primary(
    logged: Escalation, lead: Any, client_for: Any
) -> None:
    exported_before = AuditEvent.objects.filter(action="exported").count()
    client = client_for(lead)
    with queries() as ran:
        response = client.get("/escalations/?_export=csv")
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200
    assert logged.key.encode() in body
    assert reads_escalations(ran["replica"])
    assert not any(sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for sql in ran["replica"])
    assert any(sql.lstrip().upper().startswith("INSERT") and "escalations_auditevent" in sql for sql in ran["default"])
    assert AuditEvent.objects.filter(action="exported").count() == exported_before + 1


def test_other_pages_and_every_write_use_the_primary_only(logged: Escalation, lead: Any, client_for: Any) -> None:
    client = client_for(lead)
    with queries() as ran:
        assert client.get("/escalations/").status_code == 200
        assert client.get(f"/escalations/{logged.pk}/").status_code == 200
        response = client.post(
            "/escalations/new/",
            {
                "platform_reference": "ticket-router-1",
                "incident_type": "child_pornography",
                "priority": "standard",
                "knowledge_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
            },
        )
    assert response.status_code == 302, response.content[:500]
    assert ran["replica"] == []


def test_the_mark_does_not_outlive_its_request(logged: Escalation, lead: Any, client_for: Any) -> None:
    client = client_for(lead)
    response = client.get("/escalations/?_export=csv")
    b"".join(response.streaming_content)
    response.close()
    assert db_router.use_replica.get() is False
    with queries() as ran:
        assert Escalation.objects.filter(pk=logged.pk).exists()
    assert ran["replica"] == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_without_a_replica_nothing_is_routed(logged: Escalation, lead: Any, client_for: Any, settings: Any) -> None:
    databases = {alias: value for alias, value in settings.DATABASES.items() if alias != "replica"}
    settings.DATABASES = databases
    client = client_for(lead)
    with queries() as ran:
        assert client.get("/dashboard/").status_code == 200
    assert ran["replica"] == []
    assert reads_escalations(ran["default"])


def test_migrate_never_writes_to_the_replica() -> None:
    router = db_router.ReplicaRouter()
    assert router.allow_migrate("replica", "escalations") is False
    assert router.allow_migrate("default", "escalations") is None
    assert settings.DATABASE_ROUTERS == ["escalations.ops.db_router.ReplicaRouter"]
