"""The lead's dashboard in headless Chromium: on screen, then printed to an A4 PDF whose charts must
not be clipped.

The dashboard draws its charts on the server as inline <svg> elements, each with a <title>.
This test signs in as the demo lead on the demo data of `seeddemo` (a quarter of escalations), saves
a full-page screenshot, prints the page to PDF through Chromium, renders the PDF's pages to PNG with
poppler's pdftoppm, and checks under print media that every chart lies within the printable width
of an A4 page.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Response

from tests.browser.conftest import SHOTS, failure_shot, sign_in
from tests.conftest import skip_unless

pytestmark = pytest.mark.browser

# A4 is 210 mm wide; CSS pixels are 96 to the inch. The PDF is printed with these margins.
MARGIN_MM = 12
A4_WIDTH_MM = 210
MM_PER_INCH = 25.4
PRINTABLE_WIDTH_PX = (A4_WIDTH_MM - 2 * MARGIN_MM) / MM_PER_INCH * 96  # about 703 px
PDF = SHOTS / "dashboard.pdf"
PAGE_IMAGES = SHOTS / "dashboard-page"  # pdftoppm adds -1.png, -2.png ...

# Every <svg> that is laid out (not display:none in print): its box, and the chart's title if any.
SVG_BOXES = """() => Array.from(document.querySelectorAll('svg')).map((svg, index) => {
    const box = svg.getBoundingClientRect();
    const title = svg.querySelector(':scope > title');
    return {
        index,
        title: title ? title.textContent.trim() : '',
        left: box.left, right: box.right, width: box.width, height: box.height,
    };
})"""

# The outermost elements whose right edge passes `limit` (a table that the PDF cuts off, say).
WIDE_ELEMENTS = """(limit) => Array.from(document.querySelectorAll('body *')).filter((el) => {
    const right = (node) => node.getBoundingClientRect().right;
    return el.getBoundingClientRect().width > 0 && right(el) > limit + 0.5
        && !(el.parentElement && right(el.parentElement) > limit + 0.5);
}).map((el) => `<${el.tagName.toLowerCase()}${el.id ? ' id=' + el.id : ''} class="${el.getAttribute('class') || ''}"> `
    + `to x ${Math.round(el.getBoundingClientRect().right)} px`)"""


def test_lead_prints_the_dashboard_without_clipped_charts(
    chromium_browser: Browser, app_url: str, shots: list[Path]
) -> None:
    pdftoppm = shutil.which("pdftoppm")
    skip_unless(pdftoppm is not None, "poppler", "pdftoppm is missing (apt-get install poppler-utils)")
    assert pdftoppm is not None

    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    failed: list[str] = []

    def note_failure(response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            failed.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", note_failure)
    try:
        sign_in(page, app_url, "lead", "lead-demo-pass")
        response = page.goto(f"{app_url}/dashboard/")
        assert response is not None
        if response.status != 200:
            failure_shot(page, "99-failure-dashboard.png", shots)
            pytest.fail(f"GET /dashboard/ as the lead gave {response.status}; the dashboard must answer 200")

        screenshot = SHOTS / "10-dashboard.png"
        page.screenshot(path=str(screenshot), full_page=True)
        shots.append(screenshot)

        charts = [svg for svg in page.evaluate(SVG_BOXES) if svg["title"]]
        assert charts, "the dashboard shows no chart: no inline <svg> with a <title>"

        # The PDF, as a lead would print it.
        for old in SHOTS.glob(f"{PAGE_IMAGES.name}-*.png"):
            old.unlink()
        page.pdf(
            path=str(PDF),
            format="A4",
            print_background=True,
            margin={
                "top": f"{MARGIN_MM}mm",
                "right": f"{MARGIN_MM}mm",
                "bottom": f"{MARGIN_MM}mm",
                "left": f"{MARGIN_MM}mm",
            },
        )
        shots.append(PDF)
        assert PDF.stat().st_size > 1000, "the PDF is empty"
        subprocess.run([pdftoppm, "-r", "60", "-png", str(PDF), str(PAGE_IMAGES)], check=True, timeout=120)
        images = sorted(SHOTS.glob(f"{PAGE_IMAGES.name}-*.png"))
        shots.extend(images)
        assert images, "pdftoppm wrote no page image"
        assert all(image.stat().st_size > 0 for image in images)

        # The same layout as the PDF's: print media, as wide as the printable area of A4.
        page.emulate_media(media="print")
        page.set_viewport_size({"width": int(PRINTABLE_WIDTH_PX), "height": 1000})
        layout: dict[str, Any] = page.evaluate(
            "() => ({width: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth})"
        )
        limit = min(PRINTABLE_WIDTH_PX, layout["width"])
        printed = [svg for svg in page.evaluate(SVG_BOXES) if svg["width"] > 0 and svg["height"] > 0]
        print(
            f"print layout: {len(printed)} svg laid out ({len(charts)} charts on screen), client width "
            f"{layout['width']} px, scroll width {layout['scroll']} px, printable width {PRINTABLE_WIDTH_PX:.0f} px, "
            f"{len(images)} PDF page(s)"
        )
        assert any(svg["title"] for svg in printed), "no chart is printed (every titled svg is hidden in print)"
        # Not asserted (the charts are this test's subject), but worth knowing: what else is too wide.
        for wide in page.evaluate(WIDE_ELEMENTS, limit):
            print(f"note: wider than the printable width in print: {wide}")
        clipped = [
            f"svg #{svg['index']} {svg['title']!r}: x {svg['left']:.0f} to {svg['right']:.0f} px"
            for svg in printed
            if svg["left"] < -0.5 or svg["right"] > limit + 0.5
        ]
        assert not clipped, f"charts reach past the printable width ({limit:.0f} px) of an A4 page: {clipped}"
    except Exception:
        failure_shot(page, "99-failure-dashboard.png", shots)
        raise
    finally:
        context.close()
    assert not failed, f"requests that failed: {failed}"
