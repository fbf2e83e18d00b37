"""A mistake must be removable: a lead asks, an admin (someone else) approves, and the value is
replaced by a marker everywhere the tracker holds it — the record, the audit trail, the access log,
exports, saved views, the API's stored answers — while the chains stay whole and the act is audited."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from escalations.accounts import tokens
from escalations.core import redaction, services, write_frame
from escalations.models import (
    AccessLog,
    AuditEvent,
    Escalation,
    IdempotencyRecord,
    Notification,
    RedactionRequest,
    SavedView,
)
from tests.conftest import escalation_data

# What a moderator pasted by mistake: text that passes every input check (so it got in), which
# must now leave no trace. Distinctive, so that a search of the whole database finds every copy.
SECRET = "pasted by mistake: Jane Example, 12 Elm Street, Springfield 4471"


@pytest.fixture
def admin(db: Any) -> Any:
    return get_user_model().objects.create_user(username="admin", password="correct-horse-battery", is_staff=True)


@pytest.fixture
def other_lead(make_user: Any) -> Any:
    return make_user("lead2", "lead")


def key_of(esc: Escalation, field: str, value: str) -> str:
    return redaction.value_key(field, value)


@pytest.fixture
def pasted(make_escalation: Any, moderator: Any) -> Escalation:
    """Notes held the secret for a while (then someone wrote over it): it is in the audit trail."""
    esc = make_escalation(actor=moderator, notes="seen in the queue")
    esc = services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=esc.version, data={"notes": SECRET})
    return services.edit_escalation(
        actor=moderator, escalation_id=esc.pk, version=esc.version, data={"notes": "checked; see the ticket"}
    )


def ask(lead: Any, esc: Escalation, reason: str = "A victim's name and address pasted into Notes.") -> Any:
    return redaction.request_redaction(
        actor=lead, escalation_id=esc.pk, fields=[key_of(esc, "notes", SECRET)], reason=reason
    )


def every_stored_text() -> list[tuple[str, str]]:
    """(table, cell) for every cell of every table, as text: what someone with the database file
    (or a SQL prompt) could read."""
    cells = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (our own table names)
            for row in cursor.fetchall():
                cells += [(table, str(cell)) for cell in row if cell is not None]
    return cells


def traces(value: str) -> list[tuple[str, str]]:
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value), json.dumps(value)[1:-1]}
    return [(table, cell[:80]) for table, cell in every_stored_text() if any(f.lower() in cell.lower() for f in forms)]


# --- who may ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["moderator", "auditor"])
def test_only_leads_ask(role: str, request: Any, pasted: Escalation, admin: Any, client_for: Any) -> None:
    someone = request.getfixturevalue(role)
    for actor in (someone, admin):
        with pytest.raises(PermissionDenied):
            ask(actor, pasted)
    assert client_for(someone).get(f"/escalations/{pasted.pk}/redact/").status_code == 403
    assert client_for(admin).get(f"/escalations/{pasted.pk}/redact/").status_code == 403
    assert not RedactionRequest.objects.exists()


def test_only_an_admin_decides_and_never_the_one_who_asked(
    pasted: Escalation, lead: Any, other_lead: Any, admin: Any, make_user: Any
) -> None:
    asked = ask(lead, pasted)
    with pytest.raises(PermissionDenied):
        redaction.approve_redaction(actor=other_lead, request_id=asked.pk)  # a lead, not an admin
    with pytest.raises(PermissionDenied):
        redaction.refuse_redaction(actor=other_lead, request_id=asked.pk, reason="no")
    # A lead who is also an admin still cannot decide their own request.
    lead.is_staff = True
    lead.save()
    with pytest.raises(ValidationError, match="A different person must decide"):
        redaction.approve_redaction(actor=lead, request_id=asked.pk)
    asked.refresh_from_db()
    assert asked.pending
    assert Escalation.objects.get(pk=pasted.pk).version == pasted.version

    redaction.approve_redaction(actor=admin, request_id=asked.pk)
    with pytest.raises(ValidationError, match="approved already"):
        redaction.approve_redaction(actor=admin, request_id=asked.pk)


def test_the_pages_keep_to_the_same_rules(
    pasted: Escalation, lead: Any, other_lead: Any, admin: Any, client_for: Any
) -> None:
    asked = ask(lead, pasted)
    for url in ("/redactions/", f"/redactions/{asked.pk}/"):
        assert client_for(other_lead).get(url).status_code == 403
        assert client_for(admin).get(url).status_code == 200
    assert client_for(other_lead).post(f"/redactions/{asked.pk}/approve/").status_code == 403
    assert RedactionRequest.objects.get(pk=asked.pk).pending


# --- the value goes, everywhere ---------------------------------------------------------------------


def test_an_approved_redaction_leaves_no_trace_and_the_chains_stay_whole(
    pasted: Escalation, moderator: Any, lead: Any, admin: Any, client_for: Any
) -> None:
    lead_client = client_for(lead)
    # The secret also travelled: a list filtered by it (access log and the export's audit event), a
    # saved view, and an API create whose first answer is stored for its Idempotency-Key.
    query = urlencode({"q": SECRET})
    assert lead_client.get(f"/escalations/?{query}").status_code == 200
    assert lead_client.get(f"/escalations/?{query}&_export=csv").status_code == 200
    lead_client.post("/saved-views/", {"name": "that one", "query": query})
    assert SavedView.objects.filter(query__contains="Elm").exists()
    expires = timezone.now() + timedelta(days=30)
    raw = tokens.create_token(actor=lead, name="pipeline", scope="write", expires_at=expires)[1]
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    created = api.post(
        "/api/v1/escalations/",
        {**{k: str(v) for k, v in escalation_data(platform_reference="ticket-api-1").items()}, "notes": SECRET},
        content_type="application/json",
        headers={"Idempotency-Key": "k-secret"},
    )
    assert created.status_code == 201, created.content
    assert traces(SECRET), "the secret is stored before the redaction"

    # The lead reads the escalation (access log) and asks; another person, an admin, approves.
    assert lead_client.get(f"/escalations/{pasted.pk}/redact/").status_code == 200
    asked = ask(lead, pasted)
    done = redaction.approve_redaction(actor=admin, request_id=asked.pk)

    # ...but the API-made escalation holds the secret too: it is its own escalation, its own request.
    other = Escalation.objects.get(platform_reference="ticket-api-1")
    redaction.approve_redaction(
        actor=admin,
        request_id=redaction.request_redaction(
            actor=lead, escalation_id=other.pk, fields=[key_of(other, "notes", SECRET)], reason="Same paste, via API."
        ).pk,
    )

    assert traces(SECRET) == [], "not in any table, in any encoding"
    marker = done.marker
    assert marker == f"[redacted {done.approved_at:%Y-%m-%d} by admin: {done.key}]"

    # The record, its timeline, the API, the audit-trail export and the access log show the marker.
    page = lead_client.get(f"/escalations/{pasted.pk}/").content.decode()
    assert marker in page and "Elm Street" not in page
    assert "checked; see the ticket" in page, "only the chosen value went"
    api_events = api.get(f"/api/v1/escalations/{pasted.pk}/audit-events/").content.decode()
    assert marker in api_events and "Elm Street" not in api_events
    csv = b"".join(lead_client.get(f"/escalations/{pasted.pk}/audit.csv").streaming_content).decode()
    assert marker in csv and "Elm Street" not in csv
    assert "Redaction" in csv
    log_page = lead_client.get("/access-log/").content.decode()
    assert "Elm" not in log_page
    listing = b"".join(lead_client.get("/escalations/?_export=csv").streaming_content).decode()
    assert "Elm" not in listing
    replay = api.post(
        "/api/v1/escalations/",
        {**{k: str(v) for k, v in escalation_data(platform_reference="ticket-api-1").items()}, "notes": SECRET},
        content_type="application/json",
        headers={"Idempotency-Key": "k-secret"},
    )
    assert "Elm Street" not in replay.content.decode()
    assert IdempotencyRecord.objects.filter(key="k-secret").exists()

    # The chains are whole: each rewrite is named, with its new digest, by the approved redaction.
    out = StringIO()
    call_command("verifyaudit", stdout=out)
    total = AuditEvent.objects.count()
    assert f"audit chain: events={total} verified={total} broken=0" in out.getvalue()
    assert done.summary["audit_events"] >= 2  # the edit to the secret and the edit away from it
    assert done.summary["access_log"] == 1  # the filtered list's export
    assert done.summary["saved_views"] == 1


def test_each_step_is_audited_and_the_request_never_holds_the_value(pasted: Escalation, lead: Any, admin: Any) -> None:
    asked = ask(lead, pasted)
    redaction.approve_redaction(actor=admin, request_id=asked.pk)
    trail = list(AuditEvent.objects.filter(escalation=pasted).order_by("seq").values_list("action", "actor__username"))
    assert trail[-2:] == [("redaction_requested", "leader"), ("redacted", "admin")]
    asked.refresh_from_db()
    stored = json.dumps([asked.fields, asked.reason, asked.marker, asked.summary])
    assert "Elm" not in stored
    assert [name.split(":")[0] for name in asked.fields] == ["notes"]
    # The escalation moved on a version: a form opened before cannot write the value back.
    with pytest.raises(write_frame.StaleVersionError):
        services.edit_escalation(actor=lead, escalation_id=pasted.pk, version=pasted.version, data={"notes": SECRET})
    # The lead is told; admins were told when it was asked.
    assert Notification.objects.filter(user=lead, title__contains="approved").exists()
    assert Notification.objects.filter(user=admin, title__contains="awaits an admin").exists()
    assert not Notification.objects.filter(body__contains="Elm").exists()


def test_a_refusal_keeps_the_value_and_says_why(pasted: Escalation, lead: Any, admin: Any) -> None:
    asked = ask(lead, pasted)
    with pytest.raises(ValidationError) as refused:
        redaction.refuse_redaction(actor=admin, request_id=asked.pk, reason=f"It is fine: {SECRET}")
    assert "must not repeat" in str(refused.value)
    redaction.refuse_redaction(actor=admin, request_id=asked.pk, reason="It is the public business address.")
    assert AuditEvent.objects.filter(escalation=pasted, action="redaction_refused", actor=admin).exists()
    assert traces(SECRET), "a refused redaction removes nothing"
    assert Notification.objects.filter(user=lead, title__contains="refused").exists()


def test_the_request_names_the_field_and_the_rule(pasted: Escalation, lead: Any) -> None:
    with pytest.raises(ValidationError) as nothing:
        redaction.request_redaction(actor=lead, escalation_id=pasted.pk, fields=[], reason="x")
    assert "fields" in nothing.value.message_dict
    with pytest.raises(ValidationError) as unknown:
        redaction.request_redaction(actor=lead, escalation_id=pasted.pk, fields=["notes:0000"], reason="x")
    assert "not held on this escalation" in str(unknown.value)
    with pytest.raises(ValidationError) as repeated:
        ask(lead, pasted, reason=f"Remove '{SECRET}' please")
    assert repeated.value.message_dict["reason"][0].startswith("Reason must not repeat the text to be removed")
    ask(lead, pasted)
    with pytest.raises(ValidationError, match="already asks for this"):
        ask(lead, pasted)
    assert RedactionRequest.objects.count() == 1


def test_the_form_lists_each_value_and_the_request_goes_through_the_page(
    pasted: Escalation, lead: Any, admin: Any, client_for: Any
) -> None:
    client = client_for(lead)
    before = AccessLog.objects.filter(escalation=pasted).count()
    page = client.get(f"/escalations/{pasted.pk}/redact/")
    html = page.content.decode()
    assert "Notes: “seen in the queue”" in html
    assert "Notes: “pasted by mistake: Jane …” (64 characters)" in html
    assert AccessLog.objects.filter(escalation=pasted).count() == before + 1, "the form shows values: logged"
    response = client.post(
        f"/escalations/{pasted.pk}/redact/",
        {"values": [key_of(pasted, "notes", SECRET)], "reason": "Address pasted into Notes."},
    )
    assert response.status_code == 302
    asked = RedactionRequest.objects.get()
    # The admin sees which field and how long, never the value.
    detail = client_for(admin).get(f"/redactions/{asked.pk}/").content.decode()
    assert "Notes: a value of 64 characters" in detail and "Jane" not in detail
    assert client_for(admin).post(f"/redactions/{asked.pk}/approve/").status_code == 302
    assert RedactionRequest.objects.get().approved_at is not None
    assert "Jane" not in Escalation.objects.filter(pk=pasted.pk).values_list("notes", flat=True).get()


def test_a_bad_request_on_the_page_names_the_field(pasted: Escalation, lead: Any, client_for: Any) -> None:
    response = client_for(lead).post(f"/escalations/{pasted.pk}/redact/", {"values": [], "reason": ""})
    assert response.status_code == 200
    html = response.content.decode()
    assert "This field is required." in html
    assert not RedactionRequest.objects.exists()


# --- the database lets through the marker and nothing else -------------------------------------------


def _rewrite(request: RedactionRequest, event: AuditEvent, changes: Any, reason: str) -> None:
    redaction.rewrite_event(request, event, changes, reason)


def test_the_redaction_path_writes_only_the_marker(pasted: Escalation, lead: Any, admin: Any) -> None:
    asked = ask(lead, pasted)
    done = redaction.approve_redaction(actor=admin, request_id=asked.pk)
    event = AuditEvent.objects.filter(escalation=pasted, action="created").get()

    def forge() -> None:
        with transaction.atomic():
            _rewrite(done, event, {"notes": [None, "something else entirely"]}, "")

    with pytest.raises(DatabaseError, match="append-only"):
        forge()
    assert AuditEvent.objects.get(pk=event.pk).changes == event.changes


@pytest.mark.postgres
def test_on_postgresql_a_rewrite_must_only_remove_text(pasted: Escalation, lead: Any, admin: Any) -> None:
    """The trigger checks that the new text is the old with parts replaced by the marker: a rewrite
    that keeps the marker but adds words of its own is refused too, and so is one for a request
    nobody approved."""
    asked = ask(lead, pasted)
    event = AuditEvent.objects.filter(escalation=pasted, action="edited").order_by("seq").first()
    assert event is not None

    def attempt(request: RedactionRequest, changes: Any) -> None:
        with transaction.atomic():
            _rewrite(request, event, changes, event.reason)

    with pytest.raises(DatabaseError, match="append-only"):
        attempt(asked, {"notes": ["seen in the queue", "[anything]"]})  # not approved yet
    done = redaction.approve_redaction(actor=admin, request_id=asked.pk)
    event.refresh_from_db()
    with pytest.raises(DatabaseError, match="append-only"):
        attempt(done, {"notes": ["seen in the queue", f"{done.marker} and a forged sentence"]})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('escalations.redaction_request', %s, true)", [str(done.pk)])
        cursor.execute("UPDATE escalations_auditevent SET action = 'closed' WHERE id = %s", [event.pk])


def test_verifyaudit_names_a_change_no_redaction_covers(pasted: Escalation, lead: Any, admin: Any) -> None:
    from tests.core.test_audit_chain import as_owner_without_triggers, verifyaudit

    redaction.approve_redaction(actor=admin, request_id=ask(lead, pasted).pk)
    assert verifyaudit()[0]
    redacted = AuditEvent.objects.filter(escalation=pasted, changes__icontains="redacted").order_by("seq").first()
    assert redacted is not None
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("UPDATE escalations_auditevent SET reason = 'later edit' WHERE id = %s", [redacted.pk])
    whole, out = verifyaudit()
    assert not whole
    assert f"{pasted.key} event #{redacted.seq} (id {redacted.pk}): payload digest mismatch" in out
