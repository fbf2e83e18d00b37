"""The page registry (tests/browser/pages.py) names every page of the app: a new named URL pattern is
either a page there, checked by axe and photographed for each role, or in NOT_PAGES with a reason.
No browser needed."""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

from tests.browser.pages import EXCLUDED_NAMESPACES, NOT_PAGES, PAGES, ROLES, SIGNED_OUT


def _named_patterns(patterns: list[URLPattern | URLResolver], namespace: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in EXCLUDED_NAMESPACES:
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _named_patterns(pattern.url_patterns, inner)
        elif pattern.name:
            yield f"{namespace}{pattern.name}"


def test_registry_names_every_page_of_the_urlconf() -> None:
    named = set(_named_patterns(get_resolver().url_patterns))
    in_registry = {page.url_name for page in PAGES}
    missing = named - in_registry - set(NOT_PAGES)
    assert not missing, (
        f"named URL patterns neither in tests/browser/pages.py's PAGES nor in NOT_PAGES: {sorted(missing)}"
    )
    stale = (in_registry | set(NOT_PAGES)) - named
    assert not stale, f"pages.py names URL patterns the app no longer has: {sorted(stale)}"
    both = in_registry & set(NOT_PAGES)
    assert not both, f"both a page and not a page: {sorted(both)}"


def test_every_page_is_open_to_someone_and_slugs_are_unique() -> None:
    slugs = [page.slug for page in PAGES]
    assert len(slugs) == len(set(slugs))
    for page in PAGES:
        assert page.roles, page.slug
        assert page.roles <= {*ROLES, SIGNED_OUT}, page.slug
