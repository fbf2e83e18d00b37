"""Who may open and post each page. The table below is the contract: a change in access anywhere
shows up here as a failing case, never as a silent widening."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from escalations.core import services
from escalations.legal import services as legal_services
from escalations.models import (
    AccessLog,
    AuditAction,
    AuditEvent,
    Destination,
    Escalation,
    IncidentType,
    LegalRequest,
    Notification,
    Priority,
    SavedView,
    Status,
    UserProfile,
)
from escalations.reminders import sweep as reminders
from tests.conftest import FormClient

ROLES = ("anonymous", "nobody", "moderator", "lead", "auditor")
ROLE_FIXTURES = {"nobody": "nobody", "moderator": "moderator", "lead": "lead", "auditor": "auditor"}

LOGIN = "login"  # expected: 302 to /accounts/login/?next=<the page>
OK = 200
DONE = 302  # a POST that worked: redirected to the detail (or profile, or notifications) page
DENIED = 403

# (page, method) -> expected outcome for (anonymous, nobody, moderator, lead, auditor).
EXPECTED: dict[tuple[str, str], tuple[Any, ...]] = {
    ("login", "GET"): (OK, 302, 302, 302, 302),  # signed-in people are sent on
    ("list", "GET"): (LOGIN, DENIED, OK, OK, OK),
    ("mine", "GET"): (LOGIN, DENIED, OK, OK, OK),
    ("detail", "GET"): (LOGIN, DENIED, OK, OK, OK),
    ("create", "GET"): (LOGIN, DENIED, OK, OK, DENIED),
    ("edit", "GET"): (LOGIN, DENIED, OK, OK, DENIED),
    ("report", "GET"): (LOGIN, DENIED, OK, OK, DENIED),
    ("preservation", "GET"): (LOGIN, DENIED, OK, OK, DENIED),
    ("assign", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("dismiss", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("close", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("reopen", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("profile", "GET"): (LOGIN, OK, OK, OK, OK),
    ("create", "POST"): (LOGIN, DENIED, DONE, DONE, DENIED),
    ("edit", "POST"): (LOGIN, DENIED, DONE, DONE, DENIED),
    ("report", "POST"): (LOGIN, DENIED, DONE, DONE, DENIED),
    ("preservation", "POST"): (LOGIN, DENIED, DONE, DONE, DENIED),
    ("assign", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("dismiss", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("close", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("reopen", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("profile", "POST"): (LOGIN, DONE, DONE, DONE, DONE),
    # Everyone signed in, role or not, has their own inbox and may test their own channels.
    ("notifications", "GET"): (LOGIN, OK, OK, OK, OK),
    ("notifications-read-all", "POST"): (LOGIN, DONE, DONE, DONE, DONE),
    ("notification-read", "POST"): (LOGIN, DONE, DONE, DONE, DONE),
    ("profile-test", "POST"): (LOGIN, DONE, DONE, DONE, DONE),
    # Monitoring asks without signing in.
    ("healthz", "GET"): (OK, OK, OK, OK, OK),
    # Breach reasons: only leads amend them.
    ("breach", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("breach", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    # Exports (each one audited): leads and auditors.
    ("list-export-csv", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    ("list-export-xlsx", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    ("mine-export-csv", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    ("mine-export-xlsx", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    ("compliance", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    ("compliance-export", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    ("audit-csv", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    # Saved views: everyone with a role keeps their own.
    ("saved-views", "POST"): (LOGIN, DENIED, DONE, DONE, DONE),
    ("saved-view-delete", "POST"): (LOGIN, DENIED, DONE, DONE, DONE),
    # Bulk actions: leads assign; leads and auditors export the selected rows.
    ("bulk-assign", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("bulk-export", "POST"): (LOGIN, DENIED, DENIED, OK, OK),
    # Law-enforcement requests: leads record and change them, auditors read them.
    ("legal-list", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    ("legal-new", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("legal-new", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("legal-detail", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
    ("legal-respond", "GET"): (LOGIN, DENIED, DENIED, 302, DENIED),  # to the request's page
    ("legal-respond", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("legal-close", "GET"): (LOGIN, DENIED, DENIED, 302, DENIED),
    ("legal-close", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    # Preservation beyond the rules and the release of evidence: leads only.
    ("extend", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("extend", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("release", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("release", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    ("release-approve", "GET"): (LOGIN, DENIED, DENIED, OK, DENIED),
    ("release-approve", "POST"): (LOGIN, DENIED, DENIED, DONE, DENIED),
    # Evidence items and destination reports: moderators and leads.
    ("evidence", "GET"): (LOGIN, DENIED, OK, OK, DENIED),
    ("evidence", "POST"): (LOGIN, DENIED, DONE, DONE, DENIED),
    ("destinations", "GET"): (LOGIN, DENIED, OK, OK, DENIED),
    ("destinations", "POST"): (LOGIN, DENIED, DONE, DONE, DENIED),
    # What to do and never do, and where to get help: everyone signed in, role or not.
    ("help", "GET"): (LOGIN, OK, OK, OK, OK),
    # Who read what (need-to-know): auditors and leads.
    ("access-log", "GET"): (LOGIN, DENIED, DENIED, OK, OK),
}

CASES = [
    pytest.param(page, method, role, codes[i], id=f"{method}-{page}-{role}")
    for (page, method), codes in EXPECTED.items()
    for i, role in enumerate(ROLES)
]

# Pages whose URL names an escalation.
ESCALATION_PAGES = {
    "detail",
    "edit",
    "report",
    "preservation",
    "assign",
    "dismiss",
    "close",
    "reopen",
    "breach",
    "extend",
    "release",
    "release-approve",
    "evidence",
    "destinations",
}
# Law-enforcement request pages; all but the list and the new form name a request about one escalation.
LEGAL_PAGES = {"legal-list", "legal-new", "legal-detail", "legal-respond", "legal-close"}
LEGAL_REQUEST_PAGES = {"legal-detail", "legal-respond", "legal-close"}
# Downloads: each permitted one writes one "exported" audit event, a refused one none.
EXPORT_PAGES = {
    "list-export-csv",
    "list-export-xlsx",
    "mine-export-csv",
    "mine-export-xlsx",
    "compliance-export",
    "audit-csv",
    "bulk-export",
}
# Pages that act on escalations picked in the list (the POST names them).
BULK_PAGES = {"bulk-assign", "bulk-export"}
SAVED_VIEW_PAGES = {"saved-views", "saved-view-delete"}
REPORT_PAGES = {"compliance", "compliance-export"}
TABLE_EXPORTS = {
    "list-export-csv": "/escalations/?_export=csv",
    "list-export-xlsx": "/escalations/?_export=xlsx",
    "mine-export-csv": "/escalations/mine/?_export=csv",
    "mine-export-xlsx": "/escalations/mine/?_export=xlsx",
    "compliance": "/reports/compliance/",
    "compliance-export": "/reports/compliance/?_export=csv",
}
# Pages about the signed-in person's own notifications and channels, and the health check.
NOTIFICATION_PAGES = {"notifications", "notifications-read-all", "notification-read", "profile-test", "healthz"}


def _local(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _target(page: str, make_escalation: Any, lead: Any) -> Escalation | None:
    """An escalation in a status where `page`'s action is allowed, so a permitted POST succeeds."""
    now = timezone.now()
    if page in ("close", "release"):
        # Reported more than a year ago: the preservation period is over.
        return make_escalation(knowledge_at=now - timedelta(days=400), reported_at=now - timedelta(days=370))
    if page == "release-approve":
        # Release requested by another lead: the one signed in may approve it.
        esc = make_escalation(knowledge_at=now - timedelta(days=400), reported_at=now - timedelta(days=370))
        other = get_user_model().objects.create_user(username="other-lead")
        other.groups.add(Group.objects.get_or_create(name="lead")[0])
        return legal_services.request_release(actor=other, escalation_id=esc.pk, version=esc.version, reason="Over.")
    if page in ("extend", "evidence", "destinations"):
        return make_escalation(knowledge_at=now - timedelta(hours=3), reported_at=now - timedelta(hours=2))
    if page in LEGAL_REQUEST_PAGES:
        esc = make_escalation()
        legal_services.create_legal_request(
            actor=lead,
            data={
                "kind": "2703f_preservation",
                "agency": "Springfield Police Department",
                "reference": "SPD-1",
                "received_at": now - timedelta(hours=1),
                "escalations": [esc.pk],
            },
        )
        return Escalation.objects.get(pk=esc.pk)
    if page == "legal-new":
        return make_escalation()
    if page == "reopen":
        esc = make_escalation()
        return services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, reason="Not CSAM.")
    if page == "breach":
        # Reported a day after its 24-hour target: a breach with a reason to amend.
        return make_escalation(
            knowledge_at=now - timedelta(days=3), reported_at=now - timedelta(days=1), breach_reason="volume"
        )
    if page in ESCALATION_PAGES | BULK_PAGES | {"audit-csv"} | set(TABLE_EXPORTS):
        return make_escalation()
    return None


