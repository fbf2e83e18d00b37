"""SCIM 2.0 at /scim/v2/ as Okta and Entra ID use it: create, update, deactivate and regroup people;
what a deactivated person meets at their next request (a page, the API with their token); what the
dashboard shows of their escalations; the token; bad input answered in SCIM's error format."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.accounts import scim_tokens, tokens
from escalations.compliance import dashboard
from escalations.models import AuditAction, AuditEvent, Escalation, ScimToken, Team

BASE = "/scim/v2"
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def scim(db: Any) -> Client:
    _, raw = scim_tokens.create_token(actor=None, name="Okta production")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def send(client: Client, method: str, path: str, body: Any = None) -> Any:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body) if body is not None else ""
    return getattr(client, method)(BASE + path, data=data, content_type=SCIM_JSON)


def okta_user(user_name: str = "ann@example.com", **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Ann Lee",
        "locale": "en-US",
        "externalId": "00u1abcd",
        "groups": [],
        "password": "never-stored-1",
        "active": True,
        **extra,
    }


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def create(scim: Client, user_name: str = "ann@example.com") -> dict[str, Any]:
    response = send(scim, "post", "/Users", okta_user(user_name))
    assert response.status_code == 201, response.content
    return response.json()


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


# --- Users ------------------------------------------------------------------------------------------


def test_okta_creates_a_person_who_has_no_password_and_no_role(scim: Client) -> None:
    doc = create(scim)
    user = get_user_model().objects.get(pk=int(doc["id"]))
    assert (user.username, user.first_name, user.last_name, user.email) == (
        "ann@example.com",
        "Ann",
        "Lee",
        "ann@example.com",
    )
    assert user.is_active and not user.has_usable_password() and not user.groups.exists()
    assert doc["externalId"] == "00u1abcd" and doc["active"] is True and doc["groups"] == []
    assert doc["meta"]["location"].endswith(f"/scim/v2/Users/{user.pk}")
    event = events(AuditAction.ACCOUNT_PROVISIONED)[-1]
    assert event.via == "scim:Okta production" and event.changes["scim_token"] == "Okta production"
    assert event.changes["user"] == "ann@example.com" and "password" not in json.dumps(event.changes)


def test_okta_finds_a_person_by_username_in_any_case_and_a_taken_username_is_a_conflict(scim: Client) -> None:
    doc = create(scim)
    found = send(scim, "get", "/Users?filter=userName%20eq%20%22ANN@example.com%22").json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == doc["id"]
    assert send(scim, "get", "/Users?filter=userName%20eq%20%22bob@example.com%22").json()["totalResults"] == 0
    again = send(scim, "post", "/Users", okta_user("Ann@Example.com"))
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"


def test_entra_updates_with_capitalised_ops_and_paths(scim: Client) -> None:
    doc = create(scim)
    response = send(
        scim,
        "patch",
        f"/Users/{doc['id']}",
        patch(
            {"op": "Replace", "path": "name.familyName", "value": "Lee-Park"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "ann.park@example.com"},
            {"op": "Replace", "path": "userName", "value": "ann.park@example.com"},
            {
                "op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "value": "T&S",
            },
        ),
    )
    assert response.status_code == 200, response.content
    user = get_user_model().objects.get(pk=int(doc["id"]))
    assert (user.username, user.last_name, user.email) == ("ann.park@example.com", "Lee-Park", "ann.park@example.com")
    changed = events(AuditAction.ACCOUNT_UPDATED)[-1].changes
    assert changed["userName"] == ["ann@example.com", "ann.park@example.com"]


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "value": {"active": False}},  # Okta
        {"op": "Replace", "path": "active", "value": "False"},  # Entra ID
    ],
    ids=["okta", "entra"],
)
def test_deactivation_in_either_providers_style(scim: Client, operation: dict[str, Any]) -> None:
    doc = create(scim)
    response = send(scim, "patch", f"/Users/{doc['id']}", patch(operation))
    assert response.status_code == 200 and response.json()["active"] is False
    assert not get_user_model().objects.get(pk=int(doc["id"])).is_active
    assert events(AuditAction.ACCOUNT_DEACTIVATED)[-1].changes["user"] == "ann@example.com"


def test_put_replaces_the_person_and_can_reactivate(scim: Client) -> None:
    doc = create(scim)
    send(scim, "patch", f"/Users/{doc['id']}", patch({"op": "replace", "value": {"active": False}}))
    body = okta_user(name={"givenName": "Annie", "familyName": "Lee"}, active=True)
    response = send(scim, "put", f"/Users/{doc['id']}", body)
    assert response.status_code == 200 and response.json()["name"]["givenName"] == "Annie"
    assert get_user_model().objects.get(pk=int(doc["id"])).is_active
    assert events(AuditAction.ACCOUNT_REACTIVATED)[-1].changes["user"] == "ann@example.com"


def test_delete_deactivates_hides_and_a_new_create_brings_the_same_account_back(
    scim: Client, make_escalation: Any
) -> None:
    doc = create(scim)
    user = get_user_model().objects.get(pk=int(doc["id"]))
    user.groups.add(Group.objects.get_or_create(name="moderator")[0])
    esc = make_escalation(actor=user)
    assert send(scim, "delete", f"/Users/{doc['id']}").status_code == 204
    user.refresh_from_db()
    assert not user.is_active and not user.groups.exists()
    assert Escalation.objects.filter(pk=esc.pk, audit_events__actor=user).exists()  # the trail still names them
    gone = send(scim, "get", f"/Users/{doc['id']}")
    assert gone.status_code == 404 and gone.json()["schemas"] == [ERROR_SCHEMA]
    back = create(scim)
    assert back["id"] == doc["id"] and back["active"] is True


def test_a_superuser_is_out_of_the_providers_reach(scim: Client) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "a-long-password-1")
    assert send(scim, "get", f"/Users/{admin.pk}").status_code == 404
    assert send(scim, "post", "/Users", {**okta_user(), "userName": "root"}).status_code == 409
    listed = send(scim, "get", "/Users").json()
    assert str(admin.pk) not in [r["id"] for r in listed["Resources"]]


# --- Groups -----------------------------------------------------------------------------------------


def test_role_groups_are_listed_and_regrouping_changes_roles_with_an_audit_event(scim: Client) -> None:
    doc = create(scim)
    names = {g["displayName"]: g["id"] for g in send(scim, "get", "/Groups").json()["Resources"]}
    assert names == {"moderator": "role-moderator", "lead": "role-lead", "auditor": "role-auditor"}
    found = send(scim, "get", "/Groups?filter=displayName%20eq%20%22Lead%22").json()["Resources"]
    assert [g["id"] for g in found] == ["role-lead"]
    add = patch({"op": "add", "path": "members", "value": [{"value": doc["id"], "display": "ann"}]})
    assert send(scim, "patch", "/Groups/role-moderator", add).status_code == 200
    user = get_user_model().objects.get(pk=int(doc["id"]))
    assert list(user.groups.values_list("name", flat=True)) == ["moderator"]
    event = events(AuditAction.GROUPS_CHANGED)[-1]
    assert event.changes["added"] == ["moderator"] and event.via == "scim:Okta production"
    # Okta removes with a filter path; Entra ID with a value list. The role goes.
    remove = patch({"op": "remove", "path": f'members[value eq "{doc["id"]}"]'})
    assert send(scim, "patch", "/Groups/role-moderator", remove).status_code == 200
    assert not user.groups.exists()
    assert send(scim, "get", f"/Users/{doc['id']}").json()["groups"] == []


def test_a_pushed_group_becomes_a_team_and_role_groups_cannot_be_made_renamed_or_deleted(scim: Client) -> None:
    doc = create(scim)
    response = send(
        scim, "post", "/Groups", {"displayName": "EU queue", "externalId": "g-1", "members": [{"value": doc["id"]}]}
    )
    assert response.status_code == 201, response.content
    team = Team.objects.get(name="EU queue")
    assert response.json()["id"] == f"team-{team.pk}" and list(team.members.values_list("pk", flat=True)) == [
        int(doc["id"])
    ]
    renamed = send(scim, "patch", f"/Groups/team-{team.pk}", patch({"op": "replace", "value": {"displayName": "EU"}}))
    assert renamed.json()["displayName"] == "EU"
    assert send(scim, "post", "/Groups", {"displayName": "LEAD"}).status_code == 409
    refused = send(scim, "patch", "/Groups/role-lead", patch({"op": "replace", "path": "displayName", "value": "x"}))
    assert refused.status_code == 400 and refused.json()["scimType"] == "mutability"
    assert send(scim, "delete", "/Groups/role-lead").status_code == 400
    assert send(scim, "delete", f"/Groups/team-{team.pk}").status_code == 204
    assert not Team.objects.filter(pk=team.pk).exists()


def test_a_member_that_does_not_exist_is_refused_naming_it(scim: Client) -> None:
    response = send(
        scim, "patch", "/Groups/role-lead", patch({"op": "add", "path": "members", "value": [{"value": "99999"}]})
    )
    assert response.status_code == 400 and "99999" in response.json()["detail"]


# --- Deactivation takes effect on the next request --------------------------------------------------


def test_a_deactivated_persons_next_page_and_api_request_are_refused(
    scim: Client, client_for: Any, make_escalation: Any
) -> None:
    doc = create(scim)
    person = get_user_model().objects.get(pk=int(doc["id"]))
    person.groups.add(Group.objects.get_or_create(name="lead")[0])  # leads may make service tokens
    browser = client_for(person)
    assert browser.get("/escalations/mine/").status_code == 200
    _, raw = tokens.create_token(
        actor=person, name="pipeline", scope="read", expires_at=timezone.now() + timedelta(days=30)
    )
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    assert api.get("/api/v1/escalations/").status_code == 200

    send(scim, "patch", f"/Users/{doc['id']}", patch({"op": "replace", "path": "active", "value": False}))

    page = browser.get("/escalations/mine/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    assert api.get("/api/v1/escalations/").status_code in (401, 403)
    event = events(AuditAction.ACCOUNT_DEACTIVATED)[-1]
    assert event.changes["sessions_ended"] == 1 and event.changes["service_tokens_revoked"] == ["pipeline"]


def test_the_dashboard_lists_a_deactivated_persons_escalations_as_needing_reassignment(
    scim: Client, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    doc = create(scim)
    person = get_user_model().objects.get(pk=int(doc["id"]))
    person.groups.add(Group.objects.get_or_create(name="moderator")[0])
    mine = make_escalation(actor=person)
    assert mine.assignee == person
    make_escalation()  # someone else's, still active
    dashboard = client_for(lead).get("/dashboard/")
    assert "Needs reassignment" not in dashboard.content.decode()

    send(scim, "patch", f"/Users/{doc['id']}", patch({"op": "replace", "value": {"active": False}}))

    page = client_for(lead).get("/dashboard/")
    text = page.content.decode()
    assert "Needs reassignment: assignee deactivated" in text
    assert page.context["data"].current.needs_reassignment == 1
    assert [e.pk for e in page.context["data"].current.needs_reassignment_list] == [mine.pk]
    assert mine.key in text and "ann@example.com" in text


# --- The token, and what a bad request gets ---------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", ["", "Bearer esc_scim_wrong", "Bearer escscim_wrongwrongwrong", "Basic YWRtaW46YWRtaW4="]
)
def test_a_missing_or_wrong_token_gets_401_in_scims_format_and_is_audited(db: Any, authorization: str) -> None:
    client = Client(headers={"Authorization": authorization} if authorization else {})
    response = client.get(f"{BASE}/Users")
    assert response.status_code == 401 and response["Content-Type"] == SCIM_JSON
    assert response.json()["schemas"] == [ERROR_SCHEMA] and response.json()["status"] == "401"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert events(AuditAction.SCIM_TOKEN_REFUSED)[-1].changes["path"] == "/scim/v2/Users"


def test_a_revoked_token_stops_working_and_the_secret_is_stored_only_as_a_hash(db: Any) -> None:
    token, raw = scim_tokens.create_token(actor=None, name="Entra")
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get(f"{BASE}/Users").status_code == 200
    assert raw not in str(list(ScimToken.objects.values())) and token.prefix == raw[:14]
    scim_tokens.revoke_token(actor=None, token=token)
    assert client.get(f"{BASE}/Users").status_code == 401


def test_createscimtoken_prints_the_token_once(db: Any) -> None:
    out = StringIO()
    call_command("createscimtoken", "Okta staging", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    assert raw.startswith("escscim_") and scim_tokens.authenticate(f"Bearer {raw}") is not None
    assert events(AuditAction.SCIM_TOKEN_CREATED)[-1].changes == {"token": "Okta staging", "prefix": raw[:14]}


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ("{not json", "invalidSyntax"),
        ("[1, 2]", "invalidSyntax"),
        (b"\xff\xfe", "invalidSyntax"),
        ({"userName": ""}, "invalidValue"),
        ({"userName": "a b"}, "invalidValue"),
        ({"userName": "ann", "emails": [{"value": "not-an-email"}]}, "invalidValue"),
        ({"userName": "ann", "active": "maybe"}, "invalidValue"),
        ({"userName": "ann", "name": "Ann"}, "invalidValue"),
    ],
)
def test_bad_bodies_get_400_with_a_scim_type_never_a_500(scim: Client, body: Any, scim_type: str) -> None:
    response = send(scim, "post", "/Users", body)
    assert response.status_code == 400, response.content
    assert response.json()["scimType"] == scim_type and response.json()["schemas"] == [ERROR_SCHEMA]


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        ("nope", "invalidSyntax"),
        ([{"op": "move", "path": "active", "value": False}], "invalidSyntax"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "replace", "path": "nickName[", "value": 1}], "invalidPath"),
        ([{"op": "replace", "path": "active", "value": "Nope"}], "invalidValue"),
    ],
)
def test_bad_patches_are_refused_naming_the_problem(scim: Client, operations: Any, scim_type: str) -> None:
    doc = create(scim)
    response = send(scim, "patch", f"/Users/{doc['id']}", {"schemas": [PATCH_SCHEMA], "Operations": operations})
    assert response.status_code == 400 and response.json()["scimType"] == scim_type


def test_unsupported_filters_are_invalid_filter(scim: Client) -> None:
    response = send(scim, "get", "/Users?filter=userName%20co%20%22ann%22")
    assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"


def test_scim_needs_no_csrf_token_but_keeps_the_security_headers(db: Any) -> None:
    _, raw = scim_tokens.create_token(actor=None, name="csrf check")
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})
    response = client.post(f"{BASE}/Users", data=json.dumps(okta_user()), content_type=SCIM_JSON)
    assert response.status_code == 201
    assert response["X-Content-Type-Options"] == "nosniff" and "no-store" in response["Cache-Control"]
    # Everywhere else a POST without the CSRF token is still refused, a signed-in person's included.
    person = get_user_model().objects.get(username="ann@example.com")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(person)
    assert strict.post("/accounts/logout/", "", content_type="application/x-www-form-urlencoded").status_code == 403


def test_discovery_endpoints_describe_what_we_serve(scim: Client) -> None:
    config = send(scim, "get", "/ServiceProviderConfig").json()
    assert config["patch"]["supported"] and config["filter"]["supported"] and not config["bulk"]["supported"]
    types = [t["id"] for t in send(scim, "get", "/ResourceTypes").json()["Resources"]]
    assert types == ["User", "Group"]
    user_schema = send(scim, "get", f"/Schemas/{USER_SCHEMA}").json()
    assert [a["name"] for a in user_schema["attributes"]] == [
        "userName",
        "name",
        "displayName",
        "active",
        "emails",
        "groups",
    ]
    assert send(scim, "get", "/Nope").status_code == 404


def test_a_superuser_makes_a_token_in_the_admin_and_sees_it_once(admin_user: Any, lead: Any, client_for: Any) -> None:
    admin = client_for(admin_user)
    page = admin.post("/admin/escalations/scimtoken/add/", {"name": "Entra production"})
    assert page.status_code == 200
    text = page.content.decode()
    raw = text.split('readonly value="', 1)[1].split('"', 1)[0]
    assert raw.startswith("escscim_") and scim_tokens.authenticate(f"Bearer {raw}") is not None
    listing = admin.get("/admin/escalations/scimtoken/").content.decode()
    assert "Entra production" in listing and raw not in listing
    assert events(AuditAction.SCIM_TOKEN_CREATED)[-1].actor == admin_user
    # A lead made staff still may not: SCIM tokens are for superusers.
    lead.is_staff = True
    lead.save()
    staff = client_for(lead)
    assert staff.post("/admin/escalations/scimtoken/add/", {"name": "x"}).status_code in (302, 403)
    assert not ScimToken.objects.filter(name="x").exists()


def test_the_dashboards_queries_do_not_grow_with_the_escalations_needing_reassignment(
    scim: Client, make_escalation: Any
) -> None:
    def count() -> tuple[int, int]:
        now = timezone.now()
        with CaptureQueriesContext(connection) as ctx:
            # The period's figures counted every time (no snapshot given).
            data = dashboard.build(dashboard.Period.last_days(30, now, UTC), now, 24.0)
        return len(ctx.captured_queries), data.current.needs_reassignment

    doc = create(scim)
    person = get_user_model().objects.get(pk=int(doc["id"]))
    person.groups.add(Group.objects.get_or_create(name="moderator")[0])
    make_escalation(actor=person)
    none_yet, _ = count()
    send(scim, "patch", f"/Users/{doc['id']}", patch({"op": "replace", "value": {"active": False}}))
    one, listed = count()
    assert listed == 1 and one == none_yet + 1  # the list of them, only while there are some
    person.is_active = True
    person.save()
    for _ in range(5):
        make_escalation(actor=person)
    person.is_active = False
    person.save()
    six, listed = count()
    assert listed == 6 and six == one
