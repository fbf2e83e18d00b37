"""Delivering the event stream: the sweep claims due EventDelivery rows, posts each to its endpoint
signed the Standard Webhooks way (through safe_http: only the URL an admin configured, vetted at each
send), records every attempt, and retries with backoff until EVENT_DELIVERY_MAX_ATTEMPTS.

The pattern is the reminders' (sweep.py): state lives in rows; a delivery is claimed with a
conditional UPDATE (`claimed_until`, `claim_token`) before it is posted and marked `sent_at` only
after the endpoint answered 2xx, and only by the sweep still holding the claim. A worker killed
mid-send leaves a claim that expires; a later sweep posts it again with the same webhook-id (the
event's), so a receiver that keeps the ids it has seen drops the copy: exactly once, as far as HTTP
allows.

Each endpoint's deliveries go out one after another in event order, from a thread of their own (at
most WEBHOOK_CONCURRENCY endpoints at once); the first failure stops that endpoint for the rest of
the sweep and defers its queue to the failed delivery's next attempt, so an endpoint that is down
costs one attempt per backoff step, not one per event. Only as many go to one endpoint in a pass as
its deadline allows within the claim's lease; the rest wait for the next pass. Threads only sign and
post; everything that touches the database happens in the sweep's own thread.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from escalations.models import EventDelivery, EventDeliveryAttempt
from escalations.reminders import safe_http, webhook_signing

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after the n-th failure, at most an hour (as for reminders)."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass
class EventStats:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    deferred: int = 0


@dataclass(frozen=True)
class Post:
    """One delivery as a request, read from the database beforehand (posting touches none)."""

    delivery_id: int
    url: str
    secret: str
    message_id: str
    body: bytes


@dataclass
class Outcome:
    delivery_id: int
    ok: bool
    status: int | None = None
    error: str = ""


@dataclass
class _EndpointRun:
    posts: list[Post]
    outcomes: list[Outcome] = field(default_factory=list)


def body_of(payload: dict[str, Any]) -> bytes:
    """The bytes that are signed and sent: the same for every attempt of one event."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def post_one(post: Post) -> Outcome:
    """Sign at the moment of sending (a fresh timestamp on every attempt) and POST once."""
    signed = webhook_signing.signed_headers(post.secret, post.message_id, int(time.time()), post.body)
    try:
        status = safe_http.post_json(post.url, post.body, signed)
    except (safe_http.Refused, safe_http.Failed) as exc:
        return Outcome(post.delivery_id, ok=False, error=str(exc))
    except Exception as exc:  # a bug must cost one attempt, never the sweep
        return Outcome(post.delivery_id, ok=False, error=f"unexpected error: {exc.__class__.__name__}: {exc}")
    if 200 <= status < 300:
        return Outcome(post.delivery_id, ok=True, status=status)
    # A redirect is not followed (it could lead where the vetting would refuse): a failure like any.
    return Outcome(post.delivery_id, ok=False, status=status, error=f"endpoint answered HTTP {status}")


def _post_in_order(run: _EndpointRun) -> _EndpointRun:
    for post in run.posts:
        outcome = post_one(post)
        run.outcomes.append(outcome)
        if not outcome.ok:
            break
    return run


def _lease() -> timedelta:
    return timedelta(seconds=settings.EVENT_CLAIM_LEASE_SECONDS)


