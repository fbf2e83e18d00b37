"""The reminder sweep: find what came due, record each reminder once, deliver it, never lose one.

The pattern is Healthchecks' `sendalerts`: state lives in rows, not in the broker. Each escalation
carries `next_reminder_at` (indexed), so a sweep reads only the escalations that need a look; the
unique key on Reminder(escalation, kind, due_at) makes creation idempotent; each Delivery is claimed
with a conditional UPDATE before it is sent and marked `sent_at` only after its channel accepted it.
A sweep after any outage therefore catches up on everything that came due meanwhile.

Legal requests' response reminders (`legal_response_due_soon`, `legal_response_overdue`) are about a
request, which can cover several escalations: one reminder per request, not one per escalation. The
sweep selects them with a second small query, over open LegalRequest rows whose (indexed)
`response_due_at` is at most 24 hours away or past, and records each reminder on the request's
first linked escalation (the lowest id), to every lead, under the same unique key (escalation, kind,
due_at), so it stays idempotent. `next_reminder_at` does not cover them: a request's response date is
not a column of the escalation. Their message names the request (LR-00001); a reminder whose request
is no longer open is cancelled with the reason ("LR-00001 was answered."), by the service that
answers or closes the request and again by the sweep before any delivery. Two requests on the same
first escalation due at the same moment share one reminder, whose message names both.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict, deque
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, Exists, F, Min, OuterRef, Q, Value, When
from django.db.models.signals import post_save
from django.utils import timezone

from escalations import policy
from escalations.core import audit_verify, event_outbox
from escalations.core.people import User
from escalations.core.permissions import LEAD
from escalations.models import (
    AuthorityObligation,
    Channel,
    Delivery,
    DeliveryAction,
    DeliveryAttempt,
    Escalation,
    LegalRequest,
    LegalRequestStatus,
    Notification,
    Reminder,
    SweepHeartbeat,
)
from escalations.reminders import authority_reminders, endpoints, event_delivery
from escalations.reminders import channels as notify
from escalations.reminders.watchdog import HEARTBEAT

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


@dataclass
class SweepStats:
    reminders_created: int = 0
    deliveries_sent: int = 0
    deliveries_failed: int = 0
    reminders_cancelled: int = 0
    digests: int = 0
    incidents_resolved: int = 0


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after the n-th failure, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


# --- who hears of what ---------------------------------------------------------------------------


def recipients(escalation: Escalation, kind: str, leads: list[User]) -> list[User]:
    """The assignee (or the creator while nobody is assigned); every lead too for report_overdue and
    every preservation reminder, and for every kind when the owner's account is deactivated (so a
    reminder never goes to nobody). A legal request's reminders go to every lead only (the owner of
    its first escalation when there is no active lead)."""
    if kind in policy.REMINDER_KINDS_LEADS_ONLY and leads:
        return list({lead.pk: lead for lead in leads}.values())
    people = {}
    owner = escalation.assignee or escalation.created_by
    if owner.is_active:
        people[owner.pk] = owner
    if kind in policy.REMINDER_KINDS_FOR_LEADS or not owner.is_active:
        for lead in leads:
            people.setdefault(lead.pk, lead)
    return list(people.values())


def channels_for(user: User) -> list[str]:
    """The channels the person chose; in-app when they chose none, so nothing is silently dropped."""
    profile = getattr(user, "profile", None)
    chosen: list[str] = []
    if (profile is None or profile.email_notifications) and user.email:
        chosen.append(Channel.EMAIL)
    if profile is None or profile.in_app_notifications:
        chosen.append(Channel.IN_APP)
    if profile is not None and profile.webhook_url:
        chosen.append(Channel.WEBHOOK)
    return chosen or [Channel.IN_APP]


def deliveries_for(
    reminder: Reminder,
    escalation: Escalation,
    kind: str,
    leads: list[User],
    now: datetime,
    *,
    with_endpoints: bool = True,
) -> list[Delivery]:
    """Every delivery of a reminder: each recipient on each of their channels (their own Slack,
    Teams and PagerDuty included) and, when the escalation's owner is among them, the channels of
    every team the owner belongs to. A step to the teams' PagerDuty goes to those services only, or
    to every lead when none of the owner's teams has one (a step never goes to nobody).
    `with_endpoints` False: the caller knows there is no active endpoint at all (no query for them)."""
    owner = escalation.assignee or escalation.created_by
    if kind in policy.REMINDER_KINDS_TEAM_PAGERDUTY_ONLY:
        if with_endpoints and endpoints.team_pagerduty_exists(owner):
            return endpoints.endpoint_deliveries(reminder, [], owner, now, team_kinds=[Channel.PAGERDUTY])
        people = list({lead.pk: lead for lead in leads}.values()) or recipients(escalation, kind, leads)
    else:
        people = recipients(escalation, kind, leads)
    return deliveries_to(
        reminder,
        people,
        now,
        owner=owner if any(p.pk == owner.pk for p in people) else None,
        with_endpoints=with_endpoints,
    )


def deliveries_to(
    reminder: Reminder, people: list[User], now: datetime, owner: User | None = None, *, with_endpoints: bool = True
) -> list[Delivery]:
    """`people` on their channels; with `owner`, the channels of the owner's teams too."""
    rows = [
        Delivery(reminder=reminder, recipient=person, channel=channel, next_attempt_at=now)
        for person in people
        for channel in channels_for(person)
    ]
    if not with_endpoints:
        return rows
    return rows + endpoints.endpoint_deliveries(reminder, people, owner, now)


def _active_leads() -> list[User]:
    return list(get_user_model().objects.filter(is_active=True, groups__name=LEAD).select_related("profile").distinct())


# --- phase 1: record what came due -----------------------------------------------------------------


