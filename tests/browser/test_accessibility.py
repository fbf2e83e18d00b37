"""axe-core on every page of tests/browser/pages.py for each role that may open it, and the 403 page
once per role, in headless Chromium at desktop and phone widths: no serious or critical violation
of WCAG 2.x A/AA (2.0, 2.1, 2.2) or of axe's best practices.

axe-core comes from the npm registry, pinned in tests/browser/package.json and package-lock.json
(`npm ci --prefix tests/browser`); the test injects its axe.min.js into each page. Every violation
of any impact is written to test-results/browser/axe.json; the test prints one summary line:
`axe: pages=N roles=3 checks=M serious=0 critical=0 (moderate=.. minor=..)`.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.browser.conftest import ROOT, SHOTS
from tests.browser.pages import (
    FORBIDDEN,
    PAGES,
    ROLES,
    SIGNED_OUT,
    forbidden_page_for,
    open_page,
    pages_for,
    signed_in_context,
)
from tests.conftest import skip_unless

pytestmark = pytest.mark.browser

AXE_JS = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
FAILING_IMPACTS = ("serious", "critical")
# axe at both widths of the screenshots: some rules (scrollable regions, target sizes) depend on it.
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# Third-party markup we can't change, left out of the run element by element, with the reason.
# Keyed by the page's slug; each value is a list of CSS selectors passed to axe's `exclude`.
# Elements axe may skip, per page slug, each with the reason; none at present.
AXE_EXCLUDE: dict[str, list[str]] = {}

RUN_AXE = """async ([tags, exclude]) => {
    const options = {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']};
    const result = await axe.run({exclude: exclude}, options);
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({target: n.target.join(' '), summary: n.failureSummary})),
    }));
}"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    skip_unless(AXE_JS.exists(), "axe", "run: npm ci --prefix tests/browser")
    return AXE_JS.read_text()


def _axe(tab: Any, source: str, slug: str) -> list[dict[str, Any]]:
    tab.add_script_tag(content=source)
    exclude = [[selector] for selector in AXE_EXCLUDE.get(slug, [])]
    violations: list[dict[str, Any]] = tab.evaluate(RUN_AXE, [TAGS, exclude])
    return violations


def test_axe_finds_no_serious_violation_on_any_page_for_any_role(
    axe_source: str, pages_app: tuple[str, dict[str, int]], pages_browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, ids = pages_app
    findings: list[dict[str, Any]] = []  # one per (page, role, rule)
    wrong_status: list[str] = []
    checked: set[str] = set()
    checks = 0
    for role in (SIGNED_OUT, *ROLES):
        visits = [(page.slug, page) for page in pages_for(role)]
        forbidden = forbidden_page_for(role) if role != SIGNED_OUT else None
        if forbidden is not None:
            visits.append((FORBIDDEN, forbidden))
        for width, viewport in WIDTHS.items():
            context = signed_in_context(pages_browser, base_url, role, viewport)
            tab = context.new_page()
            try:
                for slug, page in visits:
                    expected = 403 if slug == FORBIDDEN else page.status
                    status = open_page(tab, base_url, page, ids)
                    if status != expected:
                        wrong_status.append(f"{role} {page.path(ids)}: {status}, expected {expected}")
                        continue
                    checks += 1
                    checked.add(slug)
                    for violation in _axe(tab, axe_source, slug):
                        where = {"page": slug, "path": page.path(ids), "role": role, "width": width}
                        findings.append({**where, **violation})
            finally:
                context.close()

    SHOTS.mkdir(parents=True, exist_ok=True)
    report = SHOTS / "axe.json"
    report.write_text(json.dumps(findings, indent=2))
    impacts = Counter(finding["impact"] for finding in findings)
    # Shown in CI's log even when the test passes (pytest hides a passing test's output otherwise).
    with capsys.disabled():
        print(
            f"\naxe: pages={len(checked)} roles={len(ROLES)} checks={checks} serious={impacts['serious']} "
            f"critical={impacts['critical']} (moderate={impacts['moderate']} minor={impacts['minor']}); "
            f"every finding: {report.relative_to(ROOT)}"
        )
    failing = [f for f in findings if f["impact"] in FAILING_IMPACTS]
    lines = [
        f"{f['impact']} {f['id']} on {f['page']} ({f['path']}) as {f['role']}, {f['width']}: {f['help']}\n    "
        + "\n    ".join(node["target"] for node in f["nodes"])
        for f in failing
    ]
    assert not wrong_status, "pages did not answer as expected:\n" + "\n".join(wrong_status)
    assert not failing, f"{len(failing)} serious or critical axe violations:\n" + "\n".join(lines)
    # Every page of the registry was checked for at least one role, and the 403 page too.
    assert checked == {page.slug for page in PAGES} | {FORBIDDEN}
