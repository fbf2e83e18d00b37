"""After the report, through the pages: law-enforcement requests (list, new, detail, respond, close),
an escalation's preservation (extension, release), evidence items and destinations, every bad input
shown on its field, every refusal shown on the page, and the issue's "Done when" flow."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from escalations import policy
from escalations.core import holds
from escalations.legal import services as legal_services
from escalations.models import (
    AuditAction,
    AuditEvent,
    Destination,
    Escalation,
    EvidenceItem,
    LegalRequest,
    LegalRequestStatus,
    Status,
    UserProfile,
)
from tests.web.test_escalation_pages import assert_field_error, field_block, messages_of, page, typed

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


# --- helpers -----------------------------------------------------------------------------------


def readable(markup: str) -> str:
    """Markup as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())
    return re.sub(r" ([,.;:)])", r"\1", text).replace("( ", "(")


def text_of(response: Any) -> str:
    return readable(page(response))


def section(response: Any, anchor: str) -> str:
    """The text of the page's <section id=anchor>."""
    content = page(response)
    start = content.find(f'id="{anchor}"')
    assert start != -1, f"no section {anchor} on the page"
    end = content.find("</section>", start)
    return readable(content[start:end])


def form_errors(response: Any, form: str, name: str) -> list[str]:
    assert response.status_code == 200, response.status_code
    return list(response.context[form].errors.get(name, []))


