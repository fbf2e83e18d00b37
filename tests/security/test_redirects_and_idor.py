"""Classics: open redirects through `next=` after signing in, and other people's records
named in URLs (IDOR) for every role, with and without RESTRICT_MODERATORS_TO_ASSIGNED."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.utils import timezone

from escalations.accounts import tokens
from escalations.legal import services as legal_services
from escalations.models import AccessLog, Notification, SavedView, ServiceToken
from tests.conftest import FormClient

LOGIN = "/accounts/login/"
HOME = "/escalations/mine/"
HOSTILE_NEXT = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https:evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "\t//evil.example",
    "//evil.example%2f%2e%2e",
    "https://testserver.evil.example/",
    "https://evil.example@testserver/",
    "http://127.0.0.1:8000@evil.example/",
]


def _stays_here(location: str) -> bool:
    parts = urlsplit(location)
    return (
        not parts.scheme
        and not parts.netloc
        and location.startswith("/")
        and not location.startswith(("//", "/\\"))
        and "\\" not in location
    )


@pytest.mark.parametrize("target", HOSTILE_NEXT)
@pytest.mark.parametrize("where", ["query", "form"])
def test_sign_in_never_redirects_off_site(target: str, where: str, moderator: Any) -> None:
    client = FormClient()
    data = {"username": "mod", "password": "correct-horse-battery"}
    if where == "form":
        response = client.post(LOGIN, {**data, "next": target})
    else:
        response = client.post(f"{LOGIN}?{urlencode({'next': target})}", data)
    assert response.status_code == 302
    assert response["Location"] == HOME, response["Location"]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_signed_in_visit_to_sign_in_never_redirects_off_site(target: str, client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).get(f"{LOGIN}?{urlencode({'next': target})}")
    assert response.status_code == 302
    assert _stays_here(response["Location"]), response["Location"]


def test_a_local_next_is_followed(moderator: Any) -> None:
    response = FormClient().post(f"{LOGIN}?next=/help/", {"username": "mod", "password": "correct-horse-battery"})
    assert response["Location"] == "/help/"


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_sign_in_page_renders_next_inert(target: str, db: Any) -> None:
    page = FormClient().get(f"{LOGIN}?{urlencode({'next': target})}").content.decode()
    assert "<script>alert(1)" not in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example"])
def test_logout_never_redirects_off_site(target: str, client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).post(f"/accounts/logout/?{urlencode({'next': target})}")
    assert response.status_code == 302
    assert _stays_here(response["Location"]), response["Location"]


# --- IDOR: other people's records ------------------------------------------------------------------

ROLES = ("nobody", "moderator", "lead", "auditor")


@pytest.fixture
def others(make_user: Any, lead: Any, make_escalation: Any) -> dict[str, Any]:
    """Records that belong to someone else (another lead, "owner")."""
    owner = make_user("owner", "lead")
    esc = make_escalation(actor=owner)
    request = legal_services.create_legal_request(
        actor=owner,
        data={
            "kind": "2703f_preservation",
            "agency": "Springfield Police Department",
            "reference": "SPD-1",
            "received_at": timezone.now() - timedelta(hours=1),
            "escalations": [esc.pk],
        },
    )
    notification = Notification.objects.create(user=owner, title="Theirs", created_at=timezone.now(), escalation=esc)
    saved = SavedView.objects.create(user=owner, name="Theirs", query="status=open")
    token, _secret = tokens.create_token(
        actor=owner, name="theirs", scope="read", expires_at=timezone.now() + timedelta(days=30)
    )
    return {
        "owner": owner,
        "esc": esc,
        "request": request,
        "notification": notification,
        "saved": saved,
        "token": token,
    }


@pytest.mark.parametrize("role", ROLES)
def test_someone_elses_notification_is_not_found(role: str, request: Any, client_for: Any, others: Any) -> None:
    client = client_for(request.getfixturevalue(role))
    pk = others["notification"].pk
    assert client.post(f"/notifications/{pk}/read/").status_code == 404
    assert client.post(f"/notifications/{pk}/open/").status_code == 404
    assert Notification.objects.get(pk=pk).read_at is None
    assert "Theirs" not in client.get("/notifications/").content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_someone_elses_saved_view_is_not_found(role: str, request: Any, client_for: Any, others: Any) -> None:
    client = client_for(request.getfixturevalue(role))
    expected = 403 if role == "nobody" else 404
    assert client.post(f"/saved-views/{others['saved'].pk}/delete/").status_code == expected
    assert SavedView.objects.filter(pk=others["saved"].pk).exists()


@pytest.mark.parametrize(("role", "expected"), [("nobody", 403), ("moderator", 403), ("auditor", 403), ("lead", 302)])
def test_tokens_only_leads_revoke_any(role: str, expected: int, request: Any, client_for: Any, others: Any) -> None:
    """The matrix: leads manage every service token (one lead may revoke another's leaked token)."""
    client = client_for(request.getfixturevalue(role))
    assert client.post(f"/tokens/{others['token'].pk}/revoke/").status_code == expected
    revoked = ServiceToken.objects.get(pk=others["token"].pk).revoked_at is not None
    assert revoked == (expected == 302)
    assert client.post("/tokens/999999/revoke/").status_code == (404 if role == "lead" else 403)


@pytest.mark.parametrize(("role", "expected"), [("nobody", 403), ("moderator", 403), ("auditor", 200), ("lead", 200)])
def test_legal_requests_by_role(role: str, expected: int, request: Any, client_for: Any, others: Any) -> None:
    legal = others["request"]
    client = client_for(request.getfixturevalue(role))
    assert client.get(f"/legal-requests/{legal.pk}/").status_code == expected
    assert client.get("/legal-requests/999999/").status_code == (404 if expected == 200 else 403)


@pytest.mark.parametrize("role", ["moderator", "lead", "auditor"])
def test_unrestricted_every_role_reads_others_escalations(
    role: str, request: Any, client_for: Any, others: Any, settings: Any
) -> None:
    settings.RESTRICT_MODERATORS_TO_ASSIGNED = False
    client = client_for(request.getfixturevalue(role))
    esc = others["esc"]
    assert client.get(f"/escalations/{esc.pk}/").status_code == 200
    assert client.get(f"/api/v1/escalations/{esc.pk}/").status_code == 200
    assert esc.key in client.get("/escalations/").content.decode()


# --- RESTRICT_MODERATORS_TO_ASSIGNED ----------------------------------------------------------------


@pytest.fixture
def restricted(settings: Any) -> None:
    settings.RESTRICT_MODERATORS_TO_ASSIGNED = True


ESCALATION_URLS = ["", "edit/", "report/", "preservation/", "evidence/", "destinations/"]


@pytest.mark.parametrize("suffix", ESCALATION_URLS)
def test_restricted_moderator_gets_404_for_someone_elses_escalation(
    suffix: str, restricted: None, client_for: Any, moderator: Any, others: Any
) -> None:
    client = client_for(moderator)
    esc = others["esc"]
    assert client.get(f"/escalations/{esc.pk}/{suffix}").status_code == 404
    if suffix:
        assert client.post(f"/escalations/{esc.pk}/{suffix}", {"version": esc.version}).status_code == 404
    assert not AccessLog.objects.exists()


def test_restricted_moderator_audit_csv_is_refused(
    restricted: None, client_for: Any, moderator: Any, others: Any
) -> None:
    """Exports are for leads and auditors, so the role check answers first (403): nothing leaks."""
    response = client_for(moderator).get(f"/escalations/{others['esc'].pk}/audit.csv")
    assert response.status_code in (403, 404)
    assert not AccessLog.objects.exists()


def test_restricted_moderator_api(restricted: None, client_for: Any, moderator: Any, others: Any) -> None:
    client = client_for(moderator)
    esc = others["esc"]
    assert client.get(f"/api/v1/escalations/{esc.pk}/").status_code == 404
    assert client.get(f"/api/v1/escalations/{esc.pk}/audit-events/").status_code == 404
    assert client.get(f"/api/v1/escalations/{esc.pk}/reminders/").status_code == 404
    listed = client.get("/api/v1/escalations/").json()
    assert esc.pk not in [row.get("id") for row in listed["results"]]
    assert esc.key not in str(listed)
    response = client.post(
        f"/api/v1/escalations/{esc.pk}/report/",
        {"reported_at": timezone.now().isoformat(), "cybertipline_report_id": "4564655", "version": esc.version},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert not type(esc).objects.filter(pk=esc.pk, reported_at__isnull=False).exists()


def test_restricted_moderator_reads_own_and_assigned(
    restricted: None, client_for: Any, moderator: Any, others: Any, make_escalation: Any, lead: Any
) -> None:
    from escalations.core import services

    own = make_escalation(actor=moderator)
    given = services.assign_escalation(actor=lead, escalation_id=others["esc"].pk, version=None, assignee=moderator)
    client = client_for(moderator)
    for esc in (own, given):
        assert client.get(f"/escalations/{esc.pk}/").status_code == 200
        assert client.get(f"/escalations/{esc.pk}/edit/").status_code == 200
        assert client.get(f"/api/v1/escalations/{esc.pk}/").status_code == 200
    page = client.get("/escalations/").content.decode()
    assert own.key in page and given.key in page


def test_restricted_list_and_related_hide_others(
    restricted: None, client_for: Any, moderator: Any, others: Any, make_escalation: Any
) -> None:
    theirs = others["esc"]
    # Same platform reference as theirs: the detail page's "related" must not name it.
    mine = make_escalation(actor=moderator, platform_reference=theirs.platform_reference)
    client = client_for(moderator)
    assert theirs.key not in client.get("/escalations/").content.decode()
    assert theirs.key not in client.get(f"/escalations/{mine.pk}/").content.decode()
    assert theirs.key not in client.get("/escalations/mine/").content.decode()


@pytest.mark.parametrize("role", ["lead", "auditor"])
def test_restriction_leaves_leads_and_auditors_alone(
    role: str, restricted: None, request: Any, client_for: Any, others: Any
) -> None:
    client = client_for(request.getfixturevalue(role))
    esc = others["esc"]
    assert client.get(f"/escalations/{esc.pk}/").status_code == 200
    assert client.get(f"/api/v1/escalations/{esc.pk}/").status_code == 200
    assert esc.key in client.get("/escalations/").content.decode()
    assert client.get("/escalations/?_export=csv").status_code == 200


def test_moderator_who_is_also_a_lead_is_not_restricted(
    restricted: None, make_user: Any, client_for: Any, others: Any
) -> None:
    both = make_user("both", "moderator", "lead")
    assert client_for(both).get(f"/escalations/{others['esc'].pk}/").status_code == 200


# --- teams: a restricted moderator also reads what is assigned to their teammates ------------------


@pytest.fixture
def team_work(make_user: Any, moderator: Any, lead: Any, make_escalation: Any) -> dict[str, Any]:
    from escalations.core import services
    from escalations.models import Team

    mate, stranger = make_user("mate", "moderator"), make_user("stranger", "moderator")
    Team.objects.create(name="Day shift").members.add(moderator, mate)
    Team.objects.create(name="Night shift").members.add(stranger)
    made = {}
    for name, person in (("mate", mate), ("stranger", stranger)):
        esc = make_escalation(actor=lead, platform_reference=f"ticket-{name}")
        made[name] = services.assign_escalation(actor=lead, escalation_id=esc.pk, version=None, assignee=person)
    made["unassigned"] = make_escalation(actor=lead, platform_reference="ticket-nobody")
    return made


def test_restricted_moderator_reads_a_teammates_escalations_only(
    restricted: None, client_for: Any, moderator: Any, team_work: dict[str, Any]
) -> None:
    client = client_for(moderator)
    teammate, stranger, unassigned = team_work["mate"], team_work["stranger"], team_work["unassigned"]
    assert client.get(f"/escalations/{teammate.pk}/").status_code == 200
    assert client.get(f"/api/v1/escalations/{teammate.pk}/").status_code == 200
    for hidden in (stranger, unassigned):
        assert client.get(f"/escalations/{hidden.pk}/").status_code == 404
        assert client.get(f"/api/v1/escalations/{hidden.pk}/").status_code == 404
    listed = client.get("/escalations/").content.decode()
    assert teammate.key in listed
    assert stranger.key not in listed and unassigned.key not in listed
    api_ids = [row["id"] for row in client.get("/api/v1/escalations/").json()["results"]]
    assert teammate.pk in api_ids and stranger.pk not in api_ids
    # My queue stays the person's own: a teammate's escalation is readable, not theirs to work.
    assert teammate.key not in client.get("/escalations/mine/").content.decode()


def test_leaving_the_team_ends_the_access(
    restricted: None, client_for: Any, moderator: Any, team_work: dict[str, Any]
) -> None:
    from escalations.models import Team

    client = client_for(moderator)
    teammate = team_work["mate"]
    assert client.get(f"/escalations/{teammate.pk}/").status_code == 200
    Team.objects.get(name="Day shift").members.remove(moderator)
    assert client.get(f"/escalations/{teammate.pk}/").status_code == 404


def test_teams_change_nothing_when_unrestricted(
    client_for: Any, moderator: Any, team_work: dict[str, Any], settings: Any
) -> None:
    settings.RESTRICT_MODERATORS_TO_ASSIGNED = False
    client = client_for(moderator)
    for name in ("mate", "stranger", "unassigned"):
        assert client.get(f"/escalations/{team_work[name].pk}/").status_code == 200


def test_an_admin_keeps_the_teams_in_the_admin(make_user: Any, client_for: Any, moderator: Any) -> None:
    from escalations.models import Team

    admin_user = make_user("boss")
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = client_for(admin_user)
    response = client.post("/admin/escalations/team/add/", {"name": "Weekend", "members": [moderator.pk]})
    assert response.status_code == 302, response.content.decode()[:500]
    assert list(Team.objects.get(name="Weekend").members.all()) == [moderator]
    # A moderator is not staff: the admin refuses them (a 403 page that links home), and changes nothing.
    assert client_for(moderator).get("/admin/escalations/team/").status_code == 403
    assert client_for(moderator).post("/admin/escalations/team/add/", {"name": "Mine"}).status_code == 403
    assert not Team.objects.filter(name="Mine").exists()
