"""Need-to-know, completed: every page that shows an escalation writes its access-log rows (the
action forms, the compliance report, the dashboard's lists, legal requests), in a bounded number of
INSERTs; a duplicate CyberTipline report ID names the other escalation only to someone who may open
it; the API answers the same for a username that does not exist and one that may not be assigned;
and no page or API answer with case data may be kept by a browser or proxy cache."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.core import services
from escalations.legal import services as legal_services
from escalations.models import AccessKind, AccessLog, Escalation
from tests.api.test_api import API, make_token, token_client

ACCESS_INSERT = 'INSERT INTO "escalations_accesslog"'


def log_rows() -> list[tuple[Any, ...]]:
    return list(AccessLog.objects.order_by("pk").values_list("user__username", "kind", "escalation_id", "what"))


def inserts(ctx: CaptureQueriesContext) -> int:
    return sum(1 for q in ctx.captured_queries if q["sql"].startswith(ACCESS_INSERT))


@pytest.fixture
def restricted(settings: Any) -> None:
    settings.RESTRICT_MODERATORS_TO_ASSIGNED = True


# --- the action forms ---------------------------------------------------------------------------------


@pytest.fixture
def states(make_escalation: Any, lead: Any, moderator: Any) -> dict[str, Escalation]:
    """An escalation in each state an action form applies to."""
    now = timezone.now()
    open_esc = make_escalation()
    late = make_escalation(
        knowledge_at=now - timedelta(days=3), reported_at=now - timedelta(days=1), breach_reason="volume"
    )
    dismissed = make_escalation()
    services.dismiss_escalation(actor=lead, escalation_id=dismissed.pk, version=dismissed.version, reason="Adult.")
    return {"open": open_esc, "reported": late, "dismissed": dismissed}


FORMS = [
    ("moderator", "open", "edit"),
    ("moderator", "open", "report"),
    ("moderator", "open", "preservation"),
    ("moderator", "reported", "evidence"),
    ("moderator", "reported", "destinations"),
    ("lead", "open", "assign"),
    ("lead", "open", "dismiss"),
    ("lead", "reported", "close"),
    ("lead", "dismissed", "reopen"),
    ("lead", "reported", "breach"),
    ("lead", "reported", "extend"),
    ("lead", "reported", "release"),
    ("lead", "reported", "release/approve"),
]


@pytest.mark.parametrize(("role", "state", "form"), FORMS, ids=[f[2] for f in FORMS])
def test_every_action_form_records_who_opened_it(
    role: str, state: str, form: str, request: Any, client_for: Any, states: dict[str, Escalation]
) -> None:
    user = request.getfixturevalue(role)
    esc = states[state]
    with CaptureQueriesContext(connection) as ctx:
        response = client_for(user).get(f"/escalations/{esc.pk}/{form}/")
    assert response.status_code == 200
    assert esc.key in response.content.decode()
    assert log_rows() == [(user.username, AccessKind.VIEWED, esc.pk, f"{form.replace('/', ' ')} form")]
    assert inserts(ctx) == 1


def test_a_form_shown_again_with_errors_is_recorded_too(
    client_for: Any, moderator: Any, states: dict[str, Escalation]
) -> None:
    esc = states["open"]
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/report/", {"version": esc.version, "reported_at": "", "cybertipline_report_id": "x"}
    )
    assert response.status_code == 200
    assert log_rows() == [("mod", AccessKind.VIEWED, esc.pk, "report form")]


def test_a_form_that_saves_records_the_change_not_a_read(
    client_for: Any, moderator: Any, states: dict[str, Escalation]
) -> None:
    esc = states["open"]
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/preservation/", {"version": esc.version, "preservation_location": "vault://1"}
    )
    assert response.status_code == 302
    assert log_rows() == []  # the audit trail has the change


def test_refused_and_hidden_forms_record_nothing(
    restricted: None, client_for: Any, moderator: Any, nobody: Any, make_escalation: Any, lead: Any
) -> None:
    others = make_escalation(actor=lead)
    assert client_for(moderator).get(f"/escalations/{others.pk}/edit/").status_code == 404
    assert client_for(nobody).get(f"/escalations/{others.pk}/edit/").status_code == 403
    assert client_for(moderator).get(f"/escalations/{others.pk}/assign/").status_code == 403
    assert log_rows() == []


# --- the compliance report ------------------------------------------------------------------------------


def test_compliance_report_records_each_escalation_it_shows(
    settings: Any, client_for: Any, auditor: Any, make_escalation: Any
) -> None:
    settings.MAX_PER_PAGE = 3
    now = timezone.now()
    made = [make_escalation(knowledge_at=now - timedelta(hours=i + 1)) for i in range(5)]
    today = timezone.localdate()
    query = {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}
    with CaptureQueriesContext(connection) as ctx:
        response = client_for(auditor).get("/reports/compliance/", query)
    assert response.status_code == 200
    oldest_first = sorted(made, key=lambda e: e.knowledge_at)[:3]
    assert log_rows() == [("aud", AccessKind.VIEWED, e.pk, "compliance report") for e in oldest_first]
    assert {row.query for row in AccessLog.objects.all()} == {f"start={query['start']}&end={query['end']}"}
    assert inserts(ctx) == 1


def test_compliance_report_with_no_rows_records_nothing(client_for: Any, lead: Any, db: Any) -> None:
    assert client_for(lead).get("/reports/compliance/").status_code == 200
    assert log_rows() == []


def test_compliance_report_inserts_stay_bounded_at_the_largest_page(
    settings: Any, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    settings.MAX_PER_PAGE = 150
    now = timezone.now()
    for i in range(150):
        make_escalation(knowledge_at=now - timedelta(minutes=i + 1))
    with CaptureQueriesContext(connection) as ctx:
        assert client_for(lead).get("/reports/compliance/").status_code == 200
    assert AccessLog.objects.count() == 150
    # One statement on PostgreSQL; SQLite takes at most 999 parameters a statement (124 rows).
    assert inserts(ctx) == (1 if connection.vendor == "postgresql" else 2)


# --- the dashboard ----------------------------------------------------------------------------------------


def test_dashboard_records_the_escalations_its_lists_show(
    client_for: Any, lead: Any, make_escalation: Any, moderator: Any
) -> None:
    now = timezone.now()
    overdue = make_escalation(knowledge_at=now - timedelta(days=2))
    late = make_escalation(
        knowledge_at=now - timedelta(days=3), reported_at=now - timedelta(days=1), breach_reason="volume"
    )
    on_track = make_escalation(knowledge_at=now - timedelta(minutes=5))
    with CaptureQueriesContext(connection) as ctx:
        response = client_for(lead).get("/dashboard/")
    html = response.content.decode()
    assert overdue.key in html and late.key in html and on_track.key not in html
    assert sorted(log_rows()) == sorted(
        [("leader", AccessKind.VIEWED, overdue.pk, "dashboard"), ("leader", AccessKind.VIEWED, late.pk, "dashboard")]
    )
    assert inserts(ctx) == 1


def test_dashboard_with_nothing_listed_records_nothing(client_for: Any, auditor: Any, make_escalation: Any) -> None:
    make_escalation(knowledge_at=timezone.now() - timedelta(minutes=5))
    assert client_for(auditor).get("/dashboard/").status_code == 200
    assert log_rows() == []


# --- legal requests -----------------------------------------------------------------------------------------


def _legal(lead: Any, *escalations: Escalation) -> Any:
    return legal_services.create_legal_request(
        actor=lead,
        data={
            "kind": "2703f_preservation",
            "agency": "Springfield Police Department",
            "reference": "SPD-1",
            "received_at": timezone.now() - timedelta(hours=2),
            "escalations": [e.pk for e in escalations],
        },
    )


def test_legal_request_pages_record_the_escalations_they_name(
    client_for: Any, lead: Any, auditor: Any, make_escalation: Any
) -> None:
    now = timezone.now()
    a, b, c = (
        make_escalation(knowledge_at=now - timedelta(days=2), reported_at=now - timedelta(days=1)) for _ in "abc"
    )
    first, second = _legal(lead, a, b), _legal(lead, c)
    client = client_for(auditor)

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/legal-requests/{first.pk}/").status_code == 200
    assert inserts(ctx) == 1
    assert log_rows() == [("aud", AccessKind.VIEWED, a.pk, first.key), ("aud", AccessKind.VIEWED, b.pk, first.key)]

    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/legal-requests/").status_code == 200
    assert inserts(ctx) == 1
    listed = log_rows()[2:]
    # Both requests are listed: the escalations of each.
    assert second.key in client.get("/legal-requests/").content.decode()
    assert sorted(listed) == sorted(("aud", AccessKind.VIEWED, e.pk, "legal requests") for e in (a, b, c))


def test_legal_request_list_names_at_most_ten_escalations_a_request(
    client_for: Any, lead: Any, make_escalation: Any
) -> None:
    now = timezone.now()
    many = [
        make_escalation(knowledge_at=now - timedelta(days=2), reported_at=now - timedelta(days=1)) for _ in range(12)
    ]
    _legal(lead, *many)
    html = client_for(lead).get("/legal-requests/").content.decode()
    assert all(e.key in html for e in many[:10])
    assert many[10].key not in html and many[11].key not in html
    assert "and 2 more" in html
    assert AccessLog.objects.filter(what="legal requests").count() == 10


def test_legal_request_shown_again_after_a_refused_change_is_recorded(
    client_for: Any, lead: Any, make_escalation: Any
) -> None:
    now = timezone.now()
    esc = make_escalation(knowledge_at=now - timedelta(days=2), reported_at=now - timedelta(days=1))
    legal = _legal(lead, esc)
    response = client_for(lead).post(f"/legal-requests/{legal.pk}/close/", {"version": legal.version, "reason": ""})
    assert response.status_code == 200
    assert log_rows() == [("leader", AccessKind.VIEWED, esc.pk, legal.key)]


# --- duplicate report IDs ---------------------------------------------------------------------------------

HIDDEN = "CyberTipline report ID 4564654 is already recorded on another escalation you can't open; ask a lead."


@pytest.fixture
def taken(make_escalation: Any, lead: Any) -> Escalation:
    """Report ID 4564654 on an escalation the lead logged and nobody assigned to the moderator."""
    now = timezone.now()
    return make_escalation(
        actor=lead, knowledge_at=now - timedelta(hours=3), reported_at=now - timedelta(hours=1), report_id="4564654"
    )


def _report_form(client: Any, esc: Escalation) -> list[str]:
    response = client.post(
        f"/escalations/{esc.pk}/report/",
        {
            "version": esc.version,
            "reported_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "cybertipline_report_id": "4564654",
        },
    )
    assert response.status_code == 200
    return list(response.context["form"].errors["cybertipline_report_id"])


def test_duplicate_report_id_is_not_named_to_a_restricted_moderator(
    restricted: None, taken: Escalation, client_for: Any, moderator: Any, make_escalation: Any
) -> None:
    mine = make_escalation()
    assert _report_form(client_for(moderator), mine) == [HIDDEN]
    assert taken.key not in json.dumps(_report_form(client_for(moderator), mine))


def test_duplicate_report_id_is_named_to_those_who_may_open_it(
    taken: Escalation, client_for: Any, moderator: Any, lead: Any, make_escalation: Any, settings: Any
) -> None:
    mine = make_escalation()
    named = [f"CyberTipline report ID 4564654 is already recorded on {taken.key}."]
    assert _report_form(client_for(lead), mine) == named
    # Without the restriction a moderator may open every escalation, so is told which.
    assert _report_form(client_for(moderator), mine) == named
    settings.RESTRICT_MODERATORS_TO_ASSIGNED = True
    services.assign_escalation(actor=lead, escalation_id=taken.pk, version=taken.version, assignee=moderator)
    assert _report_form(client_for(moderator), mine) == named


def test_duplicate_report_id_through_the_api_bulk_and_import(
    restricted: None, taken: Escalation, moderator: Any, make_escalation: Any, client_for: Any, tmp_path: Path
) -> None:
    client = client_for(moderator)  # moderators use the API with their session (tokens are a lead's)
    mine = make_escalation()
    now = timezone.now()
    response = client.post(
        f"{API}{mine.pk}/report/",
        {"reported_at": now.isoformat(), "cybertipline_report_id": "4564654"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {"cybertipline_report_id": [HIDDEN]}

    item = {
        "platform_reference": "bulk-dup",
        "incident_type": "child_pornography",
        "knowledge_at": (now - timedelta(hours=2)).isoformat(),
        "reported_at": (now - timedelta(hours=1)).isoformat(),
        "cybertipline_report_id": "4564654",
    }
    for url, body in ((API, item), (f"{API}bulk/", [item])):
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 400
        assert taken.key not in response.content.decode()
        assert HIDDEN in response.content.decode()

    sheet = tmp_path / "history.csv"
    sheet.write_text(
        "platform_reference,incident_type,knowledge_at,reported_at,cybertipline_report_id\n"
        f"sheet-1,child_pornography,{(now - timedelta(hours=2)):%Y-%m-%d %H:%M:%S},"
        f"{(now - timedelta(hours=1)):%Y-%m-%d %H:%M:%S},4564654\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    with pytest.raises(Exception):  # noqa: B017 (CommandError: the file is refused whole)
        call_command("importescalations", str(sheet), "--actor", moderator.username, stdout=out)
    assert f"row 2: cybertipline_report_id: {HIDDEN}" in out.getvalue()
    assert taken.key not in out.getvalue()
    assert Escalation.objects.filter(cybertipline_report_id="4564654").count() == 1


# --- usernames in API errors ---------------------------------------------------------------------------------


@pytest.fixture
def people(make_user: Any, auditor: Any, nobody: Any) -> dict[str, Any]:
    gone = make_user("gone-mod", "moderator")
    gone.is_active = False
    gone.save()
    return {"auditor": auditor.username, "no role": nobody.username, "inactive": gone.username}


def _refusal(name: str) -> list[str]:
    return [f"No active moderator or lead is named {name!r}."]


def test_assign_answers_the_same_whether_or_not_the_username_exists(
    people: dict[str, Any], lead: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    client = token_client(make_token(lead))
    for name in [*people.values(), "nosuchuser"]:
        response = client.post(f"{API}{esc.pk}/assign/", {"assignee": name}, content_type="application/json")
        assert response.status_code == 400
        assert response.json() == {"assignee": _refusal(name)}, name
    esc.refresh_from_db()
    assert esc.version == 1


def test_create_and_bulk_answer_the_same_whether_or_not_the_username_exists(people: dict[str, Any], lead: Any) -> None:
    client = token_client(make_token(lead))
    knowledge = (timezone.now() - timedelta(hours=1)).isoformat()
    for name in [*people.values(), "nosuchuser"]:
        item = {"platform_reference": "x-1", "incident_type": "child_pornography", "knowledge_at": knowledge}
        item["assignee"] = name
        response = client.post(API, item, content_type="application/json")
        assert response.json() == {"assignee": _refusal(name)}, name
        response = client.post(f"{API}bulk/", [item], content_type="application/json")
        assert response.json() == {"errors": {"0": {"assignee": _refusal(name)}}}, name
    assert not Escalation.objects.exists()


def test_the_assignee_filter_answers_the_same_for_any_id_it_does_not_offer(
    people: dict[str, Any], lead: Any, nobody: Any
) -> None:
    client = token_client(make_token(lead, scope="read"))
    answers = {json.dumps(client.get(API, {"assignee": pk}).json()) for pk in (nobody.pk, 999_999)}
    assert len(answers) == 1
    assert "nogroup" not in answers.pop()


# --- Cache-Control ---------------------------------------------------------------------------------------------


def _urls(esc: Escalation, legal: Any) -> list[str]:
    today = timezone.localdate()
    return [
        "/escalations/",
        "/escalations/mine/",
        f"/escalations/{esc.pk}/",
        f"/escalations/{esc.pk}/edit/",
        f"/escalations/{esc.pk}/assign/",
        "/escalations/new/",
        "/escalations/999999/",
        "/dashboard/",
        f"/reports/compliance/?start={today - timedelta(days=3)}&end={today}",
        "/legal-requests/",
        f"/legal-requests/{legal.pk}/",
        "/access-log/",
        "/accounts/profile/",
        "/tokens/",
        "/notifications/",
        "/help/",
        "/healthz",
        f"{API}",
        f"{API}{esc.pk}/",
        f"{API}{esc.pk}/audit-events/",
        "/api/schema/",
        "/api/docs/",
        "/escalations/?_export=csv",
        f"/escalations/{esc.pk}/audit.csv",
    ]


def _no_store(response: Any) -> bool:
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    return {"no-store", "private"} <= directives


def test_pages_and_api_answers_are_never_cached(client_for: Any, lead: Any, make_escalation: Any) -> None:
    now = timezone.now()
    esc = make_escalation(knowledge_at=now - timedelta(days=2), reported_at=now - timedelta(days=1))
    legal = _legal(lead, esc)
    client = client_for(lead)
    for url in _urls(esc, legal):
        response = client.get(url)
        assert response.status_code in (200, 404, 503), (url, response.status_code)  # 503: no sweep ran yet
        assert _no_store(response), (url, response.get("Cache-Control"))
    api = token_client(make_token(lead, scope="read"))
    for url in (API, f"{API}{esc.pk}/", f"{API}{esc.pk}/reminders/"):
        assert _no_store(api.get(url)), url


def test_answers_to_strangers_and_errors_are_not_cached_either(client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    stranger = client_for(None)
    for url in ("/accounts/login/", f"/escalations/{esc.pk}/", f"{API}{esc.pk}/", "/healthz"):
        assert _no_store(stranger.get(url)), url
    refused = client_for(None).post(API, b"[" * 10, content_type="application/json")
    assert _no_store(refused)


def test_the_profile_with_its_webhook_secret_is_not_cached(client_for: Any, moderator: Any) -> None:
    from escalations.models import UserProfile

    UserProfile.objects.create(user=moderator, webhook_url="https://hooks.example.org/x", webhook_secret="s" * 32)
    response = client_for(moderator).get("/accounts/profile/")
    assert response.status_code == 200
    assert _no_store(response)


def test_static_files_keep_their_own_caching(client_for: Any, lead: Any) -> None:
    response = client_for(lead).get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_a_view_that_sets_its_own_cache_policy_keeps_it(rf: Any) -> None:
    from django.http import HttpResponse

    from escalations.web.middleware import NoStoreMiddleware

    def cached_view(request: Any) -> HttpResponse:
        response = HttpResponse("public")
        response["Cache-Control"] = "public, max-age=60"
        return response

    assert NoStoreMiddleware(cached_view)(rf.get("/x"))["Cache-Control"] == "public, max-age=60"
    assert _no_store(NoStoreMiddleware(lambda request: HttpResponse("x"))(rf.get("/x")))


def test_who_may_not_assign_is_refused_before_any_username_is_looked_up(
    client_for: Any, auditor: Any, moderator: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    for user in (auditor, moderator):
        for name in ("nosuchuser", "leader", "aud"):
            response = client_for(user).post(
                f"{API}{esc.pk}/assign/", {"assignee": name}, content_type="application/json"
            )
            assert response.status_code == 403, (user, name, response.content)
            assert response.json() == {"detail": "Only a lead can assign escalations."}
        item = {"platform_reference": "x-2", "incident_type": "child_pornography", "assignee": "nosuchuser"}
        item["knowledge_at"] = timezone.now().isoformat()
        if user == auditor:
            assert client_for(user).post(API, item, content_type="application/json").status_code == 403
