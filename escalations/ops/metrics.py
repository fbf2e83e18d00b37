"""Our own Prometheus figures, beside django-prometheus's requests and database metrics.

Two kinds:

- Counted where it happens: every delivery attempt (by channel and outcome) and, for each one the
  channel accepted, its lateness `at - due_at` into a histogram. The worker makes the attempts and
  the web process is scraped, so the counts live in the shared cache (CACHE_URL: Redis in
  production), incremented after the attempt's transaction commits. Scraping reads them with one
  get_many; they survive process restarts and add up across every worker on every machine. With a
  per-process cache (locmem, the default without CACHE_URL) the web process sees only its own
  attempts (the "send a test notification" button), which is why production sets CACHE_URL.
- Read from the database at scrape time, each through an index whose size follows the live work,
  not the history (what each costs at 1,000,000 escalations is in docs/deploy.md, "Monitoring").
  The totals by status are the one figure that reads the whole table's index; they are cached for
  METRICS_SLOW_CACHE_SECONDS (default 300) so that several scrapers share one count.

Nothing here is a name or a reference: only counts, ages and ids of channels and states.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Min, Q
from django.db.models.signals import post_save
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from escalations.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    Escalation,
    EventDelivery,
    Priority,
    Status,
    SweepHeartbeat,
)
from escalations.policy import DeadlineState

log = logging.getLogger(__name__)

# Upper bounds in seconds: a reminder's lateness is mostly the sweep's tick (a minute), then retries
# with backoff (1, 2, 4 ... minutes, at most an hour), then outages.
LATENESS_BUCKETS: tuple[float, ...] = (5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
CACHE_PREFIX = "metrics:v1"
OUTCOMES = ("ok", "failed")
AUDIT_CHAIN_STATES = ("ok", "broken", "unknown")
OPEN_STATES = (DeadlineState.OVERDUE, DeadlineState.DUE_SOON, DeadlineState.ON_TRACK, DeadlineState.MET)


# --- counted where it happens ----------------------------------------------------------------------


def connect() -> None:
    """Count every DeliveryAttempt the sweep (or a test send) saves. Called once, from the app's ready()."""
    post_save.connect(_attempt_saved, sender=DeliveryAttempt, dispatch_uid="escalations_metrics_attempt")


def _attempt_saved(sender: Any, instance: DeliveryAttempt, created: bool, using: str, **_: Any) -> None:
    if not created:
        return
    # The sweep loaded the delivery with its reminder (select_related): no query here.
    delivery = instance.delivery
    lateness = (instance.at - delivery.reminder.due_at).total_seconds() if instance.ok else None
    transaction.on_commit(partial(record_attempt, delivery.channel, instance.ok, lateness), using=using)


def _key(*parts: object) -> str:
    return ":".join([CACHE_PREFIX, *map(str, parts)])


def bucket_index(seconds: float) -> int:
    """The index of the first bucket whose bound is at least `seconds` (len(LATENESS_BUCKETS): +Inf)."""
    return bisect.bisect_left(LATENESS_BUCKETS, seconds)


def record_attempt(channel: str, ok: bool, lateness_seconds: float | None) -> None:
    """Count one attempt, and its lateness when the channel accepted it. Never raises: a metrics
    failure must not fail a delivery (the attempt is already committed)."""
    try:
        _incr(_key("attempts", channel, "ok" if ok else "failed"), 1)
        if ok and lateness_seconds is not None:
            lateness = max(lateness_seconds, 0.0)
            _incr(_key("lateness", channel, bucket_index(lateness)), 1)
            _incr(_key("lateness", channel, "sum_ms"), round(lateness * 1000))
    except Exception:
        log.warning("could not count a delivery attempt in the metrics cache", exc_info=True)


def _incr(key: str, by: int) -> None:
    try:
        cache.incr(key, by)
    except ValueError:  # not there yet: the first process to add it wins, the others increment
        if not cache.add(key, by, timeout=None):
            cache.incr(key, by)