def schedule_due(now: datetime, cfg: policy.PolicyConfig, stats: SweepStats) -> None:
    """Create the Reminder and Delivery rows for everything due at `now`, and move each visited
    escalation's `next_reminder_at` to its next reminder."""
    leads: list[Any] | None = None
    for _ in range(10_000):  # bounded: each pass advances every escalation it read
        batch = list(
            Escalation.objects.filter(next_reminder_at__lte=now)
            .select_related("assignee__profile", "created_by__profile")
            .order_by("next_reminder_at")[: settings.REMINDER_SWEEP_BATCH]
        )
        if not batch:
            break
        if leads is None:
            leads = _active_leads()
        if not _schedule_batch([e.pk for e in batch], now, cfg, leads, stats):
            for escalation in batch:
                _schedule_one(escalation, now, cfg, leads, stats)
    schedule_legal_due(now, cfg, stats, leads)
    schedule_authority_due(now, cfg, stats, leads)


def _schedule_batch(
    ids: list[int], now: datetime, cfg: policy.PolicyConfig, leads: list[Any], stats: SweepStats
) -> bool:
    """_schedule_one for many escalations in one transaction and a handful of queries (after an
    outage thousands are due at once). Their rows are locked first, so no other sweep records their
    reminders meanwhile (one that finds them locked skips them); the few that a service holds at
    that moment wait for the next pass. False when anything failed (nothing of it is kept): the
    caller then takes them one at a time."""
    created = SweepStats()
    try:
        with transaction.atomic():
            locked = list(
                Escalation.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk__in=ids, next_reminder_at__lte=now)
                .select_related("assignee__profile", "created_by__profile")
                .order_by("next_reminder_at", "pk")
            )
            if not locked:
                # Another sweep holds them all: one at a time, as it then waits for that sweep.
                return False
            due = {e.pk: policy.due_reminders(e, cfg, now) for e in locked}
            recorded = _recorded_for(due)
            new: list[tuple[Escalation, Reminder]] = []
            for escalation in locked:
                near = recorded.get(escalation.pk, [])
                for kind, due_at in due[escalation.pk]:
                    if any(
                        k == kind and policy.same_reminder(kind, at, due_at)
                        for k, at, cancelled in near
                        if not cancelled
                    ):
                        continue
                    if any(k == kind and at == due_at for k, at, _ in near):
                        continue  # the same moment, cancelled: get_or_create would find it
                    new.append((escalation, Reminder(escalation=escalation, kind=kind, due_at=due_at)))
            Reminder.objects.bulk_create([reminder for _, reminder in new])
            # Slack, Teams and PagerDuty endpoints are few or none: without any, no query per reminder.
            with_endpoints = endpoints.active().exists()
            Delivery.objects.bulk_create(
                [
                    d
                    for esc, reminder in new
                    for d in deliveries_for(reminder, esc, reminder.kind, leads, now, with_endpoints=with_endpoints)
                ],
                ignore_conflicts=True,
            )
            missed = [(esc, r.kind) for esc, r in new if policy.ReminderKind(r.kind) in MISSED_DEADLINE_OF]
            if missed and event_outbox.anyone_wants(event_outbox.EventType.DEADLINE_MISSED):
                for esc, missed_kind in missed:
                    _record_missed_deadline(esc, missed_kind, cfg, now)
            created.reminders_created = len(new)
            # The rows are locked: the values read are the values the update replaces.
            Escalation.objects.filter(pk__in=[e.pk for e in locked]).update(
                next_reminder_at=Case(
                    *(When(pk=e.pk, then=Value(policy.next_reminder_at(e, cfg, now))) for e in locked),
                    output_field=Escalation._meta.get_field("next_reminder_at"),
                )
            )
    except Exception:
        log.warning("recording a batch of due reminders failed; one escalation at a time instead", exc_info=True)
        return False
    stats.reminders_created += created.reminders_created
    return True


def _recorded_for(due: dict[int, list[tuple[Any, datetime]]]) -> dict[int, list[tuple[str, datetime, bool]]]:
    """escalation id -> (kind, due_at, cancelled) of its reminders that could stand for those `due`
    (a superset of what _recorded_near reads, cancelled ones included: policy.same_reminder decides).
    One query."""
    kinds = {str(kind) for moments in due.values() for kind, _ in moments}
    if not kinds:
        return {}
    moments = [at for pairs in due.values() for kind, at in pairs if kind not in policy.REMINDER_KINDS_ONCE]
    near = Q(kind__in=[k for k in kinds if k in policy.REMINDER_KINDS_ONCE])
    if moments:
        tolerance = policy.SAME_DEADLINE_TOLERANCE
        near |= Q(due_at__gte=min(moments) - tolerance, due_at__lte=max(moments) + tolerance)
    found: dict[int, list[tuple[str, datetime, bool]]] = defaultdict(list)
    rows = Reminder.objects.filter(near, escalation_id__in=[pk for pk, pairs in due.items() if pairs], kind__in=kinds)
    for escalation_id, kind, due_at, cancelled_at in rows.values_list(
        "escalation_id", "kind", "due_at", "cancelled_at"
    ):
        found[escalation_id].append((kind, due_at, cancelled_at is not None))
    return found


def _schedule_one(
    escalation: Escalation, now: datetime, cfg: policy.PolicyConfig, leads: list[Any], stats: SweepStats
) -> None:
    with transaction.atomic():
        due = policy.due_reminders(escalation, cfg, now)
        recorded = _recorded_near(escalation, due)
        for kind, due_at in due:
            # Already recorded for this deadline (the same moment, or within a minute of it: an edit
            # moved it by seconds; for a once-only kind, any moment): never a second message.
            if any(k == kind and policy.same_reminder(kind, at, due_at) for k, at in recorded):
                continue
            reminder, created = Reminder.objects.get_or_create(escalation=escalation, kind=kind, due_at=due_at)
            if not created:
                continue
            stats.reminders_created += 1
            Delivery.objects.bulk_create(deliveries_for(reminder, escalation, kind, leads, now), ignore_conflicts=True)
            _record_missed_deadline(escalation, kind, cfg, now)
        # Conditional: if a service changed the escalation meanwhile, its new value stands and the
        # next pass looks again.
        Escalation.objects.filter(pk=escalation.pk, next_reminder_at=escalation.next_reminder_at).update(
            next_reminder_at=policy.next_reminder_at(escalation, cfg, now)
        )


