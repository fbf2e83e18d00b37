"""A day as a new team would live it, in headless Chromium under production's CSP: pages that refresh
themselves without losing what the person is doing, "Take it" on a pipeline's escalation, an
auditor landing on the dashboard, a release request that reaches the second lead, and a report
corrected with its reason.

The app is settings.prod as served for tests (tests/browser/settings_live.py: refresh every 2 s).
Changes made meanwhile by others come from another process on the same data (manage_on: a shell, a
sweep) or through the API with a pipeline's token. Every wait below waits for something the person
would see (a row, a count, a status line), never for a length of time.

Screenshots: test-results/browser/30-live-*.png.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SHOTS, failure_shot, manage_on, serve_app, sign_in
from tests.conftest import skip_unless

pytestmark = pytest.mark.browser

PASSWORDS = {"moderator": "moderator-demo-pass", "lead": "lead-demo-pass", "auditor": "auditor-demo-pass"}
SECOND_LEAD = ("lead-two", "lead-two-demo-pass")
WAIT_MS = 30_000

SETUP = f"""
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from escalations.accounts import tokens
user = get_user_model().objects.create_user(username={SECOND_LEAD[0]!r}, password={SECOND_LEAD[1]!r})
user.groups.add(Group.objects.get(name="lead"))
lead = get_user_model().objects.get(username="lead")
expires = timezone.now() + timedelta(days=1)
_, raw = tokens.create_token(actor=lead, name="moderation-pipeline", scope="write", expires_at=expires)
open(TOKEN_PATH, "w").write(raw)
"""

# Run with manage_on(url, "shell", "-c", ...): what another moderator's or the system's work looks like.
NEW_FOR_MODERATOR = """
from django.contrib.auth import get_user_model
from django.utils import timezone
from datetime import timedelta
from escalations.core import services
users = get_user_model().objects
esc = services.create_escalation(actor=users.get(username="lead"), data={{
    "platform_reference": "{reference}", "incident_type": "child_pornography", "priority": "standard",
    "knowledge_at": timezone.now() - timedelta(minutes=3), "assignee": users.get(username="moderator")}})
