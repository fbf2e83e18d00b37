"""Signing in, a form and signing out in headless Chromium under production's settings: the session and
CSRF cookies carry the __Host- prefix (Secure, path /, no Domain), which a browser keeps only when every
attribute is right, so the flow working at all proves them; and every page sends Permissions-Policy.

Screenshots: test-results/browser/31-prod-*.png."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SHOTS, failure_shot, serve_app
from tests.conftest import skip_unless

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def prod_app() -> Iterator[str]:
    skip_unless(os.path.exists(CHROMIUM), "chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_SECRET_KEY", "browser-test-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
        patch.setenv("CACHE_URL", "locmemcache://")
        with serve_app(prefix="browser-prod-", settings="tests.browser.settings_prodlike") as url:
            yield url


@pytest.fixture(scope="module")
def browser(prod_app: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_sign_in_a_form_and_sign_out_with_host_prefixed_cookies(
    browser: Browser, prod_app: str, shots: list[Path]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    try:
        first = page.goto(f"{prod_app}/accounts/login/")
        assert first is not None
        assert "camera=()" in first.headers["permissions-policy"]
        page.fill("input[name=username]", "moderator")
        page.fill("input[name=password]", "moderator-demo-pass")
        with page.expect_navigation():
            page.click("button[type=submit]:has-text('Sign in')")
        assert page.url.endswith("/escalations/mine/"), page.url
        cookies = {cookie["name"]: cookie for cookie in context.cookies()}
        assert set(cookies) == {"__Host-sessionid", "__Host-csrftoken"}, cookies
        for cookie in cookies.values():
            assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/", cookie
            assert cookie["domain"] == "127.0.0.1", "a host-only cookie, no Domain attribute"
        page.screenshot(path=str(SHOTS / "31-prod-signed-in.png"), full_page=True)
        shots.append(SHOTS / "31-prod-signed-in.png")

        # A form post: the CSRF check reads the __Host- cookie.
        page.goto(f"{prod_app}/accounts/profile/")
        page.click("button[type=submit]:has-text('Save')")
        expect(page.locator(".messages")).to_contain_text("Profile saved.")
        page.click("header button:has-text('Sign out')")
        page.goto(f"{prod_app}/escalations/mine/")
        assert "/accounts/login/" in page.url
    except Exception:
        failure_shot(page, "31-prod-failure.png", shots)
        raise
    finally:
        context.close()
