"""The audit trail is append-only: the database refuses UPDATE and DELETE on it, and the admin offers
no way to change or delete an audit event or an escalation."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.urls import reverse

from escalations.models import AuditEvent, Escalation
from tests.conftest import escalation_trail


@pytest.fixture
def event(make_escalation: Any) -> AuditEvent:
    esc = make_escalation()
    return AuditEvent.objects.get(escalation=esc)


def stored(event: AuditEvent) -> dict[str, Any]:
    return dict(AuditEvent.objects.filter(pk=event.pk).values().get())


def refused(run: Any) -> DatabaseError:
    """Run `run` in a savepoint (so PostgreSQL's aborted transaction does not poison the test) and
    return the database error it must raise."""
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        run()
    return excinfo.value


# --- the database itself -----------------------------------------------------------------------


def test_raw_sql_update_is_refused(event):
    before = stored(event)

    def update() -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE escalations_auditevent SET action = 'x'")

    error = refused(update)
    assert "append-only" in str(error)
    assert stored(event) == before
    assert stored(event)["action"] == "created"


def test_raw_sql_delete_is_refused(event):
    before = stored(event)

    def delete() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM escalations_auditevent")

    error = refused(delete)
    assert "append-only" in str(error)
    assert escalation_trail().count() == 1
    assert stored(event) == before


def test_orm_update_and_delete_are_refused(event):
    before = stored(event)

    def resave() -> None:
        event.reason = "rewritten"
        event.save()

    attempts = [
        lambda: AuditEvent.objects.filter(pk=event.pk).update(action="x", reason="rewritten"),
        lambda: AuditEvent.objects.all().delete(),
        lambda: event.delete(),
        resave,
    ]
    for attempt in attempts:
        assert "append-only" in str(refused(attempt))
    assert stored(event) == before


def test_an_escalation_with_an_audit_trail_cannot_be_deleted(event):
    esc = event.escalation
    with pytest.raises(ProtectedError), transaction.atomic():
        esc.delete()
    assert Escalation.objects.filter(pk=esc.pk).exists()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db: Any, client_for: Any) -> Any:
    superuser = get_user_model().objects.create_superuser(
        username="root", email="root@example.org", password="correct-horse-battery"
    )
    return client_for(superuser)


def test_admin_audit_event_page_is_read_only(admin_client, event):
    before = stored(event)
    url = reverse("admin:escalations_auditevent_change", args=[event.pk])

    page = admin_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert reverse("admin:escalations_auditevent_delete", args=[event.pk]) not in html

    response = admin_client.post(url, {"action": "x", "reason": "rewritten", "_save": "Save"})
    assert response.status_code == 403
    assert stored(event) == before


def test_admin_cannot_delete_an_audit_event(admin_client, event):
    url = reverse("admin:escalations_auditevent_delete", args=[event.pk])
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403

    # Nor through the changelist's bulk "delete selected" action.
    changelist = reverse("admin:escalations_auditevent_changelist")
    page = admin_client.get(changelist)
    assert page.status_code == 200
    assert "delete_selected" not in page.content.decode()
    admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_admin_cannot_add_change_or_delete_an_escalation(admin_client, event):
    esc = event.escalation
    before = Escalation.objects.filter(pk=esc.pk).values().get()
    add = reverse("admin:escalations_escalation_add")
    change = reverse("admin:escalations_escalation_change", args=[esc.pk])
    delete = reverse("admin:escalations_escalation_delete", args=[esc.pk])

    assert admin_client.get(add).status_code == 403
    assert (
        admin_client.post(add, {"platform_reference": "ticket-admin", "incident_type": "child_pornography"}).status_code
        == 403
    )
    assert admin_client.post(change, {"status": "closed", "_save": "Save"}).status_code == 403
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403

    page = admin_client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()

    assert Escalation.objects.count() == 1
    assert Escalation.objects.filter(pk=esc.pk).values().get() == before


def test_admin_escalation_changelist_renders(admin_client, make_escalation):
    escalations = [make_escalation() for _ in range(3)]
    response = admin_client.get(reverse("admin:escalations_escalation_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    for esc in escalations:
        assert esc.key in html
    # No add button, no bulk delete.
    assert reverse("admin:escalations_escalation_add") not in html
    assert "delete_selected" not in html
