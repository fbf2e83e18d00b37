"""Signing in through a real OpenID provider in Chromium: the tracker (its own process, REQUIRE_2FA on)
and node's oidc-provider (deploy/ci/oidc/provider.js), each on a loopback port. A moderator and a lead
click "Sign in with Test provider", sign in at the provider and land on their pages; a lead whose
provider sign-in had a second factor (`amr` mfa) goes straight in, one without it is sent to set up
our own; a person whose group was removed at the provider finds no role at their next sign-in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SHOTS, failure_shot, serve_app
from tests.conftest import skip_unless
from tests.integration.oidc_peer import Tally, app_environment, free_port, running_provider

pytestmark = [pytest.mark.browser, pytest.mark.oidc]

TALLY = Tally("browser")


@pytest.fixture(scope="module")
def oidc_app() -> Iterator[str]:
    skip_unless(os.path.exists(CHROMIUM), "chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with running_provider() as issuer:
        environment = {**app_environment(issuer), "REQUIRE_2FA": "true"}
        with (
            mock.patch.dict(os.environ, environment),
            mock.patch("tests.browser.conftest._free_port", free_port),
            serve_app(prefix="browser-oidc-") as url,
        ):
            yield url
    TALLY.write()


@pytest.fixture(scope="module")
def browser(oidc_app: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def provider_sign_in(page: Page, app: str, login: str, groups: str, *, mfa: bool, shot: str = "") -> None:
    page.goto(f"{app}/accounts/login/")
    with page.expect_navigation():
        page.click("text=Sign in with Test provider")
    assert "/interaction/" in page.url, page.url
    page.fill("#login", login)
    page.fill("#groups", groups)
    if mfa:
        page.check("#mfa")
    if shot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / shot), full_page=True)
    page.click("#submit")
    page.wait_for_url(f"{app}/**")


def signed_in(page: Page, app: str) -> bool:
    cookies = {cookie["name"] for cookie in page.context.cookies(app)}
    return "sessionid" in cookies and "/accounts/login/" not in page.url


def test_moderator_and_lead_sign_in_through_the_provider(browser: Browser, oidc_app: str, shots: list[Path]) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{oidc_app}/accounts/login/")
        assert page.locator("text=Sign in with Test provider").is_visible()
        provider_sign_in(page, oidc_app, "maria", "tt-moderators", mfa=False, shot="oidc-provider-sign-in.png")
        assert page.url.endswith("/escalations/mine/")
        assert page.locator("h1").first.inner_text().strip() == "My queue"
        assert "moderator" in page.locator("header").inner_text()
        TALLY.signed_in += 1
        page.context.clear_cookies()

        provider_sign_in(page, oidc_app, "lena", "tt-leads", mfa=True)
        assert page.url.endswith("/escalations/mine/")
        assert "lead" in page.locator("header").inner_text()
        page.goto(f"{oidc_app}/dashboard/")
        assert page.url.endswith("/dashboard/")
        page.screenshot(path=str(SHOTS / "oidc-lead-dashboard.png"), full_page=True)
        shots.append(SHOTS / "oidc-lead-dashboard.png")
        TALLY.signed_in += 1
    except Exception:
        failure_shot(page, "oidc-moderator-lead-failure.png", shots)
        raise
    finally:
        page.close()


def test_a_lead_without_a_second_factor_sets_up_ours(browser: Browser, oidc_app: str, shots: list[Path]) -> None:
    page = browser.new_page()
    try:
        provider_sign_in(page, oidc_app, "lee", "tt-leads", mfa=False)
        assert "/accounts/two-factor/setup/" in page.url
        TALLY.signed_in += 1
    except Exception:
        failure_shot(page, "oidc-no-amr-failure.png", shots)
        raise
    finally:
        page.close()


def test_a_group_removed_at_the_provider_leaves_no_role(browser: Browser, oidc_app: str, shots: list[Path]) -> None:
    page = browser.new_page()
    try:
        provider_sign_in(page, oidc_app, "casey", "tt-moderators", mfa=True)
        assert page.url.endswith("/escalations/mine/")
        TALLY.signed_in += 1
        page.context.clear_cookies()
        provider_sign_in(page, oidc_app, "casey", "everyone", mfa=True)
        assert "You have no role in the escalation tracker yet" in page.locator("body").inner_text()
        TALLY.signed_in += 1
    except Exception:
        failure_shot(page, "oidc-removed-group-failure.png", shots)
        raise
    finally:
        page.close()


def test_a_tampered_token_in_the_browser_is_refused(browser: Browser, oidc_app: str, shots: list[Path]) -> None:
    page = browser.new_page()
    try:
        provider_sign_in(page, oidc_app, "spoil-tampered", "tt-moderators", mfa=True)
        assert "/accounts/login/" in page.url
        assert "did not work" in page.locator("body").inner_text()
        TALLY.refused += 1
    except Exception:
        failure_shot(page, "oidc-tampered-failure.png", shots)
        raise
    finally:
        page.close()