# An overdue reminder means its deadline passed unmet: the event stream says so, once per deadline.
MISSED_DEADLINE_OF = {
    policy.ReminderKind.REPORT_OVERDUE: event_outbox.DEADLINE_REPORT,
    policy.ReminderKind.PRESERVATION_UNCONFIRMED: event_outbox.DEADLINE_PRESERVATION_CONFIRMATION,
}


def _record_missed_deadline(escalation: Escalation, kind: str, cfg: policy.PolicyConfig, now: datetime) -> None:
    deadline = MISSED_DEADLINE_OF.get(policy.ReminderKind(kind))
    due_at = policy.reminder_deadline_at(kind, escalation, cfg) if deadline else None
    if deadline and due_at is not None:
        event_outbox.record_deadline_missed(escalation, deadline, due_at, now)


def _recorded_near(escalation: Escalation, due: list[tuple[Any, datetime]]) -> list[tuple[str, datetime]]:
    """(kind, due_at) of the reminders not cancelled that could stand for those now `due`: any of a
    once-only kind, the others' within the tolerance of a due moment. One query (none if nothing is due)."""
    if not due:
        return []
    once = [kind for kind, _ in due if kind in policy.REMINDER_KINDS_ONCE]
    others = [kind for kind, _ in due if kind not in policy.REMINDER_KINDS_ONCE]
    near = Q(kind__in=once) if once else Q(pk__in=[])
    if others:
        tolerance = policy.SAME_DEADLINE_TOLERANCE
        moments = [at for kind, at in due if kind in others]
        near |= Q(kind__in=others, due_at__gte=min(moments) - tolerance, due_at__lte=max(moments) + tolerance)
    return list(
        Reminder.objects.filter(near, escalation=escalation, cancelled_at__isnull=True).values_list("kind", "due_at")
    )


# --- the authority register's filings -------------------------------------------------------------


def schedule_authority_due(
    now: datetime, cfg: policy.PolicyConfig, stats: SweepStats, leads: list[Any] | None = None
) -> None:
    """Record the due-soon and overdue reminders of every unfiled obligation to an authority whose
    moment came, once each, and move each obligation's `next_reminder_at` on."""
    for _ in range(10_000):  # bounded: each pass advances every obligation it read
        batch = authority_reminders.due_batch(now)
        if not batch:
            return
        for obligation in batch:
            kinds, upcoming = authority_reminders.owed(obligation, cfg, now)
            with transaction.atomic():
                for kind, due_at in kinds:
                    reminder, created = Reminder.objects.get_or_create(
                        escalation_id=obligation.escalation_id, kind=kind, due_at=due_at
                    )
                    if not created:
                        continue  # another authority of the escalation due at the same moment
                    if leads is None:
                        leads = _active_leads()
                    stats.reminders_created += 1
                    Delivery.objects.bulk_create(
                        deliveries_for(reminder, obligation.escalation, kind, leads, now), ignore_conflicts=True
                    )
                # Conditional, as for escalations: a filing meanwhile has cleared it, and stands.
                AuthorityObligation.objects.filter(
                    pk=obligation.pk, next_reminder_at=obligation.next_reminder_at
                ).update(next_reminder_at=upcoming)


# --- legal requests' response dates ---------------------------------------------------------------

LEGAL_KINDS = tuple(policy.LEGAL_REMINDER_KINDS)


def _first_escalations(request_ids: list[int]) -> dict[int, int]:
    """request id -> its first linked escalation's id (the lowest). One query."""
    through = LegalRequest.escalations.through
    rows = (
        through.objects.filter(legalrequest_id__in=request_ids)
        .values("legalrequest_id")
        .annotate(first=Min("escalation_id"))
    )
    return {row["legalrequest_id"]: row["first"] for row in rows}


def schedule_legal_due(
    now: datetime, cfg: policy.PolicyConfig, stats: SweepStats, leads: list[Any] | None = None
) -> None:
    """Record the reminders of every open legal request whose response date is at most
    `legal_response_due_soon` away or past, once each, on its first escalation."""
    horizon = now + cfg.legal_response_due_soon
    # Both columns indexed; overdue requests stay in this selection while they are open (they are
    # few: law-enforcement requests, not escalations), each sweep costs three queries per batch.
    requests = LegalRequest.objects.filter(status=LegalRequestStatus.OPEN, response_due_at__lte=horizon)
    last_pk = 0
    for _ in range(10_000):  # bounded: each pass reads the next batch of requests
        batch = list(
            requests.filter(pk__gt=last_pk)
            .order_by("pk")
            .only("pk", "status", "response_due_at")[: settings.REMINDER_SWEEP_BATCH]
        )
        if not batch:
            return
        last_pk = batch[-1].pk
        firsts = _first_escalations([r.pk for r in batch])
        wanted: set[tuple[int, str, datetime]] = set()
        # The response date each overdue reminder is about: the deadline.missed event names it.
        response_due: dict[tuple[int, str, datetime], datetime] = {}
        for request in batch:
            first = firsts.get(request.pk)
            if first is None:
                continue
            for due_kind, due_at in policy.legal_due_reminders(request.status, request.response_due_at, cfg, now):
                wanted.add((first, str(due_kind), due_at))
                if request.response_due_at is not None:
                    response_due[(first, str(due_kind), due_at)] = request.response_due_at
        if not wanted:
            continue
        existing = set(
            Reminder.objects.filter(
                escalation_id__in={w[0] for w in wanted},
                kind__in=LEGAL_KINDS,
                due_at__in={w[2] for w in wanted},
            ).values_list("escalation_id", "kind", "due_at")
        )
        missing = sorted(wanted - existing)
        if not missing:
            continue
        if leads is None:
            leads = _active_leads()
        owners = Escalation.objects.select_related("assignee__profile", "created_by__profile").in_bulk(
            {m[0] for m in missing}
        )
        for escalation_id, kind, due_at in missing:
            with transaction.atomic():
                reminder, created = Reminder.objects.get_or_create(
                    escalation_id=escalation_id, kind=kind, due_at=due_at
                )
                if not created:
                    continue
                stats.reminders_created += 1
                Delivery.objects.bulk_create(
                    deliveries_for(reminder, owners[escalation_id], kind, leads, now), ignore_conflicts=True
                )
                deadline_at = response_due.get((escalation_id, kind, due_at))
                if kind == policy.ReminderKind.LEGAL_RESPONSE_OVERDUE and deadline_at is not None:
                    # Once per response date, however often the overdue reminder repeats.
                    event_outbox.record_deadline_missed(
                        owners[escalation_id], event_outbox.DEADLINE_LEGAL_RESPONSE, deadline_at, now
                    )