print(esc.key)
"""
NOTIFY_MODERATOR = """
from django.contrib.auth import get_user_model
from django.utils import timezone
from escalations.models import Notification
moderator = get_user_model().objects.get(username="moderator")
Notification.objects.create(user=moderator, title="A reminder", created_at=timezone.now())
"""


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    skip_unless(os.path.exists(CHROMIUM), "chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    token_path = tmp_path_factory.mktemp("live") / "token"
    setup = ["shell", "-c", f"TOKEN_PATH = {str(token_path)!r}\n" + SETUP]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_SECRET_KEY", "browser-test-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
        patch.setenv("CACHE_URL", "locmemcache://")
        with serve_app(setup, prefix="browser-live-", settings="tests.browser.settings_live") as url:
            yield url, token_path.read_text().strip()


@pytest.fixture(scope="module")
def browser(live_app: tuple[str, str]) -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Tab:
    """A signed-in tab that keeps every CSP violation and script error it meets."""

    def __init__(self, browser: Browser, url: str, username: str, password: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        self.url = url
        sign_in(self.page, url, username, password)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and ("Content Security Policy" in message.text or "Refused" in message.text):
            self.problems.append(message.text)

    def shot(self, name: str, shots: list[Path]) -> None:
        path = SHOTS / f"30-live-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    def close(self) -> None:
        self.context.close()


def new_for_moderator(url: str, reference: str) -> str:
    """A lead gives the moderator a new escalation, from another process; its key."""
    said = manage_on(url, "shell", "-c", NEW_FOR_MODERATOR.format(reference=reference))
    return re.findall(r"ESC-\d{6}", said)[-1]


def api_post(url: str, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (our own test server on loopback)
        url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310
        result: dict[str, Any] = json.loads(answer.read())
        return result


def test_my_queue_all_escalations_and_the_bell_stay_true_without_losing_a_half_typed_filter(
    browser: Browser, live_app: tuple[str, str], shots: list[Path]
) -> None:
    url, _ = live_app
    tab = Tab(browser, url, "moderator", PASSWORDS["moderator"])
    page = tab.page
    try:
        page.goto(f"{url}/escalations/mine/")
        status = page.locator("[data-live-status]")
        expect(status).to_contain_text("refreshes itself every 2 seconds", timeout=WAIT_MS)
        page.evaluate("window.notReloaded = true")
        tab.shot("queue-before", shots)

        # Another lead gives the moderator a new escalation: it appears without a reload.
        key = new_for_moderator(url, "ticket-live-1")
        expect(page.locator(f"tr[data-key='{key}']")).to_be_visible(timeout=WAIT_MS)
        assert page.evaluate("window.notReloaded") is True

        # The bell counts a new notification.
        before = int(page.locator(".bell .count").inner_text())
        manage_on(url, "shell", "-c", NOTIFY_MODERATOR)
        expect(page.locator(".bell .count")).to_have_text(str(before + 1), timeout=WAIT_MS)
        expect(page.locator(".bell")).to_have_attribute("aria-label", f"Notifications: {before + 1} unread")

        # Time left counts down between refreshes, in the page's own words.
        cell = page.locator(f"tr[data-key='{key}'] [data-due]")
        cell.evaluate("el => { el.textContent = 'stale'; }")
        expect(cell).to_have_text(re.compile(r"^2[0-4] h \d+ min left$"), timeout=WAIT_MS)
        tab.shot("queue-after", shots)

        # All escalations: a half-typed filter is never lost to a refresh.
        page.goto(f"{url}/escalations/")
        expect(status).to_contain_text("Updated", timeout=WAIT_MS)
        page.evaluate("window.notReloaded = true")
        page.fill("#id_q", "ticket-li")
        expect(status).to_contain_text("Paused while you type", timeout=WAIT_MS)
        second = new_for_moderator(url, "ticket-live-2")
        page.locator("h1").click()  # leaves the field with the filter still unsent
        expect(status).to_contain_text("changes you have not sent", timeout=WAIT_MS)
        assert page.input_value("#id_q") == "ticket-li"
        assert page.locator(f"tr[data-key='{second}']").count() == 0
        tab.shot("list-paused-while-typing", shots)

        page.fill("#id_q", "")  # undone: the refresh resumes
        page.locator("h1").click()
        expect(page.locator(f"tr[data-key='{second}']")).to_be_visible(timeout=WAIT_MS)
        assert page.evaluate("window.notReloaded") is True
        tab.shot("list-resumed", shots)
        assert tab.problems == []
    except Exception:
        failure_shot(page, "30-live-FAILED-refresh.png", shots)
        raise
    finally:
        tab.close()


def test_a_moderator_takes_a_pipeline_escalation(
    browser: Browser, live_app: tuple[str, str], shots: list[Path]
) -> None:
    url, token = live_app
    created = api_post(
        url, token, "/api/v1/escalations/",
        {"platform_reference": "ticket-pipeline-7", "incident_type": "child_pornography",
         "knowledge_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()},
    )  # fmt: skip
    assert created["assignee"] is None  # a pipeline's escalation waits for someone to take it
    key = created["key"]
    tab = Tab(browser, url, "moderator", PASSWORDS["moderator"])
    page = tab.page
    try:
        page.goto(f"{url}/escalations/?assignee=null")
        row = page.locator(f"tr[data-key='{key}']")
        expect(row).to_contain_text("Nobody")
        tab.shot("take-it-list", shots)
        with page.expect_navigation():
            row.get_by_role("button", name=f"Take it: {key}").click()
        expect(page.locator(".messages")).to_contain_text(f"{key} is yours now")
        assert "assignee=null" in page.url  # back where the button was, filters kept
        expect(page.locator(f"tr[data-key='{key}']")).to_have_count(0)
        tab.shot("take-it-taken", shots)
        page.goto(f"{url}/escalations/{created['id']}/")
        expect(page.locator(".timeline")).to_contain_text("Taken by moderator")
        page.goto(f"{url}/escalations/mine/")
        expect(page.locator(f"tr[data-key='{key}']")).to_be_visible()
        assert tab.problems == []
    except Exception:
        failure_shot(page, "30-live-FAILED-take.png", shots)
        raise
    finally:
        tab.close()


def test_an_auditor_lands_on_the_dashboard_and_two_leads_share_a_release(
    browser: Browser, live_app: tuple[str, str], shots: list[Path]
) -> None:
    url, _ = live_app
    auditor = Tab(browser, url, "auditor", PASSWORDS["auditor"])
    first = Tab(browser, url, "lead", PASSWORDS["lead"])
    second = Tab(browser, url, *SECOND_LEAD)
    try:
        assert auditor.page.url == f"{url}/dashboard/"
        expect(auditor.page.locator("nav[aria-label=Main]")).to_contain_text("Compliance report")
        expect(auditor.page.locator("[data-live-status]")).to_contain_text("Updated", timeout=WAIT_MS)
        auditor.shot("auditor-lands-on-dashboard", shots)

        second.page.goto(f"{url}/dashboard/")
        waiting = second.page.locator("#releases-awaiting")
        bell_before = int(second.page.locator(".bell .count").inner_text())

        # The first lead finds an escalation whose preservation ended and asks for the release.
        page = first.page
        page.goto(f"{url}/escalations/?hold=ended")
        page.locator("table tbody tr td.key a").first.click()
        key = page.locator("h1").inner_text().split()[0]
        expect(page.get_by_role("button", name="Close")).to_have_count(0)  # a link: closing is allowed
        page.get_by_role("link", name="Request release").click()
        page.fill("textarea[name=reason]", "Preservation year over; no legal request; counsel agrees.")
        with page.expect_navigation():
            page.get_by_role("button", name="Request release").click()
        why = page.locator("#why-approve-release")
        expect(why).to_have_text("You asked for this release: a different lead approves it.")
        first.shot("release-requested-approve-disabled", shots)

        # The second lead's dashboard lists it by itself; the sweep brings the bell's news.
        expect(waiting).to_contain_text(key, timeout=WAIT_MS)
        manage_on(url, "sendreminders")
        expect(second.page.locator(".bell .count")).not_to_have_text(str(bell_before), timeout=WAIT_MS)
        second.shot("second-lead-sees-release-waiting", shots)
        second.page.goto(f"{url}/notifications/")
        expect(second.page.locator("main")).to_contain_text(f"{key}: Release requested")
        with second.page.expect_navigation():
            waiting_link = f"{url}/dashboard/"
            second.page.goto(waiting_link)
        second.page.locator("#releases-awaiting").get_by_role("link", name="Review and approve").first.click()
        expect(second.page.locator("h1")).to_contain_text("Approve release")
        assert auditor.problems == first.problems == second.problems == []
    except Exception:
        failure_shot(first.page, "30-live-FAILED-release-first.png", shots)
        failure_shot(second.page, "30-live-FAILED-release-second.png", shots)
        raise
    finally:
        for tab in (auditor, first, second):
            tab.close()


def test_a_report_is_corrected_with_its_reason(browser: Browser, live_app: tuple[str, str], shots: list[Path]) -> None:
    url, _ = live_app
    tab = Tab(browser, url, "moderator", PASSWORDS["moderator"])
    page = tab.page
    try:
        page.goto(f"{url}/escalations/?status=reported&assignee=")
        page.locator("table tbody tr td.key a").first.click()
        page.get_by_role("link", name="Correct the report").click()
        old = page.input_value("input[name=cybertipline_report_id]")
        new = str(int(old) + 1) if old.isdigit() else "4564999"
        page.fill("input[name=cybertipline_report_id]", new)
        with page.expect_navigation():
            page.get_by_role("button", name="Save the correction").click()
        expect(page.locator(".errors, .field-errors").first).to_contain_text("required")  # no reason yet
        page.fill("textarea[name=reason]", "NCMEC's receipt shows a different number.")
        tab.shot("correct-report-form", shots)
        with page.expect_navigation():
            page.get_by_role("button", name="Save the correction").click()
        entry = page.locator(".timeline li", has_text="Report corrected").last
        expect(entry).to_contain_text("Reason: NCMEC's receipt shows a different number.")
        expect(entry).to_contain_text(old)
        expect(entry).to_contain_text(new)
        entry.scroll_into_view_if_needed()
        tab.shot("correct-report-timeline", shots)
        assert tab.problems == []
    except Exception:
        failure_shot(page, "30-live-FAILED-correct.png", shots)
        raise
    finally:
        tab.close()