def _saved_view(page: str, owner: Any) -> SavedView | None:
    """The saved view the delete page names: the signed-in user's own (for anonymous, a lead's)."""
    if page != "saved-view-delete":
        return None
    return SavedView.objects.create(user=owner, name="Open ones", query="status=open")


def _inbox(page: str, owner: Any) -> Notification | None:
    """Two unread notifications for `owner` (the signed-in user, or for anonymous someone else); the
    first is the one the mark-read page names. /healthz gets a fresh sweep so that it answers 200."""
    if page == "healthz":
        reminders.sweep()
    if page not in ("notifications", "notifications-read-all", "notification-read"):
        return None
    now = timezone.now()
    first = Notification.objects.create(user=owner, title="First", created_at=now)
    Notification.objects.create(user=owner, title="Second", created_at=now)
    return first


def _path(
    page: str, esc: Escalation | None, notification: Notification | None = None, saved: SavedView | None = None
) -> str:
    if page in TABLE_EXPORTS:
        return TABLE_EXPORTS[page]
    if page == "audit-csv":
        assert esc is not None
        return f"/escalations/{esc.pk}/audit.csv"
    if page in BULK_PAGES:
        return "/escalations/bulk/"
    if page == "saved-views":
        return "/saved-views/"
    if page == "saved-view-delete":
        assert saved is not None
        return f"/saved-views/{saved.pk}/delete/"
    if page == "login":
        return "/accounts/login/"
    if page == "notifications":
        return "/notifications/"
    if page == "notifications-read-all":
        return "/notifications/read-all/"
    if page == "notification-read":
        assert notification is not None
        return f"/notifications/{notification.pk}/read/"
    if page == "profile-test":
        return "/accounts/profile/test/in_app/"
    if page == "healthz":
        return "/healthz"
    if page == "help":
        return "/help/"
    if page == "access-log":
        return "/access-log/"
    if page == "legal-list":
        return "/legal-requests/"
    if page == "legal-new":
        return "/legal-requests/new/"
    if page in LEGAL_REQUEST_PAGES:
        request = LegalRequest.objects.get(escalations=esc)
        return f"/legal-requests/{request.pk}/" + {"legal-detail": "", "legal-respond": "respond/"}.get(page, "close/")
    if page == "release-approve":
        assert esc is not None
        return f"/escalations/{esc.pk}/release/approve/"
    if page == "profile":
        return "/accounts/profile/"
    if page == "list":
        return "/escalations/"
    if page == "mine":
        return "/escalations/mine/"
    if page == "create":
        return "/escalations/new/"
    assert esc is not None
    return f"/escalations/{esc.pk}/" + ("" if page == "detail" else f"{page}/")


