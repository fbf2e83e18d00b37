"""Signing out: the header's button posts and signs out at once; a typed or bookmarked
/accounts/logout/ asks first (a GET never signs anyone out, so another site cannot do it)."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles import finders
from django.test import Client


def test_get_asks_and_leaves_the_person_signed_in(client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    response = client.get("/accounts/logout/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"You are signed in as {moderator.get_username()}." in page
    assert 'action="/accounts/logout/"' in page and 'name="csrfmiddlewaretoken"' in page
    assert client.get("/escalations/mine/").status_code == 200


def test_the_button_on_that_page_signs_out(client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/escalations/mine/").url.startswith("/accounts/login/")


def test_signed_out_visit_says_so_and_links_to_sign_in(db: Any) -> None:
    response = Client().get("/accounts/logout/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "You are signed out." in page and 'href="/accounts/login/"' in page


def test_post_without_the_csrf_token_is_refused(moderator: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    response = client.post("/accounts/logout/", "", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 403
    assert client.get("/escalations/mine/").status_code == 200


def test_pages_name_an_icon_that_exists(client_for: Any, moderator: Any) -> None:
    page = client_for(moderator).get("/escalations/mine/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg"' in page
    assert finders.find("favicon.svg")
