"""The issue's "Done when", in headless Chromium: a lead follows an escalation from its report through
a 2703(f) preservation request and its renewal to a release approved by a second lead, and closes it;
every date explained on the page, every step in the audit trail.

A live server can't travel in time, so the history uses dates in the past: knowledge and report 500
days ago (the 2258A(h) year ended 135 days ago), the 2703(f) request received 200 days ago (its hold
ended 110 days ago) and its renewal 120 days ago (90 days more from the end of the first: ended 20
days ago). The app is the real one (runserver) on the demo data of `seeddemo`, plus a second lead made
with `manage.py shell` in this module's server setup, since a lead can't approve their own request.

Screenshots go to test-results/browser/20-legal-*.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.browser.conftest import CHROMIUM, SHOTS, failure_shot, serve_app, sign_in
from tests.conftest import skip_unless

pytestmark = pytest.mark.browser

SECOND_LEAD = ("lead-two", "lead-two-demo-pass")
# Run with `manage.py shell -c`: a second lead, as an admin would add one.
MAKE_SECOND_LEAD = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
user = get_user_model().objects.create_user(username={SECOND_LEAD[0]!r}, password={SECOND_LEAD[1]!r})
user.groups.add(Group.objects.get(name="lead"))
"""
KEY_RE = re.compile(r"ESC-\d{6}")
LR_RE = re.compile(r"LR-\d{5}")


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """As tests/browser/conftest.py's app_url, with a second lead added before the server starts."""
    skip_unless(os.path.exists(CHROMIUM), "chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with serve_app(["shell", "-c", MAKE_SECOND_LEAD], prefix="browser-legal-") as url:
        yield url


def _typed(moment: datetime) -> str:
    """What a datetime-local input holds; the demo accounts have no profile, so their zone is UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.click("header button:has-text('Sign out')")


def test_lead_follows_an_escalation_from_report_to_approved_release(
    chromium_browser: Browser, app_url: str, shots: list[Path]
) -> None:
    def shot(name: str) -> None:
        path = SHOTS / f"20-legal-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    failed: list[str] = []

    def note_failure(response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            failed.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", note_failure)
    today = datetime.now(UTC).replace(second=0, microsecond=0)
    knowledge = today - timedelta(days=500, hours=1)
    reported = today - timedelta(days=500)
    year_end = reported.replace(year=reported.year + 1)
    first_received = today - timedelta(days=200)
    renewal_received = today - timedelta(days=120)
    first_hold = first_received + timedelta(days=90)
    renewal_hold = first_hold + timedelta(days=90)
    try:
        sign_in(page, app_url, "lead", "lead-demo-pass")
        # Leads (and auditors) find law-enforcement requests in the navigation; everyone finds Help.
        expect(page.locator("header nav")).to_contain_text("Legal requests")
        page.get_by_role("link", name="Help", exact=True).click()
        expect(page.locator("h1")).to_have_text("Help: child sexual abuse material")
        expect(page.locator("main")).to_contain_text("1-800-843-5678")
        assert page.locator("img").count() == 0
        shot("01-help")

        # The report: logged, reported to NCMEC 500 days ago, preserved, an evidence item recorded.
        page.get_by_role("link", name="Log escalation").click()
        page.fill("#id_platform_reference", "ticket-legal-5150")
        page.fill("#id_account_reference", "acct:5150")
        page.select_option("#id_incident_type", "child_pornography")
        page.fill("#id_knowledge_at", _typed(knowledge))
        page.click("button[type=submit]:has-text('Log escalation')")
        expect(page).to_have_url(re.compile(r"/escalations/\d+/$"))
        match = KEY_RE.search(page.locator("h1").first.inner_text())
        assert match
        key = match.group(0)
        detail_url = page.url

        page.get_by_role("link", name="Record report").click()
        page.fill("#id_reported_at", _typed(reported))
        page.fill("#id_cybertipline_report_id", "7150150")
        page.click("button[type=submit]:has-text('Record report')")
        expect(page.locator(".messages")).to_contain_text(f"{key}: report recorded")
        page.get_by_role("link", name="Confirm preservation").click()
        page.fill("#id_preservation_location", "evidence-store://case/5150")
        page.click("button[type=submit]:has-text('Confirm preserved now')")
        expect(page).to_have_url(detail_url)

        page.get_by_role("link", name="Record evidence item").click()
        page.fill("#id_reference", "evidence-store://case/5150/item/1")
        page.fill("#id_digest", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A0")  # one short
        page.fill("#id_size_bytes", "48213")
        page.click("button[type=submit]:has-text('Record evidence item')")
        expect(page.locator("#field-digest .field-errors")).to_contain_text("64 hexadecimal characters")
        expect(page.locator("#id_reference")).to_have_value("evidence-store://case/5150/item/1")
        shot("02-evidence-error")
        page.fill("#id_digest", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08")
        page.click("button[type=submit]:has-text('Record evidence item')")
        expect(page).to_have_url(detail_url)
        expect(page.locator("#evidence")).to_contain_text(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        )

        preservation = page.locator("#preservation")
        expect(preservation.locator("tr.deciding")).to_contain_text("18 U.S.C. 2258A(h)")
        expect(preservation.locator("tr.deciding")).to_contain_text(_shown(year_end))
        shot("03-reported")

        # A 2703(f) preservation request, received 200 days ago, from the escalation's page.
        page.locator("#legal-requests").get_by_role("link", name="Record a legal request").click()
        expect(page.locator("#id_escalations")).to_have_value(key)
        page.select_option("#id_kind", "2703f_preservation")
        page.fill("#id_agency", "Springfield Police Department")
        page.fill("#id_reference", "SPD-2025-0042")
        page.fill("#id_received_at", _typed(first_received))
        page.fill("#id_response_due_at", _typed(first_received + timedelta(days=14)))
        page.fill("#id_notes", "Preserve the account's messages and uploads.")
        shot("04-request-new")
        page.click("button[type=submit]:has-text('Record request')")
        expect(page).to_have_url(re.compile(r"/legal-requests/\d+/$"))
        first_key_match = LR_RE.search(page.locator("h1").inner_text())
        assert first_key_match
        first_key = first_key_match.group(0)
        first_url = page.url
        expect(page.locator("#hold-until")).to_contain_text(_shown(first_hold))
        expect(page.locator("#hold-until")).to_contain_text("90 days from receipt")
        expect(page.locator("#linked")).to_contain_text(key)
        page.fill("#respond_responded_at", _typed(first_received + timedelta(days=3)))
        page.click("button[type=submit]:has-text('Record response')")
        expect(page.locator(".messages")).to_contain_text(f"{first_key}: response recorded")
        shot("05-request-responded")

        # Its renewal, received 120 days ago: the form is prefilled from the request it renews.
        page.get_by_role("link", name="Record a renewal").click()
        expect(page.locator("#id_kind")).to_have_value("2703f_renewal")
        expect(page.locator("#id_renews")).to_have_value(first_key)
        # First without saying which request it renews: refused on the field, the rest kept.
        page.fill("#id_renews", "")
        page.fill("#id_reference", "SPD-2025-0042-R1")
        page.fill("#id_received_at", _typed(renewal_received))
        page.click("button[type=submit]:has-text('Record request')")
        expect(page.locator("#field-renews .field-errors")).to_contain_text("must name the 2703(f) request it renews")
        expect(page.locator("#id_reference")).to_have_value("SPD-2025-0042-R1")
        shot("06-renewal-error")
        page.fill("#id_renews", first_key)
        page.click("button[type=submit]:has-text('Record request')")
        expect(page).to_have_url(re.compile(r"/legal-requests/\d+/$"))
        renewal_match = LR_RE.search(page.locator("h1").inner_text())
        assert renewal_match
        renewal_key = renewal_match.group(0)
        renewal_url = page.url
        expect(page.locator("#hold-until")).to_contain_text(_shown(renewal_hold))
        expect(page.locator("#hold-until")).to_contain_text(f"90 days from the end of the period of {first_key}")
        shot("07-renewal")

        # The list of requests, filtered.
        page.get_by_role("link", name="Legal requests").first.click()
        page.select_option("#id_kind", "2703f_renewal")
        page.click("button[type=submit]:has-text('Filter')")
        expect(page.locator("table.legal-requests tbody tr")).to_have_count(1)
        expect(page.locator("table.legal-requests tbody tr")).to_contain_text(renewal_key)
        shot("08-requests-list")

        # Back on the escalation: every date explained, the renewal deciding.
        page.goto(detail_url)
        rows = preservation.locator("table.retention-rules tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.nth(0)).to_contain_text(f"2703(f) renewal {renewal_key}")
        expect(rows.nth(0)).to_contain_text(_shown(renewal_hold))
        expect(rows.nth(0)).to_contain_text("Deciding")
        expect(rows.nth(1)).to_contain_text(f"2703(f) preservation request {first_key}")
        expect(rows.nth(1)).to_contain_text(_shown(first_hold))
        expect(rows.nth(2)).to_contain_text("18 U.S.C. 2258A(h)")
        expect(rows.nth(2)).to_contain_text(_shown(year_end))
        expect(page.locator(".facts")).to_contain_text(_shown(renewal_hold))
        expect(preservation.locator(".open-requests")).to_contain_text(renewal_key)
        shot("09-preservation-explained")

        # Release while the renewal is still open: the button is disabled, naming it...
        expect(preservation.get_by_role("link", name="Request release")).to_have_count(0)
        expect(preservation.get_by_role("button", name="Request release")).to_be_disabled()
        expect(preservation.locator("#why-request-release")).to_contain_text(
            f"Not while a legal request is open: {renewal_key}"
        )
        # ... and the form, opened by its address all the same, is refused, naming it.
        page.goto(detail_url + "release/")
        page.fill("#id_reason", "Every hold has ended.")
        page.click("button[type=submit]:has-text('Request release')")
        errors = page.locator(".errors")
        expect(errors).to_contain_text(f"{key} can't be released while a legal request is open: {renewal_key}")
        expect(errors).to_contain_text("Springfield Police Department, ref. SPD-2025-0042-R1")
        expect(page.locator("#id_reason")).to_have_value("Every hold has ended.")
        shot("10-release-refused")

        # Answer the renewal, then ask again.
        page.goto(renewal_url)
        page.fill("#respond_responded_at", _typed(renewal_received + timedelta(days=2)))
        page.click("button[type=submit]:has-text('Record response')")
        expect(page.locator(".messages")).to_contain_text(f"{renewal_key}: response recorded")
        page.goto(detail_url)
        expect(preservation.locator(".open-requests")).to_have_count(0)
        preservation.get_by_role("link", name="Request release").click()
        page.fill("#id_reason", "Every hold has ended and both requests are answered.")
        page.click("button[type=submit]:has-text('Request release')")
        expect(page).to_have_url(detail_url)
        expect(preservation.locator(".release-state")).to_contain_text("Awaiting approval")
        expect(preservation.get_by_role("link", name="Approve release")).to_have_count(0)
        shot("11-release-requested")
        _sign_out(page)

        # A second lead approves.
        sign_in(page, app_url, *SECOND_LEAD)
        page.goto(detail_url)
        preservation.get_by_role("link", name="Approve release").click()
        expect(page.locator("main")).to_contain_text("lead requested release")
        expect(page.locator("main")).to_contain_text("Every hold has ended and both requests are answered.")
        shot("12-approve")
        page.click("button[type=submit]:has-text('Approve release')")
        expect(page).to_have_url(detail_url)
        expect(preservation.locator(".release-state")).to_contain_text(f"by {SECOND_LEAD[0]}")
        expect(preservation.locator(".release-state")).to_contain_text("requested")

        # And closes it.
        page.get_by_role("link", name="Close", exact=True).click()
        page.fill("#id_reason", "Evidence released after every hold ended.")
        page.click("button[type=submit]:has-text('Close escalation')")
        expect(page).to_have_url(detail_url)
        expect(page.locator(".status").first).to_have_text("Closed")
        timeline = page.locator("ol.timeline")
        for step in (
            "Logged",
            "Report recorded",
            "Preservation confirmed",
            "Evidence item recorded",
            "Legal request",
            "Release requested",
            "Release approved",
            "Closed",
        ):
            expect(timeline).to_contain_text(step)
        expect(timeline).to_contain_text(
            f"{first_key}: 2703(f) preservation request from Springfield Police Department"
        )
        expect(timeline).to_contain_text(f"{renewal_key}: 2703(f) renewal")
        shot("13-closed")

        # The request pages still say what happened.
        page.goto(first_url)
        expect(page.locator("main")).to_contain_text(re.compile(rf"Renewed by\s*{renewal_key} \(until "))
        shot("14-request-detail")

        # The escalation's page at phone width: the rules table scrolls inside its box, not the page.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(detail_url)
        expect(page.locator("#preservation tr.deciding")).to_contain_text(renewal_key)
        shot("15-detail-phone")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        print(f"phone-width horizontal overflow: {overflow}px")
        assert overflow == 0, "the page scrolls sideways at phone width"
    except Exception:
        failure_shot(page, "99-failure-legal.png", shots)
        raise
    finally:
        context.close()
    assert not failed, f"requests that failed: {failed}"