def _post_data(page: str, esc: Escalation | None, moderator: Any, lead: Any = None) -> dict[str, Any]:
    now = timezone.now()
    if page == "saved-views":
        return {"name": "Urgent ones", "query": "priority=urgent&page=2"}
    if page == "saved-view-delete":
        return {}
    if page in BULK_PAGES:
        assert esc is not None
        return {"action": page.removeprefix("bulk-"), "ids": [esc.pk], "assignee": lead.pk, "query": "status=open"}
    facts = {
        "platform_reference": "ticket-matrix-1",
        "incident_type": IncidentType.ONLINE_ENTICEMENT,
        "priority": Priority.STANDARD,
        "urgent_reason": "",
        "knowledge_at": _local(now - timedelta(hours=2)),
        "notes": "",
    }
    if page == "create":
        return facts
    if page == "profile":
        return {"time_zone": "Europe/Berlin"}
    if page in NOTIFICATION_PAGES | {"help", "legal-list"}:
        return {}
    assert esc is not None
    if page == "legal-new":
        return {
            "kind": "2703f_preservation",
            "agency": "Springfield Police Department",
            "reference": "SPD-2",
            "received_at": _local(now - timedelta(hours=1)),
            "escalations": esc.key,
        }
    if page in LEGAL_REQUEST_PAGES:
        request = LegalRequest.objects.get(escalations=esc)
        return {"version": request.version, "responded_at": "", "reason": "Withdrawn by the agency."}
    data: dict[str, Any] = {"version": esc.version}
    if page == "edit":
        data.update(facts)
    elif page == "report":
        data.update(reported_at=_local(now - timedelta(minutes=10)), cybertipline_report_id="7654321")
    elif page == "preservation":
        data.update(preservation_location="evidence-store/case/77")
    elif page == "breach":
        data.update(breach_reason="other", breach_note="The night shift was one person short.")
    elif page == "assign":
        data.update(assignee=moderator.pk)
    elif page == "extend":
        data.update(until=_local(now + timedelta(days=800)), reason="Counsel asked to keep it.")
    elif page == "release":
        data.update(reason="Preservation over; no request open.")
    elif page == "evidence":
        data.update(
            reference="evidence-store://case/77/1",
            hash_algorithm="sha256",
            digest="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            size_bytes="1024",
        )
    elif page == "destinations":
        data.update(
            destination=Destination.objects.get(code="ca_police").pk,
            reported_at=_local(now - timedelta(minutes=30)),
            report_id="RCMP-77",
        )
    elif page in ("dismiss", "close", "reopen"):
        data.update(reason="Reviewed by the team.")
        if page == "close":
            data.update(retained="on")  # kept voluntarily: no release was requested in this setup
    return data