# Coop's calls to the preservation endpoint: accepted (created an escalation, recorded on one, or a
# repeat of a report ID already received) or refused, by why.
COOP_OUTCOMES = (
    "created",
    "recorded",
    "duplicate",
    "too_large",
    "unsigned",
    "no_key",
    "bad_signature",
    "malformed",
    "invalid",
    "misconfigured",
)


def record_coop_call(outcome: str) -> None:
    """Count one call to Coop's preservation endpoint by outcome (COOP_OUTCOMES). Never raises."""
    try:
        _incr(_key("coop", outcome), 1)
    except Exception:
        log.warning("could not count a Coop call in the metrics cache", exc_info=True)


def counted_figures() -> dict[str, int]:
    """Every counter of the cache, by key (missing ones are 0): one round trip."""
    keys = [_key("attempts", c, o) for c in Channel.values for o in OUTCOMES]
    keys += [_key("coop", o) for o in COOP_OUTCOMES]
    for channel in Channel.values:
        keys += [_key("lateness", channel, i) for i in range(len(LATENESS_BUCKETS) + 1)]
        keys.append(_key("lateness", channel, "sum_ms"))
    found = cache.get_many(keys)
    return {key: int(found.get(key, 0)) for key in keys}


# --- the audit chain -------------------------------------------------------------------------------


def audit_chain_state() -> str:
    """ "ok", "broken" or "unknown": what the latest check of the audit chains found (the sweep's daily
    walk or `manage.py verifyaudit`); "unknown" before the first. One indexed row read. The alert on a
    broken chain (deploy/prometheus/alerts.yml) fires on "broken" only."""
    from escalations.core.audit_verify import latest

    return {None: "unknown", True: "ok", False: "broken"}[latest().ok]


# --- read from the database at scrape time ---------------------------------------------------------


def _seconds(delta: Any) -> float:
    return float(delta.total_seconds())


def open_figures(now: datetime) -> dict[str, Any]:
    """Open (not yet reported) escalations by deadline state, and the oldest missed report target
    by priority. One query over the rows with status "open" (the status index): the live queue."""
    from escalations.core.selectors import deadline_state_q

    overdue = deadline_state_q(DeadlineState.OVERDUE, now)
    aggregates: dict[str, Any] = {
        state.value: Count("pk", filter=deadline_state_q(state, now)) for state in OPEN_STATES
    }
    for priority in Priority.values:
        aggregates[f"oldest_{priority}"] = Min(
            "report_due_at", filter=Q(priority=priority, report_due_at__lt=now) & overdue
        )
    row = Escalation.objects.filter(status=Status.OPEN, is_test=False).order_by().aggregate(**aggregates)
    return row


def reported_figures(now: datetime) -> dict[str, int]:
    """Reported escalations whose next deadline (preservation confirmation, the end of the hold) is
    missed or due soon, and those missed with preservation unconfirmed. Reported escalations stay so
    for a year: this reads only rows whose next deadline is near or past (index on status and
    next deadline, and on the due-soon moment), never the whole year."""
    reported = Escalation.objects.filter(status=Status.REPORTED, is_test=False).order_by()
    overdue = reported.filter(next_deadline_at__lt=now).aggregate(
        overdue=Count("pk"), unconfirmed=Count("pk", filter=Q(preservation_confirmed_at__isnull=True))
    )
    due_soon = reported.filter(next_deadline_soon_at__lte=now, next_deadline_at__gte=now).count()
    return {"overdue": overdue["overdue"], "due_soon": due_soon, "unconfirmed_overdue": overdue["unconfirmed"]}


def status_totals() -> dict[str, int]:
    """Every escalation (test records left out) by status: the whole status index, so cached for
    METRICS_SLOW_CACHE_SECONDS."""
    key = _key("status_totals")
    found = cache.get(key)
    if isinstance(found, dict):
        return found
    counts = dict.fromkeys(Status.values, 0)
    for row in Escalation.objects.filter(is_test=False).order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    cache.set(key, counts, timeout=getattr(settings, "METRICS_SLOW_CACHE_SECONDS", 300))
    return counts