def legal_requests_on(escalation_ids: set[int]) -> dict[int, list[LegalRequest]]:
    """escalation id -> the requests (any status, with a response date) whose first linked escalation
    it is: what a legal reminder recorded on it can be about. Three queries."""
    if not escalation_ids:
        return {}
    through = LegalRequest.escalations.through
    candidates = list(
        through.objects.filter(escalation_id__in=escalation_ids).values_list("legalrequest_id", flat=True).distinct()
    )
    firsts = {pk: first for pk, first in _first_escalations(candidates).items() if first in escalation_ids}
    found: dict[int, list[LegalRequest]] = defaultdict(list)
    for request in LegalRequest.objects.filter(pk__in=list(firsts), response_due_at__isnull=False).order_by("pk"):
        found[firsts[request.pk]].append(request)
    return found


def _cancel(reminder: Reminder, now: datetime, reason: str) -> int:
    with transaction.atomic():
        updated = Reminder.objects.filter(pk=reminder.pk, cancelled_at__isnull=True, sent_at__isnull=True).update(
            cancelled_at=now, cancel_reason=reason[:200]
        )
        # A PagerDuty acknowledge or resolve recorded against this reminder still goes: it follows
        # an incident that a trigger opened, whatever became of the reminder since.
        Delivery.objects.filter(reminder=reminder, sent_at__isnull=True, action=DeliveryAction.NOTIFY).update(
            cancelled_at=now, claimed_until=None
        )
    return updated


def cancel_legal_reminders(escalation_ids: set[int], now: datetime, cfg: policy.PolicyConfig) -> int:
    """Cancel the pending legal reminders on these escalations that no longer apply (their request was
    answered or closed). Called by the services that answer or close a request; the sweep checks
    again before delivering. Returns how many were cancelled."""
    pending = list(
        Reminder.objects.filter(
            escalation_id__in=escalation_ids, kind__in=LEGAL_KINDS, sent_at__isnull=True, cancelled_at__isnull=True
        )
    )
    if not pending:
        return 0
    facts = legal_requests_on({r.escalation_id for r in pending})
    cancelled = 0
    for reminder in pending:
        reason = policy.why_legal_overtaken(
            reminder.kind, reminder.due_at, facts.get(reminder.escalation_id, []), cfg, now
        )
        if reason is not None:
            cancelled += _cancel(reminder, now, reason)
    return cancelled


def _legal_requests_about(reminder: Reminder, cfg: policy.PolicyConfig) -> list[LegalRequest]:
    """The requests a legal reminder is about, open ones first (for its message)."""
    about = [
        request
        for request in legal_requests_on({reminder.escalation_id}).get(reminder.escalation_id, [])
        if policy.legal_reminder_matches(reminder.kind, reminder.due_at, request.response_due_at, cfg)
    ]
    about.sort(key=lambda r: r.status != LegalRequestStatus.OPEN)
    return about


# --- phase 2: deliver ------------------------------------------------------------------------------


def _claim_order() -> tuple[Any, ...]:
    """The order deliveries are claimed and sent in: an urgent escalation's first (after an outage they
    must not wait behind thousands of others), then by due moment, then as recorded (one escalation's
    "due soon" before its "overdue", recorded in that order at the same moment). Urgency is a
    correlated subquery, not a join: it is evaluated for due rows only, so a sweep with nothing due
    reads the pending index alone, whatever the size of the escalation table."""
    urgent = Exists(Reminder.objects.filter(pk=OuterRef("reminder_id"), escalation__priority=policy.URGENT))
    return (urgent.desc(), "next_attempt_at", "pk")


def _claim(now: datetime) -> list[Delivery]:
    """Take up to REMINDER_SWEEP_BATCH due deliveries for this sweep alone. On PostgreSQL the row
    locks skip what another sweep holds; on SQLite the IMMEDIATE transaction serializes sweeps."""
    pending = Q(sent_at__isnull=True, cancelled_at__isnull=True, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    token = uuid.uuid4().hex
    with transaction.atomic():
        # Only the deliveries are locked (`of`): a service editing the escalation never waits on a sweep.
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pending)
            .order_by(*_claim_order())
            .values_list("pk", flat=True)[: settings.REMINDER_SWEEP_BATCH]
        )
        if not ids:
            return []
        taken = (
            Delivery.objects.filter(pk__in=ids)
            .filter(pending)
            .update(claimed_until=now + timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS), claim_token=token)
        )
    # Ids and counts only: an operator (and the fault soak) can tell a sweep that died holding
    # deliveries (a claim with no "claim done" after it) from one that finished.
    log.info("reminder deliveries claimed", extra={"claim_token": token, "deliveries": taken})
    # Sent in the order claimed: a PagerDuty incident must hear "due soon" before "overdue".
    return list(
        Delivery.objects.filter(pk__in=ids, claim_token=token, sent_at__isnull=True)
        .select_related("reminder__escalation", "recipient__profile", "endpoint", "incident")
        .order_by(*_claim_order())
    )


