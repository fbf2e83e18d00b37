"""The dashboard's period part, shared by every lead: its figures counted (dashboard.count_period),
its sections rendered (compliance/_dashboard_period.html) and kept in the cache (Redis in production),
counted again every minute by the beat (refresh_viewed), never by a visit that finds it in the cache.

Why: at a million escalations the period's figures take seconds to count, and their tables (a row
per person, the charts) most of a page's rendering time. A visit reads one cache entry and inserts
its HTML, whatever the size of the table; the page says when it was counted. A period and time zone
is counted during a visit only the first time it is asked for (or when the beat has not counted it
for STALE_SECONDS); from then on the beat counts it every minute while someone looks at it.

A figure that grows with the table belongs here (count it in dashboard.count_period, show it in
_dashboard_period.html); a figure of the live work (open escalations, pending approvals) is
counted at every visit by the view and shown in dashboard.html.
"""

from __future__ import annotations

import logging
import pickle  # nosec B403 - our own cache entries (as Django's cache backends pickle them)
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone

from escalations.compliance import dashboard
from escalations.compliance.dashboard_charts import build_charts

log = logging.getLogger(__name__)

# A part older than this was not counted by the beat (it is down, or nobody looked at this period):
# the visit counts it.
STALE_SECONDS = 600
# The beat counts a period again while someone looked at it within this time.
VIEWED_SECONDS = 3600
REGISTRY_KEY = "dashboard:period:viewed"
# While one visit counts a stale part, the others show it (with its time) instead of all counting at
# once; a count that takes longer than this lets another visit try.
COUNTING_LOCK_SECONDS = 60
TEMPLATE = "compliance/_dashboard_period.html"


@dataclass(frozen=True)
class PeriodPart:
    """The period's sections as HTML, counted at `computed_at`, with what the rest of the page needs
    of them: the escalations they name (need-to-know log) and the holds ending or ended (shown under
    Now). `snapshot` is the PeriodSnapshot pickled: a visit never unpickles it (see figures)."""

    computed_at: datetime
    html: str
    shown_ids: tuple[int, ...]
    holds_now: dict[str, int]
    snapshot: bytes

    def figures(self) -> dashboard.PeriodSnapshot:
        """The figures behind the HTML, as objects (for a reader that needs more than the page)."""
        result: dashboard.PeriodSnapshot = pickle.loads(self.snapshot)  # noqa: S301 # nosec B301 - written by count()
        return result


def cache_key(period: dashboard.Period) -> str:
    return f"dashboard:period:{period.start.isoformat()}:{period.end.isoformat()}:{period.tz}"


def render(period: dashboard.Period, snapshot: dashboard.PeriodSnapshot) -> str:
    """The period's sections in the viewer's zone (dates and times in the tables and charts)."""
    target_hours = float(settings.REPORT_TARGET_HOURS)
    context = {
        "period": period,
        "period_as_of": snapshot.computed_at,
        "figures": snapshot.figures,
        "moderators": snapshot.moderators,
        "charts": build_charts(snapshot, target_hours),
        "target_hours": target_hours,
        "urgent_target_hours": float(settings.URGENT_REPORT_TARGET_HOURS),
    }
    with timezone.override(period.tz):
        return render_to_string(TEMPLATE, context)


def count(period: dashboard.Period, now: datetime) -> PeriodPart:
    """Count and render the period's part at `now` and keep it in the cache for every lead."""
    snapshot = dashboard.count_period(period, now)
    part = PeriodPart(
        computed_at=now,
        html=render(period, snapshot),
        shown_ids=tuple(item.escalation.pk for item in snapshot.figures.breach_list),
        holds_now=dict(snapshot.holds_now),
        snapshot=pickle.dumps(snapshot, pickle.HIGHEST_PROTOCOL),
    )
    cache.set(cache_key(period), part, STALE_SECONDS * 2)
    return part


def _register(period: dashboard.Period) -> None:
    """Mark `period` as looked at: the beat counts it again while it is (a lost update of the
    registry only means a later visit counts it once more)."""
    key = cache_key(period)
    cache.set(key + ":viewed", 1, VIEWED_SECONDS)
    registry: dict[str, tuple[str, str, str]] = cache.get(REGISTRY_KEY) or {}
    if key not in registry:
        registry[key] = (period.start.isoformat(), period.end.isoformat(), str(period.tz))
        cache.set(REGISTRY_KEY, registry, None)


def part(period: dashboard.Period, now: datetime) -> PeriodPart:
    """The period's part as last counted: from the cache when counted less than STALE_SECONDS ago
    (the beat counts it every minute), otherwise counted now (unless another visit is counting it:
    then the stale one, with its time)."""
    key = cache_key(period)
    cached: PeriodPart | None = cache.get(key)
    _register(period)
    if cached is not None and now - timedelta(seconds=STALE_SECONDS) < cached.computed_at <= now:
        return cached
    counting = key + ":counting"
    if cached is not None and cached.computed_at <= now and not cache.add(counting, 1, COUNTING_LOCK_SECONDS):
        return cached
    try:
        return count(period, now)
    finally:
        cache.delete(counting)


def refresh_viewed(now: datetime | None = None) -> int:
    """The beat's tick: count again every period looked at within VIEWED_SECONDS (forgetting the
    others); how many were counted. One failing period does not stop the others."""
    now = now or timezone.now()
    registry: dict[str, tuple[str, str, str]] = cache.get(REGISTRY_KEY) or {}
    kept: dict[str, tuple[str, str, str]] = {}
    for key, (start, end, zone) in registry.items():
        if cache.get(key + ":viewed") is None:
            continue
        kept[key] = (start, end, zone)
        period = dashboard.Period(date.fromisoformat(start), date.fromisoformat(end), ZoneInfo(zone))
        try:
            count(period, now)
        except Exception:
            log.exception("the dashboard's period %s could not be counted; a visit counts it", key)
    if kept != registry:
        cache.set(REGISTRY_KEY, kept, None)
    return len(kept)
