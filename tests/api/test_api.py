"""The REST API under /api/v1/, driven as a client would: JSON in and out, a service token in the
Authorization header (or a person's browser session), and the same rules, messages and audit trail
as the pages."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalations.accounts import tokens
from escalations.api.serializers import EscalationCreateInput
from escalations.core import services
from escalations.models import AuditEvent, Escalation, IdempotencyRecord, IncidentType, Priority, ServiceToken
from tests.conftest import escalation_trail

API = "/api/v1/escalations/"
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
DATETIME_FIELDS = (
    "knowledge_at",
    "reported_at",
    "preservation_confirmed_at",
    "report_due_at",
    "preservation_confirm_due_at",
    "preserve_until",
    "next_deadline_at",
    "created_at",
    "updated_at",
)


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> Any:
    # Throttle counters live in the cache; a test must not inherit another's requests.
    cache.clear()
    yield
    cache.clear()


def make_token(user: Any, scope: str = "write", name: str = "pipeline", days: int = 30) -> str:
    _, raw = tokens.create_token(actor=user, name=name, scope=scope, expires_at=timezone.now() + timedelta(days=days))
    return raw


def token_client(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


def post(client: Client, url: str, data: Any, **headers: str) -> Any:
    return client.post(url, data, content_type="application/json", headers=headers)


def patch(client: Client, url: str, data: Any) -> Any:
    return client.patch(url, data, content_type="application/json")


def new_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "platform_reference": "ticket-7001",
        "incident_type": IncidentType.ONLINE_ENTICEMENT.value,
        "knowledge_at": (timezone.now() - timedelta(hours=1)).isoformat(),
    }
    data.update(overrides)
    return data


def keys_of(body: Any) -> list[str]:
    return [item["key"] for item in body["results"]]


@pytest.fixture
def writer(lead: Any) -> Client:
    """A machine with a lead's write token named "pipeline"."""
    return token_client(make_token(lead))


# --- JSON shape --------------------------------------------------------------------------------


def test_escalation_json_has_id_key_version_model_fields_and_iso_datetimes(
    writer: Client, make_escalation: Any, moderator: Any
) -> None:
    esc = make_escalation(
        knowledge_at=timezone.now() - timedelta(hours=30),
        reported_at=timezone.now() - timedelta(hours=2),
        report_id="4564654",
        notes="Seen in the queue.",
    )
    response = writer.get(f"{API}{esc.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()

    assert body["id"] == esc.pk
    assert body["key"] == f"ESC-{esc.pk:06d}" == esc.key
    assert body["version"] == esc.version == 2
    # The model's own field names, not display labels or renamed keys.
    model_fields = {f.name for f in Escalation._meta.get_fields() if hasattr(f, "attname")}
    for name in (
        "platform_reference",
        "incident_type",
        "priority",
        "urgent_reason",
        "knowledge_at",
        "notes",
        "is_test",
        "status",
        "reported_at",
        "cybertipline_report_id",
        "breach_reason",
        "report_due_at",
        "preserve_until",
        "assignee",
        "created_by",
    ):
        assert name in model_fields
        assert name in body, name
    assert body["platform_reference"] == esc.platform_reference
    assert body["incident_type"] == "child_pornography"
    assert body["status"] == "reported"
    assert body["cybertipline_report_id"] == "4564654"
    assert body["notes"] == "Seen in the queue."
    assert body["assignee"] == body["created_by"] == moderator.username
    assert body["is_test"] is False
    assert body["breach_reason"] == "needed_review"  # reported after its 24 h target
    assert body["reported_on_time"] is False
    assert body["deadline_state"] in ("on_track", "due_soon", "overdue", "met", "not_applicable")

    for name in DATETIME_FIELDS:
        value = body[name]
        if value is None:
            assert name in ("preservation_confirmed_at", "next_deadline_at"), name
            continue
        assert ISO_8601.match(value), (name, value)
        assert datetime.fromisoformat(value).tzinfo is not None
    assert datetime.fromisoformat(body["knowledge_at"]) == esc.knowledge_at
    assert datetime.fromisoformat(body["reported_at"]) == esc.reported_at


def test_unknown_escalation_is_a_json_404(writer: Client) -> None:
    response = writer.get(f"{API}987654/")
    assert response.status_code == 404
    assert "detail" in response.json()
    assert post(writer, f"{API}987654/dismiss/", {"reason": "x"}).status_code == 404


# --- list: filters and cursor pagination --------------------------------------------------------


@pytest.fixture
def assorted(make_escalation: Any, lead: Any, moderator: Any) -> dict[str, Escalation]:
    now = timezone.now()
    built = {
        "fresh": make_escalation(knowledge_at=now - timedelta(hours=1), platform_reference="acct-1"),
        "urgent-late": make_escalation(
            knowledge_at=now - timedelta(hours=2), priority=Priority.URGENT, urgent_reason="Live threat."
        ),
        "old-open": make_escalation(
            knowledge_at=now - timedelta(days=10), incident_type=IncidentType.ONLINE_ENTICEMENT
        ),
        "reported-late": make_escalation(
            knowledge_at=now - timedelta(days=3), reported_at=now - timedelta(days=1, hours=1), breach_reason="volume"
        ),
        "reported-on-time": make_escalation(
            knowledge_at=now - timedelta(hours=5), reported_at=now - timedelta(hours=4), report_id="777"
        ),
        "dismissed": make_escalation(knowledge_at=now - timedelta(hours=6), actor=lead),
    }
    esc = built["dismissed"]
    built["dismissed"] = services.dismiss_escalation(
        actor=lead, escalation_id=esc.pk, version=esc.version, reason="Not reportable."
    )
    return built


def page_keys(client: Client, params: dict[str, str]) -> list[str]:
    response = client.get("/escalations/", params)
    assert response.status_code == 200
    return sorted(re.findall(r'<tr[^>]*data-key="(ESC-\d{6,})"', response.content.decode()))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, {"fresh", "urgent-late", "old-open"}),
        ({"status": "reported"}, {"reported-late", "reported-on-time"}),
        ({"status": "dismissed"}, {"dismissed"}),
        ({"priority": "urgent"}, {"urgent-late"}),
        ({"deadline_state": "overdue"}, {"urgent-late", "old-open", "reported-late"}),
        ({"deadline_state": "on_track"}, {"fresh", "reported-on-time"}),
        ({"deadline_state": "not_applicable"}, {"dismissed"}),
        ({"incident_type": "online_enticement"}, {"old-open"}),
        ({"reported_on_time": "false"}, {"reported-late"}),
        ({"breach_reason": "volume"}, {"reported-late"}),
        ({"q": "acct-1"}, {"fresh"}),
        ({"q": "777"}, {"reported-on-time"}),
        ({"knowledge_at_before": "@-2"}, {"old-open", "reported-late"}),
        ({"knowledge_at_after": "@-1"}, {"fresh", "urgent-late", "reported-on-time", "dismissed"}),
        ({"status": "open", "priority": "standard"}, {"fresh", "old-open"}),
    ],
    ids=lambda value: "&".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else "",
)
def test_list_filters_match_the_pages(
    params: dict[str, str], expected: set[str], assorted: dict[str, Escalation], writer: Client, lead: Any
) -> None:
    today = timezone.now().date()
    params = {
        k: (today + timedelta(days=int(v[1:]))).isoformat() if v.startswith("@") else v for k, v in params.items()
    }
    response = writer.get(API, params)
    assert response.status_code == 200, response.content
    api_keys = sorted(keys_of(response.json()))
    assert api_keys == sorted(assorted[name].key for name in expected)
    # The same filter on the list page finds the same escalations.
    browser = Client()
    browser.force_login(lead)
    assert api_keys == page_keys(browser, params)


