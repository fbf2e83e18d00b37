"""How often a person may press "send a test notification": at most CHANNEL_TEST_LIMIT times per
channel within CHANNEL_TEST_WINDOW_MINUTES. A webhook test is a request to an address the person
typed, and an email test a message to their address: the buttons must not become a way to make the
tracker hammer either. Counted in the cache (shared by every process when CACHE_URL names one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache


def _key(user_id: int, channel: str) -> str:
    return f"channel-tests:{user_id}:{channel}"


def count_test_send(user_id: int, channel: str, now: datetime) -> datetime | None:
    """Count one test send and return None when it may go; when the person already sent the limit
    within the window, count nothing and return the moment the oldest of those leaves the window
    (when they may try again)."""
    window = timedelta(minutes=settings.CHANNEL_TEST_WINDOW_MINUTES)
    since = (now - window).timestamp()
    sent = [at for at in cache.get(_key(user_id, channel), []) if at > since]
    if len(sent) >= settings.CHANNEL_TEST_LIMIT:
        return datetime.fromtimestamp(min(sent), tz=UTC) + window
    sent.append(now.timestamp())
    cache.set(_key(user_id, channel), sent, timeout=int(window.total_seconds()) + 1)
    return None


def limit_message(retry_at: datetime) -> str:
    """In the active (the person's) time zone."""
    from django.utils import timezone

    return (
        f"You sent {settings.CHANNEL_TEST_LIMIT} test notifications in the last "
        f"{settings.CHANNEL_TEST_WINDOW_MINUTES} minutes; try again at {timezone.localtime(retry_at):%H:%M}."
    )
