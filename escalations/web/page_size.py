"""How many rows one page shows. Every table and report takes `?per_page=` up to one cap,
settings.MAX_PER_PAGE, so that no link makes a page render without bound (54,000 rows were 55 MB and
81 s); anything that is not a positive whole number means the page's default. Exports are streamed
and take every row: per_page does not apply to them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator

PER_PAGE_PARAM = "per_page"


def max_per_page() -> int:
    return max(1, int(settings.MAX_PER_PAGE))


@dataclass(frozen=True)
class PageSize:
    rows: int
    # More was asked for than the cap allows: the page says so.
    capped: bool = False


def clamp(asked: int | None, default: int) -> PageSize:
    """`asked` rows a page, within [1, MAX_PER_PAGE]; None, zero or less means `default`."""
    cap = max_per_page()
    if asked is None or asked < 1:
        return PageSize(min(default, cap))
    if asked > cap:
        return PageSize(cap, capped=True)
    return PageSize(asked)


def parse(raw: str | None) -> int | None:
    """The number in `?per_page=` as int() reads it (what django-tables2 does), or None."""
    try:
        return int(raw) if raw is not None else None
    except ValueError:  # not a number, or more digits than int() takes from text
        return None


def page_size(raw: str | None, default: int) -> PageSize:
    return clamp(parse(raw), default)


class KnownCountPaginator(Paginator):
    """A Paginator told the number of rows (counted already, with the page's other figures) instead
    of running COUNT(*) again."""

    def __init__(self, object_list: Any, per_page: int, count: int):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count
