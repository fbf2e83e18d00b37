"""The pages, driven the way a browser drives them: urlencoded posts, times typed in the user's zone."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from escalations import policy
from escalations.core import services
from escalations.models import AuditEvent, Escalation, IncidentType, Priority, Status, UserProfile
from tests.conftest import escalation_trail
from tests.encoded_media import TINY_PNG_BASE64

NEW_YORK = "America/New_York"


# --- helpers -----------------------------------------------------------------------------------


def typed(moment: datetime, zone: str = "UTC") -> str:
    """`moment` as a person in `zone` types it into a datetime-local input."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def form_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "platform_reference": "ticket-5001",
        "incident_type": IncidentType.CHILD_PORNOGRAPHY,
        "priority": Priority.STANDARD,
        "urgent_reason": "",
        "knowledge_at": typed(timezone.now() - timedelta(hours=1)),
        "notes": "",
    }
    data.update(overrides)
    return data


def page(response: Any) -> str:
    return response.content.decode()


def field_block(response: Any, name: str) -> str:
    """The rendered HTML of one form field: its input, its errors and its help."""
    content = page(response)
    start = content.find(f'id="field-{name}"')
    assert start != -1, f"no field {name} on the page"
    end = min(i for i in (content.find('id="field-', start + 1), content.find("</form>", start)) if i != -1)
    return content[start:end]


def assert_field_error(response: Any, name: str, fragment: str) -> None:
    """The page re-rendered (never a 500) with `fragment` in the error shown on field `name`."""
    assert response.status_code == 200, response.status_code
    errors = response.context["form"].errors.get(name, [])
    assert any(fragment in e for e in errors), f"{name}: {errors!r} lacks {fragment!r}"
    block = field_block(response, name)
    assert 'class="field-errors" role="alert"' in block
    assert fragment in html.unescape(block)


def non_field_errors(response: Any) -> list[str]:
    return list(response.context["form"].non_field_errors())


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def row_keys(response: Any) -> list[str]:
    """The ESC keys of the table rows, in page order."""
    return re.findall(r'<tr[^>]*data-key="(ESC-\d{6,})"', page(response))


def set_zone(user: Any, zone: str) -> None:
    UserProfile.objects.update_or_create(user=user, defaults={"time_zone": zone})


# --- create ------------------------------------------------------------------------------------