def _cancel_overtaken(
    deliveries: list[Delivery], now: datetime, cfg: policy.PolicyConfig, stats: SweepStats
) -> list[Delivery]:
    keep = []
    overtaken: dict[int, tuple[Reminder, str]] = {}
    legal = legal_requests_on(
        {d.reminder.escalation_id for d in deliveries if d.reminder.kind in policy.LEGAL_REMINDER_KINDS}
    )
    for delivery in deliveries:
        reminder = delivery.reminder
        if delivery.action:
            keep.append(delivery)  # an incident's acknowledge or resolve: never overtaken
            continue
        if reminder.kind in policy.LEGAL_REMINDER_KINDS:
            reason = policy.why_legal_overtaken(
                reminder.kind, reminder.due_at, legal.get(reminder.escalation_id, []), cfg, now
            )
        elif reminder.kind in authority_reminders.KINDS:
            reason = authority_reminders.why_overtaken(reminder, cfg, now)
        else:
            reason = policy.why_overtaken(reminder.kind, reminder.due_at, reminder.escalation, cfg, now)
        if reason is None:
            keep.append(delivery)
            continue
        overtaken.setdefault(reminder.pk, (reminder, reason))
    if overtaken:
        stats.reminders_cancelled += _cancel_many(list(overtaken.values()), now)
    return keep


def _cancel_many(cancels: list[tuple[Reminder, str]], now: datetime) -> int:
    """_cancel for many reminders in one transaction, a query per distinct reason (after an outage,
    thousands of "due soon" reminders are overtaken by "overdue" at once)."""
    by_reason: dict[str, list[int]] = defaultdict(list)
    for reminder, reason in cancels:
        by_reason[reason[:200]].append(reminder.pk)
    cancelled = 0
    with transaction.atomic():
        for reason, ids in by_reason.items():
            cancelled += Reminder.objects.filter(pk__in=ids, cancelled_at__isnull=True, sent_at__isnull=True).update(
                cancelled_at=now, cancel_reason=reason
            )
        # As in _cancel: an incident's acknowledge or resolve still goes.
        Delivery.objects.filter(
            reminder_id__in=[r.pk for r, _ in cancels], sent_at__isnull=True, action=DeliveryAction.NOTIFY
        ).update(cancelled_at=now, claimed_until=None)
    return cancelled


def _item(delivery: Delivery, cfg: policy.PolicyConfig) -> notify.Item:
    item = _item_of(delivery, cfg)
    return replace(item, issued_at=delivery.created_at)


def _item_of(delivery: Delivery, cfg: policy.PolicyConfig) -> notify.Item:
    reminder = delivery.reminder
    if reminder.kind in policy.LEGAL_REMINDER_KINDS:
        # About a request: the message names it (and its kind), its deadline is the response date.
        about = _legal_requests_about(reminder, cfg)
        names = ", ".join(f"{r.key} ({r.get_kind_display()})" for r in about) or "a legal request"
        deadline = next((r.response_due_at for r in about if r.response_due_at), None)
        return notify.Item(
            key=reminder.escalation.key,
            escalation_id=reminder.escalation_id,
            kind=reminder.kind,
            kind_label=f"{policy.REMINDER_LABELS[policy.ReminderKind(reminder.kind)]}: {names}",
            deadline_at=deadline or reminder.due_at,
            test=reminder.escalation.is_test,
            reminder_id=reminder.pk,
        )
    if reminder.kind in authority_reminders.KINDS:
        names, deadline = authority_reminders.about(reminder, cfg)
        return notify.Item(
            key=reminder.escalation.key,
            escalation_id=reminder.escalation_id,
            kind=reminder.kind,
            kind_label=f"{policy.REMINDER_LABELS[policy.ReminderKind(reminder.kind)]}: {names}",
            deadline_at=deadline or reminder.due_at,
            urgent=reminder.escalation.priority == policy.URGENT,
            test=reminder.escalation.is_test,
            reminder_id=reminder.pk,
        )
    label = policy.REMINDER_LABELS[policy.ReminderKind(reminder.kind)]
    if reminder.kind == policy.ReminderKind.RELEASE_REQUESTED and reminder.escalation.release_requested_by:
        label = f"{label} (asked by {reminder.escalation.release_requested_by.get_username()})"
    return notify.Item(
        key=reminder.escalation.key,
        escalation_id=reminder.escalation_id,
        kind=reminder.kind,
        kind_label=label,
        deadline_at=policy.reminder_deadline_at(reminder.kind, reminder.escalation, cfg) or reminder.due_at,
        urgent=reminder.escalation.priority == policy.URGENT and reminder.escalation.reported_at is None,
        test=reminder.escalation.is_test,
        reminder_id=reminder.pk,
    )


def deliver_due(now: datetime, cfg: policy.PolicyConfig, stats: SweepStats) -> None:
    for _ in range(1_000):  # bounded; each pass claims new rows or ends
        taken = _claim(now)
        if not taken:
            return
        claimed = _cancel_overtaken(taken, now, cfg, stats)
        if not claimed:
            # Every one overtaken (after an outage, a whole claim can be): the next claim may not be.
            _log_claim_done(taken)
            continue
        groups: dict[tuple[int, str, int | None, str], list[Delivery]] = defaultdict(list)
        for delivery in claimed:
            groups[(delivery.recipient_id, delivery.channel, delivery.endpoint_id, delivery.action)].append(delivery)
        # Webhooks are posted from threads of their own while this thread delivers email and in-app:
        # a slow receiver holds one thread until its deadline, never anyone else's reminders.
        with _WebhookDispatch(now, cfg, stats) as webhooks:
            for group in groups.values():
                if group[0].channel in HTTP_CHANNELS:
                    webhooks.add(_batches(group, stats))
            webhooks.start_more()
            # Each channel's messages in the order claimed (urgent first, then by due moment).
            in_app = [b for g in groups.values() if g[0].channel == Channel.IN_APP for b in _batches(g, stats)]
            emails = [b for g in groups.values() if g[0].channel == Channel.EMAIL for b in _batches(g, stats)]
            for chunk in _chunks(in_app, IN_APP_CHUNK):
                _deliver_in_app(chunk, now, cfg, stats)
                webhooks.record_finished()
            _deliver_emails(emails, now, cfg, stats, webhooks)
            webhooks.finish()
        _mark_reminders_sent({d.reminder_id for d in claimed}, now)
        _log_claim_done(taken)


# In-app messages written (and recorded) per transaction; emails sent per renewal of their claims and
# recorded after each such chunk (a worker killed mid-chunk sends at most this many again, under the
# same Message-IDs, once the lease runs out: the known gap of any sender between "accepted" and our record).
IN_APP_CHUNK = 100
EMAIL_CHUNK = 10


