"""Referrer-Policy no-referrer makes browsers post our own forms with `Origin: null`. Such a post is
ours only when the browser's Sec-Fetch-Site says same-origin, and it still needs the CSRF token;
every other origin check is Django's own."""

from __future__ import annotations

import re
from typing import Any

import pytest

from escalations.models import Escalation
from tests.conftest import FormClient
from tests.security.test_permissions import _post_data


def _signed_in(user: Any) -> tuple[FormClient, str]:
    client = FormClient(enforce_csrf_checks=True)
    client.force_login(user)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/escalations/new/").content.decode())
    assert match
    return client, match.group(1)


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_null_origin_from_our_own_page_is_accepted_with_the_token(moderator: Any, secure: bool) -> None:
    client, token = _signed_in(moderator)
    data = {**_post_data("create", None, moderator), "csrfmiddlewaretoken": token}
    response = client.post(
        "/escalations/new/", data, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}, secure=secure
    )
    assert response.status_code == 302
    assert Escalation.objects.count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": "same-site"},
        {"Origin": "null", "Sec-Fetch-Site": "none"},
        {"Origin": "null"},
        {"Origin": "https://attacker.example", "Sec-Fetch-Site": "same-origin"},
    ],
    ids=["null-cross-site", "null-same-site", "null-typed", "null-no-metadata", "foreign-origin"],
)
def test_other_origins_are_refused_even_with_the_token(moderator: Any, headers: dict[str, str]) -> None:
    client, token = _signed_in(moderator)
    data = {**_post_data("create", None, moderator), "csrfmiddlewaretoken": token}
    response = client.post("/escalations/new/", data, headers=headers)
    assert response.status_code == 403
    assert Escalation.objects.count() == 0


def test_null_origin_without_the_token_is_refused(moderator: Any) -> None:
    client, _ = _signed_in(moderator)
    response = client.post(
        "/escalations/new/",
        _post_data("create", None, moderator),
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 403
    assert Escalation.objects.count() == 0


def test_sign_in_form_works_with_null_origin(make_user: Any) -> None:
    make_user("signer", "moderator")
    client = FormClient(enforce_csrf_checks=True)
    page = client.get("/accounts/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/accounts/login/",
        {"username": "signer", "password": "correct-horse-battery", "csrfmiddlewaretoken": token.group(1)},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/escalations/mine/"


def test_pages_ask_browsers_for_no_referrer(client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).get("/escalations/new/")
    assert response["Referrer-Policy"] == "no-referrer"
    assert '<meta name="referrer" content="no-referrer">' in response.content.decode()
