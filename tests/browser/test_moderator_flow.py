"""The moderator's whole path through the real app, in headless Chromium (the app, the browser and
the screenshots: tests/browser/conftest.py).

Screenshots of every step go to test-results/browser/ at the repository root (CI keeps them).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Response, expect

from tests.browser.conftest import SHOTS, failure_shot, sign_in

pytestmark = pytest.mark.browser

KEY_RE = re.compile(r"ESC-\d{6}")


def _local_input(moment: datetime) -> str:
    """What a datetime-local input holds; the demo accounts have no profile, so their zone is UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def test_moderator_logs_reports_and_preserves(chromium_browser: Browser, app_url: str, shots: list[Path]) -> None:
    def shot(name: str) -> None:
        path = SHOTS / name
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    failed: list[str] = []

    def note_failure(response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            failed.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", note_failure)
    try:
        sign_in(page, app_url, "moderator", "moderator-demo-pass", shot=SHOTS / "01-login.png")
        shots.append(SHOTS / "01-login.png")
        expect(page.locator("header .who")).to_contain_text("moderator")

        # Log a new escalation.
        page.get_by_role("link", name="Log escalation").click()
        expect(page.locator("h1")).to_contain_text("Log an escalation")
        now = datetime.now(UTC)
        page.fill("#id_platform_reference", "ticket-browser-7781")
        incident_value = page.locator("#id_incident_type option").nth(1).get_attribute("value")
        assert incident_value
        page.select_option("#id_incident_type", incident_value)
        page.fill("#id_knowledge_at", _local_input(now - timedelta(minutes=5)))
        shot("02-new.png")
        page.click("button[type=submit]:has-text('Log escalation')")

        # The detail page: the key, a success message and the derived deadlines.
        expect(page).to_have_url(re.compile(r"/escalations/\d+/$"))
        heading = page.locator("h1").first.inner_text()
        match = KEY_RE.search(heading)
        assert match, f"no ESC key in {heading!r}"
        key = match.group(0)
        expect(page.locator(".messages")).to_contain_text(f"{key} logged")
        deadlines = page.locator("table.deadlines tbody tr")
        expect(deadlines.first).to_contain_text("File the CyberTipline report")
        expect(deadlines.first.locator("td").first).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"))
        expect(deadlines.first.locator(".badge")).to_have_text("On track")
        expect(page.locator(".facts")).to_contain_text("ticket-browser-7781")
        expect(page.locator(".status")).to_have_text("Open")
        detail_url = page.url
        shot("03-detail.png")

        # Record the report, first with a report ID that is not a number.
        page.get_by_role("link", name="Record report").click()
        reported_at = _local_input(now - timedelta(minutes=1))
        page.fill("#id_reported_at", reported_at)
        page.fill("#id_cybertipline_report_id", "12ab")
        page.click("button[type=submit]:has-text('Record report')")
        field_error = page.locator("#field-cybertipline_report_id .field-errors")
        expect(field_error).to_contain_text("digits only")
        expect(page.locator("#id_cybertipline_report_id")).to_have_value("12ab")
        shot("04-report-error.png")

        page.fill("#id_cybertipline_report_id", "7000123")
        page.click("button[type=submit]:has-text('Record report')")
        expect(page).to_have_url(detail_url)
        expect(page.locator(".messages")).to_contain_text(f"{key}: report recorded")
        expect(page.locator(".status")).to_have_text("Reported")
        expect(page.locator(".facts")).to_contain_text("7000123")
        expect(deadlines.first.locator(".badge")).to_have_text("Met")
        shot("05-reported.png")

        # Confirm preservation.
        page.get_by_role("link", name="Confirm preservation").click()
        page.fill("#id_preservation_location", "evidence-store://case/7781")
        page.click("button[type=submit]:has-text('Confirm preserved now')")
        expect(page).to_have_url(detail_url)
        expect(page.locator(".messages")).to_contain_text(f"{key}: preservation confirmed")
        expect(page.locator(".facts")).to_contain_text("Confirmed")
        expect(page.locator(".facts")).to_contain_text("evidence-store://case/7781")
        shot("06-preserved.png")

        # The same page at phone width.
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        expect(page.locator("h1").first).to_contain_text(key)
        shot("07-detail-phone.png")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        print(f"phone-width horizontal overflow: {overflow}px")
    except Exception:
        failure_shot(page, "99-failure-moderator.png", shots)
        raise
    finally:
        context.close()
    assert not failed, f"requests that failed: {failed}"


def test_lead_filters_all_escalations_by_overdue(chromium_browser: Browser, app_url: str, shots: list[Path]) -> None:
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    try:
        sign_in(page, app_url, "lead", "lead-demo-pass")
        page.get_by_role("link", name="All escalations").click()
        expect(page.locator("h1")).to_have_text("All escalations")
        rows = page.locator("table.table tbody tr[data-key]")
        expect(rows.first).to_be_visible()
        all_keys = set(rows.evaluate_all("rows => rows.map(r => r.dataset.key)"))

        # seeddemo's ticket-10390 (knowledge 30 hours ago, no report): find its key by reference.
        page.goto(f"{app_url}/escalations/?q=ticket-10390")
        stale_key = rows.first.get_attribute("data-key")

        page.goto(f"{app_url}/escalations/?deadline_state=overdue")
        expect(page.locator("#id_deadline_state")).to_have_value("overdue")
        expect(rows.first).to_be_visible()
        overdue_keys = set(rows.evaluate_all("rows => rows.map(r => r.dataset.key)"))
        states = rows.locator("td .badge-overdue, td .badge-on_track, td .badge-due_soon, td .badge-met")
        path = SHOTS / "08-lead-overdue.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

        assert stale_key in overdue_keys
        # Both lists show their first page only (the demo data has hundreds of escalations).
        assert all_keys - overdue_keys, "the filter must leave out escalations that are not overdue"
        assert set(states.all_inner_texts()) == {"Overdue"}
    except Exception:
        failure_shot(page, "99-failure-lead.png", shots)
        raise
    finally:
        context.close()
