"""Demo accounts (one per role), a few demo escalations and a realistic quarter of history, for
`make run` on a developer's machine.

Refuses to run unless settings.DEMO_ACCOUNTS_ALLOWED (dev and test settings only), and creates
nothing that already exists, so running it on every `make run` is safe: the escalations (and the
extra demo moderators they belong to) are created only when the database has no escalation yet.

The history is made through the services, as a person would have made it, so every record has its
audit trail. The services take the time of each change from the clock, so while the history is
written the clock is set back to the moment of each step (never later than now): an escalation
logged 40 days ago has its `created` event 40 days ago, and its preservation confirmed within hours
of its report. Fixed random seed: the same quarter, relative to today, every time.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from escalations import policy
from escalations.core import services
from escalations.core.permissions import AUDITOR, LEAD, MODERATOR
from escalations.models import BreachReason, Escalation, IncidentType, Priority, Status, Team

# Published in the README: these accounts exist only under the dev settings.
DEMO_ACCOUNTS = (
    (MODERATOR, "moderator", "moderator-demo-pass"),
    (LEAD, "lead", "lead-demo-pass"),
    (AUDITOR, "auditor", "auditor-demo-pass"),
)

SEED = 2026
HISTORY_DAYS = 90

# The history's moderators: (username, share of the load, how often their reports run late compared
# with the team). The extra accounts have no usable password and no email (in-app reminders only):
# they exist for the dashboard's per-moderator figures, not to sign in with.
HISTORY_MODERATORS = (
    ("moderator", 3.0, 0.8),
    ("mod-ana", 3.0, 0.6),
    ("mod-ben", 2.5, 1.0),
    ("mod-cho", 2.0, 1.2),
    ("mod-dev", 1.5, 2.0),
)
EXTRA_MODERATORS = tuple(name for name, _, _ in HISTORY_MODERATORS if name != "moderator")

INCIDENT_WEIGHTS = (
    (IncidentType.CHILD_PORNOGRAPHY, 70),
    (IncidentType.ONLINE_ENTICEMENT, 12),
    (IncidentType.UNSOLICITED_OBSCENE_MATERIAL, 9),
    (IncidentType.CHILD_SEX_TRAFFICKING, 6),
    (IncidentType.MISLEADING_WORDS_OR_IMAGES, 2),
    (IncidentType.CHILD_SEXUAL_MOLESTATION, 1),
)
# Chance that an escalation of the type is urgent (overall about one in ten).
URGENT_SHARE = {
    IncidentType.ONLINE_ENTICEMENT: 0.45,
    IncidentType.CHILD_SEX_TRAFFICKING: 0.4,
    IncidentType.CHILD_SEXUAL_MOLESTATION: 0.3,
}
URGENT_SHARE_OTHERWISE = 0.04
URGENT_REASONS = (
    "Chat indicates a planned in-person meeting with a child.",
    "Messages suggest the child is in danger now.",
    "A location was shared with a minor and a meeting arranged.",
    "Ongoing contact with a child; the account is still active.",
)
NOTES = ("", "", "", "Found by hash match.", "User report from the in-app flag.", "Flagged by the classifier queue.")

BASE_LATE_SHARE = 0.115
BREACH_WEIGHTS = (
    (BreachReason.NEEDED_REVIEW, 25),
    (BreachReason.VOLUME, 18),
    (BreachReason.STAFFING, 18),
    (BreachReason.LOGGED_LATE, 12),
    (BreachReason.HANDOFF, 12),
    (BreachReason.TOOLING, 7),
    (BreachReason.OTHER, 8),
)
OTHER_NOTES = (
    "Initially triaged as adult content; a second reviewer confirmed the age the next day.",
    "Waited on legal guidance about an account registered abroad.",
    "Report drafted in time but not submitted: the moderator's session expired overnight.",
)
DISMISS_REASONS = (
    "Age verified as adult by a second reviewer; nothing to report.",
    "Duplicate of an escalation already reported for the same account.",
    "Reviewed with legal: not apparent child sexual exploitation; removed under the content policy.",
)
CLOSE_REASON = "Preservation period ended with no law-enforcement request; kept under the platform's retention policy."
# A week of higher volume in the middle of the quarter, with more reports late for it.
SURGE_DAYS_AGO = range(40, 47)


@dataclass
class Planned:
    """One escalation of the history, decided in advance so the random draws stay in a fixed order."""

    knowledge_at: datetime
    moderator: str
    incident: str
    priority: str
    logged_after: timedelta
    reference: str
    notes: str
    urgent_reason: str = ""
    reassign_to: str | None = None
    reassign_after: timedelta = timedelta(0)
    dismiss_after: timedelta | None = None
    dismiss_reason: str = ""
    report_id: int = 0
    reported_after: timedelta | None = None
    breach_reason: str = ""
    breach_note: str = ""
    preserved_after: timedelta | None = None
    closed_at: datetime | None = None


@contextmanager
def _clock() -> Iterator[Callable[[datetime], None]]:
    """Lets the history set the time the services read (`django.utils.timezone.now`); gives back the
    real clock afterwards. The set time is never later than the real one."""
    real_now = timezone.now
    current: list[datetime | None] = [None]

    def fake_now() -> datetime:
        real = real_now()
        at = current[0]
        return real if at is None or at > real else at

    def set_time(at: datetime) -> None:
        current[0] = at

    with mock.patch("django.utils.timezone.now", fake_now):
        yield set_time


def _one_year_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


class Command(BaseCommand):
    help = "Create the demo accounts (one per role) and demo escalations when none exist. Dev only."

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "DEMO_ACCOUNTS_ALLOWED", False):
            raise CommandError("Demo accounts are for development only; these settings do not allow them.")
        User = get_user_model()
        created = []
        with transaction.atomic():
            for role, username, password in DEMO_ACCOUNTS:
                if User.objects.filter(username=username).exists():
                    continue
                user = User.objects.create_user(username=username, password=password, email=f"{username}@example.org")
                user.groups.add(Group.objects.get(name=role))
                created.append((role, username, password))
        if created:
            self.stdout.write("Demo accounts created:")
        else:
            self.stdout.write("Demo accounts (already present):")
        for role, username, password in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role:<10} username {username:<10} password {password}")
        if Escalation.objects.exists():
            return
        started = time.monotonic()
        # All or nothing: a half-written history would stop the next run from seeding at all.
        with transaction.atomic():
            demo = self._seed_escalations()
            history = History(random.Random(SEED), timezone.now()).create()  # noqa: S311 (demo data, not secrets)
            # With RESTRICT_MODERATORS_TO_ASSIGNED on, the demo moderator also reads mod-ana's escalations.
            team, _ = Team.objects.get_or_create(name="Day shift")
            team.members.add(*User.objects.filter(username__in=("moderator", "mod-ana")))
        self.stdout.write(summary(demo + history, timezone.now(), time.monotonic() - started))

    def _seed_escalations(self) -> list[Escalation]:
        User = get_user_model()
        moderator = User.objects.get(username="moderator")
        lead = User.objects.get(username="lead")
        now = timezone.now()
        samples = [
            # Its 1-hour target passes a minute after `make run` starts: the overdue reminder
            # arrives by email (console) and in the app with the next sweep.
            (
                "acct:55501234",
                IncidentType.ONLINE_ENTICEMENT,
                Priority.URGENT,
                "Demo: threats to meet a child in person.",
                now - timedelta(minutes=59),
            ),
            ("ticket-10452", IncidentType.CHILD_PORNOGRAPHY, Priority.STANDARD, "", now - timedelta(hours=2)),
            (
                "acct:88412077",
                IncidentType.ONLINE_ENTICEMENT,
                Priority.URGENT,
                "Live chat suggests a meeting tonight.",
                now - timedelta(minutes=20),
            ),
            (
                "https://mod.internal.example/content/55120",
                IncidentType.CHILD_PORNOGRAPHY,
                Priority.STANDARD,
                "",
                now - timedelta(hours=23),
            ),
            (
                "ticket-10390",
                IncidentType.UNSOLICITED_OBSCENE_MATERIAL,
                Priority.STANDARD,
                "",
                now - timedelta(hours=30),
            ),
        ]
        created = []
        for reference, incident, priority, reason, knowledge_at in samples:
            created.append(
                services.create_escalation(
                    actor=moderator,
                    data={
                        "platform_reference": reference,
                        "incident_type": incident,
                        "priority": priority,
                        "urgent_reason": reason,
                        "knowledge_at": knowledge_at,
                        "notes": "Demo record.",
                    },
                )
            )
        reported = services.create_escalation(
            actor=moderator,
            data={
                "platform_reference": "ticket-10001",
                "incident_type": IncidentType.CHILD_SEX_TRAFFICKING,
                "priority": Priority.STANDARD,
                "knowledge_at": now - timedelta(days=3),
            },
        )
        reported = services.record_report(
            actor=moderator,
            escalation_id=reported.pk,
            version=reported.version,
            reported_at=now - timedelta(days=2, hours=20),
            cybertipline_report_id="4564654",
        )
        created[4] = services.assign_escalation(actor=lead, escalation_id=created[4].pk, version=None, assignee=lead)
        return [*created, reported]


class History:
    """A quarter of escalations from five moderators, and a few from a year ago whose preservation
    holds end soon, have ended awaiting a decision, or were closed."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.cfg = policy.PolicyConfig.from_settings()
        self.ticket = 7000
        self.report_id = 183_400_000

    # --- the plan --------------------------------------------------------------------------------

    def _pick(self, weighted: tuple[tuple[Any, float], ...]) -> Any:
        values, weights = zip(*weighted, strict=True)
        return self.rng.choices(values, weights=weights)[0]

    def _hours(self, low: float, high: float, mode: float) -> timedelta:
        return timedelta(hours=self.rng.triangular(low, high, mode))

    def _reference(self) -> str:
        kind = self.rng.random()
        if kind < 0.5:
            self.ticket += self.rng.randint(1, 9)
            return f"ticket-{self.ticket}"
        if kind < 0.8:
            return f"acct:{self.rng.randint(10_000_000, 99_999_999)}"
        return f"https://mod.internal.example/content/{self.rng.randint(10_000, 99_999)}"

    def _next_report_id(self) -> int:
        self.report_id += self.rng.randint(3, 400)
        return self.report_id

    def _planned(self, knowledge_at: datetime, late_factor: float = 1.0) -> Planned:
        rng = self.rng
        name, _, slowness = self._pick(tuple(((m, w, s), w) for m, w, s in HISTORY_MODERATORS))
        incident = self._pick(INCIDENT_WEIGHTS)
        urgent = rng.random() < URGENT_SHARE.get(incident, URGENT_SHARE_OTHERWISE)
        target = policy.report_target(Priority.URGENT if urgent else Priority.STANDARD, self.cfg)
        late = rng.random() < BASE_LATE_SHARE * slowness * late_factor
        reason = ""
        if late:
            reason = BreachReason.VOLUME if late_factor > 1 and rng.random() < 0.6 else self._pick(BREACH_WEIGHTS)
        if reason == BreachReason.LOGGED_LATE:
            logged_after = target * rng.uniform(0.9, 1.5)
        elif urgent:
            logged_after = timedelta(minutes=rng.uniform(1, 6))
        else:
            logged_after = timedelta(minutes=rng.uniform(2, 45))
        plan = Planned(
            knowledge_at=knowledge_at,
            moderator=name,
            incident=incident,
            priority=Priority.URGENT if urgent else Priority.STANDARD,
            logged_after=logged_after,
            reference=self._reference(),
            notes=rng.choice(NOTES),
            urgent_reason=rng.choice(URGENT_REASONS) if urgent else "",
        )
        if rng.random() < 0.05:
            plan.reassign_to = rng.choice([m for m, _, _ in HISTORY_MODERATORS if m != name])
            plan.reassign_after = logged_after + timedelta(minutes=rng.uniform(5, 50))
        if rng.random() < 0.04:
            plan.dismiss_after = logged_after + self._hours(0.5, 20, 3)
            plan.dismiss_reason = rng.choice(DISMISS_REASONS)
            return plan
        plan.report_id = self._next_report_id()
        if late:
            extra = self._hours(0.1, 8, 0.7) if urgent else self._hours(0.2, 48, 5)
            plan.reported_after = max(target, logged_after) + extra
            plan.breach_reason = reason
            if reason == BreachReason.OTHER:
                plan.breach_note = rng.choice(OTHER_NOTES)
        elif urgent:
            plan.reported_after = max(timedelta(minutes=rng.triangular(8, 58, 25)), logged_after + timedelta(minutes=3))
        else:
            plan.reported_after = max(self._hours(0.7, 23.5, 5), logged_after + timedelta(minutes=10))
        preserved = rng.random()
        if preserved < 0.87:
            plan.preserved_after = self._hours(0.2, 20, 2)
        elif preserved < 0.93:
            plan.preserved_after = self._hours(26, 72, 30)
        return plan

    def _quarter(self) -> list[Planned]:
        rng = self.rng
        plans = []
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        for days_ago in range(HISTORY_DAYS, -1, -1):
            day = today - timedelta(days=days_ago)
            count = rng.randint(2, 5) if day.weekday() < 5 else rng.randint(1, 3)
            surge = days_ago in SURGE_DAYS_AGO
            if surge:
                count += rng.randint(2, 4)
            for at in sorted(day + timedelta(seconds=rng.uniform(0, 86_400)) for _ in range(count)):
                if at > self.now - timedelta(minutes=30):
                    continue
                plan = self._planned(at, late_factor=2.5 if surge else 1.0)
                # A few stuck without a report: overdue now.
                stuck = rng.random() < 0.15
                if stuck and plan.reported_after and timedelta(days=2) < self.now - at < timedelta(days=10):
                    plan.reported_after = plan.preserved_after = None
                    plan.breach_reason = plan.breach_note = ""
                plans.append(plan)
        # However the draws fell, a few misses are explained only in a note ("other").
        explained = [p for p in plans if p.breach_reason not in ("", BreachReason.LOGGED_LATE)]
        missing = max(0, 3 - sum(1 for p in explained if p.breach_reason == BreachReason.OTHER))
        for plan in rng.sample(explained[:-10], missing):
            plan.breach_reason, plan.breach_note = BreachReason.OTHER, rng.choice(OTHER_NOTES)
        return plans

    def _year_old(self) -> list[Planned]:
        """Reported about a year ago: holds that end within 30 days, holds that ended awaiting a
        decision, and holds that ended and were closed."""
        years = self.cfg.preservation_years
        plans = []
        ends = [
            *(self.now + timedelta(days=d, hours=self.rng.uniform(0, 12)) for d in (2, 5, 9, 13, 17, 22, 26)),
            *(self.now - timedelta(days=d, hours=self.rng.uniform(0, 12)) for d in (3, 11)),
            *(self.now - timedelta(days=d, hours=self.rng.uniform(0, 12)) for d in (24, 31, 38, 45, 52)),
        ]
        for end in sorted(ends):
            reported_at = _one_year_before(end, years)
            plan = self._planned(reported_at - self._hours(1, 20, 5))
            if plan.priority == Priority.URGENT:
                plan.priority = Priority.STANDARD
            plan.logged_after = timedelta(minutes=self.rng.uniform(2, 45))
            plan.dismiss_after = plan.reassign_to = None
            plan.report_id = plan.report_id or self._next_report_id()
            plan.reported_after = reported_at - plan.knowledge_at
            plan.breach_reason = plan.breach_note = ""
            plan.preserved_after = self._hours(0.2, 20, 2)
            if end < self.now - timedelta(days=20):
                plan.closed_at = end + timedelta(days=self.rng.uniform(1, 6))
            plans.append(plan)
        return plans

    # --- writing it through the services ---------------------------------------------------------

    def create(self) -> list[Escalation]:
        User = get_user_model()
        moderator_group = Group.objects.get(name=MODERATOR)
        for username in EXTRA_MODERATORS:
            user, made = User.objects.get_or_create(username=username)
            if made:
                user.set_unusable_password()
                user.save(update_fields=["password"])
                user.groups.add(moderator_group)
        people = {u.username: u for u in User.objects.filter(username__in=[*EXTRA_MODERATORS, "moderator", "lead"])}
        plans = self._year_old() + self._quarter()
        escalations = []
        with _clock() as set_time:
            for plan in plans:
                escalations.append(self._write(plan, people, set_time))
        return escalations

    def _write(self, plan: Planned, people: dict[str, Any], clock: Callable[[datetime], None]) -> Escalation:
        now = self.now
        author = people[plan.moderator]
        lead = people["lead"]
        latest: list[datetime] = []

        def set_time(moment: datetime) -> None:
            # One escalation's steps in the order they happen: its audit trail is chained, and an
            # event dated before the one before it reads as back-dated (a reassignment planned after
            # the report is recorded with the report's time).
            if latest:
                moment = max(moment, latest[0])
            latest[:] = [moment]
            clock(moment)

        logged_at = min(plan.knowledge_at + plan.logged_after, now)
        set_time(logged_at)
        esc = services.create_escalation(
            actor=author,
            data={
                "platform_reference": plan.reference,
                "incident_type": plan.incident,
                "priority": plan.priority,
                "urgent_reason": plan.urgent_reason if plan.priority == Priority.URGENT else "",
                "knowledge_at": plan.knowledge_at,
                "notes": plan.notes,
            },
        )
        owner = author
        if plan.reassign_to:
            set_time(min(plan.knowledge_at + plan.reassign_after, now))
            owner = people[plan.reassign_to]
            esc = services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=owner)
        if plan.dismiss_after is not None:
            dismissed_at = plan.knowledge_at + plan.dismiss_after
            if dismissed_at < now:
                set_time(dismissed_at)
                esc = services.dismiss_escalation(
                    actor=lead, escalation_id=esc.pk, version=esc.version, reason=plan.dismiss_reason
                )
            return esc
        if plan.reported_after is None:
            return esc
        reported_at = plan.knowledge_at + plan.reported_after
        if reported_at > now - timedelta(minutes=5):
            return esc  # not reported yet: still open
        set_time(reported_at + timedelta(minutes=1))
        esc = services.record_report(
            actor=owner,
            escalation_id=esc.pk,
            version=esc.version,
            reported_at=reported_at,
            cybertipline_report_id=str(plan.report_id),
            breach_reason=plan.breach_reason or None,
            breach_note=plan.breach_note or None,
        )
        if plan.preserved_after is not None and reported_at + plan.preserved_after < now:
            set_time(reported_at + plan.preserved_after)
            esc = services.confirm_preservation(
                actor=owner,
                escalation_id=esc.pk,
                version=esc.version,
                preservation_location=f"evidence-store://holds/{reported_at:%Y}/{esc.pk:06d}",
            )
        if plan.closed_at is not None and plan.closed_at < now:
            set_time(plan.closed_at)
            esc = services.close_escalation(
                actor=lead, escalation_id=esc.pk, version=esc.version, reason=CLOSE_REASON, retained=True
            )
        return esc


def summary(escalations: list[Escalation], now: datetime, seconds: float) -> str:
    """One line: what was made, in the terms of the dashboard."""
    by_status = Counter(e.status for e in escalations)
    reported = [e for e in escalations if e.reported_at is not None]
    late = sum(1 for e in reported if e.reported_on_time is False)
    overdue = sum(1 for e in escalations if e.status == Status.OPEN and e.report_due_at < now)
    unconfirmed = sum(1 for e in escalations if e.status == Status.REPORTED and e.preservation_confirmed_at is None)
    active_holds = [e.preserve_until for e in escalations if e.status == Status.REPORTED and e.preserve_until]
    ending = sum(1 for until in active_holds if now <= until <= now + timedelta(days=30))
    ended = sum(1 for until in active_holds if until < now)
    return (
        f"Demo escalations created: {len(escalations)} in {seconds:.1f} s "
        f"({by_status[Status.OPEN]} open, {overdue} of them overdue; {len(reported)} reported, {late} late; "
        f"{unconfirmed} awaiting preservation; {by_status[Status.DISMISSED]} dismissed; "
        f"{by_status[Status.CLOSED]} closed; holds: {ending} end within 30 days, {ended} ended awaiting a decision)"
    )
