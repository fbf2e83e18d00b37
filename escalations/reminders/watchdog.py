"""Is the sweep alive? The heartbeat it writes at the end of each run, read by the lead's banner, /healthz
and /metrics. Pages import this, never the sweep itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from escalations.models import (
    SweepHeartbeat,
)

HEARTBEAT = "reminders"


def last_sweep() -> datetime | None:
    beat = SweepHeartbeat.objects.filter(name=HEARTBEAT).only("last_finished_at").first()
    return beat.last_finished_at if beat else None


def is_stale(last: datetime | None, now: datetime | None = None) -> bool:
    """True when no sweep has finished within WATCHDOG_STALE_MINUTES (or none ever has)."""
    now = now or timezone.now()
    return last is None or now - last > timedelta(minutes=settings.WATCHDOG_STALE_MINUTES)