def _state(esc: Escalation | None) -> tuple[int, int, int, int, int, int]:
    """What a refused POST must leave untouched: escalations, audit events, the target's version,
    notifications, unread notifications and saved views."""
    version = Escalation.objects.get(pk=esc.pk).version if esc else 0
    return (
        Escalation.objects.count(),
        AuditEvent.objects.count(),
        version,
        Notification.objects.count(),
        Notification.objects.filter(read_at__isnull=True).count(),
        SavedView.objects.count(),
    )


@pytest.mark.parametrize(("page", "method", "role", "expected"), CASES)
def test_permission_matrix(
    page: str, method: str, role: str, expected: Any, request: Any, make_escalation: Any, lead: Any, moderator: Any
) -> None:
    esc = _target(page, make_escalation, lead)
    user = request.getfixturevalue(ROLE_FIXTURES[role]) if role in ROLE_FIXTURES else None
    client = FormClient()
    if user is not None:
        client.force_login(user)
    notification = _inbox(page, user or lead)
    saved = _saved_view(page, user or lead)
    path = _path(page, esc, notification, saved)
    before = _state(esc)
    exported_before = AuditEvent.objects.filter(action=AuditAction.EXPORTED).count()
    accessed_before = AccessLog.objects.count()

    response = client.get(path) if method == "GET" else client.post(path, _post_data(page, esc, moderator, lead))
    streamed = getattr(response, "streaming_content", None)
    if streamed is not None:
        b"".join(streamed)

    if page in EXPORT_PAGES:
        exported = AuditEvent.objects.filter(action=AuditAction.EXPORTED).count() - exported_before
        assert exported == (1 if expected == OK else 0), "a download is audited; a refused one writes nothing"
        accessed = list(AccessLog.objects.order_by("pk")[accessed_before:].values_list("kind", "user"))
        assert accessed == ([("exported", user.pk)] if expected == OK and user else []), "and in the access log"
    elif page == "detail":
        viewed = list(AccessLog.objects.order_by("pk")[accessed_before:].values_list("kind", "user", "escalation"))
        assert esc is not None
        assert viewed == ([("viewed", user.pk, esc.pk)] if expected == OK and user else []), "a read is logged"

    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={quote(path, safe='/')}"
    else:
        assert response.status_code == expected, response.content.decode()[:2000]

    if method == "POST":
        after = _state(esc)
        if page == "bulk-export" and expected == OK:
            assert response["Content-Type"] == "text/csv; charset=utf-8"
            assert after[1] == before[1] + 1 and after[2] == before[2], "an export changes no escalation"
        elif expected == DONE:
            if page == "saved-views":
                assert user is not None
                assert response["Location"] == "/escalations/?priority=urgent"
                assert list(SavedView.objects.values_list("user", "name")) == [(user.pk, "Urgent ones")]
                assert after[1] == before[1], "saving a view changes no escalation"
            elif page == "saved-view-delete":
                assert response["Location"] == "/escalations/"
                assert not SavedView.objects.exists()
            elif page == "bulk-assign":
                assert esc is not None
                assert response["Location"] == "/escalations/?status=open"
                assert Escalation.objects.get(pk=esc.pk).assignee == lead
                assert after[1] == before[1] + 1, "each assignment writes exactly one audit event"
            elif page == "profile":
                assert response["Location"] == "/accounts/profile/"
                assert UserProfile.objects.get(user=user).time_zone == "Europe/Berlin"
            elif page == "profile-test":
                assert response["Location"] == "/accounts/profile/"
                assert user is not None
                assert list(Notification.objects.values_list("user", "title")) == [(user.pk, "Test notification")]
            elif page == "notifications-read-all":
                assert response["Location"] == "/notifications/"
                assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
            elif page == "notification-read":
                assert response["Location"] == "/notifications/"
                assert notification is not None
                assert list(Notification.objects.filter(read_at__isnull=False)) == [notification]
            elif page in LEGAL_PAGES:
                request = LegalRequest.objects.get()
                assert response["Location"] == f"/legal-requests/{request.pk}/"
                assert after[1] == before[1] + 1, "a request's change is audited once on its one escalation"
            else:
                created = Escalation.objects.order_by("-pk").first() if page == "create" else esc
                assert created is not None
                assert response["Location"] == f"/escalations/{created.pk}/"
                assert after[1] == before[1] + 1, "a permitted change writes exactly one audit event"
        else:
            assert after == before, "a refused POST changes nothing"
            assert not UserProfile.objects.filter(time_zone="Europe/Berlin").exists()