def test_list_filters_by_q_key_and_assignee(assorted: dict[str, Escalation], writer: Client, lead: Any) -> None:
    target = assorted["old-open"]
    assert keys_of(writer.get(API, {"q": target.key.lower()}).json()) == [target.key]
    assert keys_of(writer.get(API, {"assignee": lead.pk}).json()) == [assorted["dismissed"].key]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "deleted"}, "status"),
        ({"deadline_state": "bogus"}, "deadline_state"),
        ({"assignee": "x"}, "assignee"),
    ],
)
def test_bad_filter_is_a_400_with_a_message_on_the_parameter(
    params: dict[str, str], field: str, writer: Client
) -> None:
    response = writer.get(API, params)
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body[field], list)
    assert body[field] and all(isinstance(message, str) and message for message in body[field])


def test_cursor_pagination_follows_next_links_without_duplicates(writer: Client, make_escalation: Any) -> None:
    made = [make_escalation() for _ in range(8)]
    response = writer.get(API, {"page_size": 3})
    body = response.json()
    assert body["previous"] is None
    seen: list[int] = []
    pages = 0
    while True:
        assert response.status_code == 200
        assert len(body["results"]) <= 3
        seen += [item["id"] for item in body["results"]]
        pages += 1
        # A new escalation logged while a client pages must not shift or repeat the pages.
        if pages == 1:
            make_escalation()
        if not body["next"]:
            break
        assert "cursor=" in body["next"]
        response = writer.get(body["next"])
        body = response.json()
    assert pages == 3
    assert len(seen) == len(set(seen)) == 8
    assert seen == sorted((e.pk for e in made), reverse=True)
    # And back again.
    assert body["previous"]
    back = writer.get(body["previous"]).json()
    assert [item["id"] for item in back["results"]] == seen[3:6]


def test_list_costs_the_same_few_queries_for_any_page(
    writer: Client, make_escalation: Any, lead: Any, django_assert_max_num_queries: Any
) -> None:
    for _ in range(3):
        make_escalation()
    writer.get(API)  # the token's last use is written once a minute: not part of the steady cost
    with django_assert_max_num_queries(4) as few:
        assert len(writer.get(API).json()["results"]) == 3
    for index in range(30):
        esc = make_escalation()
        if index % 2:
            services.confirm_preservation(
                actor=lead, escalation_id=esc.pk, version=esc.version, preservation_location="v/1"
            )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(writer.get(API).json()["results"]) == 33


