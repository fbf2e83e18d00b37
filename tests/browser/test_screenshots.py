"""Screenshots of every page of tests/browser/pages.py for each role that may open it (and the 403
page once per role), at desktop (1280 x 800) and phone (390 x 844) widths, so a newcomer sees the
product before running it.

Always written to test-results/browser/pages/<role>/<page>-<width>.jpg. With UPDATE_DOCS_SCREENSHOTS=1
(`make screenshots`) also to docs/screenshots/, replacing the set there, with its index
docs/screenshots/README.md; `make test` leaves the working tree alone. Viewport-height JPEGs keep the
committed set small; the test prints the count and total size.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.browser.conftest import ROOT, SHOTS
from tests.browser.pages import (
    FORBIDDEN,
    PAGES,
    ROLES,
    SIGNED_OUT,
    Page,
    forbidden_page_for,
    open_page,
    pages_for,
    signed_in_context,
)

pytestmark = pytest.mark.browser

OUT = SHOTS / "pages"
DOCS = ROOT / "docs" / "screenshots"
JPEG_QUALITY = 65
# Width name → (viewport, options of the browser context). The phone is drawn at 1.5 times the pixels:
# sharp enough to read, and the whole set stays under 10 MB.
WIDTHS: dict[str, tuple[dict[str, int], dict[str, object]]] = {
    "desktop": ({"width": 1280, "height": 800}, {}),
    "phone": ({"width": 390, "height": 844}, {"device_scale_factor": 1.5, "is_mobile": True, "has_touch": True}),
}
ROLE_TITLES = {SIGNED_OUT: "Signed out", "moderator": "Moderator", "lead": "Lead", "auditor": "Auditor"}
FORBIDDEN_TITLE = "Not allowed (403): a page the role may not open"


def _visits(role: str) -> list[tuple[str, str, Page]]:
    """(file slug, title, page) for every page the role sees, the 403 page last."""
    visits = [(page.slug, page.title, page) for page in pages_for(role)]
    forbidden = forbidden_page_for(role) if role != SIGNED_OUT else None
    if forbidden is not None:
        visits.append((FORBIDDEN, FORBIDDEN_TITLE, forbidden))
    return visits


def _index(rows: dict[str, list[tuple[str, str, str]]]) -> str:
    lines = [
        "# Screenshots",
        "",
        "Every page of the escalation tracker for each role, at desktop (1280 x 800) and phone (390 x 844) widths,",
        "on the demo data of `seeddemo` (fictitious references; no media, ever). The top of each page only.",
        "Written by `tests/browser/test_screenshots.py`; refresh them with `make screenshots`. The pages",
        "and who may open them: `tests/browser/pages.py`.",
        "",
    ]
    for role in (SIGNED_OUT, *ROLES):
        lines += [f"## {ROLE_TITLES[role]}", "", "| page | address | desktop | phone |", "|---|---|---|---|"]
        for slug, title, path in rows[role]:
            lines.append(
                f"| {title} | `{path}` | [desktop]({role}/{slug}-desktop.jpg) | [phone]({role}/{slug}-phone.jpg) |"
            )
        lines.append("")
    return "\n".join(lines)


def test_screenshots_of_every_page_for_each_role(pages_app: tuple[str, dict[str, int]], pages_browser: Browser) -> None:
    base_url, ids = pages_app
    update_docs = os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1"
    if OUT.exists():
        shutil.rmtree(OUT)
    written: list[Path] = []
    rows: dict[str, list[tuple[str, str, str]]] = {}
    wrong_status: list[str] = []
    for role in (SIGNED_OUT, *ROLES):
        rows[role] = []
        (OUT / role).mkdir(parents=True, exist_ok=True)
        for width, (viewport, options) in WIDTHS.items():
            context = signed_in_context(pages_browser, base_url, role, viewport, **options)
            tab = context.new_page()
            try:
                for slug, title, page in _visits(role):
                    expected = 403 if slug == FORBIDDEN else page.status
                    status = open_page(tab, base_url, page, ids)
                    if status != expected:
                        wrong_status.append(f"{role} {width} {page.path(ids)}: {status}, expected {expected}")
                    path = OUT / role / f"{slug}-{width}.jpg"
                    tab.screenshot(path=str(path), type="jpeg", quality=JPEG_QUALITY)
                    written.append(path)
                    if width == "desktop":
                        rows[role].append((slug, title, page.shown_path(ids)))
            finally:
                context.close()

    total = sum(path.stat().st_size for path in written)
    print(f"\nscreenshots: {len(written)} files, {total / 1_000_000:.1f} MB in {OUT.relative_to(ROOT)}")
    assert not wrong_status, "pages did not answer as expected:\n" + "\n".join(wrong_status)
    expected_count = sum(len(_visits(role)) for role in (SIGNED_OUT, *ROLES)) * len(WIDTHS)
    assert len(written) == expected_count
    assert {slug for role in rows for slug, _, _ in rows[role]} == {page.slug for page in PAGES} | {FORBIDDEN}

    if update_docs:
        if DOCS.exists():
            shutil.rmtree(DOCS)
        shutil.copytree(OUT, DOCS)
        (DOCS / "README.md").write_text(_index(rows))
        print(f"screenshots: copied to {DOCS.relative_to(ROOT)} with its index README.md")
