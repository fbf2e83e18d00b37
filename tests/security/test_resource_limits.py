"""Resource limits: no request makes a page render without bound or the API answer a 500 or an HTML
page. Tables take `per_page` only up to one cap (MAX_PER_PAGE) and fall back to their default for
anything that is not a positive number; the compliance report pages its rows; the API answers a bad
cursor, JSON nested without end, a body over its size limit, and a body that is not UTF-8 JSON with a
JSON 400 (415 for a type other than JSON), whoever sends it."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from escalations.models import Escalation
from tests.api.test_api import API, bulk_items, make_token, new_data, token_client

ROW = re.compile(r'<tr [^>]*data-key="(ESC-\d+)"')


def shown_keys(response: Any) -> list[str]:
    assert response.status_code == 200, response.status_code
    return ROW.findall(response.content.decode())


@pytest.fixture
def five(make_escalation: Any, lead: Any) -> list[Escalation]:
    """Five active escalations assigned to the lead, knowledge in the last few hours."""
    now = timezone.now()
    return [make_escalation(actor=lead, knowledge_at=now - timedelta(hours=i + 1)) for i in range(5)]


# --- per_page on the tables -------------------------------------------------------------------------

TABLES = ["/escalations/", "/escalations/mine/"]


@pytest.mark.parametrize("url", TABLES)
def test_per_page_above_the_cap_is_clamped_and_the_page_says_so(
    url: str, settings: Any, client_for: Any, lead: Any, five: list[Escalation]
) -> None:
    settings.MAX_PER_PAGE = 3
    for value in ("54000", "4", "9" * 40):
        response = client_for(lead).get(url, {"per_page": value})
        assert len(shown_keys(response)) == 3
        assert "Showing 3 per page (the most a page shows)." in response.content.decode()
    # The next page carries on from there.
    assert len(shown_keys(client_for(lead).get(url, {"per_page": "54000", "page": "2"}))) == 2


@pytest.mark.parametrize("url", TABLES)
def test_per_page_at_or_below_the_cap_is_honoured_without_a_note(
    url: str, settings: Any, client_for: Any, lead: Any, five: list[Escalation]
) -> None:
    settings.MAX_PER_PAGE = 3
    for value, rows in (("3", 3), ("2", 2), ("1", 1)):
        response = client_for(lead).get(url, {"per_page": value})
        assert len(shown_keys(response)) == rows
        assert "the most a page shows" not in response.content.decode()


@pytest.mark.parametrize("url", TABLES)
@pytest.mark.parametrize("value", ["-5", "0", "-0", "abc", "1e9", "2.5", "", " ", "9" * 5000, "%00", "5 5"])
def test_a_per_page_that_is_not_a_positive_number_falls_back_to_the_default(
    url: str, value: str, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    from escalations.web.escalation_views import PAGE_SIZE

    now = timezone.now()
    for i in range(PAGE_SIZE + 2):
        make_escalation(actor=lead, knowledge_at=now - timedelta(minutes=i + 1))
    response = client_for(lead).get(url, {"per_page": value})
    assert len(shown_keys(response)) == PAGE_SIZE
    assert "the most a page shows" not in response.content.decode()


def test_the_cap_is_a_setting_of_200_by_default() -> None:
    assert django_settings.MAX_PER_PAGE == 200


def test_exports_ignore_per_page_and_stream_every_row(
    settings: Any, client_for: Any, lead: Any, five: list[Escalation]
) -> None:
    settings.MAX_PER_PAGE = 3
    for url in ("/escalations/?per_page=2&_export=csv", "/escalations/mine/?per_page=-5&_export=csv"):
        response = client_for(lead).get(url)
        assert response.status_code == 200
        assert response.streaming
        lines = b"".join(response.streaming_content).decode().strip().splitlines()
        assert len(lines) == 1 + 5


# --- the compliance report ----------------------------------------------------------------------------


def _period() -> dict[str, str]:
    today = timezone.localdate()
    return {"start": (today - timedelta(days=2)).isoformat(), "end": today.isoformat()}


def test_compliance_report_pages_its_rows_and_counts_the_whole_period(
    settings: Any, client_for: Any, lead: Any, five: list[Escalation]
) -> None:
    settings.MAX_PER_PAGE = 3
    client = client_for(lead)
    first = client.get("/reports/compliance/", _period())
    html = first.content.decode()
    assert len(shown_keys(first)) == 3
    assert re.search(r"Escalations in the period</dt><dd>5<", html)  # the summary covers every row
    assert "Rows 1 to 3 of 5" in html
    second = client.get("/reports/compliance/", {**_period(), "page": "2"})
    assert len(shown_keys(second)) == 2
    assert "Rows 4 to 5 of 5" in second.content.decode()
    assert set(shown_keys(first)) | set(shown_keys(second)) == {e.key for e in five}
    # The links to the other page keep the period.
    assert f"start={_period()['start']}&amp;end={_period()['end']}" in html and "page=2" in html


@pytest.mark.parametrize("value", ["54000", "-5", "0", "abc", "9" * 40])
def test_compliance_per_page_is_capped_too(
    value: str, settings: Any, client_for: Any, lead: Any, five: list[Escalation]
) -> None:
    settings.MAX_PER_PAGE = 3
    response = client_for(lead).get("/reports/compliance/", {**_period(), "per_page": value})
    assert len(shown_keys(response)) == 3


@pytest.mark.parametrize("page", ["99999999999999999999", "-1", "abc", "3"])
def test_compliance_page_numbers_out_of_range_show_a_page_not_a_500(
    page: str, settings: Any, client_for: Any, lead: Any, five: list[Escalation]
) -> None:
    settings.MAX_PER_PAGE = 3
    response = client_for(lead).get("/reports/compliance/", {**_period(), "page": page})
    assert len(shown_keys(response)) in (2, 3)


def test_compliance_export_still_has_the_whole_period(
    settings: Any, client_for: Any, lead: Any, five: list[Escalation]
) -> None:
    settings.MAX_PER_PAGE = 3
    response = client_for(lead).get("/reports/compliance/", {**_period(), "per_page": "2", "_export": "csv"})
    assert response.streaming
    assert len(b"".join(response.streaming_content).decode().strip().splitlines()) == 1 + 5


# --- the API: cursors ---------------------------------------------------------------------------------


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "é!",
        "not-base64",
        _cursor("p=abc"),
        _cursor("p=" + "9" * 30),
        _cursor("p=-1"),
        _cursor("o=-1"),
        _cursor("r=x"),
        _cursor("o=" + "9" * 5000),
    ],
)
def test_a_bad_cursor_is_a_json_400_naming_the_cursor(cursor: str, lead: Any, five: list[Escalation]) -> None:
    client = token_client(make_token(lead, scope="read"))
    response = client.get(API, {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "cursor": ["Not a cursor of this list: follow the next or previous link of an earlier answer."]
    }


def test_the_cursors_the_api_hands_out_still_work(lead: Any, five: list[Escalation]) -> None:
    client = token_client(make_token(lead, scope="read"))
    first = client.get(API, {"page_size": "2"}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert [e["key"] for e in back["results"]] == [e["key"] for e in first["results"]]
    assert {e["key"] for e in first["results"]}.isdisjoint(e["key"] for e in second["results"])


# --- the API: bodies ------------------------------------------------------------------------------------

NESTED = "[" * 10_000 + "]" * 10_000


def _writes(esc: Escalation) -> list[tuple[str, str]]:
    return [
        ("post", API),
        ("post", f"{API}bulk/"),
        ("patch", f"{API}{esc.pk}/"),
        ("post", f"{API}{esc.pk}/report/"),
        ("post", f"{API}{esc.pk}/assign/"),
        ("post", f"{API}{esc.pk}/close/"),
    ]


def _send(client: Client, method: str, url: str, body: bytes | str, content_type: str = "application/json") -> Any:
    return getattr(client, method)(url, body, content_type=content_type)


def assert_json_400(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body: dict[str, Any] = response.json()
    return body


def test_deeply_nested_json_is_a_json_400_everywhere(lead: Any, five: list[Escalation]) -> None:
    client = token_client(make_token(lead))
    for method, url in _writes(five[0]):
        for body in (NESTED, '{"notes": ' + "[" * 600 + "]" * 600 + "}"):
            answer = assert_json_400(_send(client, method, url, body))
            assert answer == {"detail": "JSON nested deeper than 32 levels: send a flat object (a list for bulk)."}
    assert Escalation.objects.count() == 5


def test_deeply_nested_json_with_an_idempotency_key_is_a_400(lead: Any) -> None:
    client = Client(headers={"Authorization": f"Bearer {make_token(lead)}", "Idempotency-Key": "k-1"})
    assert_json_400(client.post(API, NESTED, content_type="application/json"))


def test_ordinary_json_of_some_depth_still_reaches_the_fields(lead: Any) -> None:
    client = token_client(make_token(lead))
    body = json.dumps(new_data(notes=[[["x"]]]))
    assert "notes" in assert_json_400(client.post(API, body, content_type="application/json"))


def _limit_message(limit: int) -> str:
    return f"Request body too large: this URL takes at most {limit:,} bytes"


def test_a_body_over_the_limit_is_a_json_400_naming_it(lead: Any, five: list[Escalation]) -> None:
    limit = django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit == 1024 * 1024
    big = json.dumps(new_data(notes="x" * limit))
    client = token_client(make_token(lead))
    for method, url in _writes(five[0]):
        if url.endswith("bulk/"):
            continue
        answer = assert_json_400(_send(client, method, url, big))
        assert answer["detail"].startswith(_limit_message(limit)), answer
    assert Escalation.objects.count() == 5


@pytest.mark.parametrize(
    "url", [API, f"{API}bulk/", "/api/v1/nowhere/", "/api/schema/", "/api/docs/", f"{API}1/audit-events/"]
)
def test_a_body_over_the_limit_is_refused_before_sign_in_on_every_api_url(url: str, db: Any) -> None:
    limit = (
        django_settings.API_BULK_MAX_BODY_BYTES
        if url.endswith("bulk/")
        else django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    )
    response = Client().post(url, b"[" + b" " * limit + b"]", content_type="application/json")
    answer = assert_json_400(response)
    assert answer["detail"].startswith(_limit_message(limit))


def test_bulk_takes_1000_escalations_over_the_single_limit(lead: Any) -> None:
    items = bulk_items(1000)
    for item in items:
        item["notes"] = "Found by hash match in the upload queue; account suspended; reviewer notes follow. " * 15
    body = json.dumps(items)
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(body) < django_settings.API_BULK_MAX_BODY_BYTES
    response = token_client(make_token(lead)).post(f"{API}bulk/", body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]
    assert Escalation.objects.count() == 1000


def test_the_bulk_limit_has_room_for_1000_long_items() -> None:
    # A thousand escalations of 8 KB of JSON each (a long note, reference and reason included).
    assert django_settings.API_BULK_MAX_BODY_BYTES >= 1000 * 8 * 1024


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\xff\xfe{\x00}\x00", "application/json", 400),
        (b'{"platform_reference": "\xc3\x28"}', "application/json", 400),
        (b"{not json", "application/json", 400),
        (b'{"a": NaN}', "application/json", 400),
        (b"platform_reference=x", "application/x-www-form-urlencoded", 415),
        (b"platform_reference: x", "text/plain", 415),
        (b"<a/>", "application/xml", 415),
        (b"--b\r\n\r\nx\r\n--b--", "multipart/form-data; boundary=b", 400),
        (b"\x89PNG\r\n", "image/png", 400),
    ],
    ids=["utf16", "bad-utf8", "malformed", "nan", "form", "text", "xml", "multipart", "png"],
)
def test_bodies_that_are_not_json_are_refused_in_json(
    body: bytes, content_type: str, status: int, lead: Any, five: list[Escalation]
) -> None:
    client = token_client(make_token(lead))
    for method, url in _writes(five[0]):
        response = _send(client, method, url, body, content_type)
        assert response.status_code == status, (url, response.status_code, response.content[:200])
        assert response["Content-Type"].startswith("application/json"), (url, response["Content-Type"])
        assert response.json()
    assert Escalation.objects.count() == 5


def test_an_unknown_api_url_answers_json(lead: Any) -> None:
    response = token_client(make_token(lead)).get("/api/v1/nowhere/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "No such API URL."}


def test_an_error_outside_drf_answers_json_under_the_api(lead: Any, monkeypatch: Any) -> None:
    from escalations.core import selectors

    def broken(user: Any = None) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(selectors, "escalations", broken)
    client = Client(headers={"Authorization": f"Bearer {make_token(lead, scope='read')}"})
    client.raise_request_exception = False
    response = client.get(API)
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Server error: try again; if it persists, tell an admin."}