def test_bad_cursor_is_a_400_naming_the_cursor_not_a_500(writer: Client) -> None:
    response = writer.get(API, {"cursor": "é!"})
    assert response.status_code == 400
    assert list(response.json()) == ["cursor"]


# --- create ------------------------------------------------------------------------------------


def test_create_returns_201_with_the_escalation_and_audits_it(writer: Client, lead: Any) -> None:
    knowledge = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    response = post(
        writer,
        API,
        new_data(
            knowledge_at=knowledge.isoformat(), priority="urgent", urgent_reason="Live stream.", notes="From the queue."
        ),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    esc = Escalation.objects.get()
    assert body["id"] == esc.pk
    assert body["key"] == esc.key
    assert body["version"] == 1
    assert body["status"] == "open"
    assert body["priority"] == "urgent"
    assert datetime.fromisoformat(body["knowledge_at"]) == knowledge == esc.knowledge_at
    assert esc.created_by == lead
    assert esc.assignee is None  # a pipeline's escalation waits for a moderator to take it
    event = AuditEvent.objects.get(escalation=esc)
    assert (event.action, event.actor, event.via) == ("created", lead, "token:pipeline")


def test_create_with_report_id_records_the_report_in_one_go(writer: Client) -> None:
    now = timezone.now()
    response = post(
        writer,
        API,
        new_data(
            knowledge_at=(now - timedelta(hours=3)).isoformat(),
            reported_at=(now - timedelta(hours=1)).isoformat(),
            cybertipline_report_id="0045",
        ),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "reported"
    assert body["cybertipline_report_id"] == "45"
    assert body["reported_on_time"] is True
    actions = list(escalation_trail().order_by("pk").values_list("action", flat=True))
    assert actions == ["created", "report_recorded"]


def test_created_test_record_says_so_in_json(writer: Client) -> None:
    response = post(writer, API, new_data(is_test=True))
    assert response.status_code == 201
    assert response.json()["is_test"] is True
    esc = Escalation.objects.get()
    assert esc.is_test is True
    assert writer.get(f"{API}{esc.pk}/").json()["is_test"] is True
    assert post(writer, API, new_data(platform_reference="t-2")).json()["is_test"] is False


def _page_form_errors(client: Any, url: str, data: dict[str, Any], field: str) -> list[str]:
    response = client.post(url, data)
    assert response.status_code in (200, 400), response.status_code  # the form again, never a 500
    errors = list(response.context["form"].errors.get(field, []))
    assert errors, response.context["form"].errors
    return errors


@pytest.mark.parametrize(
    ("field", "api_value", "page_value"),
    [
        ("platform_reference", "see data:image/png;base64,iVBORw0KGgo", "see data:image/png;base64,iVBORw0KGgo"),
        ("knowledge_at", "2026-05-04T12:00:00Z", "2026-05-04T12:00"),
        ("knowledge_at", "1999-12-31T10:00:00Z", "1999-12-31T10:00"),
        ("urgent_reason", "", ""),
        ("notes", "data:text/html;base64,PHA+", "data:text/html;base64,PHA+"),
    ],
    ids=["data-uri", "future", "before-2000", "urgent-no-reason", "notes-content"],
)
def test_create_errors_are_json_per_field_with_the_pages_messages(
    field: str, api_value: str, page_value: str, writer: Client, moderator: Any, client_for: Any
) -> None:
    with time_machine.travel(NOW, tick=False):
        extra = {"priority": "urgent"} if field == "urgent_reason" else {}
        response = post(writer, API, new_data(**{field: api_value}, **extra))
        assert response.status_code == 400, response.content
        body = response.json()

        browser = client_for(moderator)  # posts urlencoded, as the page's form does
        form = {
            "platform_reference": "ticket-7001",
            "incident_type": "online_enticement",
            "priority": "standard",
            "urgent_reason": "",
            "knowledge_at": "2026-05-04T08:00",
            "notes": "",
            **extra,
            field: page_value,
        }
        page_errors = _page_form_errors(browser, "/escalations/new/", form, field)
    assert body[field] == page_errors
    assert Escalation.objects.count() == 0
    assert escalation_trail().count() == 0


def test_blank_fields_get_the_services_message(writer: Client, make_escalation: Any) -> None:
    # A blank value reaches the services, which say what to enter (the page's browser form stops a
    # blank required field earlier, with Django's "This field is required.").
    response = post(writer, API, new_data(platform_reference="   "))
    assert response.status_code == 400
    assert response.json() == {
        "platform_reference": ["Platform reference is required: enter the platform's ID or internal URL."]
    }
    esc = make_escalation()
    response = post(
        writer,
        f"{API}{esc.pk}/report/",
        {"reported_at": timezone.now().isoformat(), "cybertipline_report_id": ""},
    )
    assert response.status_code == 400
    assert response.json() == {
        "cybertipline_report_id": ["CyberTipline report ID is required: the number NCMEC returned."]
    }


def test_missing_fields_each_get_a_message(writer: Client) -> None:
    response = post(writer, API, {"notes": "no facts"})
    assert response.status_code == 400
    body = response.json()
    for name in ("platform_reference", "incident_type", "knowledge_at"):
        assert body[name] == ["This field is required."], name


def test_several_bad_fields_answer_together(writer: Client) -> None:
    response = post(writer, API, new_data(platform_reference="", incident_type="other", priority="high"))
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= {"platform_reference", "incident_type", "priority"}
    assert body["priority"] == ["Priority must be standard or urgent."]


def test_a_body_that_is_not_an_object_is_a_400_with_detail(writer: Client) -> None:
    response = post(writer, API, [new_data()])
    assert response.status_code == 400
    assert response.json() == {"detail": ["Invalid data. Expected a dictionary, but got list."]}
    assert Escalation.objects.count() == 0


def test_a_non_json_body_is_a_400_and_a_form_body_415(writer: Client) -> None:
    response = writer.post(API, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()
    response = writer.post(API, "platform_reference=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert Escalation.objects.count() == 0


# --- report: the same messages as the report page ------------------------------------------------


def _report_page_errors(browser: Any, esc: Escalation, report_id: str, field: str) -> list[str]:
    data = {
        "version": esc.version,
        "reported_at": (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "cybertipline_report_id": report_id,
    }
    return _page_form_errors(browser, f"/escalations/{esc.pk}/report/", data, field)


@pytest.mark.parametrize("report_id", ["12ab", "45 64", "٤٥٦", "0", "1" * 20, "4564654", "004564654"])
def test_report_id_errors_match_the_report_page(
    report_id: str, writer: Client, moderator: Any, make_escalation: Any, client_for: Any
) -> None:
    with time_machine.travel(NOW, tick=False):
        holder = make_escalation(
            knowledge_at=NOW - timedelta(hours=2), reported_at=NOW - timedelta(hours=1), report_id="4564654"
        )
        esc = make_escalation(knowledge_at=NOW - timedelta(hours=1))
        response = post(
            writer,
            f"{API}{esc.pk}/report/",
            {"reported_at": (NOW - timedelta(minutes=5)).isoformat(), "cybertipline_report_id": report_id},
        )
        assert response.status_code == 400, response.content
        messages = response.json()["cybertipline_report_id"]
        assert messages == _report_page_errors(client_for(moderator), esc, report_id, "cybertipline_report_id")
    if report_id.lstrip("0") == "4564654":
        assert messages == [f"CyberTipline report ID 4564654 is already recorded on {holder.key}."]
    esc.refresh_from_db()
    assert (esc.status, esc.cybertipline_report_id, esc.version) == ("open", None, 1)


def test_report_records_the_report(writer: Client, make_escalation: Any, lead: Any) -> None:
    esc = make_escalation(knowledge_at=timezone.now() - timedelta(hours=3))
    reported = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    response = post(
        writer,
        f"{API}{esc.pk}/report/",
        {"reported_at": reported.isoformat(), "cybertipline_report_id": "4564654", "version": esc.version},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "reported"
    assert body["cybertipline_report_id"] == "4564654"
    assert datetime.fromisoformat(body["reported_at"]) == reported
    assert body["version"] == esc.version + 1
    assert body["preserve_until"] is not None
    event = AuditEvent.objects.filter(escalation=esc).latest("pk")
    assert (event.action, event.actor, event.via) == ("report_recorded", lead, "token:pipeline")
    assert event.changes["cybertipline_report_id"] == [None, "4564654"]


def test_late_report_needs_a_breach_reason(writer: Client, make_escalation: Any) -> None:
    esc = make_escalation(knowledge_at=timezone.now() - timedelta(days=3))
    url = f"{API}{esc.pk}/report/"
    reported = (timezone.now() - timedelta(hours=1)).isoformat()
    response = post(writer, url, {"reported_at": reported, "cybertipline_report_id": "99"})
    assert response.status_code == 400
    assert response.json()["breach_reason"][0].startswith("Breach reason is required")
    response = post(writer, url, {"reported_at": reported, "cybertipline_report_id": "99", "breach_reason": "volume"})
    assert response.status_code == 200
    assert response.json()["breach_reason"] == "volume"
    assert response.json()["reported_on_time"] is False


# --- partial update ----------------------------------------------------------------------------


def test_partial_update_changes_only_what_is_sent(writer: Client, make_escalation: Any, lead: Any) -> None:
    esc = make_escalation(notes="first")
    response = patch(writer, f"{API}{esc.pk}/", {"notes": "second", "priority": "urgent", "urgent_reason": "Threat."})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["notes"], body["priority"], body["urgent_reason"]) == ("second", "urgent", "Threat.")
    assert body["platform_reference"] == esc.platform_reference
    assert body["version"] == 2
    # The urgent target is shorter: the deadline moved with the priority.
    assert datetime.fromisoformat(body["report_due_at"]) < esc.report_due_at
    event = AuditEvent.objects.filter(escalation=esc).latest("pk")
    assert (event.action, event.actor, event.via) == ("edited", lead, "token:pipeline")
    assert event.changes["notes"] == ["first", "second"]


def test_partial_update_refuses_bad_input_with_the_services_message(writer: Client, make_escalation: Any) -> None:
    esc = make_escalation()
    response = patch(writer, f"{API}{esc.pk}/", {"priority": "urgent"})
    assert response.status_code == 400
    assert response.json()["urgent_reason"] == [
        "Urgent reason is required for an urgent escalation: say why a child may be in imminent danger."
    ]
    esc.refresh_from_db()
    assert (esc.priority, esc.version) == ("standard", 1)


# --- versions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("patch", "", {"notes": "mine"}),
        ("post", "report/", {"reported_at": "@", "cybertipline_report_id": "123"}),
        ("post", "preservation/", {"preservation_location": "vault/1"}),
        ("post", "assign/", {"assignee": "leader"}),
        ("post", "dismiss/", {"reason": "Not reportable."}),
    ],
)
def test_stale_version_is_a_409_and_nothing_is_written(
    method: str, suffix: str, data: dict[str, Any], writer: Client, make_escalation: Any, moderator: Any
) -> None:
    esc = make_escalation(knowledge_at=timezone.now() - timedelta(hours=2))
    # Someone else saved after the client read version 1.
    esc = services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=1, data={"notes": "theirs"})
    events = AuditEvent.objects.count()
    data = {k: (timezone.now() - timedelta(minutes=1)).isoformat() if v == "@" else v for k, v in data.items()}
    url = f"{API}{esc.pk}/{suffix}"
    body = {**data, "version": 1}
    response = patch(writer, url, body) if method == "patch" else post(writer, url, body)
    assert response.status_code == 409, response.content
    answer = response.json()
    assert answer["version"] == 2
    assert esc.key in answer["detail"] and "mod" in answer["detail"]
    fresh = Escalation.objects.get(pk=esc.pk)
    assert (fresh.version, fresh.notes, fresh.status) == (2, "theirs", "open")
    assert fresh.cybertipline_report_id is None
    assert AuditEvent.objects.count() == events

    # With the current version (or none at all), the same request goes through.
    response = (
        patch(writer, url, {**data, "version": 2}) if method == "patch" else post(writer, url, {**data, "version": 2})
    )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 3


def test_version_is_optional(writer: Client, make_escalation: Any) -> None:
    esc = make_escalation()
    services.edit_escalation(actor=esc.created_by, escalation_id=esc.pk, version=1, data={"notes": "x"})
    response = patch(writer, f"{API}{esc.pk}/", {"notes": "y"})
    assert response.status_code == 200
    assert response.json()["version"] == 3


# --- actions and roles ---------------------------------------------------------------------------


def test_preservation_assign_dismiss_by_a_leads_token(
    writer: Client, make_escalation: Any, lead: Any, moderator: Any
) -> None:
    esc = make_escalation(
        knowledge_at=timezone.now() - timedelta(hours=3), reported_at=timezone.now() - timedelta(hours=1)
    )
    response = post(writer, f"{API}{esc.pk}/preservation/", {"preservation_location": "vault://case/1"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["preservation_location"] == "vault://case/1"
    assert body["preservation_confirmed_by"] == lead.username
    assert ISO_8601.match(body["preservation_confirmed_at"])

    other = make_escalation()
    response = post(writer, f"{API}{other.pk}/assign/", {"assignee": lead.username})
    assert response.status_code == 200
    assert response.json()["assignee"] == lead.username
    response = post(writer, f"{API}{other.pk}/assign/", {"assignee": None})
    assert response.status_code == 200
    assert response.json()["assignee"] is None
    response = post(writer, f"{API}{other.pk}/assign/", {"assignee": "ghost"})
    assert response.status_code == 400
    assert response.json() == {"assignee": ["No active moderator or lead is named 'ghost'."]}

    response = post(writer, f"{API}{other.pk}/dismiss/", {"reason": "Duplicate of an earlier report."})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_reason"]) == (
        "dismissed",
        "Duplicate of an earlier report.",
    )
    response = post(writer, f"{API}{other.pk}/dismiss/", {"reason": "Again."})
    assert response.status_code == 400
    assert "Only open escalations can be dismissed" in response.json()["detail"][0]

    events = AuditEvent.objects.filter(via="token:pipeline")
    assert sorted(events.values_list("action", flat=True)) == [
        "assigned",
        "assigned",
        "dismissed",
        "preservation_confirmed",
    ]
    assert set(events.values_list("actor", flat=True)) == {lead.pk}


def test_close_after_the_preservation_period(writer: Client, make_escalation: Any, lead: Any) -> None:
    now = timezone.now()
    esc = make_escalation(knowledge_at=now - timedelta(days=400), reported_at=now - timedelta(days=390))
    esc = services.confirm_preservation(
        actor=lead, escalation_id=esc.pk, version=esc.version, preservation_location="v/1"
    )
    # The evidence was neither released nor kept on purpose: not yet.
    response = post(writer, f"{API}{esc.pk}/close/", {"reason": "Preservation ended."})
    assert response.status_code == 400
    assert "evidence has not been released" in response.json()["detail"][0]
    response = post(writer, f"{API}{esc.pk}/close/", {"reason": "", "retained": True})
    assert response.status_code == 400
    assert response.json() == {"reason": ["Reason is required."]}
    assert Escalation.objects.get(pk=esc.pk).version == esc.version
    response = post(
        writer,
        f"{API}{esc.pk}/close/",
        {"reason": "Preservation ended.", "retained": True, "version": esc.version},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    event = AuditEvent.objects.filter(escalation=esc).latest("pk")
    assert (event.action, event.actor, event.via, event.reason) == (
        "closed",
        lead,
        "token:pipeline",
        "Preservation ended.",
    )

    young = make_escalation(knowledge_at=now - timedelta(hours=3), reported_at=now - timedelta(hours=1))
    response = post(writer, f"{API}{young.pk}/close/", {"reason": "Too soon."})
    assert response.status_code == 400
    assert "can't be closed before its preservation period ends" in response.json()["detail"][0]


def test_a_moderators_token_can_report_but_not_dismiss_assign_or_close(make_user: Any, make_escalation: Any) -> None:
    # A lead made the token, then moved to moderation: the token acts with the creator's role now.
    from django.contrib.auth.models import Group

    person = make_user("former-lead", "lead")
    client = token_client(make_token(person, name="mod-pipeline"))
    person.groups.set([Group.objects.get(name="moderator")])
    esc = make_escalation(knowledge_at=timezone.now() - timedelta(hours=2))

    for suffix, data, message in [
        ("dismiss/", {"reason": "no"}, "Only a lead can dismiss an escalation."),
        ("close/", {"reason": "no"}, "Only a lead can close an escalation."),
        ("assign/", {"assignee": None}, "Only a lead can assign escalations."),
    ]:
        response = post(client, f"{API}{esc.pk}/{suffix}", data)
        assert response.status_code == 403, suffix
        assert response.json() == {"detail": message}
    esc.refresh_from_db()
    assert (esc.status, esc.version) == ("open", 1)

    response = post(
        client,
        f"{API}{esc.pk}/report/",
        {"reported_at": (timezone.now() - timedelta(minutes=5)).isoformat(), "cybertipline_report_id": "31337"},
    )
    assert response.status_code == 200
    assert AuditEvent.objects.filter(via="token:mod-pipeline", actor=person, action="report_recorded").count() == 1
    assert not AuditEvent.objects.filter(via="token:mod-pipeline").exclude(action="report_recorded").exists()


def test_an_auditor_reads_but_cannot_write(auditor: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    browser = Client()
    browser.force_login(auditor)
    assert browser.get(f"{API}{esc.pk}/").status_code == 200
    response = post(browser, API, new_data())
    assert response.status_code == 403
    assert patch(browser, f"{API}{esc.pk}/", {"notes": "x"}).status_code == 403
    assert Escalation.objects.count() == 1


def test_people_without_a_role_and_strangers_are_refused(nobody: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    browser = Client()
    browser.force_login(nobody)
    assert browser.get(API).status_code == 403
    assert browser.get(f"{API}{esc.pk}/").status_code == 403
    anonymous = Client().get(API)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Bearer"
    assert "detail" in anonymous.json()


# --- audit events and reminders --------------------------------------------------------------------


def test_audit_events_endpoint_lists_the_trail_with_via(writer: Client, make_escalation: Any, lead: Any) -> None:
    esc = make_escalation()
    patch(writer, f"{API}{esc.pk}/", {"notes": "by the machine"})
    response = writer.get(f"{API}{esc.pk}/audit-events/")
    assert response.status_code == 200
    events = response.json()
    assert [e["action"] for e in events] == ["created", "edited"]
    assert [e["via"] for e in events] == ["", "token:pipeline"]
    assert [e["actor"] for e in events] == ["mod", lead.username]
    assert [e["version"] for e in events] == [1, 2]
    assert events[1]["changes"]["notes"] == ["", "by the machine"]
    assert all(ISO_8601.match(e["at"]) for e in events)
    assert writer.get(f"{API}987654/audit-events/").status_code == 404


def test_reminders_endpoint(writer: Client, make_escalation: Any) -> None:
    from escalations.models import Reminder

    esc = make_escalation()
    due = timezone.now() + timedelta(hours=20)
    Reminder.objects.create(escalation=esc, kind="report_due_soon", due_at=due)
    Reminder.objects.create(
        escalation=esc,
        kind="report_overdue",
        due_at=due + timedelta(hours=4),
        cancelled_at=due,
        cancel_reason="Reported.",
    )
    response = writer.get(f"{API}{esc.pk}/reminders/")
    assert response.status_code == 200
    items = response.json()
    assert [r["kind"] for r in items] == ["report_due_soon", "report_overdue"]
    assert datetime.fromisoformat(items[0]["due_at"]) == due
    assert items[0]["sent_at"] is None and items[0]["cancelled_at"] is None
    assert items[1]["cancel_reason"] == "Reported."
    assert writer.get(f"{API}{make_escalation().pk}/reminders/").json() == []


# --- sessions for people, with CSRF -------------------------------------------------------------


def test_session_auth_works_and_unsafe_methods_need_csrf(moderator: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(moderator)
    assert browser.get(f"{API}{esc.pk}/").status_code == 200

    refused = post(browser, API, new_data())
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert patch(browser, f"{API}{esc.pk}/", {"notes": "x"}).status_code == 403
    assert Escalation.objects.count() == 1

    browser.get("/escalations/new/")  # a page with a form sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    response = post(browser, API, new_data(), **{"X-CSRFToken": csrf})
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.get(escalation_id=response.json()["id"])
    assert (event.actor, event.via) == (moderator, "")  # in person, not through a token


def test_token_requests_need_no_csrf(lead: Any) -> None:
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {make_token(lead)}"})
    assert post(client, API, new_data()).status_code == 201


# --- idempotency ---------------------------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_first_answer(writer: Client) -> None:
    data = new_data()
    first = post(writer, API, data, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert not first.has_header("Idempotent-Replayed")
    again = post(writer, API, data, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Escalation.objects.count() == 1
    assert escalation_trail().count() == 1


def test_same_key_with_another_body_is_a_409(writer: Client) -> None:
    assert post(writer, API, new_data(), **{"Idempotency-Key": "k-1"}).status_code == 201
    response = post(writer, API, new_data(notes="changed"), **{"Idempotency-Key": "k-1"})
    assert response.status_code == 409
    assert "different request body" in response.json()["detail"]
    assert Escalation.objects.count() == 1


def test_different_keys_make_two_escalations(writer: Client) -> None:
    data = new_data()
    a = post(writer, API, data, **{"Idempotency-Key": "k-1"})
    b = post(writer, API, data, **{"Idempotency-Key": "k-2"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert Escalation.objects.count() == 2


def test_idempotency_keys_are_per_client(writer: Client, lead: Any, moderator: Any) -> None:
    data = new_data()
    first = post(writer, API, data, **{"Idempotency-Key": "shared"})
    other = token_client(make_token(lead, name="other-system"))
    second = post(other, API, data, **{"Idempotency-Key": "shared"})
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert not second.has_header("Idempotent-Replayed")
    # A person's session is a client of its own too.
    browser = Client()
    browser.force_login(moderator)
    third = post(browser, API, data, **{"Idempotency-Key": "shared"})
    assert third.status_code == 201
    assert len({first.json()["id"], second.json()["id"], third.json()["id"]}) == 3


def test_a_refused_request_does_not_burn_the_key(writer: Client) -> None:
    bad = post(writer, API, new_data(platform_reference=""), **{"Idempotency-Key": "k-1"})
    assert bad.status_code == 400
    assert IdempotencyRecord.objects.count() == 0
    good = post(writer, API, new_data(), **{"Idempotency-Key": "k-1"})
    assert good.status_code == 201
    assert not good.has_header("Idempotent-Replayed")
    assert Escalation.objects.count() == 1


def test_an_overlong_key_is_refused(writer: Client) -> None:
    response = post(writer, API, new_data(), **{"Idempotency-Key": "k" * 201})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert Escalation.objects.count() == 0


def test_a_replay_survives_later_changes_to_the_escalation(writer: Client) -> None:
    data = new_data()
    first = post(writer, API, data, **{"Idempotency-Key": "k-1"})
    patch(writer, f"{API}{first.json()['id']}/", {"notes": "later"})
    again = post(writer, API, data, **{"Idempotency-Key": "k-1"})
    assert again.json()["id"] == first.json()["id"]
    assert Escalation.objects.count() == 1


def test_a_key_still_in_progress_is_a_409_until_its_claim_is_abandoned(writer: Client, lead: Any) -> None:
    from escalations.api.idempotency import request_hash

    token = ServiceToken.objects.get(name="pipeline")
    data = new_data(knowledge_at=(NOW - timedelta(hours=1)).isoformat())
    with time_machine.travel(NOW, tick=False):
        # A request claimed the key, and its process died before answering.
        IdempotencyRecord.objects.create(owner=f"token:{token.pk}", key="k-1", request_hash=request_hash(data))
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        response = post(writer, API, data, **{"Idempotency-Key": "k-1"})
        assert response.status_code == 409
        assert "still being processed" in response.json()["detail"]
        assert Escalation.objects.count() == 0
    with time_machine.travel(NOW + timedelta(minutes=6), tick=False):
        response = post(writer, API, data, **{"Idempotency-Key": "k-1"})
        assert response.status_code == 201, response.content
        again = post(writer, API, data, **{"Idempotency-Key": "k-1"})
        assert again["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == response.json()["id"]
    assert Escalation.objects.count() == 1


# --- bulk ----------------------------------------------------------------------------------------


def bulk_items(count: int, prefix: str = "bulk") -> list[dict[str, Any]]:
    knowledge = (timezone.now() - timedelta(hours=1)).isoformat()
    return [
        {"platform_reference": f"{prefix}-{i}", "incident_type": "child_pornography", "knowledge_at": knowledge}
        for i in range(count)
    ]


def test_bulk_creates_every_item_audited(writer: Client, lead: Any) -> None:
    response = post(writer, f"{API}bulk/", bulk_items(5))
    assert response.status_code == 201, response.content
    body = response.json()
    assert [item["platform_reference"] for item in body] == [f"bulk-{i}" for i in range(5)]
    assert all(item["key"].startswith("ESC-") for item in body)
    assert Escalation.objects.count() == 5
    assert AuditEvent.objects.filter(action="created", via="token:pipeline", actor=lead).count() == 5


def test_bulk_of_1000_is_accepted(writer: Client) -> None:
    response = post(writer, f"{API}bulk/", bulk_items(1000))
    assert response.status_code == 201
    assert len(response.json()) == 1000
    assert Escalation.objects.count() == 1000
    assert escalation_trail().count() == 1000


def test_bulk_is_all_or_nothing_with_errors_by_index(writer: Client, make_escalation: Any) -> None:
    make_escalation()
    escalations, events = Escalation.objects.count(), AuditEvent.objects.count()
    items = bulk_items(1000)
    items[3]["platform_reference"] = "data:image/png;base64,AAAA"
    items[997]["knowledge_at"] = "yesterday"
    items[999] = "not an object"  # type: ignore[call-overload]
    items[998] = None  # type: ignore[call-overload]
    response = post(writer, f"{API}bulk/", items)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"3", "997", "998", "999"}
    assert errors["998"] == {"detail": ["No data provided"]}
    assert "data: URI" in errors["3"]["platform_reference"][0]
    assert "knowledge_at" in errors["997"]
    assert errors["999"] == {"detail": ["Invalid data. Expected a dictionary, but got str."]}
    assert Escalation.objects.count() == escalations
    assert AuditEvent.objects.count() == events


def test_bulk_reads_its_items_with_one_input_serializer(writer: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a serializer copies every one of its fields: once a call, not once an item (at 1,000
    items that copying was a fifth of the call's time)."""
    built = []
    original = EscalationCreateInput.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(EscalationCreateInput, "__init__", counted)
    items = bulk_items(50)
    items[7]["knowledge_at"] = "yesterday"
    refused = post(writer, f"{API}bulk/", items)
    assert refused.status_code == 400 and set(refused.json()["errors"]) == {"7"}
    assert len(built) == 2  # and one more to word the refused item's message
    built.clear()
    assert post(writer, f"{API}bulk/", bulk_items(50)).status_code == 201
    assert len(built) == 1


@pytest.mark.parametrize("size", [5, 300])
def test_bulk_costs_the_same_queries_whatever_its_size(size: int, writer: Client, moderator: Any) -> None:
    """Checked and written as one batch, answered from one read: no query per item (an INSERT holds as
    many rows as the database takes parameters; on SQLite a few dozen escalations)."""
    items = bulk_items(size)
    for item in items[::2]:
        item["assignee"] = "mod"
    with CaptureQueriesContext(connection) as done:
        response = post(writer, f"{API}bulk/", items)
    assert response.status_code == 201, response.content
    assert {item["created_by"] for item in response.json()} == {"leader"}
    statements = [q["sql"] for q in done.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    others = [sql for sql in statements if not sql.startswith("INSERT")]
    assert len(others) <= 12, others
    per_insert = connection.ops.bulk_batch_size(Escalation._meta.concrete_fields, items) or size
    assert len(statements) - len(others) <= 1 + 4 * math.ceil(size / per_insert)


@pytest.mark.parametrize(
    "payload",
    [[], "not a list", {"platform_reference": "x"}, 5, None],
    ids=["empty", "string", "object", "number", "null"],
)
def test_bulk_refuses_what_is_not_a_list_of_1_to_1000(payload: Any, writer: Client) -> None:
    response = post(writer, f"{API}bulk/", payload)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert Escalation.objects.count() == 0


def test_bulk_of_1001_is_refused_whole(writer: Client) -> None:
    response = post(writer, f"{API}bulk/", bulk_items(1001))
    assert response.status_code == 400
    assert "1001" in response.json()["detail"][0]
    assert Escalation.objects.count() == 0
    assert escalation_trail().count() == 0


def test_bulk_needs_a_write_scope_and_a_writing_role(lead: Any, auditor: Any) -> None:
    reader = token_client(make_token(lead, scope="read", name="reader"))
    assert post(reader, f"{API}bulk/", bulk_items(2)).status_code == 403
    browser = Client()
    browser.force_login(auditor)
    assert post(browser, f"{API}bulk/", bulk_items(2)).status_code == 403
    assert Escalation.objects.count() == 0