def delivery_figures() -> dict[str, dict[str, int]]:
    """Deliveries not yet sent (nor cancelled) by channel, and those among them whose last attempt
    failed. Reads the partial index of pending deliveries only: its size is the backlog."""
    rows = (
        Delivery.objects.filter(sent_at__isnull=True, cancelled_at__isnull=True)
        .order_by()
        .values("channel")
        .annotate(pending=Count("pk"), failing=Count("pk", filter=Q(attempts__gt=0)))
    )
    figures = {channel: {"pending": 0, "failing": 0} for channel in Channel.values}
    for row in rows:
        figures[row["channel"]] = {"pending": row["pending"], "failing": row["failing"]}
    return figures


def event_delivery_figures() -> dict[int, dict[str, int]]:
    """Outbound event deliveries not yet sent (nor given up) by endpoint id, and those among them
    whose last attempt failed. Reads the partial index of pending event deliveries only."""
    rows = (
        EventDelivery.objects.filter(sent_at__isnull=True, failed_at__isnull=True)
        .order_by()
        .values("endpoint_id")
        .annotate(pending=Count("pk"), failing=Count("pk", filter=Q(attempts__gt=0)))
    )
    return {row["endpoint_id"]: {"pending": row["pending"], "failing": row["failing"]} for row in rows}


def sweep_figures() -> dict[str, Any]:
    """The reminder sweep's heartbeat: one row by primary key."""
    from escalations.reminders.watchdog import HEARTBEAT

    beat = SweepHeartbeat.objects.filter(name=HEARTBEAT).first()
    return {
        "started": beat.last_started_at if beat else None,
        "finished": beat.last_finished_at if beat else None,
    }