def test_moderator_signs_in_logs_an_escalation_and_finds_it_in_my_queue(moderator: Any, client_for: Any) -> None:
    client = client_for(None)
    response = client.post(
        "/accounts/login/",
        {"username": "mod", "password": "correct-horse-battery", "next": "/escalations/new/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/escalations/new/"
    assert client.get("/escalations/new/").status_code == 200

    response = client.post("/escalations/new/", form_data(platform_reference="ticket-777", notes="Seen in review."))
    assert response.status_code == 302
    esc = Escalation.objects.get()
    assert response["Location"] == f"/escalations/{esc.pk}/"
    assert re.fullmatch(r"ESC-\d{6}", esc.key)
    assert esc.assignee == moderator
    assert esc.created_by == moderator
    assert esc.status == Status.OPEN
    assert esc.version == 1

    detail = client.get(response["Location"])
    assert detail.status_code == 200
    assert esc.key in page(detail)
    assert f"{esc.key} logged." in messages_of(detail)[0]
    assert "ticket-777" in page(detail)

    queue = client.get("/escalations/mine/")
    assert row_keys(queue) == [esc.key]


def test_wrong_password_is_refused_on_the_login_page(moderator: Any, client_for: Any) -> None:
    client = client_for(None)
    response = client.post("/accounts/login/", {"username": "mod", "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/", "javascript:alert(1)"])
def test_login_never_redirects_off_site(target: str, moderator: Any, client_for: Any) -> None:
    response = client_for(None).post(
        "/accounts/login/", {"username": "mod", "password": "correct-horse-battery", "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == "/escalations/mine/"


def test_login_page_carries_next(client_for: Any) -> None:
    response = client_for(None).get("/escalations/42/edit/", follow=True)
    assert response.redirect_chain == [("/accounts/login/?next=/escalations/42/edit/", 302)]
    assert '<input type="hidden" name="next" value="/escalations/42/edit/">' in page(response)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param(
            {"knowledge_at": typed(timezone.now() + timedelta(days=2))},
            "knowledge_at",
            "Knowledge obtained can't be in the future",
            id="knowledge-in-future",
        ),
        pytest.param({"knowledge_at": "yesterday"}, "knowledge_at", "Enter a date and time", id="knowledge-garbage"),
        pytest.param({"knowledge_at": "1999-12-31T23:00"}, "knowledge_at", "before the year 2000", id="knowledge-1999"),
        pytest.param({"platform_reference": ""}, "platform_reference", "required", id="reference-empty"),
        pytest.param({"platform_reference": "   "}, "platform_reference", "required", id="reference-blank"),
        pytest.param(
            {"platform_reference": "x" * 2049}, "platform_reference", "at most 2048 characters", id="reference-2049"
        ),
        pytest.param(
            {"platform_reference": "ticket\x07-1"}, "platform_reference", "control or invisible", id="reference-bell"
        ),
        pytest.param(
            {"platform_reference": "ticket\u202e1-gnp"},
            "platform_reference",
            "control or invisible",
            id="reference-bidi-override",
        ),
        pytest.param(
            {"platform_reference": "ticket\x00-1"}, "platform_reference", "Null characters", id="reference-nul"
        ),
        pytest.param(
            {"platform_reference": "data:image/png;base64,iVBORw0KGgo="},
            "platform_reference",
            "data: URI",
            id="reference-data-uri",
        ),
        pytest.param(
            # An image in a URL's parameter (base64 of text, "QUJDRA" * 40, is text and passes now).
            {"platform_reference": "https://cdn.example/x?b=" + TINY_PNG_BASE64},
            "platform_reference",
            "a PNG image in base64",
            id="reference-base64",
        ),
        pytest.param({"priority": "urgent", "urgent_reason": ""}, "urgent_reason", "required", id="urgent-no-reason"),
        pytest.param({"incident_type": "other"}, "incident_type", "Select a valid choice", id="incident-unknown"),
        pytest.param({"notes": "see data:text/html;base64,PHA+"}, "notes", "file content", id="notes-data-uri"),
    ],
)
def test_create_bad_input_shows_a_message_on_the_field(
    overrides: dict[str, Any], field: str, message: str, moderator: Any, client_for: Any
) -> None:
    response = client_for(moderator).post("/escalations/new/", form_data(**overrides))
    assert_field_error(response, field, message)
    assert Escalation.objects.count() == 0
    assert escalation_trail().count() == 0


def test_duplicate_reference_is_allowed_but_warned_and_linked(
    moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    first = make_escalation(platform_reference="acct-42")
    client = client_for(moderator)

    response = client.post("/escalations/new/", form_data(platform_reference="acct-42"), follow=True)
    assert response.status_code == 200
    second = Escalation.objects.exclude(pk=first.pk).get()
    warnings = [m for m in messages_of(response) if "same platform reference" in m]
    assert warnings, messages_of(response)
    assert first.key in warnings[0]
    assert f'<a href="/escalations/{first.pk}/">{first.key}</a>' in page(response)

    # And the older one links back to the newer one.
    other = client.get(f"/escalations/{first.pk}/")
    assert f'<a href="/escalations/{second.pk}/">{second.key}</a>' in page(other)


def test_unrelated_reference_gets_no_warning(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    make_escalation(platform_reference="acct-42")
    response = client_for(moderator).post("/escalations/new/", form_data(platform_reference="acct-43"), follow=True)
    assert not [m for m in messages_of(response) if "same platform reference" in m]
    assert "Same platform reference on" not in page(response)


# --- record report -----------------------------------------------------------------------------


def report_data(esc: Escalation, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": esc.version,
        "reported_at": typed(timezone.now() - timedelta(minutes=5)),
        "cybertipline_report_id": "4564654",
    }
    data.update(overrides)
    return data


def test_record_report_moves_to_reported(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    response = client_for(moderator).post(f"/escalations/{esc.pk}/report/", report_data(esc), follow=True)
    assert response.status_code == 200
    esc.refresh_from_db()
    assert esc.status == Status.REPORTED
    assert esc.cybertipline_report_id == "4564654"
    assert "report recorded" in messages_of(response)[0]


@pytest.mark.parametrize(
    ("report_id", "message"),
    [
        ("12ab", "digits only"),
        ("45 64", "digits only"),
        ("٤٥٦", "digits only"),  # Arabic-Indic digits: isdigit() but not ASCII
        ("-5", "digits only"),
        ("0", "can't be 0"),
        ("1" * 20, "at most 19 digits"),
        ("", "required"),
    ],
)
def test_report_id_must_be_digits(
    report_id: str, message: str, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/report/", report_data(esc, cybertipline_report_id=report_id)
    )
    assert_field_error(response, "cybertipline_report_id", message)
    esc.refresh_from_db()
    assert esc.status == Status.OPEN
    assert esc.cybertipline_report_id is None


@pytest.mark.parametrize("typed_id", ["4564654", "004564654"])
def test_report_id_already_used_names_the_holder(
    typed_id: str, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    holder = make_escalation(reported_at=timezone.now() - timedelta(minutes=30), report_id="4564654")
    esc = make_escalation()
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/report/", report_data(esc, cybertipline_report_id=typed_id)
    )
    assert_field_error(response, "cybertipline_report_id", f"already recorded on {holder.key}")
    esc.refresh_from_db()
    assert esc.status == Status.OPEN


def test_reported_at_before_knowledge_is_refused(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation(knowledge_at=timezone.now() - timedelta(hours=3))
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/report/",
        report_data(esc, reported_at=typed(timezone.now() - timedelta(hours=5))),
    )
    assert_field_error(response, "reported_at", "can't be before knowledge was obtained")
    esc.refresh_from_db()
    assert esc.status == Status.OPEN
    assert esc.reported_at is None


def test_reported_at_in_future_is_refused(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/report/", report_data(esc, reported_at=typed(timezone.now() + timedelta(hours=2)))
    )
    assert_field_error(response, "reported_at", "can't be in the future")


def test_preservation_location_rejects_content(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/preservation/",
        {"version": esc.version, "preservation_location": "data:image/jpeg;base64,/9j/4AAQ"},
    )
    assert_field_error(response, "preservation_location", "data: URI")
    esc.refresh_from_db()
    assert esc.preservation_confirmed_at is None


def test_action_form_carries_hidden_version(moderator: Any, lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    for user, action in [(moderator, "edit"), (moderator, "report"), (moderator, "preservation"), (lead, "assign")]:
        content = page(client_for(user).get(f"/escalations/{esc.pk}/{action}/"))
        assert re.search(r'<input type="hidden" name="version" value="1"[^>]*>', content), action
    content = page(client_for(lead).get(f"/escalations/{esc.pk}/dismiss/"))
    assert re.search(r'<input type="hidden" name="version" value="1"[^>]*>', content)


def test_post_without_version_is_refused(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    data = form_data(notes="changed")
    response = client_for(moderator).post(f"/escalations/{esc.pk}/edit/", data)
    assert response.status_code == 200
    assert "version" in response.context["form"].errors
    esc.refresh_from_db()
    assert esc.notes == ""
    assert esc.version == 1


# --- stale version -----------------------------------------------------------------------------


def _version_on(response: Any) -> str:
    match = re.search(r'name="version" value="(\d+)"', page(response))
    assert match
    return match.group(1)


def test_stale_edit_names_who_changed_it_keeps_input_and_saves_nothing(
    moderator: Any, lead: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation(platform_reference="ticket-100", notes="original")
    first, second = client_for(lead), client_for(moderator)
    url = f"/escalations/{esc.pk}/edit/"

    # Both open the edit form and see version 1.
    assert _version_on(first.get(url)) == "1"
    assert _version_on(second.get(url)) == "1"
    knowledge = typed(esc.knowledge_at)

    saved = first.post(
        url, form_data(version=1, platform_reference="ticket-100", notes="lead's note", knowledge_at=knowledge)
    )
    assert saved.status_code == 302

    mine = form_data(
        version=1,
        platform_reference="ticket-100-b",
        incident_type=IncidentType.ONLINE_ENTICEMENT,
        notes="moderator's note",
        knowledge_at=knowledge,
    )
    response = second.post(url, mine)
    assert response.status_code == 200
    errors = non_field_errors(response)
    assert any(f"{esc.key} was changed by leader" in e and "nothing was saved" in e for e in errors), errors
    content = page(response)
    assert "was changed by leader" in html.unescape(content)
    # What the second user typed is still in the form ...
    assert 'value="ticket-100-b"' in content
    assert "moderator&#x27;s note</textarea>" in content
    assert re.search(r'<option value="online_enticement" selected>', content)
    # ... and the next attempt is based on the version they were just told about.
    assert _version_on(response) == "2"

    esc.refresh_from_db()
    assert esc.version == 2
    assert esc.platform_reference == "ticket-100"
    assert esc.notes == "lead's note"
    assert esc.incident_type == IncidentType.CHILD_PORNOGRAPHY
    assert not AuditEvent.objects.filter(escalation=esc, actor=moderator, action="edited").exists()

    # Saving again from the re-rendered form now works.
    response = second.post(url, {**mine, "version": _version_on(response)})
    assert response.status_code == 302
    esc.refresh_from_db()
    assert esc.platform_reference == "ticket-100-b"
    assert esc.version == 3


def test_stale_report_is_refused(moderator: Any, lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    client_for(lead).post(f"/escalations/{esc.pk}/assign/", {"version": 1, "assignee": lead.pk})
    response = client_for(moderator).post(f"/escalations/{esc.pk}/report/", report_data(esc, version=1))
    assert response.status_code == 200
    assert any("was changed by leader" in e for e in non_field_errors(response))
    assert 'value="4564654"' in page(response)
    esc.refresh_from_db()
    assert esc.status == Status.OPEN
    assert esc.assignee == lead


# --- time zones --------------------------------------------------------------------------------


def test_times_are_typed_and_shown_in_the_users_zone(moderator: Any, client_for: Any) -> None:
    set_zone(moderator, NEW_YORK)
    client = client_for(moderator)
    response = client.post("/escalations/new/", form_data(knowledge_at="2026-07-01T10:00"))
    assert response.status_code == 302, response.context["form"].errors
    esc = Escalation.objects.get()
    assert esc.knowledge_at == datetime(2026, 7, 1, 14, 0, tzinfo=UTC)

    content = page(client.get(f"/escalations/{esc.pk}/"))
    assert "<dt>Knowledge obtained</dt><dd>2026-07-01 10:00 EDT</dd>" in content
    # The report target (24 h later) is shown in the same zone.
    assert "2026-07-02 10:00 EDT" in content

    # The edit form offers the stored time back in the user's zone.
    edit = page(client.get(f"/escalations/{esc.pk}/edit/"))
    assert 'value="2026-07-01T10:00"' in edit

    # A user in UTC sees the same moment as 14:00 UTC.
    set_zone(moderator, "UTC")
    assert "2026-07-01 14:00 UTC" in page(client.get(f"/escalations/{esc.pk}/"))


@pytest.mark.parametrize(
    "local",
    [
        pytest.param("2026-03-08T02:30", id="spring-forward-does-not-exist"),
        pytest.param("2025-11-02T01:30", id="fall-back-is-ambiguous"),
    ],
)
def test_dst_gap_or_overlap_is_a_field_error(local: str, moderator: Any, client_for: Any) -> None:
    set_zone(moderator, NEW_YORK)
    response = client_for(moderator).post("/escalations/new/", form_data(knowledge_at=local))
    assert_field_error(response, "knowledge_at", "America/New_York")
    # Not a bare refusal: the message asks which of the two moments is meant.
    assert "choose which one you mean" in response.context["form"].errors["knowledge_at"][0]
    assert 'name="knowledge_at__which"' in page(response)
    assert Escalation.objects.count() == 0


def test_dst_gap_on_report_is_a_field_error(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    set_zone(moderator, NEW_YORK)
    esc = make_escalation(knowledge_at=datetime(2026, 3, 7, 12, tzinfo=UTC))
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/report/", report_data(esc, reported_at="2026-03-08T02:30")
    )
    assert_field_error(response, "reported_at", "America/New_York")


def test_profile_sets_the_time_zone(moderator: Any, client_for: Any) -> None:
    client = client_for(moderator)
    response = client.post("/accounts/profile/", {"time_zone": NEW_YORK}, follow=True)
    assert response.status_code == 200
    assert "Profile saved." in messages_of(response)
    assert UserProfile.objects.get(user=moderator).time_zone == NEW_YORK

    response = client.post("/accounts/profile/", {"time_zone": "Mars/Olympus_Mons"})
    assert_field_error(response, "time_zone", "is not a time zone on the list")
    assert UserProfile.objects.get(user=moderator).time_zone == NEW_YORK


# --- detail page -------------------------------------------------------------------------------


def test_detail_shows_deadlines_and_timeline(moderator: Any, lead: Any, client_for: Any, make_escalation: Any) -> None:
    knowledge = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    esc = make_escalation(knowledge_at=knowledge, reported_at=knowledge + timedelta(hours=30), report_id="555")
    services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=lead)

    content = page(client_for(moderator).get(f"/escalations/{esc.pk}/"))
    # Deadlines: labels, due times, states.
    assert "File the CyberTipline report (internal target)" in content
    assert "2026-05-02 08:00 UTC" in content  # report target: 24 h after knowledge
    assert "late</strong>" in content  # reported 30 h after knowledge
    assert "Confirm the content is preserved" in content
    assert "2026-05-03 14:00 UTC" in content  # confirmation due 24 h after the report
    assert "Preservation period ends" in content
    assert "2027-05-02 14:00 UTC" in content  # one calendar year after the report
    # Timeline: every audit event, oldest first, with who did it.
    actions = re.findall(r"<li>\s*<div><strong>([^<]+)</strong> by (\w+)", content)
    assert actions == [("Logged", "mod"), ("Report recorded", "mod"), ("Assigned", "leader")]
    assert "CyberTipline report ID" in content
    assert AuditEvent.objects.filter(escalation=esc).count() == 3


def test_detail_shows_dismiss_reason_in_timeline(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, reason="Adult content.")
    content = page(client_for(lead).get(f"/escalations/{esc.pk}/"))
    assert "Reason: Adult content." in content
    assert "Dismissed" in content


@pytest.mark.parametrize(
    "url",
    ["https://platform.example/content/123", "http://admin.internal/ticket?id=9&view=full", "HTTPS://X.EXAMPLE/A.PNG"],
)
def test_http_reference_is_a_plain_link_never_an_image(
    url: str, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation(platform_reference=url)
    content = page(client_for(moderator).get(f"/escalations/{esc.pk}/"))
    escaped = html.escape(url)
    assert re.search(
        rf'<a href="{re.escape(escaped)}" rel="noopener noreferrer"[^>]*>{re.escape(escaped)}</a>', content
    )
    assert "<img" not in content.lower()


@pytest.mark.parametrize(
    "reference",
    [
        "javascript:alert(1)",
        'https://x.example/"onmouseover="alert(1)',
        "<img src=x onerror=alert(1)>",
        "ftp://files.example/a",
    ],
)
def test_other_references_render_as_inert_text(
    reference: str, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation(platform_reference=reference)
    content = page(client_for(moderator).get(f"/escalations/{esc.pk}/"))
    assert f"<dd><code>{html.escape(reference)}</code></dd>" in content
    assert "<img" not in content.lower()
    assert 'href="javascript' not in content.lower()
    assert 'onmouseover="alert' not in content


def test_stored_html_in_notes_renders_escaped(moderator: Any, lead: Any, client_for: Any, make_escalation: Any) -> None:
    payload = "<script>alert(1)</script><b>bold</b>"
    esc = make_escalation(notes=payload, priority=Priority.URGENT, urgent_reason="<i>danger</i>")
    services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, reason="<em>nope</em>")
    content = page(client_for(moderator).get(f"/escalations/{esc.pk}/"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in content
    assert "&lt;i&gt;danger&lt;/i&gt;" in content
    assert "&lt;em&gt;nope&lt;/em&gt;" in content
    for raw in ("<script>alert(1)", "<b>bold</b>", "<i>danger</i>", "<em>nope</em>"):
        assert raw not in content


# --- lists and filters -------------------------------------------------------------------------

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _build_states(make_escalation: Any, lead: Any) -> dict[str, Escalation]:
    """One escalation in each situation the deadline policy distinguishes, all built at NOW."""
    h = timedelta(hours=1)
    d = timedelta(days=1)
    built = {
        "report-on-track": make_escalation(knowledge_at=NOW - 1 * h),
        "report-due-soon": make_escalation(knowledge_at=NOW - 21 * h),
        "report-overdue": make_escalation(knowledge_at=NOW - 30 * h),
        "urgent-due-soon": make_escalation(
            knowledge_at=NOW - 50 * timedelta(minutes=1), priority=Priority.URGENT, urgent_reason="Live stream."
        ),
        "urgent-overdue": make_escalation(knowledge_at=NOW - 2 * h, priority=Priority.URGENT, urgent_reason="Threat."),
        "confirm-on-track": make_escalation(knowledge_at=NOW - 3 * h, reported_at=NOW - 2 * h),
        "confirm-overdue": make_escalation(knowledge_at=NOW - 3 * d, reported_at=NOW - 2 * d),
        "preserve-on-track": make_escalation(knowledge_at=NOW - 60 * d, reported_at=NOW - 59 * d),
        "preserve-ending": make_escalation(knowledge_at=NOW - 360 * d, reported_at=NOW - 350 * d),
        "preserve-ended": make_escalation(knowledge_at=NOW - 400 * d, reported_at=NOW - 380 * d),
        "closed": make_escalation(knowledge_at=NOW - 400 * d, reported_at=NOW - 390 * d),
        "dismissed": make_escalation(knowledge_at=NOW - 5 * h),
    }
    for name in ("preserve-on-track", "preserve-ending", "preserve-ended", "closed"):
        esc = built[name]
        built[name] = services.confirm_preservation(
            actor=lead, escalation_id=esc.pk, version=esc.version, preservation_location=f"store/{name}"
        )
    esc = built["closed"]
    built["closed"] = services.close_escalation(
        actor=lead, escalation_id=esc.pk, version=esc.version, reason="Done.", retained=True
    )
    esc = built["dismissed"]
    built["dismissed"] = services.dismiss_escalation(
        actor=lead, escalation_id=esc.pk, version=esc.version, reason="Not reportable."
    )
    return built


@pytest.mark.parametrize("later", [timedelta(0), timedelta(hours=5), timedelta(days=20)])
def test_deadline_state_filter_matches_policy(
    later: timedelta, lead: Any, client_for: Any, make_escalation: Any
) -> None:
    with time_machine.travel(NOW, tick=False):
        built = _build_states(make_escalation, lead)
    cfg = policy.PolicyConfig.from_settings()
    now = NOW + later
    with time_machine.travel(now, tick=False):
        client = client_for(lead)
        expected_states = {
            esc.key: policy.escalation_state(Escalation.objects.get(pk=esc.pk), now, cfg) for esc in built.values()
        }
        if later == timedelta(0):
            # The set-up covers every state, so no filter value is tested against an empty set.
            assert set(expected_states.values()) == set(policy.DeadlineState)
            assert expected_states[built["report-due-soon"].key] == policy.DeadlineState.DUE_SOON
            assert expected_states[built["preserve-ended"].key] == policy.DeadlineState.OVERDUE
            assert expected_states[built["closed"].key] == policy.DeadlineState.MET
            assert expected_states[built["dismissed"].key] == policy.DeadlineState.NOT_APPLICABLE
        for state in policy.DeadlineState:
            response = client.get("/escalations/", {"deadline_state": state.value})
            assert response.status_code == 200
            want = sorted(key for key, s in expected_states.items() if s == state)
            assert sorted(row_keys(response)) == want, state
            # The badge on each row agrees with the filter.
            assert page(response).count(f'class="badge badge-{state.value}"') == len(want)


@pytest.mark.parametrize(
    "params",
    [
        {"deadline_state": "bogus"},
        {"status": "deleted"},
        {"assignee": "999999"},
        {"assignee": "abc"},
        {"assignee": "99999999999999999999"},
        {"knowledge_at_after": "not-a-date"},
        {"knowledge_at_before": "99999-01-01"},
        {"sort": "nonexistent"},
        {"sort": "-assignee"},
        {"page": "999"},
        {"page": "x"},
        {"page": "-1"},
        {"page": "99999999999999999999"},
        {"q": "9" * 5000},
        {"q": "ESC-" + "9" * 5000},
        {"q": "ESC-99999999999999999999"},
        {"q": "99999999999999999999"},
        {"q": "\u0664\u0665"},
        {"q": "x" * 10000},
    ],
    ids=lambda p: "-".join(f"{k}={v[:12]}" for k, v in p.items()),
)
def test_odd_list_parameters_never_500(
    params: dict[str, str], lead: Any, client_for: Any, make_escalation: Any
) -> None:
    make_escalation()
    client = client_for(lead)
    for url in ("/escalations/", "/escalations/mine/"):
        response = client.get(url, params)
        assert response.status_code == 200, (url, params)


@pytest.fixture
def varied(make_user: Any, moderator: Any, lead: Any, make_escalation: Any) -> dict[str, Escalation]:
    other = make_user("other", "moderator")
    built = {
        "open-std-cp-jan": make_escalation(knowledge_at=datetime(2026, 1, 10, 9, tzinfo=UTC)),
        "open-urgent-ent-mar": make_escalation(
            knowledge_at=datetime(2026, 3, 15, 23, 30, tzinfo=UTC),
            priority=Priority.URGENT,
            urgent_reason="Meeting planned.",
            incident_type=IncidentType.ONLINE_ENTICEMENT,
        ),
        "reported-std-traf-may": make_escalation(
            knowledge_at=datetime(2026, 5, 20, 0, 15, tzinfo=UTC),
            reported_at=datetime(2026, 5, 20, 6, tzinfo=UTC),
            incident_type=IncidentType.CHILD_SEX_TRAFFICKING,
            assignee=other,
        ),
        "dismissed-std-cp-aug": make_escalation(knowledge_at=datetime(2026, 8, 1, 12, tzinfo=UTC)),
    }
    esc = built["dismissed-std-cp-aug"]
    built["dismissed-std-cp-aug"] = services.dismiss_escalation(
        actor=lead, escalation_id=esc.pk, version=esc.version, reason="No."
    )
    return built


def _keys(built: dict[str, Escalation], *names: str) -> list[str]:
    return sorted(built[name].key for name in names)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["open-std-cp-jan", "open-urgent-ent-mar", "reported-std-traf-may", "dismissed-std-cp-aug"]),
        ({"status": "open"}, ["open-std-cp-jan", "open-urgent-ent-mar"]),
        ({"status": "reported"}, ["reported-std-traf-may"]),
        ({"status": "dismissed"}, ["dismissed-std-cp-aug"]),
        ({"status": "closed"}, []),
        ({"priority": "urgent"}, ["open-urgent-ent-mar"]),
        ({"priority": "standard"}, ["open-std-cp-jan", "reported-std-traf-may", "dismissed-std-cp-aug"]),
        ({"incident_type": "online_enticement"}, ["open-urgent-ent-mar"]),
        ({"incident_type": "child_pornography"}, ["open-std-cp-jan", "dismissed-std-cp-aug"]),
        ({"incident_type": "child_pornography", "status": "open"}, ["open-std-cp-jan"]),
        (
            {"knowledge_at_after": "2026-03-15"},
            ["open-urgent-ent-mar", "reported-std-traf-may", "dismissed-std-cp-aug"],
        ),
        ({"knowledge_at_after": "2026-03-16"}, ["reported-std-traf-may", "dismissed-std-cp-aug"]),
        ({"knowledge_at_before": "2026-03-15"}, ["open-std-cp-jan", "open-urgent-ent-mar"]),
        ({"knowledge_at_before": "2026-03-14"}, ["open-std-cp-jan"]),
        (
            {"knowledge_at_after": "2026-02-01", "knowledge_at_before": "2026-05-20"},
            ["open-urgent-ent-mar", "reported-std-traf-may"],
        ),
        ({"knowledge_at_after": "2026-09-01"}, []),
    ],
)
def test_list_filters(
    params: dict[str, str], expected: list[str], lead: Any, client_for: Any, varied: dict[str, Escalation]
) -> None:
    response = client_for(lead).get("/escalations/", params)
    assert response.status_code == 200
    assert sorted(row_keys(response)) == _keys(varied, *expected)


def test_list_filter_by_assignee(lead: Any, client_for: Any, varied: dict[str, Escalation]) -> None:
    other = varied["reported-std-traf-may"].assignee
    assert other is not None
    response = client_for(lead).get("/escalations/", {"assignee": other.pk})
    assert row_keys(response) == [varied["reported-std-traf-may"].key]


def test_knowledge_date_filter_uses_the_users_zone(lead: Any, client_for: Any, varied: dict[str, Escalation]) -> None:
    # 2026-03-15 23:30 UTC is 19:30 on the 15th in New York; 2026-05-20 00:15 UTC is the 19th there.
    set_zone(lead, NEW_YORK)
    response = client_for(lead).get("/escalations/", {"knowledge_at_before": "2026-05-19"})
    assert sorted(row_keys(response)) == _keys(
        varied, "open-std-cp-jan", "open-urgent-ent-mar", "reported-std-traf-may"
    )


@pytest.mark.parametrize(
    ("zone", "day"),
    [("America/Santiago", "2026-09-06"), ("America/Havana", "2026-03-08"), ("Asia/Beirut", "2026-03-29")],
)
def test_date_filter_on_a_day_that_starts_in_a_dst_gap(
    zone: str, day: str, lead: Any, client_for: Any, varied: dict[str, Escalation]
) -> None:
    # In these zones the clocks jump at midnight, so the day's first moment does not exist locally.
    set_zone(lead, zone)
    client = client_for(lead)
    for params in ({"knowledge_at_after": day}, {"knowledge_at_before": day}):
        response = client.get("/escalations/", params)
        assert response.status_code == 200, params


def test_list_is_what_to_do_first_by_default_and_newest_knowledge_on_request(
    lead: Any, client_for: Any, varied: dict[str, Escalation]
) -> None:
    response = client_for(lead).get("/escalations/")
    # The urgent report, the standard report, the reported one's preservation chore, nothing to do.
    assert row_keys(response) == [
        varied[name].key
        for name in ("open-urgent-ent-mar", "open-std-cp-jan", "reported-std-traf-may", "dismissed-std-cp-aug")
    ]
    response = client_for(lead).get("/escalations/", {"sort": "-knowledge_at"})
    assert row_keys(response) == [
        varied[name].key
        for name in ("dismissed-std-cp-aug", "reported-std-traf-may", "open-urgent-ent-mar", "open-std-cp-jan")
    ]


def test_find_by_key_report_id_or_reference(lead: Any, client_for: Any, varied: dict[str, Escalation]) -> None:
    client = client_for(lead)
    target = varied["reported-std-traf-may"]
    for query in (target.key, target.key.lower(), target.cybertipline_report_id, target.platform_reference):
        assert row_keys(client.get("/escalations/", {"q": query})) == [target.key], query


def test_my_queue_sorted_by_what_to_do_first_only_active_and_mine(
    moderator: Any, lead: Any, make_user: Any, client_for: Any, make_escalation: Any
) -> None:
    other = make_user("other", "moderator")
    now = timezone.now()
    later = make_escalation(knowledge_at=now - timedelta(hours=1))  # report due in 23 h
    soonest = make_escalation(knowledge_at=now - timedelta(hours=22))  # due in 2 h
    overdue = make_escalation(knowledge_at=now - timedelta(hours=40))  # overdue: first
    urgent = make_escalation(knowledge_at=now - timedelta(minutes=30), priority=Priority.URGENT, urgent_reason="x")
    reported = make_escalation(
        knowledge_at=now - timedelta(hours=10), reported_at=now - timedelta(hours=9)
    )  # confirmation due in 15 h
    not_mine = make_escalation(knowledge_at=now - timedelta(hours=30), assignee=other)
    dismissed = make_escalation(knowledge_at=now - timedelta(hours=35))
    services.dismiss_escalation(actor=lead, escalation_id=dismissed.pk, version=dismissed.version, reason="No.")
    closed = make_escalation(knowledge_at=now - timedelta(days=500), reported_at=now - timedelta(days=400))
    services.close_escalation(
        actor=lead, escalation_id=closed.pk, version=closed.version, reason="Done.", retained=True
    )
    unassigned = make_escalation(knowledge_at=now - timedelta(hours=3))
    services.assign_escalation(actor=lead, escalation_id=unassigned.pk, version=unassigned.version, assignee=None)

    response = client_for(moderator).get("/escalations/mine/")
    assert response.status_code == 200
    # The urgent report first, then the reports by their targets, then the preservation chore.
    assert row_keys(response) == [urgent.key, overdue.key, soonest.key, later.key, reported.key]
    content = page(response)
    for esc in (not_mine, dismissed, closed, unassigned):
        assert f'data-key="{esc.key}"' not in content

    assert row_keys(client_for(other).get("/escalations/mine/")) == [not_mine.key]


# --- lead actions ------------------------------------------------------------------------------


def test_close_before_preservation_end_shows_the_message(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation(reported_at=timezone.now() - timedelta(minutes=10))
    response = client_for(lead).post(
        f"/escalations/{esc.pk}/close/", {"version": esc.version, "retained": "on", "reason": "Done with it."}
    )
    assert response.status_code == 200
    message = f"{esc.key} can't be closed before its preservation period ends"
    assert any(message in e for e in non_field_errors(response))
    assert message in html.unescape(page(response))
    assert 'class="errors" role="alert"' in page(response)
    # The reason typed is kept for the next try.
    assert "Done with it.</textarea>" in page(response)
    esc.refresh_from_db()
    assert esc.status == Status.REPORTED


def test_close_after_preservation_end(lead: Any, client_for: Any, make_escalation: Any) -> None:
    now = timezone.now()
    esc = make_escalation(knowledge_at=now - timedelta(days=400), reported_at=now - timedelta(days=370))
    response = client_for(lead).post(
        f"/escalations/{esc.pk}/close/",
        {"version": esc.version, "retained": "on", "reason": "Period over."},
        follow=True,
    )
    assert f"{esc.key} closed." in messages_of(response)
    esc.refresh_from_db()
    assert esc.status == Status.CLOSED
    assert esc.status_reason == "Period over."


def test_close_open_escalation_is_refused(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    response = client_for(lead).post(
        f"/escalations/{esc.pk}/close/", {"version": esc.version, "retained": "on", "reason": "x"}
    )
    assert response.status_code == 200
    assert any("Only reported escalations can be closed" in e for e in non_field_errors(response))


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_dismiss_needs_a_reason(reason: str, lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    response = client_for(lead).post(f"/escalations/{esc.pk}/dismiss/", {"version": esc.version, "reason": reason})
    assert_field_error(response, "reason", "required")
    esc.refresh_from_db()
    assert esc.status == Status.OPEN
    assert esc.version == 1


def test_dismiss_with_reason_and_reopen(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    client = client_for(lead)
    response = client.post(f"/escalations/{esc.pk}/dismiss/", {"version": 1, "reason": "Adult, verified."}, follow=True)
    assert f"{esc.key} dismissed." in messages_of(response)
    esc.refresh_from_db()
    assert esc.status == Status.DISMISSED
    assert AuditEvent.objects.filter(escalation=esc, action="dismissed", reason="Adult, verified.").exists()

    # Reopen also needs a reason.
    response = client.post(f"/escalations/{esc.pk}/reopen/", {"version": esc.version, "reason": ""})
    assert_field_error(response, "reason", "required")
    response = client.post(f"/escalations/{esc.pk}/reopen/", {"version": esc.version, "reason": "New evidence."})
    assert response.status_code == 302
    esc.refresh_from_db()
    assert esc.status == Status.OPEN


def test_dismiss_reported_escalation_is_refused(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation(reported_at=timezone.now() - timedelta(minutes=5))
    response = client_for(lead).post(f"/escalations/{esc.pk}/dismiss/", {"version": esc.version, "reason": "x"})
    assert response.status_code == 200
    assert any("Only open escalations can be dismissed" in e for e in non_field_errors(response))


def test_assign_to_someone_without_a_role_is_refused(
    lead: Any, nobody: Any, auditor: Any, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    client = client_for(lead)
    for user in (nobody, auditor):
        response = client.post(f"/escalations/{esc.pk}/assign/", {"version": esc.version, "assignee": user.pk})
        assert_field_error(response, "assignee", "Select a valid choice")
    response = client.post(f"/escalations/{esc.pk}/assign/", {"version": esc.version, "assignee": lead.pk})
    assert response.status_code == 302
    esc.refresh_from_db()
    assert esc.assignee == lead


def test_moderator_cannot_edit_a_reported_escalation(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation(reported_at=timezone.now() - timedelta(minutes=5))
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/edit/",
        form_data(version=esc.version, knowledge_at=typed(esc.knowledge_at), notes="changed"),
    )
    assert response.status_code == 200
    assert any("only a lead can change its facts" in e for e in non_field_errors(response))
    esc.refresh_from_db()
    assert esc.notes == ""


def test_edit_rejects_knowledge_after_report(lead: Any, client_for: Any, make_escalation: Any) -> None:
    now = timezone.now()
    esc = make_escalation(knowledge_at=now - timedelta(hours=5), reported_at=now - timedelta(hours=4))
    response = client_for(lead).post(
        f"/escalations/{esc.pk}/edit/",
        form_data(version=esc.version, knowledge_at=typed(now - timedelta(hours=3))),
    )
    assert_field_error(response, "knowledge_at", "can't be after the report was sent")


def test_edit_on_closed_escalation_shows_reopen_message(lead: Any, client_for: Any, make_escalation: Any) -> None:
    now = timezone.now()
    esc = make_escalation(knowledge_at=now - timedelta(days=400), reported_at=now - timedelta(days=370))
    esc = services.close_escalation(
        actor=lead, escalation_id=esc.pk, version=esc.version, reason="Done.", retained=True
    )
    response = client_for(lead).post(
        f"/escalations/{esc.pk}/edit/", form_data(version=esc.version, knowledge_at=typed(esc.knowledge_at))
    )
    assert response.status_code == 200
    assert any("reopen it before editing" in e for e in non_field_errors(response))


def test_file_upload_is_refused_before_any_view(moderator: Any, client_for: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    client = client_for(moderator)
    data = form_data()
    data["attachment"] = SimpleUploadedFile("a.png", b"\x89PNG....", content_type="image/png")
    response = Client.post(client, "/escalations/new/", data)  # Django's own multipart post
    assert response.status_code == 400
    assert Escalation.objects.count() == 0