def _chunks(messages: list[list[Delivery]], size: int) -> list[list[list[Delivery]]]:
    return [messages[i : i + size] for i in range(0, len(messages), size)]


def _deliver_in_app(chunk: list[list[Delivery]], now: datetime, cfg: policy.PolicyConfig, stats: SweepStats) -> None:
    """Write a chunk's notifications and record them sent in one transaction: exactly once, as for one
    message, whatever dies when. Should any delivery of it be no longer this sweep's (cancelled, or
    taken over by another sweep after the lease ran out), or anything fail, nothing of the chunk is
    kept and each message goes on its own, as before."""
    try:
        with transaction.atomic():
            notes = []
            for batch in chunk:
                first = batch[0]
                message = notify.message_for(
                    [_item(d, cfg) for d in batch],
                    ref=first.batch_ref or message_ref(batch),
                    zone=notify.zone_of(first.recipient),
                )
                notes.append(notify.in_app_notification(first.recipient, message, first.reminder.escalation_id))
            Notification.objects.bulk_create(notes)
            if _record_sent(chunk, now) < sum(len(batch) for batch in chunk):
                raise _ClaimLost
        stats.deliveries_sent += sum(len(batch) for batch in chunk)
    except Exception:
        for batch in chunk:
            _deliver_batch(batch, now, cfg, stats)


def _deliver_emails(
    messages: list[list[Delivery]],
    now: datetime,
    cfg: policy.PolicyConfig,
    stats: SweepStats,
    webhooks: _WebhookDispatch,
) -> None:
    """Send every email over one connection to the mail server. Per chunk: renew the claims (each
    delivery noting the message it goes in), send, then record what went. A message is only sent
    while the renewal is fresh (a quarter of the lease): a chunk slowed by the server hands its rest
    to the next renewal, so no message goes out on a lease another sweep may have taken over."""
    lease = timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS)
    waiting = deque(messages)
    with notify.mail_session():
        while waiting:
            chunk = [waiting.popleft() for _ in range(min(EMAIL_CHUNK, len(waiting)))]
            refs = [batch[0].batch_ref or message_ref(batch) for batch in chunk]
            try:
                held = renew_claims(chunk, now, refs)
            except Exception:
                # A database error renewing: each message on its own, as before (its own failure).
                for batch in chunk:
                    _deliver_batch(batch, now, cfg, stats)
                continue
            renewed = timezone.now()
            sent: list[list[Delivery]] = []
            for index, (batch, ref) in enumerate(zip(held, refs, strict=True)):
                if not batch:
                    continue
                if timezone.now() - renewed > lease / 4:
                    waiting.extendleft(reversed([b for b in held[index:] if b]))
                    break
                try:
                    first = batch[0]
                    message = notify.message_for(
                        [_item(d, cfg) for d in batch], ref=ref, zone=notify.zone_of(first.recipient)
                    )
                    notify.send(first.channel, first.recipient, message, first.reminder.escalation_id)
                    sent.append(batch)
                except Exception as exc:
                    _record_failure(batch, now, stats, exc)
            if sent:
                try:
                    # Sent is sent: recorded even if a service cancelled the reminder meanwhile.
                    _record_sent(sent, now, cancelled_too=True)
                    stats.deliveries_sent += sum(len(batch) for batch in sent)
                except Exception:
                    # Sent but not recorded: they go again after the lease, under the same Message-ID.
                    log.exception("sent emails could not be recorded")
            webhooks.record_finished()


def _order_keys(batch: list[Delivery]) -> set[tuple[int | None, int | None, int]]:
    """(endpoint, person, escalation) for each delivery of a message: messages sharing one are sent in turn."""
    return {(d.endpoint_id, None if d.endpoint_id else d.recipient_id, d.reminder.escalation_id) for d in batch}


# Posted from the webhook threads: the person's webhook, and Slack, Teams and PagerDuty endpoints.
HTTP_CHANNELS = frozenset({Channel.WEBHOOK, *endpoints.ENDPOINT_CHANNELS})


def _log_claim_done(taken: list[Delivery]) -> None:
    if taken:
        log.info("reminder claim done", extra={"claim_token": taken[0].claim_token, "deliveries": len(taken)})


def _batches(group: list[Delivery], stats: SweepStats) -> list[list[Delivery]]:
    """One person's deliveries on one channel as messages: one per reminder, or one digest when more
    than DIGEST_THRESHOLD are due. Deliveries that already went out in a message whose outcome is
    unknown go again in that same message (same items still unsent, same Message-ID or webhook-id),
    so that the receiving system can drop the copy."""
    unknown: dict[str, list[Delivery]] = defaultdict(list)
    fresh: list[Delivery] = []
    for delivery in group:
        (unknown[delivery.batch_ref] if delivery.batch_ref else fresh).append(delivery)
    batches = list(unknown.values())
    if group[0].channel == Channel.PAGERDUTY:
        # An event is about one deadline (its dedup_key): never a digest.
        return [*batches, *([d] for d in fresh)]
    if len(fresh) > settings.REMINDER_DIGEST_THRESHOLD:
        batches.append(fresh)
        stats.digests += 1
    else:
        batches.extend([d] for d in fresh)
    return batches


def _deliver_batch(batch: list[Delivery], now: datetime, cfg: policy.PolicyConfig, stats: SweepStats) -> None:
    """Send one email or in-app message and record it."""
    ref = batch[0].batch_ref or message_ref(batch)
    # Everything about one message, its claim renewal and wording included, sits inside the
    # handler: a database error on one message (a value the column refuses once stopped every
    # sweep) is that message's failed attempt, never everyone's missed reminders.
    try:
        batch = renew_claim(batch, now, ref)
        if not batch:
            return
        first = batch[0]
        message = notify.message_for([_item(d, cfg) for d in batch], ref=ref, zone=notify.zone_of(first.recipient))
        if first.channel == Channel.IN_APP:
            # Notification and "sent" commit together: exactly once, whatever dies when. A sweep that
            # stalled past its lease may find another sweep took over (and notified) meanwhile: then
            # its own notification is undone, not added.
            with transaction.atomic():
                notify.send(first.channel, first.recipient, message, first.reminder.escalation_id)
                if _record(batch, now, ok=True) < len(batch):
                    raise _ClaimLost
        else:
            notify.send(first.channel, first.recipient, message, first.reminder.escalation_id)
            _record(batch, now, ok=True)
        stats.deliveries_sent += len(batch)
    except _ClaimLost:
        return
    except Exception as exc:
        _record_failure(batch, now, stats, exc)