class EscalationsCollector(Collector):
    """Everything above as metric families, computed when Prometheus scrapes."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now

    def collect(self) -> Iterator[Any]:
        now = self.now or timezone.now()
        yield from self._escalations(now)
        yield from self._sweep(now)
        yield from self._deliveries()
        yield from self._counted()
        yield from self._audit()

    def _escalations(self, now: datetime) -> Iterator[Any]:
        opened = open_figures(now)
        reported = reported_figures(now)
        by_state = GaugeMetricFamily(
            "escalations_by_deadline_state",
            "Active escalations by status and deadline state (test records left out). Reported ones"
            " are counted when overdue or due soon only: on track is most of the table.",
            labels=["status", "deadline_state"],
        )
        for state in OPEN_STATES:
            by_state.add_metric([Status.OPEN, state.value], opened[state.value])
        by_state.add_metric([Status.REPORTED, DeadlineState.OVERDUE.value], reported["overdue"])
        by_state.add_metric([Status.REPORTED, DeadlineState.DUE_SOON.value], reported["due_soon"])
        yield by_state

        oldest = GaugeMetricFamily(
            "escalations_oldest_overdue_report_seconds",
            "How long ago the oldest missed report target of an open escalation passed (0: none missed).",
            labels=["priority"],
        )
        for priority in Priority.values:
            due = opened[f"oldest_{priority}"]
            oldest.add_metric([priority], max(_seconds(now - due), 0.0) if due else 0.0)
        yield oldest

        yield GaugeMetricFamily(
            "escalations_preservation_unconfirmed_overdue",
            "Reported escalations whose preservation is not confirmed and whose next deadline has passed.",
            value=reported["unconfirmed_overdue"],
        )

        totals = GaugeMetricFamily(
            "escalations_by_status",
            "Every escalation by status, test records left out (refreshed every METRICS_SLOW_CACHE_SECONDS).",
            labels=["status"],
        )
        for status, count in status_totals().items():
            totals.add_metric([status], count)
        yield totals

    def _sweep(self, now: datetime) -> Iterator[Any]:
        sweep = sweep_figures()
        finished, started = sweep["finished"], sweep["started"]
        # No sweep ever: an age as large as the process's memory of time, so "stale" alerts fire.
        age = _seconds(now - finished) if finished else math.inf
        yield GaugeMetricFamily(
            "escalations_sweep_heartbeat_age_seconds",
            "Seconds since the reminder sweep last finished (+Inf: never).",
            value=max(age, 0.0),
        )
        last = _seconds(finished - started) if finished and started and finished >= started else math.nan
        yield GaugeMetricFamily(
            "escalations_sweep_last_duration_seconds",
            "How long the last finished reminder sweep took (NaN while none has finished since one started).",
            value=last,
        )
        yield GaugeMetricFamily(
            "escalations_sweep_last_finished_timestamp_seconds",
            "When the reminder sweep last finished, as a Unix time (0: never).",
            value=finished.timestamp() if finished else 0.0,
        )

    def _deliveries(self) -> Iterator[Any]:
        figures = delivery_figures()
        pending = GaugeMetricFamily(
            "escalations_deliveries_pending", "Reminder deliveries not sent yet, by channel.", labels=["channel"]
        )
        failing = GaugeMetricFamily(
            "escalations_deliveries_failing",
            "Reminder deliveries not sent yet whose last attempt failed, by channel.",
            labels=["channel"],
        )
        for channel, counts in figures.items():
            pending.add_metric([channel], counts["pending"])
            failing.add_metric([channel], counts["failing"])
        yield pending
        yield failing
        events_pending = GaugeMetricFamily(
            "escalations_event_deliveries_pending",
            "Outbound event deliveries not sent yet (nor given up), by endpoint id.",
            labels=["endpoint"],
        )
        events_failing = GaugeMetricFamily(
            "escalations_event_deliveries_failing",
            "Outbound event deliveries not sent yet whose last attempt failed, by endpoint id.",
            labels=["endpoint"],
        )
        for endpoint_id, counts in sorted(event_delivery_figures().items()):
            events_pending.add_metric([str(endpoint_id)], counts["pending"])
            events_failing.add_metric([str(endpoint_id)], counts["failing"])
        yield events_pending
        yield events_failing

    def _counted(self) -> Iterator[Any]:
        try:
            counted = counted_figures()
        except Exception:
            log.warning("could not read the metrics cache", exc_info=True)
            return
        attempts = CounterMetricFamily(
            "escalations_delivery_attempts",
            "Delivery attempts by channel and outcome (from the shared cache).",
            labels=["channel", "outcome"],
        )
        for channel in Channel.values:
            for outcome in OUTCOMES:
                attempts.add_metric([channel, outcome], counted[_key("attempts", channel, outcome)])
        yield attempts

        lateness = HistogramMetricFamily(
            "escalations_reminder_lateness_seconds",
            "How late each accepted delivery went out: its attempt's time minus the reminder's due time.",
            labels=["channel"],
        )
        for channel in Channel.values:
            cumulative, buckets = 0, []
            bounds = [*(str(float(b)) for b in LATENESS_BUCKETS), "+Inf"]
            for i, bound in enumerate(bounds):
                cumulative += counted[_key("lateness", channel, i)]
                buckets.append((bound, cumulative))
            lateness.add_metric([channel], buckets, counted[_key("lateness", channel, "sum_ms")] / 1000)
        yield lateness

        coop = CounterMetricFamily(
            "escalations_coop_calls",
            "Calls to Coop's preservation endpoint by outcome: created, recorded, duplicate (accepted), or"
            " why it was refused (from the shared cache).",
            labels=["outcome"],
        )
        for outcome in COOP_OUTCOMES:
            coop.add_metric([outcome], counted[_key("coop", outcome)])
        yield coop

    def _audit(self) -> Iterator[Any]:
        state = audit_chain_state()
        family = GaugeMetricFamily(
            "escalations_audit_chain_state",
            "What the last verification of the audit chain found: 1 for the current state.",
            labels=["state"],
        )
        for candidate in AUDIT_CHAIN_STATES:
            family.add_metric([candidate], 1.0 if candidate == state else 0.0)
        yield family