def per_endpoint_limit() -> int:
    """How many one endpoint may get in one pass: each may take the whole request deadline, and all
    must be recorded before the claim's lease runs out."""
    return max(1, int(settings.EVENT_CLAIM_LEASE_SECONDS // max(settings.WEBHOOK_DEADLINE_SECONDS, 1)) - 1)


def claim(now: datetime, skip_endpoints: set[int]) -> list[EventDelivery]:
    """Take up to EVENT_DELIVERY_BATCH due deliveries for this sweep alone (row locks skip what
    another sweep holds on PostgreSQL; SQLite's IMMEDIATE transactions serialize sweeps)."""
    due = Q(sent_at__isnull=True, failed_at__isnull=True, next_attempt_at__lte=now, endpoint__active=True) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    token = uuid.uuid4().hex
    with transaction.atomic():
        ids = list(
            EventDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(due)
            .exclude(endpoint_id__in=skip_endpoints)
            .order_by("next_attempt_at", "event_id", "pk")
            .values_list("pk", flat=True)[: settings.EVENT_DELIVERY_BATCH]
        )
        if not ids:
            return []
        # Conditional: only rows still unclaimed (or expired) are taken.
        EventDelivery.objects.filter(due, pk__in=ids).update(claimed_until=now + _lease(), claim_token=token)
    return list(
        EventDelivery.objects.filter(pk__in=ids, claim_token=token)
        .select_related("event", "endpoint")
        .order_by("event_id", "pk")
    )


def record(delivery: EventDelivery, outcome: Outcome, now: datetime, stats: EventStats) -> bool:
    """Record one attempt (always logged); only the claim's holder updates the delivery. Returns
    whether this sweep still held it."""
    attempts = delivery.attempts + 1
    fields: dict[str, Any] = {
        "attempts": attempts,
        "claimed_until": None,
        "claim_token": "",
        "last_status": outcome.status,
        "last_error": outcome.error[:2000],
    }
    if outcome.ok:
        fields["sent_at"] = now
    elif attempts >= settings.EVENT_DELIVERY_MAX_ATTEMPTS:
        fields["failed_at"] = now
    else:
        fields["next_attempt_at"] = now + backoff(attempts)
    with transaction.atomic():
        held = EventDelivery.objects.filter(
            pk=delivery.pk, sent_at__isnull=True, claim_token=delivery.claim_token
        ).update(**fields)
        EventDeliveryAttempt.objects.create(
            delivery_id=delivery.pk, at=now, ok=outcome.ok, status_code=outcome.status, error=outcome.error[:2000]
        )
    if outcome.ok:
        stats.sent += 1
    else:
        stats.failed += 1
        stats.gave_up += int("failed_at" in fields)
    return bool(held)


def release(deliveries: list[EventDelivery], next_attempt_at: datetime | None) -> int:
    """Give back claims not used in this pass (no attempt was made), optionally deferring them."""
    fields: dict[str, Any] = {"claimed_until": None, "claim_token": ""}
    if next_attempt_at is not None:
        fields["next_attempt_at"] = next_attempt_at
    released = 0
    for delivery in deliveries:
        released += EventDelivery.objects.filter(
            pk=delivery.pk, sent_at__isnull=True, claim_token=delivery.claim_token
        ).update(**fields)
    return released


def _post_of(delivery: EventDelivery) -> Post:
    return Post(
        delivery_id=delivery.pk,
        url=delivery.endpoint.url,
        secret=delivery.endpoint.secret,
        message_id=delivery.event.message_id,
        body=body_of(delivery.event.payload),
    )


def deliver_due(now: datetime | None = None) -> EventStats:
    """Post every due event delivery; safe to run twice, or twice at once. `now` defaults to the clock."""
    now = now or timezone.now()
    stats = EventStats()
    failed_endpoints: set[int] = set()
    limit = per_endpoint_limit()
    workers = max(1, settings.WEBHOOK_CONCURRENCY)
    for _ in range(1_000):  # bounded; each pass sends, fails an endpoint, or ends
        claimed = claim(now, failed_endpoints)
        if not claimed:
            break
        by_endpoint: dict[int, list[EventDelivery]] = defaultdict(list)
        for delivery in claimed:
            by_endpoint[delivery.endpoint_id].append(delivery)
        runs: dict[int, _EndpointRun] = {}
        waiting: list[EventDelivery] = []
        for endpoint_id, deliveries in by_endpoint.items():
            runs[endpoint_id] = _EndpointRun([_post_of(d) for d in deliveries[:limit]])
            waiting.extend(deliveries[limit:])
        release(waiting, None)
        with ThreadPoolExecutor(max_workers=min(workers, len(runs)), thread_name_prefix="events") as pool:
            finished = list(pool.map(_post_in_order, runs.values()))
        for endpoint_id, run in zip(runs, finished, strict=True):
            unrecorded = {d.pk: d for d in by_endpoint[endpoint_id]}
            for outcome in run.outcomes:
                record(unrecorded.pop(outcome.delivery_id), outcome, now, stats)
            if run.outcomes and not run.outcomes[-1].ok:
                failed_endpoints.add(endpoint_id)
                stats.deferred += _defer_endpoint(endpoint_id, run.outcomes[-1].delivery_id, unrecorded.values(), now)
    if stats.sent or stats.failed:
        log.info("event deliveries", extra={"sent": stats.sent, "failed": stats.failed, "gave_up": stats.gave_up})
    return stats


def _defer_endpoint(endpoint_id: int, failed_id: int, unsent: Any, now: datetime) -> int:
    """After a failure, the endpoint's other pending deliveries wait as long as the failed one: those
    this pass held but did not post (released), and those queued behind them. Returns how many."""
    failed = EventDelivery.objects.get(pk=failed_id)
    until = now + backoff(failed.attempts)
    deferred = release([d for d in unsent if d.pk != failed_id], until)
    deferred += (
        EventDelivery.objects.filter(
            endpoint_id=endpoint_id, sent_at__isnull=True, failed_at__isnull=True, next_attempt_at__lt=until
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .exclude(pk=failed_id)
        .update(next_attempt_at=until)
    )
    return deferred