class _ClaimLost(Exception):
    """Another sweep holds (or sent) some of these deliveries now."""


def _record_failure(batch: list[Delivery], now: datetime, stats: SweepStats, exc: Exception) -> None:
    if isinstance(exc, notify.DeliveryError):
        log.warning("delivery failed: %s", exc)
        _record(batch, now, ok=False, error=str(exc))
    else:
        # A bug or an unexpected failure in one channel must not stop the sweep for everyone
        # else: record it like any failure, so it is retried with backoff and visible.
        log.error("delivery raised unexpectedly", exc_info=exc)
        _record(batch, now, ok=False, error=f"unexpected error: {exc.__class__.__name__}: {exc}")
    stats.deliveries_failed += len(batch)


class _WebhookDispatch:
    """One pass's webhook messages, posted from at most WEBHOOK_CONCURRENCY threads. Whatever touches
    the database (renewing the claim, wording the message, recording the outcome) stays in the
    sweep's thread; a thread only signs and posts, within the request's deadline. A message's claim
    is renewed when its post starts, not when it joins the queue, so waiting for a free thread
    eats none of its lease; `sent_at` is still written only after the receiver accepted."""

    def __init__(self, now: datetime, cfg: policy.PolicyConfig, stats: SweepStats) -> None:
        self._now = now
        self._cfg = cfg
        self._stats = stats
        self._limit = max(1, settings.WEBHOOK_CONCURRENCY)
        self._pool = ThreadPoolExecutor(max_workers=self._limit, thread_name_prefix="webhook")
        self._waiting: deque[list[Delivery]] = deque()
        self._posting: dict[Future[None], list[Delivery]] = {}

    def __enter__(self) -> _WebhookDispatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # After an error only the posts already under way are waited for (each ends by its
        # deadline); their outcome is unknown to the rows, so they go again after the lease, under
        # the same webhook-id.
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, batches: list[list[Delivery]]) -> None:
        self._waiting.extend(batches)

    def start_more(self) -> None:
        # Messages about one escalation to one receiver go one after another, in the order claimed:
        # posted side by side, a slow first post would let PagerDuty hear "overdue" before "due soon".
        busy = {key for batch in self._posting.values() for key in _order_keys(batch)}
        held: deque[list[Delivery]] = deque()
        while self._waiting and len(self._posting) < self._limit:
            batch = self._waiting.popleft()
            keys = _order_keys(batch)
            blocked = bool(keys & busy)
            busy |= keys  # a held message also holds back later ones about its escalations
            if blocked:
                held.append(batch)
                continue
            ref = batch[0].batch_ref or message_ref(batch)
            try:
                batch = renew_claim(batch, self._now, ref)
                if not batch:
                    continue
                first = batch[0]
                message = None
                if not first.action:
                    # A team's channel reads times in UTC: its members may live anywhere.
                    zone = notify.zone_of(first.recipient) if first.endpoint is None or first.endpoint.user_id else UTC
                    message = notify.message_for([_item(d, self._cfg) for d in batch], ref=ref, zone=zone)
                if first.endpoint_id is not None:
                    future = self._pool.submit(endpoints.post, endpoints.build_request(batch, message, self._now))
                else:
                    assert message is not None
                    future = self._pool.submit(notify.post_webhook, notify.webhook_request(first.recipient, message))
            except Exception as exc:
                _record_failure(batch, self._now, self._stats, exc)
                continue
            self._posting[future] = batch
        self._waiting.extendleft(reversed(held))

    def record_finished(self, *, wait: bool = False) -> None:
        """Record the posts that have ended (waiting for one when `wait`), then start more."""
        if self._posting:
            done, _ = futures.wait(self._posting, timeout=None if wait else 0, return_when=futures.FIRST_COMPLETED)
            for future in done:
                batch = self._posting.pop(future)
                try:
                    future.result()
                    _record(batch, self._now, ok=True)
                    self._stats.deliveries_sent += len(batch)
                except Exception as exc:
                    _record_failure(batch, self._now, self._stats, exc)
        self.start_more()

    def finish(self) -> None:
        self.start_more()
        while self._posting:
            self.record_finished(wait=True)


def message_ref(batch: list[Delivery]) -> str:
    """The name of the message carrying `batch` (its Message-ID's local part): the delivery's id for
    one reminder; for a digest, its size, first id and a hash of every id, short whatever its size."""
    if len(batch) == 1:
        return f"delivery-{batch[0].pk}"
    ids = sorted(d.pk for d in batch)
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:20]
    return f"digest-{len(ids)}-{ids[0]}-{digest}"


