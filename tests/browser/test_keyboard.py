"""A moderator logs an escalation with the keyboard alone, from the sign-in page to the saved
escalation's page: Tab, Shift+Tab, Enter, arrow keys and typing; no click, no element.focus(). Every
link, button and form field that receives focus on the way must show it (a focus outline).

Screenshots go to test-results/browser/30-keyboard-*.png.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import SHOTS, failure_shot

pytestmark = pytest.mark.browser

MAX_TABS = 60
FOCUSABLE_TAGS = {"A", "BUTTON", "INPUT", "SELECT", "TEXTAREA"}

# What has focus, and whether it shows it: an outline of at least 2 px, or a box shadow.
FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return {
        tag: el.tagName, id: el.id, name: el.getAttribute('name') || '',
        text: (el.innerText || el.value || '').trim().slice(0, 60),
        outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
        shadow: style.boxShadow !== 'none',
        inViewport: box.bottom > 0 && box.right > 0 && box.top < innerHeight && box.left < innerWidth,
        inMain: !!el.closest('main'),
    };
}"""


class Keyboard:
    """Moves focus with Tab / Shift+Tab only, and records every focused element that shows no focus."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.unseen: list[str] = []
        self.presses = 0

    def focused(self) -> dict[str, Any] | None:
        focused: dict[str, Any] | None = self.page.evaluate(FOCUSED)
        return focused

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.presses += 1

    def tab_to(self, describe: str, matches: Any, backwards: bool = False) -> dict[str, Any]:
        """Press Tab (Shift+Tab) until the focused element satisfies `matches`; fail after MAX_TABS."""
        seen: list[str] = []
        for _ in range(MAX_TABS):
            focused = self.focused()
            if focused is not None:
                self._check_visible(focused)
                if matches(focused):
                    return focused
                seen.append(f"{focused['tag']}#{focused['id']} {focused['text'][:20]!r}")
            self.press("Shift+Tab" if backwards else "Tab")
        raise AssertionError(f"{describe}: not reached in {MAX_TABS} Tab presses; focus went to {seen}")

    def _check_visible(self, focused: dict[str, Any]) -> None:
        if focused["tag"] in FOCUSABLE_TAGS and not (focused["outline"] or focused["shadow"]):
            self.unseen.append(f"{self.page.url}: {focused['tag']}#{focused['id']} {focused['text']!r}")
        if not focused["inViewport"]:
            self.unseen.append(f"{self.page.url}: {focused['tag']}#{focused['id']} is off screen")


def _by_id(element_id: str) -> Any:
    return lambda focused: focused["id"] == element_id


def test_moderator_logs_an_escalation_with_the_keyboard_only(
    chromium_browser: Browser, app_url: str, shots: list[Path]
) -> None:
    def shot(name: str) -> None:
        path = SHOTS / f"30-keyboard-{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    context = chromium_browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC", locale="en-US")
    page = context.new_page()
    keys = Keyboard(page)
    try:
        # Sign in: the username field has focus on arrival (autofocus), or is reached with Tab.
        page.goto(f"{app_url}/accounts/login/")
        keys.tab_to("the username field", _by_id("id_username"))
        page.keyboard.type("moderator")
        keys.press("Tab")
        assert keys.focused() is not None and keys.focused()["id"] == "id_password"  # type: ignore[index]
        page.keyboard.type("moderator-demo-pass")
        with page.expect_navigation():
            keys.press("Enter")
        expect(page).to_have_url(re.compile(r"/escalations/mine/$"))

        # The first Tab reaches the skip link, shown on screen; Enter on it moves on to the page's content.
        skip = keys.tab_to("the skip link", lambda f: f["tag"] == "A" and f["text"] == "Skip to content")
        assert skip["inViewport"], "the skip link is focused but not shown"
        shot("01-skip-link")
        keys.press("Enter")
        keys.press("Tab")
        after_skip = keys.focused()
        assert after_skip is not None and after_skip["inMain"], f"after the skip link, focus went to {after_skip}"

        # Back up into the header (Shift+Tab) to the "Log escalation" link, and follow it with Enter.
        keys.tab_to("Log escalation", lambda f: f["tag"] == "A" and f["text"] == "Log escalation", backwards=True)
        shot("02-log-escalation-link")
        with page.expect_navigation():
            keys.press("Enter")
        expect(page.locator("h1")).to_contain_text("Log an escalation")

        # Every required field, by keyboard.
        keys.tab_to("Platform reference", _by_id("id_platform_reference"))
        page.keyboard.type("ticket-keyboard-4411")
        keys.tab_to("Incident type", _by_id("id_incident_type"))
        keys.press("ArrowDown")  # the first incident type after "Choose…"
        assert page.input_value("#id_incident_type") != "", "ArrowDown did not choose an incident type"
        keys.tab_to("Knowledge obtained", _by_id("id_knowledge_at"))
        knowledge = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
        # A datetime-local field in en-US: month, day, year; then hour, minute (12-hour) and AM/PM.
        page.keyboard.type(knowledge.strftime("%m%d%Y"))
        keys.press("ArrowRight")
        page.keyboard.type(knowledge.strftime("%I%M") + knowledge.strftime("%p")[0])
        assert page.input_value("#id_knowledge_at") == knowledge.strftime("%Y-%m-%dT%H:%M")
        shot("03-form-filled")
        keys.tab_to("the Log escalation button", lambda f: f["tag"] == "BUTTON" and f["text"] == "Log escalation")
        with page.expect_navigation():
            keys.press("Enter")

        # Saved: the escalation's own page shows it.
        expect(page).to_have_url(re.compile(r"/escalations/\d+/$"))
        key = re.search(r"ESC-\d{6}", page.locator("h1").first.inner_text())
        assert key, page.locator("h1").first.inner_text()
        expect(page.locator(".messages")).to_contain_text(f"{key.group(0)} logged")
        expect(page.locator(".facts")).to_contain_text("ticket-keyboard-4411")
        expect(page.locator(".facts")).to_contain_text(knowledge.strftime("%Y-%m-%d %H:%M"))
        shot("04-saved")
        print(f"\nkeyboard: {key.group(0)} logged from sign-in in {keys.presses} key presses (no clicks)")
        assert not keys.unseen, "focus not visible on:\n" + "\n".join(keys.unseen)
    except Exception:
        failure_shot(page, "30-keyboard-failure.png", shots)
        raise
    finally:
        context.close()
