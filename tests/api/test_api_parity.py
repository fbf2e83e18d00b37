"""The API does what the pages do: the reported account on create and edit; a field it does not take
is refused by name (never a silent 200); reopen, legal requests, evidence items and destinations on
the pages' services with the same roles; and every request example of the schema is a request the
server accepts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from escalations.accounts import tokens
from escalations.core import services
from escalations.legal import services as legal_services
from escalations.models import AccessLog, AuditAction, AuditEvent, Escalation, EvidenceItem, LegalRequest, Status

API = "/api/v1/escalations/"
# The schema's examples are dated 1 March 2026: the clock stands the next morning.
CLOCK_START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def post(client: Client, url: str, data: Any) -> Any:
    return client.post(url, data, content_type="application/json")


def patch(client: Client, url: str, data: Any) -> Any:
    return client.patch(url, data, content_type="application/json")


def token_client(user: Any, scope: str = "write") -> Client:
    _, raw = tokens.create_token(
        actor=user, name=f"pipe-{scope}", scope=scope, expires_at=timezone.now() + timedelta(days=1)
    )
    return Client(headers={"Authorization": f"Bearer {raw}"})


# --- account_reference ---------------------------------------------------------------------------


def test_account_reference_is_taken_on_create_bulk_and_edit(clock: Any, client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    data = {
        "platform_reference": "ticket-1",
        "account_reference": "user-4242",
        "incident_type": "child_pornography",
        "knowledge_at": "2026-03-02T11:00:00Z",
    }
    created = post(client, API, data)
    assert created.status_code == 201, created.content
    assert created.json()["account_reference"] == "user-4242"
    esc = Escalation.objects.get(pk=created.json()["id"])
    assert esc.account_reference == "user-4242"

    edited = patch(client, f"{API}{esc.pk}/", {"account_reference": "user-4243", "version": esc.version})
    assert edited.status_code == 200, edited.content
    assert edited.json()["account_reference"] == "user-4243"
    assert Escalation.objects.get(pk=esc.pk).account_reference == "user-4243"

    bulk = post(client, f"{API}bulk/", [{**data, "platform_reference": "ticket-2", "account_reference": "user-9"}])
    assert bulk.status_code == 201, bulk.content
    assert bulk.json()[0]["account_reference"] == "user-9"
    # The same checks as the pages: no file content hidden in it.
    refused = patch(client, f"{API}{esc.pk}/", {"account_reference": "data:image/png;base64,iVBORw0KGgo="})
    assert refused.status_code == 400 and "account_reference" in refused.json()


# --- fields the API does not take ------------------------------------------------------------------


def test_writing_a_read_only_field_is_a_400_naming_it(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    client = client_for(lead)
    response = patch(client, f"{API}{esc.pk}/", {"status": "closed"})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["status"]
    assert "status can't be written here" in body["status"][0] and "close" in body["status"][0]
    assert Escalation.objects.get(pk=esc.pk).status == Status.OPEN
    assert not AuditEvent.objects.filter(escalation=esc, action=AuditAction.EDITED).exists()

    both = patch(client, f"{API}{esc.pk}/", {"notes": "ok", "report_due_at": "2030-01-01T00:00:00Z", "colour": "red"})
    assert both.status_code == 400
    assert set(both.json()) == {"report_due_at", "colour"}
    assert "read-only" in both.json()["report_due_at"][0]
    assert "Unknown field 'colour'" in both.json()["colour"][0]
    assert Escalation.objects.get(pk=esc.pk).notes == ""

    created = post(
        client,
        API,
        {
            "platform_reference": "t",
            "incident_type": "child_pornography",
            "knowledge_at": "2026-03-02T11:00:00Z",
            "status": "reported",
        },
    )
    assert created.status_code == 400 and "status" in created.json()
    bulk = post(
        client,
        f"{API}bulk/",
        [
            {
                "platform_reference": "t",
                "incident_type": "child_pornography",
                "knowledge_at": "2026-03-02T11:00:00Z",
                "assignee_id": 3,
            }
        ],
    )
    assert bulk.status_code == 400 and "assignee_id" in bulk.json()["errors"]["0"]
    action = post(
        client, f"{API}{esc.pk}/dismiss/", {"reason": "Not reportable.", "status": "dismissed", "retained": True}
    )
    assert action.status_code == 400 and set(action.json()) == {"status", "retained"}
    assert Escalation.objects.get(pk=esc.pk).status == Status.OPEN


# --- new endpoints ---------------------------------------------------------------------------------


def test_reopen_through_the_api_for_leads_only(
    clock: Any, client_for: Any, lead: Any, moderator: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    esc = services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, reason="Duplicate.")
    assert post(client_for(moderator), f"{API}{esc.pk}/reopen/", {"reason": "Mistake."}).status_code == 403
    assert post(token_client(lead, "read"), f"{API}{esc.pk}/reopen/", {"reason": "Mistake."}).status_code == 403
    missing = post(client_for(lead), f"{API}{esc.pk}/reopen/", {"reason": ""})
    assert missing.status_code == 400 and "reason" in json.dumps(missing.json()).lower()
    response = post(token_client(lead), f"{API}{esc.pk}/reopen/", {"reason": "Mistake.", "version": esc.version})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "open"
    event = AuditEvent.objects.filter(escalation=esc, action=AuditAction.REOPENED).get()
    assert event.via == "token:pipe-write" and event.reason == "Mistake."


def test_legal_requests_through_the_api(
    clock: Any, client_for: Any, lead: Any, auditor: Any, moderator: Any, make_escalation: Any
) -> None:
    esc = make_escalation(knowledge_at=CLOCK_START - timedelta(days=2), reported_at=CLOCK_START - timedelta(days=1))
    body = {
        "kind": "2703f_preservation",
        "agency": "FBI",
        "reference": "F-1",
        "received_at": "2026-03-02T10:00:00Z",
        "escalations": [esc.pk],
    }
    assert post(client_for(moderator), "/api/v1/legal-requests/", body).status_code == 403
    assert client_for(moderator).get("/api/v1/legal-requests/").status_code == 403
    assert post(client_for(auditor), "/api/v1/legal-requests/", body).status_code == 403
    bad = post(client_for(lead), "/api/v1/legal-requests/", {**body, "agency": "", "escalations": [999999]})
    assert bad.status_code == 400 and {"agency", "escalations"} <= set(bad.json())

    created = post(client_for(lead), "/api/v1/legal-requests/", body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["key"].startswith("LR-") and data["escalations"] == [esc.pk]
    assert data["hold_until"] == "2026-05-31T10:00:00Z"  # 90 days from receipt
    # The same service as the page: the escalation's preservation is held.
    assert Escalation.objects.get(pk=esc.pk).preservation_hold_until is not None

    listed = client_for(auditor).get("/api/v1/legal-requests/")
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["results"]] == [data["id"]]
    assert AccessLog.objects.filter(user=auditor, escalation=esc, what="api legal requests").exists()
    assert client_for(auditor).get(f"/api/v1/legal-requests/{data['id']}/").json()["reference"] == "F-1"

    answered = post(client_for(lead), f"/api/v1/legal-requests/{data['id']}/respond/", {"version": data["version"]})
    assert answered.status_code == 200 and answered.json()["status"] == "responded"
    closed = post(client_for(lead), f"/api/v1/legal-requests/{data['id']}/close/", {"reason": "Fulfilled."})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert LegalRequest.objects.get(pk=data["id"]).status == "closed"
    assert client_for(lead).get("/api/v1/legal-requests/999999/").status_code == 404


def test_evidence_items_and_destinations_through_the_api(
    clock: Any, client_for: Any, moderator: Any, auditor: Any, make_escalation: Any
) -> None:
    esc = make_escalation(knowledge_at=CLOCK_START - timedelta(hours=5))
    url = f"{API}{esc.pk}/evidence-items/"
    item = {
        "reference": "vault://1",
        "hash_algorithm": "md5",
        "digest": "098F6BCD4621D373CADE4E832627B4F6",
        "size_bytes": 12,
    }
    assert post(client_for(auditor), url, item).status_code == 403
    wrong = post(client_for(moderator), url, {**item, "digest": "abc"})
    assert wrong.status_code == 400 and "digest" in wrong.json()
    added = post(client_for(moderator), url, item)
    assert added.status_code == 201, added.content
    assert added.json()["digest"] == "098f6bcd4621d373cade4e832627b4f6"
    assert EvidenceItem.objects.filter(escalation=esc).count() == 1
    assert [i["reference"] for i in client_for(auditor).get(url).json()] == ["vault://1"]

    codes = [d["code"] for d in client_for(moderator).get("/api/v1/destinations/").json()]
    assert codes[0] == "ncmec" and "c3p" in codes
    url = f"{API}{esc.pk}/destinations/"
    assert post(client_for(moderator), url, {"destination": "nowhere"}).json() == {
        "destination": ["Destination: choose where the escalation was reported."]
    }
    pending = post(client_for(moderator), url, {"destination": "nca"})
    assert pending.status_code == 200, pending.content
    assert pending.json()["destination"] == "nca" and pending.json()["reported_at"] is None
    done = post(
        client_for(moderator), url, {"destination": "c3p", "reported_at": "2026-03-02T11:00:00Z", "report_id": "CA-1"}
    )
    assert done.status_code == 200 and done.json()["report_id"] == "CA-1"
    assert {r["destination"] for r in client_for(auditor).get(url).json()} == {"nca", "c3p"}


# --- every example of the schema ---------------------------------------------------------------------


def _examples(document: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, example in content.get("examples", {}).items():
                found.append((path, method, name, example["value"]))
    return found


def test_every_request_example_in_the_schema_is_accepted(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    """Each example is sent as it stands to a record in the state it is written for; only the ids
    (the path's, and the escalations a legal request names) are this database's."""
    client = client_for(lead)
    document = client.get("/api/schema/?format=json").json()
    examples = _examples(document)
    knowledge = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)

    def fresh() -> int:
        return make_escalation(knowledge_at=knowledge).pk

    def reported() -> int:
        return make_escalation(knowledge_at=knowledge, reported_at=knowledge + timedelta(hours=1)).pk

    def dismissed() -> int:
        esc = make_escalation(knowledge_at=knowledge)
        return services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, reason="x").pk

    def preservation_over() -> int:
        return make_escalation(
            knowledge_at=datetime(2025, 1, 6, tzinfo=UTC), reported_at=datetime(2025, 1, 6, 2, tzinfo=UTC)
        ).pk

    def legal_request() -> int:
        return legal_services.create_legal_request(
            actor=lead,
            data={
                "kind": "subpoena",
                "agency": "A",
                "reference": "R",
                "received_at": knowledge,
                "escalations": [reported()],
            },
        ).pk

    targets = {
        ("/api/v1/escalations/{id}/", "patch"): fresh,
        ("/api/v1/escalations/{id}/report/", "post"): fresh,
        ("/api/v1/escalations/{id}/preservation/", "post"): reported,
        ("/api/v1/escalations/{id}/correct-report/", "post"): reported,
        ("/api/v1/escalations/{id}/assign/", "post"): fresh,
        ("/api/v1/escalations/{id}/dismiss/", "post"): fresh,
        ("/api/v1/escalations/{id}/close/", "post"): preservation_over,
        ("/api/v1/escalations/{id}/reopen/", "post"): dismissed,
        ("/api/v1/escalations/{id}/evidence-items/", "post"): fresh,
        ("/api/v1/escalations/{id}/destinations/", "post"): fresh,
        ("/api/v1/legal-requests/{id}/respond/", "post"): legal_request,
        ("/api/v1/legal-requests/{id}/close/", "post"): legal_request,
    }
    without_id = {
        ("/api/v1/escalations/", "post"),
        ("/api/v1/escalations/bulk/", "post"),
        ("/api/v1/legal-requests/", "post"),
    }
    assert {(path, method) for path, method, _, _ in examples} <= set(targets) | without_id
    assert len(examples) >= 14
    for path, method, name, value in examples:
        url = path.replace("{id}", str(targets[(path, method)]())) if "{id}" in path else path
        body = copy.deepcopy(value)
        if path == "/api/v1/legal-requests/":
            body["escalations"] = [reported()]
        if path == "/api/v1/escalations/{id}/":
            body["version"] = Escalation.objects.get(pk=int(url.split("/")[-2])).version
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code in (200, 201), (path, method, name, response.content[:500])
