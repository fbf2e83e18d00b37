"""Two-factor sign-in in headless Chromium, with REQUIRE_2FA on as in production: the demo lead signs
in, is sent to set up an authenticator, scans nothing but types the key into our own TOTP (as an app
would), gets backup codes, signs out, and signs in again with the password and then a code.

Every page of the flow also gets axe-core's check (as tests/browser/test_accessibility.py does for
the pages any demo account can open): no serious or critical violation.

Screenshots: test-results/browser/30-2fa-*.png.
"""

from __future__ import annotations

import os
from base64 import b32decode
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SHOTS, failure_shot, serve_app
from tests.browser.test_accessibility import AXE_JS, FAILING_IMPACTS, _axe
from tests.conftest import REQUIRED_SERVICES, skip_unless

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def strict_app() -> Iterator[str]:
    skip_unless(os.path.exists(CHROMIUM), "chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUIRE_2FA", "1")
        with serve_app(prefix="browser-2fa-") as url:
            yield url


@pytest.fixture(scope="module")
def browser(strict_app: str) -> Iterator[Browser]:
    """Depends on strict_app so that a machine without Chromium skips before a launch is tried."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _code(secret_b32: str, ahead: int = 0) -> str:
    """The code the app shows now, or `ahead` 30-second steps later (a code works once: the next one
    is accepted too, a step of clock drift)."""
    generator = TOTP(b32decode(secret_b32), step=30, t0=0, digits=6)
    generator.time = int(datetime.now(UTC).timestamp()) + 30 * ahead
    return f"{generator.token():06d}"


def _password(page: Page, url: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", "lead-demo-pass")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Sign in')")


def test_lead_sets_up_two_factor_and_signs_in_with_a_code(browser: Browser, strict_app: str, shots: list[Path]) -> None:
    if not AXE_JS.exists() and "axe" in REQUIRED_SERVICES:
        pytest.fail("axe is required (REQUIRE_SERVICES) but missing: npm ci --prefix tests/browser")
    axe_source = AXE_JS.read_text() if AXE_JS.exists() else None
    serious: list[str] = []

    def shot(name: str) -> None:
        path = SHOTS / f"30-2fa-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)
        if axe_source is not None:
            for violation in _axe(page, axe_source, name):
                if violation["impact"] in FAILING_IMPACTS:
                    serious.append(f"{name} ({page.url}): {violation['impact']} {violation['id']}: {violation['help']}")

    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    try:
        _password(page, strict_app)
        # A lead without an authenticator gets nowhere else first.
        assert "/accounts/two-factor/setup/" in page.url
        expect(page.locator("h1")).to_have_text("Set up two-factor sign-in")
        shot("01-welcome")
        page.goto(f"{strict_app}/dashboard/")
        assert "/accounts/two-factor/setup/" in page.url

        page.click("button[type=submit]:has-text('Next')")
        qr = page.locator("img.qr")
        expect(qr).to_be_visible()
        # The QR code is an SVG our server draws from the key in the session; it must load.
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle(), timeout=10_000)
        secret = page.locator("#totp-secret").inner_text().strip()
        shot("02-key")

        # A wrong code first: the field says so, nothing is turned on.
        page.fill("input[name='generator-token']", "000000")
        page.click("button[type=submit]:has-text('Check the code')")
        expect(page.locator(".field-errors")).to_contain_text("Code: not accepted")
        shot("03-wrong-code")

        page.fill("input[name='generator-token']", _code(secret))
        page.click("button[type=submit]:has-text('Check the code')")
        expect(page.locator("h1")).to_have_text("Two-factor sign-in is on")
        shot("04-on")

        page.click("a:has-text('Get backup codes')")
        # New codes take a current code: refused without one, then given the next step's.
        page.click("button:has-text('Get new backup codes')")
        expect(page.locator("#field-otp_token .field-errors")).to_contain_text("Code: enter the 6-digit code")
        page.fill("#id_otp_token", _code(secret, ahead=1))
        page.click("button:has-text('Get new backup codes')")
        codes = [c.strip() for c in page.locator("#backup-codes code").all_inner_texts()]
        assert len(codes) == 10
        shot("05-backup-codes")
        # Shown once: the page opened again says how many are left, not which.
        page.goto(f"{strict_app}/accounts/two-factor/backup-codes/")
        expect(page.locator("#backup-codes")).to_have_count(0)
        expect(page.locator("main")).to_contain_text("You have 10 unused backup codes")

        page.goto(f"{strict_app}/accounts/two-factor/")
        expect(page.locator("h1")).to_have_text("Two-factor sign-in")
        shot("05b-manage")
        page.goto(f"{strict_app}/accounts/two-factor/disable/")
        page.click("button[type=submit]:has-text('Turn off')")
        expect(page.locator("#field-understand .field-errors")).to_contain_text("Yes, I am sure: tick it")
        expect(page.locator("#field-otp_token .field-errors")).to_contain_text("Code: enter the 6-digit code")
        shot("05c-disable-refused")

        page.goto(f"{strict_app}/dashboard/")
        expect(page.locator("h1")).to_contain_text("Compliance dashboard")
        page.click("button:has-text('Sign out')")

        # Signing in again: the password, then the code step; a backup code works there.
        _password(page, strict_app)
        assert "/accounts/login/verify/" in page.url
        expect(page.locator("label[for=id_otp_token]")).to_contain_text("Code")
        expect(page.get_by_role("link", name="All escalations")).to_have_count(0)
        shot("06-code-step")
        page.fill("#id_otp_token", "999999")
        page.click("button[type=submit]:has-text('Sign in')")
        expect(page.locator(".field-errors")).to_contain_text("Code: not accepted")
        shot("07-code-wrong")
        page.fill("#id_otp_token", codes[0])
        with page.expect_navigation():
            page.click("button[type=submit]:has-text('Sign in')")
        assert page.url.endswith("/escalations/mine/"), page.url
        expect(page.locator("header .who")).to_contain_text("lead")
        shot("08-signed-in")
        assert not serious, "axe: serious or critical violations:\n" + "\n".join(serious)
    except Exception:
        failure_shot(page, "30-2fa-failure.png", shots)
        raise
    finally:
        context.close()