def renew_claim(batch: list[Delivery], now: datetime, ref: str) -> list[Delivery]:
    """Extend this sweep's lease from the real clock right before sending, note the message each
    delivery goes out in (`ref`), and keep only what it still holds. A sweep slowed by earlier
    messages may have outlived the lease it took at its start; another sweep may have claimed (and
    sent) the rest since, and must not be doubled."""
    until = max(now, timezone.now()) + timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS)
    ids = [d.pk for d in batch]
    token = batch[0].claim_token
    Delivery.objects.filter(pk__in=ids, claim_token=token, sent_at__isnull=True, cancelled_at__isnull=True).update(
        claimed_until=until, batch_ref=ref
    )
    held = set(
        Delivery.objects.filter(pk__in=ids, claim_token=token, claimed_until=until, sent_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    return [d for d in batch if d.pk in held]


def renew_claims(batches: list[list[Delivery]], now: datetime, refs: list[str]) -> list[list[Delivery]]:
    """renew_claim for many messages at once (two queries): each batch with only what this sweep
    still holds of it, in the same order."""
    until = max(now, timezone.now()) + timedelta(seconds=settings.REMINDER_CLAIM_LEASE_SECONDS)
    ref_of = {d.pk: ref for batch, ref in zip(batches, refs, strict=True) for d in batch}
    token = batches[0][0].claim_token
    Delivery.objects.filter(
        pk__in=list(ref_of), claim_token=token, sent_at__isnull=True, cancelled_at__isnull=True
    ).update(
        claimed_until=until,
        batch_ref=Case(*(When(pk=pk, then=Value(ref)) for pk, ref in ref_of.items()), default=F("batch_ref")),
    )
    held = set(
        Delivery.objects.filter(
            pk__in=list(ref_of), claim_token=token, claimed_until=until, sent_at__isnull=True
        ).values_list("pk", flat=True)
    )
    return [[d for d in batch if d.pk in held] for batch in batches]


def _record_sent(batches: list[list[Delivery]], now: datetime, cancelled_too: bool = False) -> int:
    """Record many messages as sent (their deliveries and one attempt each) in one transaction, only
    where this sweep still holds the claim (and, unless `cancelled_too`, the delivery is not
    cancelled); returns how many deliveries it held."""
    deliveries = [d for batch in batches for d in batch]
    mine = Delivery.objects.filter(
        pk__in=[d.pk for d in deliveries], claim_token=deliveries[0].claim_token, sent_at__isnull=True
    )
    if not cancelled_too:
        mine = mine.filter(cancelled_at__isnull=True)
    with transaction.atomic():
        held = mine.update(attempts=F("attempts") + 1, claimed_until=None, claim_token="", sent_at=now, last_error="")
        attempts = DeliveryAttempt.objects.bulk_create(
            [
                DeliveryAttempt(
                    delivery=d, escalation_id=d.reminder.escalation_id, at=now, ok=True, error="", batch_size=len(batch)
                )
                for batch in batches
                for d in batch
            ]
        )
        # bulk_create sends no signals: sent as save() would (the metrics count attempts by them).
        for attempt in attempts:
            post_save.send(
                sender=DeliveryAttempt, instance=attempt, created=True, update_fields=None, raw=False, using=mine.db
            )
        _log_recorded_on_commit(deliveries, ok=True)
    return held


def _record(batch: list[Delivery], now: datetime, ok: bool, error: str = "") -> int:
    """Record one attempt at `batch`; returns how many of its deliveries this sweep still held."""
    held = 0
    with transaction.atomic():
        for delivery in batch:
            attempts = delivery.attempts + 1
            fields: dict[str, Any] = {"attempts": attempts, "claimed_until": None, "claim_token": ""}
            if ok:
                fields.update(sent_at=now, last_error="")
            else:
                # Refused, so not received: the retry may go in whatever message fits then.
                fields.update(last_error=error[:2000], next_attempt_at=now + backoff(attempts), batch_ref="")
            # Only the claim holder may record: a sweep whose lease ran out must not overwrite.
            held += Delivery.objects.filter(
                pk=delivery.pk, sent_at__isnull=True, claim_token=delivery.claim_token
            ).update(**fields)
            DeliveryAttempt.objects.create(
                delivery=delivery,
                escalation_id=delivery.reminder.escalation_id,
                at=now,
                ok=ok,
                error=error[:2000],
                batch_size=len(batch),
            )
        _log_recorded_on_commit(batch, ok=ok)
    return held


def _log_recorded_on_commit(deliveries: list[Delivery], *, ok: bool) -> None:
    # After the commit (in-app: with its notification), so the line never claims what was undone.
    transaction.on_commit(
        lambda: log.info(
            "reminder deliveries recorded",
            extra={
                "claim_token": deliveries[0].claim_token,
                "deliveries": len(deliveries),
                "channel": deliveries[0].channel,
                "ok": ok,
            },
        )
    )


def _mark_reminders_sent(reminder_ids: set[int], now: datetime) -> None:
    unsent = Delivery.objects.filter(reminder=OuterRef("pk"), sent_at__isnull=True, cancelled_at__isnull=True)
    Reminder.objects.filter(pk__in=reminder_ids, sent_at__isnull=True, cancelled_at__isnull=True).exclude(
        Exists(unsent)
    ).update(sent_at=now)


# --- the sweep -------------------------------------------------------------------------------------


def sweep(now: datetime | None = None) -> SweepStats:
    """One full sweep: record due reminders, deliver what is due, record the heartbeat. Safe to run
    twice, or twice at once. `now` defaults to the clock (tests pass their own)."""
    now = now or timezone.now()
    cfg = policy.PolicyConfig.from_settings()
    stats = SweepStats()
    SweepHeartbeat.objects.update_or_create(name=HEARTBEAT, defaults={"last_started_at": now})
    schedule_due(now, cfg, stats)
    # PagerDuty incidents whose deadline was met or moved since: their resolve events go out below.
    try:
        stats.incidents_resolved = endpoints.resolve_incidents(now, cfg)
    except Exception:
        log.exception("open PagerDuty incidents could not be checked; the next sweep tries again")
    deliver_due(now, cfg, stats)
    SweepHeartbeat.objects.update_or_create(
        name=HEARTBEAT, defaults={"last_finished_at": timezone.now(), "last_stats": asdict(stats)}
    )
    # The outbound event stream, after the reminders are out: a slow or failing endpoint never delays
    # a reminder, and its failure never stops the sweep.
    try:
        event_delivery.deliver_due(now)
    except Exception:
        log.exception("the event stream could not be delivered")
    # Once a day, after the reminders are out: walk the audit trail's chains (a break raises the
    # leads' banner and fails /healthz). A check that fails to run never stops the reminders; it is
    # tried again an hour later (audit_verify.CLAIM_TIMEOUT).
    try:
        audit_verify.run_if_due(now)
    except Exception:
        log.exception("the audit trail's integrity check could not run")
    return stats
