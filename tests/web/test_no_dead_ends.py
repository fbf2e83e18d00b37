"""No dead ends: whoever is stuck has somewhere to go. A lead lifts a sign-in lock from a page; the
admin answers a non-admin with a 403 page that links home; a release request reaches every other
lead at once and waits on the dashboard; buttons the rules refuse right now say why instead of
leading to a form that can only fail; auditors land on the dashboard; moderators take unassigned
escalations, and a pipeline's escalations wait unassigned for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client

from escalations.core import services
from escalations.legal import services as legal_services
from escalations.models import AuditAction, AuditEvent, Delivery, Escalation, Notification, Reminder
from escalations.reminders import sweep
from tests.conftest import FormClient

CLOCK_START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
RIGHT = "correct-horse-battery"
RELEASE_NEWS = "Release requested: a different lead approves"


def page(response: Any) -> str:
    return " ".join(response.content.decode().split())


# --- locked sign-ins ------------------------------------------------------------------------------


def lock(username: str) -> None:
    client = FormClient()
    for attempt in range(5):
        client.post("/accounts/login/", {"username": username, "password": f"wrong-{attempt}"})


def test_a_lead_sees_who_is_locked_and_unlocks_them(clock: Any, lead: Any, moderator: Any, client_for: Any) -> None:
    lock("mod")
    assert FormClient().post("/accounts/login/", {"username": "mod", "password": RIGHT}).status_code == 429

    client = client_for(lead)
    listed = page(client.get("/accounts/locked/"))
    assert "Locked sign-ins" in listed
    assert 'data-username="mod"' in listed
    assert "Unlock" in listed and "2025-03-03 09:15" in listed  # when the lock would end by itself

    response = client.post("/accounts/locked/", {"username": "mod"}, follow=True)
    assert "Sign-in unlocked for mod" in page(response)
    assert 'data-username="mod"' not in page(response)
    assert not AccessAttempt.objects.filter(username="mod").exists()
    event = AuditEvent.objects.filter(action=AuditAction.UNLOCKED).latest("pk")
    assert event.actor == lead and event.changes["username"] == "mod" and event.changes["was_locked"] is True
    # The unlocked person signs in with the right password at once.
    signed = FormClient()
    assert signed.post("/accounts/login/", {"username": "mod", "password": RIGHT}).status_code == 302


def test_the_unlock_button_needs_the_csrf_token(clock: Any, lead: Any, moderator: Any) -> None:
    lock("mod")
    client = FormClient(enforce_csrf_checks=True)
    client.force_login(lead)
    assert client.post("/accounts/locked/", {"username": "mod"}).status_code == 403
    assert AccessAttempt.objects.filter(username="mod").exists()


@pytest.mark.parametrize("role", ["moderator", "auditor"])
def test_only_leads_see_and_lift_locks(clock: Any, request: Any, role: str, lead: Any, client_for: Any) -> None:
    lock("leader")
    client = client_for(request.getfixturevalue(role))
    assert client.get("/accounts/locked/").status_code == 403
    assert client.post("/accounts/locked/", {"username": "leader"}).status_code == 403
    assert AccessAttempt.objects.filter(username="leader").exists()
    assert "Locked sign-ins" not in page(client.get("/escalations/"))
    assert "/accounts/locked/" in page(client_for(lead).get("/escalations/"))


# --- the admin ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/", "/admin/login/?next=/admin/", "/admin/escalations/escalation/"])
def test_the_admin_answers_a_signed_in_non_admin_with_a_403_page_that_links_home(
    path: str, lead: Any, client_for: Any
) -> None:
    response = client_for(lead).get(path)
    assert response.status_code == 403
    text = page(response)
    assert "The admin is for the people who run the tracker" in text
    assert '<a href="/">' in text


def test_the_admin_still_asks_a_signed_out_visitor_to_sign_in(db: Any) -> None:
    response = Client().get("/admin/")
    assert response.status_code == 302 and "login" in response["Location"]


# --- release requests -----------------------------------------------------------------------------


@pytest.fixture
def leads(make_user: Any) -> list[Any]:
    people = [make_user(name, "lead") for name in ("lead-ana", "lead-ben", "lead-cy")]
    for person in people:
        person.email = f"{person.username}@example.org"
        person.save()
    return people


def ended(make_escalation: Any, clock: Any) -> Escalation:
    esc = make_escalation(reported_at=CLOCK_START - timedelta(hours=1))
    clock.shift(timedelta(days=400))
    return Escalation.objects.get(pk=esc.pk)


def test_a_release_request_tells_every_other_lead_at_once(
    clock: Any, leads: list[Any], make_escalation: Any, client_for: Any
) -> None:
    ana, ben, _ = leads
    esc = ended(make_escalation, clock)
    legal_services.request_release(actor=ana, escalation_id=esc.pk, version=esc.version, reason="Period over.")

    reminder = Reminder.objects.get(escalation=esc, kind="release_requested")
    recipients = set(Delivery.objects.filter(reminder=reminder).values_list("recipient__username", "channel"))
    assert recipients == {("lead-ben", "email"), ("lead-ben", "in_app"), ("lead-cy", "email"), ("lead-cy", "in_app")}

    mail.outbox.clear()
    sweep.sweep()
    news = [m for m in mail.outbox if "Release requested" in m.subject]
    assert sorted(m.to[0] for m in news) == ["lead-ben@example.org", "lead-cy@example.org"]
    assert all(m.subject == f"[Escalations] {esc.key}: {RELEASE_NEWS} (asked by lead-ana)" for m in news)
    assert Notification.objects.filter(user=ben, escalation=esc, title__contains="Release requested").exists()
    assert not Notification.objects.filter(user=ana, title__contains="Release requested").exists()
    sweep.sweep()
    assert len([m for m in mail.outbox if "Release requested" in m.subject]) == 2  # once each

    dashboard = page(client_for(ben).get("/dashboard/"))
    assert "Releases awaiting approval" in dashboard
    assert f">{esc.key}</a>" in dashboard.split("Releases awaiting approval")[1]
    assert "Review and approve" in dashboard
    own = page(client_for(ana).get("/dashboard/")).split("Releases awaiting approval")[1]
    assert "You asked: a different lead approves" in own and "Review and approve" not in own


def test_news_of_a_release_already_approved_is_not_sent(clock: Any, leads: list[Any], make_escalation: Any) -> None:
    ana, ben, _ = leads
    esc = ended(make_escalation, clock)
    esc = legal_services.request_release(actor=ana, escalation_id=esc.pk, version=esc.version, reason="Over.")
    legal_services.approve_release(actor=ben, escalation_id=esc.pk, version=esc.version)
    mail.outbox.clear()
    sweep.sweep()
    assert not [m for m in mail.outbox if "Release requested" in m.subject]
    reminder = Reminder.objects.get(escalation=esc, kind="release_requested")
    assert reminder.cancelled_at is not None and "approved" in reminder.cancel_reason


# --- buttons the rules refuse right now -----------------------------------------------------------


def test_close_and_release_before_preserve_until_are_disabled_with_the_reason(
    clock: Any, lead: Any, make_escalation: Any, client_for: Any
) -> None:
    esc = make_escalation(reported_at=CLOCK_START - timedelta(hours=1))
    text = page(client_for(lead).get(f"/escalations/{esc.pk}/"))
    assert f'href="/escalations/{esc.pk}/close/"' not in text
    assert f'href="/escalations/{esc.pk}/release/"' not in text
    assert '<button type="button" class="button" disabled aria-describedby="why-close">Close</button>' in text
    assert 'aria-describedby="why-request-release">Request release</button>' in text
    assert "Preservation runs until 2026-03-03 08:00 UTC" in text


def test_close_while_a_legal_request_is_open_is_disabled_naming_it(
    clock: Any, lead: Any, make_escalation: Any, client_for: Any
) -> None:
    esc = ended(make_escalation, clock)
    data = {"kind": "subpoena", "agency": "County court", "reference": "S-9", "escalations": [esc.pk]}
    request = legal_services.create_legal_request(
        actor=lead, data={**data, "received_at": CLOCK_START + timedelta(days=399)}
    )
    text = page(client_for(lead).get(f"/escalations/{esc.pk}/"))
    assert f'href="/escalations/{esc.pk}/close/"' not in text
    assert f"Not while a legal request is open: {request.key} (Subpoena)." in text


def test_the_requester_sees_approve_disabled_another_lead_may_approve(
    clock: Any, leads: list[Any], make_escalation: Any, client_for: Any
) -> None:
    ana, ben, _ = leads
    esc = ended(make_escalation, clock)
    legal_services.request_release(actor=ana, escalation_id=esc.pk, version=esc.version, reason="Over.")
    own = page(client_for(ana).get(f"/escalations/{esc.pk}/"))
    assert f'href="/escalations/{esc.pk}/release/approve/"' not in own
    assert "You asked for this release: a different lead approves it." in own
    other = page(client_for(ben).get(f"/escalations/{esc.pk}/"))
    assert f'href="/escalations/{esc.pk}/release/approve/"' in other
    # Preservation ended and nothing open: closing is offered.
    assert f'href="/escalations/{esc.pk}/close/"' in other


def test_a_dismissed_escalation_offers_no_report(clock: Any, lead: Any, make_escalation: Any, client_for: Any) -> None:
    esc = make_escalation()
    services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, reason="Not reportable.")
    text = page(client_for(lead).get(f"/escalations/{esc.pk}/"))
    assert "Record report" not in text and "Correct the report" not in text
    assert f'href="/escalations/{esc.pk}/reopen/"' in text


# --- auditors land on the dashboard ---------------------------------------------------------------


def test_an_auditor_lands_on_the_dashboard_with_the_compliance_report_in_the_menu(auditor: Any) -> None:
    client = FormClient()
    response = client.post("/accounts/login/", {"username": "aud", "password": RIGHT})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert client.get("/")["Location"] == "/dashboard/"
    menu = page(client.get("/dashboard/")).split('<nav aria-label="Main">')[1].split("</nav>")[0]
    assert '<a href="/reports/compliance/">Compliance report</a>' in menu


def test_moderators_and_leads_still_land_on_their_queue(moderator: Any, lead: Any) -> None:
    for username in ("mod", "leader"):
        client = FormClient()
        response = client.post("/accounts/login/", {"username": username, "password": RIGHT})
        assert response["Location"] == "/escalations/mine/"
        assert client.get("/")["Location"] == "/escalations/mine/"


# --- take it --------------------------------------------------------------------------------------


@pytest.fixture
def unassigned(make_escalation: Any, lead: Any) -> Escalation:
    esc = make_escalation()
    return services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=None)


def test_a_moderator_takes_an_unassigned_escalation(unassigned: Escalation, make_user: Any, client_for: Any) -> None:
    ola = make_user("mod-ola", "moderator")
    client = client_for(ola)
    listed = page(client.get("/escalations/?assignee=null"))
    assert f'aria-label="Take it: {unassigned.key}">Take it</button>' in listed
    detail = page(client.get(f"/escalations/{unassigned.pk}/"))
    assert ">Take it</button>" in detail

    response = client.post(
        f"/escalations/{unassigned.pk}/take/",
        {"version": unassigned.version, "next": "/escalations/?assignee=null"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/escalations/?assignee=null"
    assert f"{unassigned.key} is yours now" in page(response)
    assert Escalation.objects.get(pk=unassigned.pk).assignee == ola
    event = AuditEvent.objects.filter(escalation=unassigned).latest("pk")
    assert (event.action, event.actor, event.changes["assignee"]) == ("taken", ola, [None, "mod-ola"])
    assert unassigned.key in page(client.get("/escalations/mine/"))


def test_the_second_to_take_learns_who_has_it(
    unassigned: Escalation, moderator: Any, make_user: Any, client_for: Any
) -> None:
    ola = make_user("mod-ola", "moderator")
    client_for(moderator).post(f"/escalations/{unassigned.pk}/take/", {"version": unassigned.version})
    response = client_for(ola).post(f"/escalations/{unassigned.pk}/take/", {"version": ""}, follow=True)
    assert f"{unassigned.key} is already assigned to mod." in page(response)
    assert Escalation.objects.get(pk=unassigned.pk).assignee == moderator


def test_auditors_cannot_take(unassigned: Escalation, auditor: Any, client_for: Any) -> None:
    client = client_for(auditor)
    assert ">Take it</button>" not in page(client.get(f"/escalations/{unassigned.pk}/"))
    assert client.post(f"/escalations/{unassigned.pk}/take/", {}).status_code == 403
    assert Escalation.objects.get(pk=unassigned.pk).assignee is None


def test_take_is_a_post(unassigned: Escalation, moderator: Any, client_for: Any) -> None:
    assert client_for(moderator).get(f"/escalations/{unassigned.pk}/take/").status_code == 405


def test_a_pipeline_escalation_is_unassigned_unless_the_pipeline_names_someone(
    lead: Any, moderator: Any, client_for: Any
) -> None:
    from escalations.accounts import tokens

    _, raw = tokens.create_token(
        actor=lead, name="pipeline", scope="write", expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    machine = Client(headers={"Authorization": f"Bearer {raw}"})
    base = {"platform_reference": "ticket-88", "incident_type": "child_pornography",
            "knowledge_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}  # fmt: skip
    alone = machine.post("/api/v1/escalations/", base, content_type="application/json").json()
    named = machine.post(
        "/api/v1/escalations/", {**base, "platform_reference": "ticket-89", "assignee": "mod"},
        content_type="application/json",
    ).json()  # fmt: skip
    assert alone["assignee"] is None
    assert Escalation.objects.get(pk=alone["id"]).assignee is None
    assert Escalation.objects.get(pk=named["id"]).assignee == moderator
    # A person logging one through the API (their session) still gets it.
    mine = client_for(lead).post(
        "/api/v1/escalations/", {**base, "platform_reference": "ticket-90"}, content_type="application/json"
    )
    assert Escalation.objects.get(pk=mine.json()["id"]).assignee == lead