def test_matrix_covers_every_role_and_page() -> None:
    pages = {page for page, _ in EXPECTED}
    assert pages == (
        {"login", "profile", "list", "mine", "create"}
        | ESCALATION_PAGES
        | NOTIFICATION_PAGES
        | EXPORT_PAGES
        | BULK_PAGES
        | SAVED_VIEW_PAGES
        | REPORT_PAGES
        | LEGAL_PAGES
        | {"help", "access-log"}
    )
    assert all(len(codes) == len(ROLES) for codes in EXPECTED.values())
    # Every action page is exercised with POST too.
    assert {page for page, method in EXPECTED if method == "POST"} == (
        {"create", "profile", "notifications-read-all", "notification-read", "profile-test"}
        | ESCALATION_PAGES - {"detail"}
        | BULK_PAGES
        | SAVED_VIEW_PAGES
        | {"legal-new", "legal-respond", "legal-close"}
    )


def test_denied_page_says_why(client_for: Any, moderator: Any, nobody: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    response = client_for(moderator).get(f"/escalations/{esc.pk}/dismiss/")
    assert response.status_code == 403
    assert "Only a lead can dismiss an escalation." in response.content.decode()
    response = client_for(nobody).get("/escalations/")
    assert response.status_code == 403
    assert "You have no role in the escalation tracker yet" in response.content.decode()


def test_unknown_escalation_is_404_for_a_role_and_403_without_one(client_for: Any, moderator: Any, nobody: Any) -> None:
    assert client_for(moderator).get("/escalations/999999/").status_code == 404
    assert client_for(moderator).get("/escalations/999999/edit/").status_code == 404
    assert client_for(nobody).get("/escalations/999999/").status_code == 403


def test_auditor_sees_no_write_links(client_for: Any, auditor: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    html = client_for(auditor).get(f"/escalations/{esc.pk}/").content.decode()
    for page in ("edit", "report", "preservation", "assign", "dismiss", "close", "reopen"):
        assert f"/escalations/{esc.pk}/{page}/" not in html
    assert "/escalations/new/" not in html


def test_moderator_sees_only_moderator_links(client_for: Any, moderator: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    html = client_for(moderator).get(f"/escalations/{esc.pk}/").content.decode()
    for page in ("edit", "report", "preservation"):
        assert f"/escalations/{esc.pk}/{page}/" in html
    for page in ("assign", "dismiss", "close", "reopen"):
        assert f"/escalations/{esc.pk}/{page}/" not in html


def _csrf_client(user: Any) -> FormClient:
    client = FormClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _token(response: Any) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match, "the form carries a CSRF token"
    return match.group(1)


def test_post_without_csrf_token_is_refused(moderator: Any) -> None:
    client = _csrf_client(moderator)
    data = _post_data("create", None, moderator)

    response = client.post("/escalations/new/", data)
    assert response.status_code == 403
    assert Escalation.objects.count() == 0

    # The same post with the token from the form goes through: it was the token that was missing.
    data["csrfmiddlewaretoken"] = _token(client.get("/escalations/new/"))
    response = client.post("/escalations/new/", data)
    assert response.status_code == 302
    assert Escalation.objects.count() == 1


@pytest.mark.parametrize(
    "page",
    [
        "edit",
        "report",
        "preservation",
        "assign",
        "dismiss",
        "close",
        "reopen",
        "extend",
        "release",
        "release-approve",
        "evidence",
        "destinations",
        "legal-new",
    ],
)
def test_action_post_without_csrf_token_is_refused(page: str, lead: Any, moderator: Any, make_escalation: Any) -> None:
    esc = _target(page, make_escalation, lead)
    client = _csrf_client(lead)
    path = _path(page, esc)
    data = _post_data(page, esc, moderator)
    before = _state(esc)

    assert client.post(path, data).status_code == 403
    assert _state(esc) == before

    data["csrfmiddlewaretoken"] = _token(client.get(path))
    assert client.post(path, data).status_code == 302


@pytest.mark.parametrize("page", ["legal-respond", "legal-close"])
def test_legal_request_post_without_csrf_token_is_refused(
    page: str, lead: Any, moderator: Any, make_escalation: Any
) -> None:
    esc = _target(page, make_escalation, lead)
    client = _csrf_client(lead)
    path = _path(page, esc)
    data = _post_data(page, esc, moderator)
    before = _state(esc)

    assert client.post(path, data).status_code == 403
    assert _state(esc) == before

    # The request's page carries the forms (and their token).
    data["csrfmiddlewaretoken"] = _token(client.get(path.rsplit("/", 2)[0] + "/"))
    assert client.post(path, data).status_code == 302


def test_profile_and_login_posts_without_csrf_token_are_refused(moderator: Any) -> None:
    client = _csrf_client(moderator)
    assert client.post("/accounts/profile/", {"time_zone": "Europe/Berlin"}).status_code == 403
    assert not UserProfile.objects.filter(user=moderator).exists()

    anonymous = FormClient(enforce_csrf_checks=True)
    response = anonymous.post("/accounts/login/", {"username": "mod", "password": "correct-horse-battery"})
    assert response.status_code == 403
    assert "_auth_user_id" not in anonymous.session


def test_services_refuse_what_views_refuse(moderator: Any, auditor: Any, make_escalation: Any) -> None:
    """The views' checks are repeated by the services, so no other entry point can skip them."""
    from django.core.exceptions import PermissionDenied

    esc = make_escalation()
    with pytest.raises(PermissionDenied):
        services.dismiss_escalation(actor=moderator, escalation_id=esc.pk, version=esc.version, reason="x")
    with pytest.raises(PermissionDenied):
        services.edit_escalation(actor=auditor, escalation_id=esc.pk, version=esc.version, data={"notes": "x"})
    esc.refresh_from_db()
    assert esc.status == Status.OPEN
    assert esc.version == 1
