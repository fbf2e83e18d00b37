"""Need-to-know: every read of an escalation's page, and every export, is one AccessLog row
written in the same request; the log is append-only; auditors and leads list it at /access-log/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from escalations.models import AccessKind, AccessLog, format_key


def test_detail_view_writes_one_row(client_for: Any, lead: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    client = client_for(lead)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/escalations/{esc.pk}/").status_code == 200
    inserts = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "escalations_accesslog"')]
    assert len(inserts) == 1
    row = AccessLog.objects.get()
    assert (row.user, row.kind, row.escalation_id, row.what) == (lead, AccessKind.VIEWED, esc.pk, "detail")
    assert row.ip_address == "127.0.0.1"


@pytest.mark.parametrize("role", ["moderator", "lead", "auditor"])
def test_every_role_is_recorded(role: str, request: Any, client_for: Any, make_escalation: Any) -> None:
    user = request.getfixturevalue(role)
    esc = make_escalation()
    client_for(user).get(f"/escalations/{esc.pk}/")
    client_for(user).get(f"/escalations/{esc.pk}/")
    assert AccessLog.objects.filter(user=user, escalation=esc, kind=AccessKind.VIEWED).count() == 2


def test_refused_and_missing_pages_write_nothing(client_for: Any, nobody: Any, lead: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    assert client_for(nobody).get(f"/escalations/{esc.pk}/").status_code == 403
    assert client_for(lead).get("/escalations/999999/").status_code == 404
    assert not AccessLog.objects.exists()


def test_audit_trail_export_is_recorded(client_for: Any, auditor: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    response = client_for(auditor).get(f"/escalations/{esc.pk}/audit.csv")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    row = AccessLog.objects.get()
    assert row.kind == AccessKind.EXPORTED
    assert row.escalation_id == esc.pk
    assert row.what == f"{esc.key}-audit-trail.csv"


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("/escalations/?_export=csv&status=open", "escalations.csv"),
        ("/escalations/?_export=xlsx", "escalations.xlsx"),
        ("/escalations/mine/?_export=csv", "my-queue.csv"),
        ("/reports/compliance/?start=2025-01-01&end=2025-01-31&_export=csv", "compliance-2025-01-01-to-2025-01-31.csv"),
    ],
)
def test_exports_are_recorded_with_their_query(
    url: str, what: str, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    make_escalation()
    response = client_for(lead).get(url)
    assert response.status_code == 200
    row = AccessLog.objects.get()
    assert (row.user, row.kind, row.what, row.escalation_id) == (lead, AccessKind.EXPORTED, what, None)
    assert "_export=" in row.query


def test_bulk_export_is_recorded(client_for: Any, auditor: Any, make_escalation: Any) -> None:
    a, b = make_escalation(), make_escalation()
    response = client_for(auditor).post("/escalations/bulk/", {"action": "export", "ids": [a.pk, b.pk]})
    assert response.status_code == 200
    row = AccessLog.objects.get()
    assert row.what == "escalations-selected.csv"
    assert row.query == f"ids={a.pk},{b.pk}"


def test_refused_export_writes_nothing(client_for: Any, moderator: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    assert client_for(moderator).get("/escalations/?_export=csv").status_code == 403
    assert client_for(moderator).get(f"/escalations/{esc.pk}/audit.csv").status_code == 403
    assert not AccessLog.objects.exists()


def test_api_reads_are_recorded_with_the_token_that_made_them(lead: Any, make_escalation: Any) -> None:
    from tests.api.test_api import make_token, token_client

    esc, other = make_escalation(), make_escalation()
    client = token_client(make_token(lead, scope="read", name="siem-export"))
    assert client.get(f"/api/v1/escalations/{esc.pk}/").status_code == 200
    assert client.get(f"/api/v1/escalations/{esc.pk}/audit-events/").status_code == 200
    assert client.get(f"/api/v1/escalations/{esc.pk}/reminders/").status_code == 200
    assert client.get("/api/v1/escalations/?status=open").status_code == 200
    rows = list(AccessLog.objects.order_by("pk").values_list("kind", "escalation_id", "what", "query", "via"))
    assert rows == [
        (AccessKind.VIEWED, esc.pk, "api detail", "", "token:siem-export"),
        (AccessKind.VIEWED, esc.pk, "api audit events", "", "token:siem-export"),
        (AccessKind.VIEWED, esc.pk, "api reminders", "", "token:siem-export"),
        (AccessKind.VIEWED, None, "api list", "status=open", "token:siem-export"),
    ]
    assert not AccessLog.objects.filter(escalation=other).exists()


def test_api_reads_that_fail_write_nothing(lead: Any, nobody: Any) -> None:
    from tests.api.test_api import make_token, token_client

    client = token_client(make_token(lead, scope="read"))
    assert client.get("/api/v1/escalations/999999/").status_code == 404
    assert client.get("/api/v1/escalations/?status=bogus").status_code == 400
    assert not AccessLog.objects.exists()


def test_access_log_is_append_only(client_for: Any, lead: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    client_for(lead).get(f"/escalations/{esc.pk}/")
    row = AccessLog.objects.get()
    row.what = "something else"
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        row.delete()
    with pytest.raises(PermissionError):
        AccessLog.objects.filter(pk=row.pk).update(what="x")
    with pytest.raises(PermissionError):
        AccessLog.objects.all().delete()
    # And at the SQL prompt: database triggers refuse both.
    for sql in ("UPDATE escalations_accesslog SET what = 'x'", "DELETE FROM escalations_accesslog"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AccessLog.objects.get().what == "detail"


# --- /access-log/ -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "expected"), [("nobody", 403), ("moderator", 403), ("lead", 200), ("auditor", 200)])
def test_who_may_read_the_log(role: str, expected: int, request: Any, client_for: Any) -> None:
    user = request.getfixturevalue(role)
    assert client_for(user).get("/access-log/").status_code == expected


def test_anonymous_is_sent_to_sign_in(client_for: Any, db: Any) -> None:
    response = client_for(None).get("/access-log/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_nav_link_for_leads_and_auditors_only(client_for: Any, lead: Any, auditor: Any, moderator: Any) -> None:
    assert 'href="/access-log/"' in client_for(lead).get("/help/").content.decode()
    assert 'href="/access-log/"' in client_for(auditor).get("/help/").content.decode()
    assert 'href="/access-log/"' not in client_for(moderator).get("/help/").content.decode()


@pytest.fixture
def history(client_for: Any, moderator: Any, lead: Any, make_escalation: Any) -> dict[str, Any]:
    """Reads on three days: the moderator opens A on 1 June, the lead opens B on 2 June and exports
    the list on 3 June."""
    a, b = make_escalation(), make_escalation()
    mod_client, lead_client = client_for(moderator), client_for(lead)
    with time_machine.travel(datetime(2025, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        mod_client.force_login(moderator)
        mod_client.get(f"/escalations/{a.pk}/")
    with time_machine.travel(datetime(2025, 6, 2, 12, 0, tzinfo=UTC), tick=False):
        lead_client.force_login(lead)
        lead_client.get(f"/escalations/{b.pk}/")
    with time_machine.travel(datetime(2025, 6, 3, 12, 0, tzinfo=UTC), tick=False):
        lead_client.force_login(lead)
        lead_client.get("/escalations/?_export=csv")
    assert AccessLog.objects.count() == 3
    return {"a": a, "b": b}


def _rows(client: Any, query: str = "") -> list[str]:
    response = client.get(f"/access-log/{query}")
    assert response.status_code == 200
    return [part.split('"')[0] for part in response.content.decode().split('data-access="')[1:]]


def test_lists_everything_newest_first(history: dict[str, Any], client_for: Any, auditor: Any) -> None:
    page = client_for(auditor).get("/access-log/").content.decode()
    assert len(_rows(client_for(auditor))) == 3
    assert page.index("escalations.csv") < page.index(history["b"].key) < page.index(history["a"].key)


def test_filters(history: dict[str, Any], client_for: Any, auditor: Any) -> None:
    client = client_for(auditor)
    a, b = history["a"], history["b"]
    assert len(_rows(client, "?user=mod")) == 1
    assert len(_rows(client, "?user=LEADER")) == 2
    assert len(_rows(client, f"?escalation={a.key}")) == 1
    assert len(_rows(client, f"?escalation={b.pk}")) == 1
    assert len(_rows(client, f"?escalation={format_key(b.pk).lower()}")) == 1
    assert len(_rows(client, "?start=2025-06-02")) == 2
    assert len(_rows(client, "?end=2025-06-02")) == 2
    assert len(_rows(client, "?start=2025-06-02&end=2025-06-02")) == 1
    assert len(_rows(client, "?user=leader&start=2025-06-03")) == 1
    assert len(_rows(client, "?user=nobody-at-all")) == 0


@pytest.mark.parametrize(
    "query",
    [
        "?escalation=ESC-abc",
        "?escalation=0",
        "?escalation=" + "9" * 40,
        "?start=not-a-date",
        "?start=0001-01-01",
        "?start=2025-06-03&end=2025-06-01",
        "?user=" + "x" * 500,
        "?page=99999999999999999999",
        "?page=-1",
        "?user=%00",
    ],
)
def test_bad_filters_are_shown_not_500(query: str, history: dict[str, Any], client_for: Any, auditor: Any) -> None:
    assert client_for(auditor).get(f"/access-log/{query}").status_code == 200


def test_paginated(client_for: Any, lead: Any, make_escalation: Any, settings: Any) -> None:
    settings.ACCESS_LOG_PAGE_SIZE = 2
    esc = make_escalation()
    client = client_for(lead)
    for _ in range(5):
        client.get(f"/escalations/{esc.pk}/")
    assert len(_rows(client)) == 2
    assert len(_rows(client, "?page=3")) == 1
    page = client.get(f"/access-log/?escalation={esc.key}&page=2").content.decode()
    assert "Page 2 of 3" in page
    assert f"escalation={esc.key}&amp;page=3" in page


def test_date_filter_uses_the_viewers_time_zone(client_for: Any, lead: Any, make_escalation: Any) -> None:
    from escalations.models import UserProfile

    UserProfile.objects.create(user=lead, time_zone="America/New_York")
    esc = make_escalation()
    client = client_for(lead)
    # 02:00 UTC on 2 June is still 1 June in New York.
    with time_machine.travel(datetime(2025, 6, 2, 2, 0, tzinfo=UTC), tick=False):
        client.force_login(lead)
        client.get(f"/escalations/{esc.pk}/")
    client.force_login(lead)
    assert len(_rows(client, "?start=2025-06-01&end=2025-06-01")) == 1
    assert len(_rows(client, "?start=2025-06-02")) == 0
    assert AccessLog.objects.get().at == datetime(2025, 6, 2, 2, 0, tzinfo=UTC)