def request_data(*escalations: Escalation, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "2703f_preservation",
        "agency": "Springfield Police Department",
        "reference": "SPD-2025-0042",
        "received_at": typed(timezone.now() - timedelta(hours=2)),
        "response_due_at": "",
        "escalations": ", ".join(e.key for e in escalations),
        "renews": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def make_request(actor: Any, *escalations: Escalation, **overrides: Any) -> LegalRequest:
    data: dict[str, Any] = {
        "kind": "2703f_preservation",
        "agency": "Springfield Police Department",
        "reference": "SPD-2025-0042",
        "received_at": timezone.now() - timedelta(hours=2),
        "escalations": [e.pk for e in escalations],
    }
    data.update(overrides)
    return legal_services.create_legal_request(actor=actor, data=data)


def reported(make_escalation: Any, days_ago: float, **fields: Any) -> Escalation:
    """An escalation reported `days_ago` days ago (an hour after knowledge)."""
    now = timezone.now()
    return make_escalation(
        knowledge_at=now - timedelta(days=days_ago, hours=1), reported_at=now - timedelta(days=days_ago), **fields
    )


def fresh(esc: Escalation) -> Escalation:
    return Escalation.objects.get(pk=esc.pk)


def shown(moment: datetime | None) -> str:
    """A time as the pages show it to a user in UTC (the fixtures' users have no profile)."""
    assert moment is not None
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@pytest.fixture
def lead2(make_user: Any) -> Any:
    return make_user("second-lead", "lead")


# --- the list ----------------------------------------------------------------------------------


def test_list_shows_requests_with_their_escalations_and_filters(
    lead: Any, auditor: Any, client_for: Any, make_escalation: Any
) -> None:
    one, two = make_escalation(), make_escalation()
    preservation = make_request(lead, one, two)
    subpoena = make_request(lead, two, kind="subpoena", agency="Shelbyville Court", reference="SC-7")
    legal_services.close_legal_request(actor=lead, request_id=subpoena.pk, version=None, reason="Withdrawn.")

    for user in (lead, auditor):
        response = client_for(user).get("/legal-requests/")
        assert response.status_code == 200
        assert re.findall(r'data-key="(LR-\d+)"', page(response)) == [subpoena.key, preservation.key]
        text = text_of(response)
        assert (
            f"{preservation.key} 2703(f) preservation request Springfield Police Department ref. SPD-2025-0042" in text
        )
        assert f"{one.key}, {two.key}" in text
        assert f'href="/escalations/{one.pk}/"' in page(response)

    client = client_for(auditor)
    by_kind = client.get("/legal-requests/?kind=subpoena")
    assert re.findall(r'data-key="(LR-\d+)"', page(by_kind)) == [subpoena.key]
    by_status = client.get("/legal-requests/?status=open")
    assert re.findall(r'data-key="(LR-\d+)"', page(by_status)) == [preservation.key]
    none = client.get("/legal-requests/?status=responded&kind=subpoena")
    assert "No legal requests match these filters." in text_of(none)


@pytest.mark.parametrize(
    "query",
    ["status=bogus", "kind=%00", "kind=" + "x" * 5000, "page=abc", "page=99999999999999999999", "page=-1", "status="],
)
def test_odd_list_parameters_never_500(query: str, lead: Any, client_for: Any, make_escalation: Any) -> None:
    request = make_request(lead, make_escalation())
    response = client_for(lead).get(f"/legal-requests/?{query}")
    assert response.status_code == 200
    # A bad filter value is named on its filter and ignored: the request is still listed.
    assert request.key in page(response)
    if query.startswith("status=bogus"):
        assert "Status: Select a valid choice." in text_of(response)


def test_only_leads_are_offered_to_record_a_request(
    lead: Any, auditor: Any, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    assert 'href="/legal-requests/new/"' in page(client_for(lead).get("/legal-requests/"))
    assert 'href="/legal-requests/new/"' not in page(client_for(auditor).get("/legal-requests/"))
    refused = client_for(moderator).get("/legal-requests/")
    assert refused.status_code == 403
    assert "Law-enforcement requests are for leads and auditors." in page(refused)
    # The navigation offers the list to leads and auditors only.
    assert 'href="/legal-requests/"' in page(client_for(auditor).get("/escalations/"))
    assert 'href="/legal-requests/"' not in page(client_for(moderator).get("/escalations/"))


# --- a new request -----------------------------------------------------------------------------


def test_new_request_links_several_escalations_and_audits_each(
    lead: Any, client_for: Any, make_escalation: Any
) -> None:
    one, two, three = reported(make_escalation, 1), reported(make_escalation, 2), make_escalation()
    received = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=3)
    # A comma and space separated list of keys and plain numbers, in one field.
    client = client_for(lead)
    response = client.post(
        "/legal-requests/new/",
        request_data(received_at=typed(received), escalations=f"{one.key}, {two.pk} {three.key.lower()}"),
    )
    request = LegalRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/legal-requests/{request.pk}/"
    assert sorted(request.escalations.values_list("pk", flat=True)) == [one.pk, two.pk, three.pk]
    assert request.hold_until == received + timedelta(days=90)
    assert request.created_by == lead
    for esc in (one, two, three):
        event = AuditEvent.objects.get(escalation=esc, action=AuditAction.LEGAL_REQUEST)
        assert request.key in event.reason and "Springfield Police Department" in event.reason
        assert event.actor == lead

    detail = client.get(response["Location"])
    assert f"{request.key} recorded: 2703(f) preservation request from Springfield Police Department." in " ".join(
        messages_of(detail)
    )
    text = text_of(detail)
    assert f"Holds preservation until {shown(received + timedelta(days=90))}" in text
    assert "90 days from receipt, 18 U.S.C. 2703(f)(2)" in text
    for esc in (one, two, three):
        assert f'href="/escalations/{esc.pk}/">{esc.key}</a>' in page(detail)


def test_new_request_takes_the_escalations_field_repeated(lead: Any, client_for: Any, make_escalation: Any) -> None:
    one, two = make_escalation(), make_escalation()
    data = request_data(kind="subpoena")
    data["escalations"] = [str(one.pk), two.key]
    response = client_for(lead).post("/legal-requests/new/", data)
    assert response.status_code == 302
    request = LegalRequest.objects.get()
    assert sorted(request.escalations.values_list("pk", flat=True)) == [one.pk, two.pk]
    assert request.hold_until is None  # a subpoena holds nothing of its own


def test_new_request_form_offers_every_kind_and_is_prefilled_from_an_escalation(
    lead: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    response = client_for(lead).get(f"/legal-requests/new/?escalations={esc.pk}")
    assert response.status_code == 200
    content = page(response)
    for kind in (
        "2703f_preservation",
        "2703f_renewal",
        "subpoena",
        "court_order",
        "search_warrant",
        "emergency_disclosure",
        "other",
    ):
        assert f'<option value="{kind}"' in content
    for name in ("agency", "reference", "received_at", "response_due_at", "escalations", "renews", "notes"):
        assert f'name="{name}"' in content
    assert f'value="{esc.key}"' in field_block(response, "escalations")
    assert 'type="datetime-local"' in field_block(response, "received_at")
    assert 'type="datetime-local"' in field_block(response, "response_due_at")


def test_renewal_link_prefills_the_renewal(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    first = make_request(lead, esc)
    detail = client_for(lead).get(f"/legal-requests/{first.pk}/")
    assert f'href="/legal-requests/new/?kind=2703f_renewal&amp;renews={first.pk}"' in page(detail)
    response = client_for(lead).get(f"/legal-requests/new/?kind=2703f_renewal&renews={first.pk}")
    assert 'value="2703f_renewal" selected' in field_block(response, "kind")
    assert f'value="{first.key}"' in field_block(response, "renews")
    assert f'value="{esc.key}"' in field_block(response, "escalations")


def test_renewal_extends_the_hold_from_the_end_of_the_first(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 1)
    first = make_request(lead, esc)
    assert first.hold_until is not None
    response = client_for(lead).post(
        "/legal-requests/new/",
        request_data(esc, kind="2703f_renewal", renews=first.key, reference="SPD-2025-0042-R1"),
    )
    assert response.status_code == 302, response.context["form"].errors
    renewal = LegalRequest.objects.get(renews=first)
    assert renewal.hold_until == first.hold_until + timedelta(days=90)
    text = text_of(client_for(lead).get(response["Location"]))
    assert f"Renews {first.key}" in text
    assert f"90 days from the end of the period of {first.key}, {shown(first.hold_until)}" in text
    first_page = text_of(client_for(lead).get(f"/legal-requests/{first.pk}/"))
    assert f"Renewed by {renewal.key} (until {shown(renewal.hold_until)}, open)" in first_page


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"kind": ""}, "kind", "Kind is required."),
        ({"kind": "letter"}, "kind", "Select a valid choice."),
        ({"agency": ""}, "agency", "Agency is required."),
        ({"agency": "x" * 201}, "agency", "at most 200 characters"),
        ({"reference": "  "}, "reference", "Reference is required."),
        ({"received_at": ""}, "received_at", "Received is required."),
        ({"received_at": "2025-13-45T10:00"}, "received_at", "Enter a date and time as YYYY-MM-DD HH:MM"),
        ({"received_at": "1999-12-31T10:00"}, "received_at", "before the year 2000"),
        ({"response_due_at": "tomorrow"}, "response_due_at", "Enter a date and time"),
        ({"escalations": ""}, "escalations", "Escalations is required."),
        ({"escalations": "abc, ESC-x"}, "escalations", "'abc', 'ESC-x' are not an escalation number or key"),
        ({"escalations": "99999999999999999999"}, "escalations", "not an escalation number or key"),
        ({"escalations": "ESC-999999"}, "escalations", "no escalation with id 999999"),
        ({"kind": "2703f_renewal"}, "renews", "a renewal must name the 2703(f) request it renews"),
        ({"kind": "2703f_renewal", "renews": "LR-x"}, "renews", "enter the number or key of the request renewed"),
        ({"kind": "2703f_renewal", "renews": "99999999999999999999"}, "renews", "enter the number or key"),
        ({"kind": "2703f_renewal", "renews": "LR-99999"}, "renews", "a renewal must name the 2703(f) request"),
        ({"kind": "subpoena", "renews": "1"}, "renews", "only a 2703(f) renewal renews another request"),
        ({"notes": "data:image/png;base64,iVBORw0KGgo="}, "notes", "contains a data: URI, which is file content"),
    ],
)
def test_new_request_bad_input_is_named_on_its_field(
    overrides: dict[str, str], field: str, fragment: str, lead: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    response = client_for(lead).post("/legal-requests/new/", request_data(esc, **overrides))
    assert_field_error(response, field, fragment)
    assert not LegalRequest.objects.exists()
    # What was typed is kept.
    assert 'value="Springfield Police Department"' in field_block(response, "agency") or field == "agency"


def test_received_in_the_future_and_due_before_received(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    client = client_for(lead)
    future = client.post(
        "/legal-requests/new/", request_data(esc, received_at=typed(timezone.now() + timedelta(days=1)))
    )
    assert_field_error(future, "received_at", "Received can't be in the future")
    due = client.post(
        "/legal-requests/new/",
        request_data(
            esc,
            received_at=typed(timezone.now() - timedelta(days=1)),
            response_due_at=typed(timezone.now() - timedelta(days=2)),
        ),
    )
    assert_field_error(due, "response_due_at", "Response due can't be before the request was received.")
    assert not LegalRequest.objects.exists()


# --- the detail page, respond, close ----------------------------------------------------------------


def test_detail_shows_the_request_and_offers_leads_respond_and_close(
    lead: Any, auditor: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = reported(make_escalation, 3)
    due = timezone.now() + timedelta(days=10)
    request = make_request(lead, esc, response_due_at=due, notes="Asks to preserve the account's messages.")
    response = client_for(lead).get(f"/legal-requests/{request.pk}/")
    text = text_of(response)
    assert f"{request.key} Open" in text
    assert "Agency Springfield Police Department Reference SPD-2025-0042" in text
    assert f"Response due {shown(due)}" in text
    assert "Asks to preserve the account's messages." in text
    assert f'action="/legal-requests/{request.pk}/respond/"' in page(response)
    assert f'action="/legal-requests/{request.pk}/close/"' in page(response)
    assert re.search(r'name="version" value="1"', page(response))
    # The linked escalation, with its own preservation end.
    linked = section(response, "linked")
    assert f"{esc.key} Reported {shown(fresh(esc).reported_at)} {shown(fresh(esc).preserve_until)}" in linked

    read_only = client_for(auditor).get(f"/legal-requests/{request.pk}/")
    assert read_only.status_code == 200
    assert "/respond/" not in page(read_only) and "/close/" not in page(read_only)
    assert "Record a renewal" not in page(read_only)


def test_unknown_request_is_404(lead: Any, auditor: Any, client_for: Any) -> None:
    assert client_for(lead).get("/legal-requests/999999/").status_code == 404
    assert client_for(auditor).get("/legal-requests/999999/").status_code == 404
    assert client_for(lead).post("/legal-requests/999999/respond/", {"version": 1}).status_code == 404
    assert client_for(lead).post("/legal-requests/999999/close/", {"version": 1, "reason": "x"}).status_code == 404


def test_respond_records_the_answer_and_keeps_the_hold(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 3)
    request = make_request(lead, esc)
    answered = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=30)
    client = client_for(lead)
    assert client.get(f"/legal-requests/{request.pk}/respond/")["Location"] == f"/legal-requests/{request.pk}/#respond"
    response = client.post(f"/legal-requests/{request.pk}/respond/", {"version": 1, "responded_at": typed(answered)})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == LegalRequestStatus.RESPONDED
    assert request.responded_at == answered
    assert request.version == 2
    detail = client.get(response["Location"])
    assert f"{request.key}: response recorded ({shown(answered)}). Its hold still applies until" in " ".join(
        messages_of(detail)
    )
    assert f"/legal-requests/{request.pk}/respond/" not in page(detail)  # answered once
    assert AuditEvent.objects.filter(escalation=esc, reason__contains=f"{request.key}: responded").count() == 1

    # Answering again is refused on the page.
    again = client.post(f"/legal-requests/{request.pk}/respond/", {"version": 2, "responded_at": ""})
    assert again.status_code == 200
    assert f"{request.key} is responded already." in text_of(again)


def test_respond_bad_input_and_stale_version(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    request = make_request(lead, esc)
    client = client_for(lead)
    path = f"/legal-requests/{request.pk}/respond/"

    bad = client.post(path, {"version": 1, "responded_at": "2025-02-30T10:00"})
    assert any("Enter a date and time" in e for e in form_errors(bad, "respond_form", "responded_at"))
    early = client.post(path, {"version": 1, "responded_at": typed(request.received_at - timedelta(days=1))})
    assert any("between the request's receipt and now" in e for e in form_errors(early, "respond_form", "responded_at"))
    assert 'class="field-errors" role="alert"' in page(early)
    missing = client.post(path, {"responded_at": ""})
    assert form_errors(missing, "respond_form", "version")

    # Someone else answered it after this page was loaded: closing from the old page is refused,
    # the reason typed is kept and the form now carries the version shown.
    legal_services.respond_legal_request(actor=lead, request_id=request.pk, version=1, responded_at=None)
    stale = client.post(f"/legal-requests/{request.pk}/close/", {"version": 1, "reason": "Withdrawn by phone."})
    assert stale.status_code == 200
    assert "was changed by someone else after the version you started from; nothing was saved." in text_of(stale)
    assert 'name="version" value="2"' in page(stale)
    assert "Withdrawn by phone.</textarea>" in page(stale)
    request.refresh_from_db()
    assert request.status == LegalRequestStatus.RESPONDED
    # Answering again from the old page: refused, and the page says so though it offers no answer form.
    again = client.post(path, {"version": 1, "responded_at": ""})
    assert "was changed by someone else after the version you started from" in text_of(again)
    assert f"/legal-requests/{request.pk}/respond/" not in page(again)


def test_close_needs_a_reason_and_ends_the_hold(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 3)
    request = make_request(lead, esc, received_at=timezone.now() - timedelta(hours=1))
    # A request received now holds preservation for 90 days: within the 2258A(h) year, so it
    # doesn't move preserve_until, but it is listed as a hold until closed.
    client = client_for(lead)
    path = f"/legal-requests/{request.pk}/close/"
    empty = client.post(path, {"version": 1, "reason": "  "})
    assert any("Reason is required" in e for e in form_errors(empty, "close_form", "reason"))
    assert LegalRequest.objects.get(pk=request.pk).status == LegalRequestStatus.OPEN

    done = client.post(path, {"version": 1, "reason": "Withdrawn by the agency in writing."})
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == LegalRequestStatus.CLOSED
    assert "Closed: Withdrawn by the agency in writing." in request.notes
    text = text_of(client.get(f"/legal-requests/{request.pk}/"))
    assert "ended early: the request is closed" in text
    assert holds.holds_for(fresh(esc)) == []


# --- preservation: extension and release -------------------------------------------------------------


def test_extend_preservation(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 10)
    current = fresh(esc).preserve_until
    assert current is not None
    client = client_for(lead)
    path = f"/escalations/{esc.pk}/extend/"
    form = client.get(path)
    assert f"Preservation currently ends {shown(current)}." in text_of(form)

    early = client.post(path, {"version": esc.version, "until": typed(current - timedelta(days=1)), "reason": "x"})
    assert_field_error(early, "until", f"Keep until must be after the current end of preservation, {shown(current)}")
    far = client.post(
        path, {"version": esc.version, "until": typed(timezone.now() + timedelta(days=4000)), "reason": "x"}
    )
    assert_field_error(far, "until", "at most ten years away")
    no_reason = client.post(path, {"version": esc.version, "until": typed(current + timedelta(days=30)), "reason": ""})
    assert_field_error(no_reason, "reason", "Reason is required")
    bad_date = client.post(path, {"version": esc.version, "until": "soon", "reason": "x"})
    assert_field_error(bad_date, "until", "Enter a date and time")
    assert fresh(esc).version == esc.version

    until = (current + timedelta(days=30)).replace(second=0, microsecond=0)
    done = client.post(
        path, {"version": esc.version, "until": typed(until), "reason": "Counsel expects a civil subpoena."}
    )
    assert done.status_code == 302
    assert fresh(esc).preserve_until == until
    detail = client.get(f"/escalations/{esc.pk}/")
    preservation = section(detail, "preservation")
    assert f"Voluntary extension by {lead.get_username()}: Counsel expects a civil subpoena. {shown(until)}" in (
        preservation
    )
    assert "Deciding: preserve until" in preservation
    event = AuditEvent.objects.filter(escalation=esc, action=AuditAction.PRESERVATION_EXTENDED).get()
    assert "Counsel expects a civil subpoena." in event.reason


def test_release_while_a_request_is_open_names_the_requests(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 400)
    request = make_request(lead, esc, kind="search_warrant", agency="FBI Field Office", reference="FBI-77")
    client = client_for(lead)
    form = client.get(f"/escalations/{esc.pk}/release/")
    assert f"Open now: {request.key} (Search warrant, FBI Field Office, ref. FBI-77)." in text_of(form)

    response = client.post(f"/escalations/{esc.pk}/release/", {"version": fresh(esc).version, "reason": "Period over."})
    assert response.status_code == 200
    named = f"{request.key} (Search warrant, FBI Field Office, ref. FBI-77)"
    refusal = f"{esc.key} can't be released while a legal request is open: {named}."
    assert refusal in text_of(response)
    assert fresh(esc).release_requested_at is None
    # The detail page names them too, linked.
    detail = client.get(f"/escalations/{esc.pk}/")
    assert f"Release blocked while a legal request is open: {request.key}" in section(detail, "preservation")
    assert f'href="/legal-requests/{request.pk}/"' in page(detail)


def test_release_before_preservation_ends_is_refused(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 10)
    response = client_for(lead).post(f"/escalations/{esc.pk}/release/", {"version": esc.version, "reason": "Done."})
    assert response.status_code == 200
    assert f"{esc.key} can't be released before preservation ends on {shown(fresh(esc).preserve_until)}." in text_of(
        response
    )
    detail = client_for(lead).get(f"/escalations/{esc.pk}/")
    assert f"Release is possible after preservation ends on {shown(fresh(esc).preserve_until)}." in section(
        detail, "preservation"
    )


def test_release_needs_a_reason_and_a_second_lead(lead: Any, lead2: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 400)
    client = client_for(lead)
    no_reason = client.post(f"/escalations/{esc.pk}/release/", {"version": esc.version, "reason": ""})
    assert_field_error(no_reason, "reason", "Reason is required")
    none_yet = client.post(f"/escalations/{esc.pk}/release/approve/", {"version": esc.version})
    assert "Nobody has requested" in text_of(none_yet)

    asked = client.post(f"/escalations/{esc.pk}/release/", {"version": esc.version, "reason": "Year over, no request."})
    assert asked.status_code == 302
    esc = fresh(esc)
    assert esc.release_requested_by == lead
    detail = client.get(f"/escalations/{esc.pk}/")
    assert "Awaiting approval" in section(detail, "preservation")
    assert f"/escalations/{esc.pk}/release/approve/" not in page(detail), "the requester is not offered approval"

    same = client.post(f"/escalations/{esc.pk}/release/approve/", {"version": esc.version})
    assert same.status_code == 200
    assert "A different lead must approve the release you requested." in text_of(same)
    assert fresh(esc).released_at is None

    other = client_for(lead2)
    approve_page = other.get(f"/escalations/{esc.pk}/release/approve/")
    assert f"{lead.get_username()} requested release" in text_of(approve_page)
    assert "Year over, no request." in text_of(approve_page)
    assert f"/escalations/{esc.pk}/release/approve/" in page(other.get(f"/escalations/{esc.pk}/"))
    done = other.post(f"/escalations/{esc.pk}/release/approve/", {"version": esc.version})
    assert done.status_code == 302
    esc = fresh(esc)
    assert esc.released_by == lead2 and esc.released_at is not None
    text = section(other.get(f"/escalations/{esc.pk}/"), "preservation")
    assert f"Released Approved {shown(esc.released_at)} by {lead2.get_username()}" in text
    actions = list(AuditEvent.objects.filter(escalation=esc).order_by("pk").values_list("action", "actor"))
    assert actions[-2:] == [(AuditAction.RELEASE_REQUESTED, lead.pk), (AuditAction.RELEASED, lead2.pk)]


def test_moderators_and_auditors_get_no_preservation_buttons(
    lead: Any, moderator: Any, auditor: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = reported(make_escalation, 400)
    lead_page = page(client_for(lead).get(f"/escalations/{esc.pk}/"))
    for path in ("extend/", "release/", "evidence/", "destinations/"):
        assert f"/escalations/{esc.pk}/{path}" in lead_page
    assert f"/legal-requests/new/?escalations={esc.pk}" in lead_page
    mod_page = page(client_for(moderator).get(f"/escalations/{esc.pk}/"))
    assert f"/escalations/{esc.pk}/evidence/" in mod_page and f"/escalations/{esc.pk}/destinations/" in mod_page
    for path in ("extend/", "release/"):
        assert f"/escalations/{esc.pk}/{path}" not in mod_page
    assert "/legal-requests/new/" not in mod_page
    aud_page = page(client_for(auditor).get(f"/escalations/{esc.pk}/"))
    for path in ("extend/", "release/", "evidence/", "destinations/"):
        assert f"/escalations/{esc.pk}/{path}" not in aud_page
    refused = client_for(moderator).post(f"/escalations/{esc.pk}/release/", {"version": esc.version, "reason": "x"})
    assert refused.status_code == 403
    assert "Only a lead can request or approve the release of preserved evidence." in page(refused)


# --- the rule-by-rule account, conflicts, NCMEC timer, related -----------------------------------------


def test_preservation_is_explained_rule_by_rule(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 300)
    year_end = policy.preservation_end(fresh(esc).reported_at, policy.PolicyConfig.from_settings())  # type: ignore[arg-type]
    first = make_request(lead, esc, received_at=timezone.now() - timedelta(days=40))
    renewal = make_request(lead, esc, kind="2703f_renewal", renews=first.pk, reference="SPD-2025-0042-R1")
    assert renewal.hold_until is not None and first.hold_until is not None
    assert renewal.hold_until > year_end > first.hold_until

    response = client_for(lead).get(f"/escalations/{esc.pk}/")
    rows = re.findall(r"<tr( class=\"deciding\")?>\s*<td>(.*?)</td>\s*<td[^>]*>(.*?)</td>", page(response), re.S)
    rules = [
        (bool(deciding), html.unescape(label), when)
        for deciding, label, when in rows
        if "2258A" in label or "2703" in label
    ]
    assert rules == [
        (
            True,
            f"2703(f) renewal {renewal.key} from Springfield Police Department (ref. SPD-2025-0042-R1)",
            shown(renewal.hold_until),
        ),
        (False, "18 U.S.C. 2258A(h): one calendar year after the report", shown(year_end)),
        (
            False,
            f"2703(f) preservation request {first.key} from Springfield Police Department (ref. SPD-2025-0042)",
            shown(first.hold_until),
        ),
    ]
    assert f"Preserve until {shown(renewal.hold_until)} why this date" in text_of(response)
    legal = section(response, "legal-requests")
    assert first.key in legal and renewal.key in legal


def test_retention_cap_conflict_is_shown_with_both_dates(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 30)
    eu = Destination.objects.get(code="eu")
    response = client_for(lead).post(
        f"/escalations/{esc.pk}/destinations/",
        {
            "version": esc.version,
            "destination": eu.pk,
            "reported_at": typed(timezone.now() - timedelta(days=1)),
            "report_id": "EU-1",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    detail = client_for(lead).get(f"/escalations/{esc.pk}/")
    text = text_of(detail)
    assert "Conflict for counsel:" in text
    conflict = re.search(
        r"Conflict for counsel: (.*?) caps retention at (.*?), before (.*?) ends on (.*?)\. Both", text
    )
    assert conflict, text
    esc = fresh(esc)
    cap = policy.retention_cap_until(esc.knowledge_at, 12)
    assert conflict.group(2) == shown(cap)
    assert "2258A(h)" in conflict.group(3)
    assert conflict.group(4) == shown(esc.preserve_until)
    assert "EU" in conflict.group(1)


def test_ncmec_unfinished_report_timer(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    opened = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    changed = opened + timedelta(minutes=30)
    data = {
        "version": esc.version,
        "platform_reference": esc.platform_reference,
        "account_reference": "acct:998877",
        "incident_type": esc.incident_type,
        "priority": esc.priority,
        "urgent_reason": "",
        "knowledge_at": typed(esc.knowledge_at),
        "notes": "",
        "ncmec_opened_at": typed(opened),
        "ncmec_last_change_at": typed(changed),
    }
    response = client_for(lead).post(f"/escalations/{esc.pk}/edit/", data)
    assert response.status_code == 302, response.context["form"].errors
    esc = fresh(esc)
    assert (esc.ncmec_opened_at, esc.ncmec_last_change_at, esc.account_reference) == (opened, changed, "acct:998877")
    timer = section(client_for(lead).get(f"/escalations/{esc.pk}/"), "ncmec-timer")
    assert "Unfinished NCMEC report" in timer
    deletes = f"NCMEC deletes it {shown(opened + timedelta(hours=24))} On track"
    assert re.search(re.escape(deletes) + r" 2[12] h \d+ min left: finish it before then\.", timer), timer
    assert "24 hours after it was opened or 1 hour after its last change, whichever is later" in timer
    # The edit form shows what was saved.
    edit = client_for(lead).get(f"/escalations/{esc.pk}/edit/")
    assert f'value="{typed(opened)}"' in field_block(edit, "ncmec_opened_at")
    assert 'value="acct:998877"' in field_block(edit, "account_reference")


def test_ncmec_timer_passed_then_finished(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation(knowledge_at=timezone.now() - timedelta(hours=40))
    opened = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=30)
    changed = opened + timedelta(hours=25)  # the last change moves deletion to an hour after it
    data = {
        "version": esc.version,
        "platform_reference": esc.platform_reference,
        "incident_type": esc.incident_type,
        "priority": esc.priority,
        "knowledge_at": typed(esc.knowledge_at),
        "ncmec_opened_at": typed(opened),
        "ncmec_last_change_at": typed(changed),
    }
    client = client_for(lead)
    assert client.post(f"/escalations/{esc.pk}/edit/", data).status_code == 302
    timer = section(client.get(f"/escalations/{esc.pk}/"), "ncmec-timer")
    assert f"NCMEC deletes it {shown(changed + timedelta(hours=1))} Passed NCMEC has probably deleted" in timer
    assert f"(+1 h: {shown(changed + timedelta(hours=1))})" in timer

    esc = fresh(esc)
    reported_at = typed(timezone.now() - timedelta(minutes=5))
    report = {"version": esc.version, "reported_at": reported_at, "cybertipline_report_id": "7100777"}
    report["breach_reason"] = "tooling"
    assert client.post(f"/escalations/{esc.pk}/report/", report).status_code == 302
    timer = section(client.get(f"/escalations/{esc.pk}/"), "ncmec-timer")
    assert "NCMEC report finished" in timer
    assert "Deletion if unfinished" in timer and "Finished" in timer


def test_no_timer_without_an_opened_ncmec_report(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    assert 'id="ncmec-timer"' not in page(client_for(lead).get(f"/escalations/{esc.pk}/"))


def test_related_escalations_by_account_and_reference(lead: Any, client_for: Any, make_escalation: Any) -> None:
    one = make_escalation(platform_reference="ticket-1", account_reference="acct:1")
    same_account = make_escalation(platform_reference="ticket-2", account_reference="acct:1")
    same_reference = make_escalation(platform_reference="ticket-1")
    unrelated = make_escalation(platform_reference="ticket-3", account_reference="acct:2")
    related = section(client_for(lead).get(f"/escalations/{one.pk}/"), "related")
    assert f"{same_account.key} (Open) — same reported account" in related
    assert f"{same_reference.key} (Open) — same platform reference" in related
    assert unrelated.key not in related


# --- evidence items and destinations ---------------------------------------------------------------------


def evidence_data(esc: Escalation, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": fresh(esc).version,
        "reference": "evidence-store://case/42/item/1",
        "hash_algorithm": "sha256",
        "digest": SHA256,
        "size_bytes": "48213",
    }
    data.update(overrides)
    return data


def test_evidence_item_is_recorded_and_listed(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 1)
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/evidence/", evidence_data(esc, digest=SHA256.upper(), is_context="on")
    )
    assert response.status_code == 302, response.context["form"].errors
    item = EvidenceItem.objects.get()
    assert item.digest == SHA256 and item.is_context and item.size_bytes == 48213 and item.preserved_by == moderator
    evidence = section(client_for(moderator).get(f"/escalations/{esc.pk}/"), "evidence")
    assert f"SHA-256 {SHA256} 48213 Related context item (2258A(h)(2))" in evidence
    assert "evidence-store://case/42/item/1" in evidence
    assert AuditEvent.objects.filter(escalation=esc, action=AuditAction.EVIDENCE_ADDED).count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"digest": "xyz"}, "digest", "SHA-256"),
        ({"digest": SHA256[:40], "hash_algorithm": "md5"}, "digest", "MD5"),
        ({"digest": ""}, "digest", "Digest is required."),
        ({"hash_algorithm": "crc32"}, "hash_algorithm", "Select a valid choice"),
        ({"size_bytes": "-1"}, "size_bytes", "Size in bytes can't be negative."),
        ({"size_bytes": "12kB"}, "size_bytes", "Size in bytes must be a whole number."),
        ({"size_bytes": "99999999999999999999"}, "size_bytes", "Size in bytes is too large."),
        ({"reference": ""}, "reference", "Evidence store reference is required"),
        ({"reference": "data:image/png;base64,iVBORw0KGgo="}, "reference", "data: URI"),
    ],
)
def test_evidence_bad_input_is_named_on_its_field(
    overrides: dict[str, str], field: str, fragment: str, lead: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = reported(make_escalation, 1)
    response = client_for(lead).post(f"/escalations/{esc.pk}/evidence/", evidence_data(esc, **overrides))
    assert_field_error(response, field, fragment)
    assert not EvidenceItem.objects.exists()
    assert fresh(esc).version == esc.version


def test_destination_report_is_recorded_and_listed(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    esc = reported(make_escalation, 1)
    police = Destination.objects.get(code="ca_police")
    at = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=3)
    form = client_for(moderator).get(f"/escalations/{esc.pk}/destinations/")
    assert "Police (Canada) — report ID: the police file number" in text_of(form)
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/destinations/",
        {"version": esc.version, "destination": police.pk, "reported_at": typed(at), "report_id": "RCMP-2025-118"},
    )
    assert response.status_code == 302, response.context["form"].errors
    detail = client_for(moderator).get(f"/escalations/{esc.pk}/")
    assert f"Police (Canada) {shown(at)} RCMP-2025-118 21 days after the report" in section(detail, "destinations")
    assert AuditEvent.objects.filter(escalation=esc, action=AuditAction.DESTINATION_REPORTED).count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"destination": ""}, "destination", "Destination is required."),
        ({"destination": "999999"}, "destination", "choose one of the listed destinations"),
        ({"destination": "99999999999999999999"}, "destination", "choose one of the listed destinations"),
        ({"destination": "abc"}, "destination", "choose one of the listed destinations"),
        # NCMEC's report is recorded with "Record report", not here.
        ({"destination": "ncmec"}, "destination", "choose one of the listed destinations"),
        ({"reported_at": "yesterday"}, "reported_at", "Enter a date and time"),
        ({"report_id": "RCMP-2025 " * 15}, "report_id", "Report ID is too long: at most 100 characters"),
        ({"report_id": "RCMP 1\u200b"}, "report_id", "control or invisible characters"),
        ({"report_id": ""}, "report_id", "Report ID is required: the police file number."),
        ({"reported_at": ""}, "reported_at", "Reported at is required with a report ID"),
        ({"reported_at": "2000-01-01T00:00"}, "reported_at", "can't be before knowledge was obtained"),
    ],
)
def test_destination_bad_input_is_named_on_its_field(
    overrides: dict[str, str], field: str, fragment: str, lead: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = reported(make_escalation, 1)
    police = Destination.objects.get(code="ca_police")
    data = {"version": esc.version, "destination": police.pk, "reported_at": typed(timezone.now()), "report_id": "F-1"}
    data.update(overrides)
    if data["destination"] == "ncmec":
        data["destination"] = Destination.objects.get(code="ncmec").pk
    response = client_for(lead).post(f"/escalations/{esc.pk}/destinations/", data)
    assert_field_error(response, field, fragment)
    assert fresh(esc).version == esc.version


# --- done when: from report through a 2703(f) request and its renewal to an approved release ----------

T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def test_lead_follows_an_escalation_from_report_to_approved_release(lead: Any, lead2: Any, client_for: Any) -> None:
    """Every step through the pages, the clock set to each day it happens; every date explained on
    the page and every step in the audit trail."""

    def at(days: float) -> Any:
        return time_machine.travel(T0 + timedelta(days=days), tick=False)

    # Day 0: logged an hour after knowledge, reported, preserved.
    with at(0):
        client = client_for(lead)
        created = client.post(
            "/escalations/new/",
            {
                "platform_reference": "ticket-done-when",
                "account_reference": "acct:4242",
                "incident_type": "child_pornography",
                "priority": "standard",
                "knowledge_at": typed(T0 - timedelta(hours=1)),
            },
        )
        assert created.status_code == 302, created.context["form"].errors
        esc = Escalation.objects.get(platform_reference="ticket-done-when")
        path = f"/escalations/{esc.pk}/"
        assert (
            client.post(
                f"{path}report/", {"version": 1, "reported_at": typed(T0), "cybertipline_report_id": "7100042"}
            ).status_code
            == 302
        )
        assert (
            client.post(
                f"{path}preservation/", {"version": 2, "preservation_location": "evidence-store://case/4242"}
            ).status_code
            == 302
        )
        assert client.post(f"{path}evidence/", evidence_data(esc)).status_code == 302
        year_end = T0.replace(year=2026)
        assert fresh(esc).preserve_until == year_end

    # Day 300: a 2703(f) request; it holds 90 days from receipt, within the year.
    with at(300):
        client = client_for(lead)
        response = client.post(
            "/legal-requests/new/",
            request_data(
                esc, received_at=typed(T0 + timedelta(days=300)), response_due_at=typed(T0 + timedelta(days=314))
            ),
        )
        assert response.status_code == 302, response.context["form"].errors
        first = LegalRequest.objects.get(kind="2703f_preservation")
        assert first.hold_until == T0 + timedelta(days=390)
        # Day 390 is after the year's end: the request decides.
        assert fresh(esc).preserve_until == T0 + timedelta(days=390)
        response = client.post(f"/legal-requests/{first.pk}/respond/", {"version": 1, "responded_at": ""})
        assert response.status_code == 302

    # Day 380: the renewal, 90 more days from the end of the first period.
    with at(380):
        client = client_for(lead)
        response = client.post(
            "/legal-requests/new/",
            request_data(
                esc,
                kind="2703f_renewal",
                renews=first.key,
                reference="SPD-2025-0042-R1",
                received_at=typed(T0 + timedelta(days=380)),
            ),
        )
        assert response.status_code == 302, response.context["form"].errors
        renewal = LegalRequest.objects.get(kind="2703f_renewal")
        assert renewal.hold_until == T0 + timedelta(days=480)
        detail = client.get(f"/escalations/{esc.pk}/")
        rules = section(detail, "preservation")
        # Every date explained, the deciding one marked.
        spd = "from Springfield Police Department"
        deciding = f"{shown(T0 + timedelta(days=480))} Deciding: preserve until"
        assert f"2703(f) renewal {renewal.key} {spd} (ref. SPD-2025-0042-R1) {deciding}" in rules
        first_until = shown(T0 + timedelta(days=390))
        assert f"2703(f) preservation request {first.key} {spd} (ref. SPD-2025-0042) {first_until}" in rules
        assert f"18 U.S.C. 2258A(h): one calendar year after the report {shown(year_end)}" in rules
        # Too early to release.
        refused = client.post(f"/escalations/{esc.pk}/release/", {"version": fresh(esc).version, "reason": "x"})
        assert f"can't be released before preservation ends on {shown(T0 + timedelta(days=480))}" in text_of(refused)

    # Day 481: the holds have ended, but the renewal is still open: release is refused, naming it.
    with at(481):
        client = client_for(lead)
        refused = client.post(f"/escalations/{esc.pk}/release/", {"version": fresh(esc).version, "reason": "Over."})
        named = f"{renewal.key} (2703(f) renewal, Springfield Police Department, ref. SPD-2025-0042-R1)"
        assert f"can't be released while a legal request is open: {named}." in text_of(refused)
        assert (
            client.post(
                f"/legal-requests/{renewal.pk}/respond/",
                {"version": 1, "responded_at": typed(T0 + timedelta(days=481))},
            ).status_code
            == 302
        )
        asked = client.post(
            f"/escalations/{esc.pk}/release/",
            {"version": fresh(esc).version, "reason": "All holds ended; both requests answered."},
        )
        assert asked.status_code == 302
        # The same lead can't approve.
        same = client.post(f"/escalations/{esc.pk}/release/approve/", {"version": fresh(esc).version})
        assert "A different lead must approve" in text_of(same)

    # Day 482: a second lead approves; the first closes.
    with at(482):
        approved = client_for(lead2).post(f"/escalations/{esc.pk}/release/approve/", {"version": fresh(esc).version})
        assert approved.status_code == 302
        client = client_for(lead)
        closed = client.post(
            f"/escalations/{esc.pk}/close/",
            {"version": fresh(esc).version, "reason": "Released after the holds ended."},
        )
        assert closed.status_code == 302, closed.context["form"].errors
        assert fresh(esc).status == Status.CLOSED
        detail = client.get(f"/escalations/{esc.pk}/")
        text = text_of(detail)
        approved_text = f"Released Approved {shown(T0 + timedelta(days=482))} by {lead2.get_username()}"
        requested_text = f"requested {shown(T0 + timedelta(days=481))} by {lead.get_username()}"
        assert f"{approved_text}; {requested_text}" in text

    # Every step is in the audit trail, by whom and when.
    trail = list(
        AuditEvent.objects.filter(escalation=esc).order_by("at", "pk").values_list("action", "actor", "at", "reason")
    )
    steps = [(action, actor, when) for action, actor, when, _ in trail]
    assert steps == [
        (AuditAction.CREATED, lead.pk, T0),
        (AuditAction.REPORT_RECORDED, lead.pk, T0),
        (AuditAction.PRESERVATION_CONFIRMED, lead.pk, T0),
        (AuditAction.EVIDENCE_ADDED, lead.pk, T0),
        (AuditAction.LEGAL_REQUEST, lead.pk, T0 + timedelta(days=300)),
        (AuditAction.LEGAL_REQUEST, lead.pk, T0 + timedelta(days=300)),
        (AuditAction.LEGAL_REQUEST, lead.pk, T0 + timedelta(days=380)),
        (AuditAction.LEGAL_REQUEST, lead.pk, T0 + timedelta(days=481)),
        (AuditAction.RELEASE_REQUESTED, lead.pk, T0 + timedelta(days=481)),
        (AuditAction.RELEASED, lead2.pk, T0 + timedelta(days=482)),
        (AuditAction.CLOSED, lead.pk, T0 + timedelta(days=482)),
    ]
    reasons = [reason for *_, reason in trail]
    assert f"{first.key}: 2703(f) preservation request from Springfield Police Department" in reasons[4]
    assert f"holds preservation until {shown(T0 + timedelta(days=390))}" in reasons[4]
    assert f"{first.key}: responded" in reasons[5]
    assert f"{renewal.key}: 2703(f) renewal" in reasons[6]
    assert f"{renewal.key}: responded" in reasons[7]
    # The timeline on the page shows them all.
    timeline = page(detail)[page(detail).index("<h2>Timeline</h2>") :]
    for label in (
        "Logged",
        "Report recorded",
        "Preservation confirmed",
        "Legal request",
        "Release requested",
        "Release approved",
        "Closed",
    ):
        assert f"<strong>{label}</strong>" in timeline


def test_a_time_outside_what_the_database_holds_is_a_field_error(
    lead: Any, client_for: Any, make_escalation: Any
) -> None:
    """9999-12-31 23:59 in New York is in the year 10000 in UTC: refused on the field, never a 500."""
    UserProfile.objects.create(user=lead, time_zone="America/New_York")
    esc = make_escalation()
    client = client_for(lead)
    response = client.post("/legal-requests/new/", request_data(esc, response_due_at="9999-12-31T23:59"))
    assert_field_error(response, "response_due_at", "Response due is out of range; check the year.")
    edit = {
        "version": esc.version,
        "platform_reference": esc.platform_reference,
        "incident_type": esc.incident_type,
        "priority": esc.priority,
        "knowledge_at": typed(esc.knowledge_at, "America/New_York"),
        "ncmec_opened_at": "9999-12-31T23:59",
    }
    assert_field_error(client.post(f"/escalations/{esc.pk}/edit/", edit), "ncmec_opened_at", "out of range")
    extend = {"version": esc.version, "until": "9999-12-31T23:59", "reason": "x"}
    assert_field_error(client.post(f"/escalations/{esc.pk}/extend/", extend), "until", "out of range")
    assert not LegalRequest.objects.exists()
    assert fresh(esc).version == esc.version
