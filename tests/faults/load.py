"""The soak's load and its reckoning: the people, the escalations and when their deadlines cross, and
which reminders must reach whom on which channel. What must be delivered is computed from the facts
the soak gave the services and escalations.policy alone (reminder_plan and who hears of each kind),
never from the rows the sweep wrote; tests/faults/test_soak.py cross-checks it against those rows.

Times are seconds after the soak's anchor T0 (wall clock, a few seconds after seeding ends). The
settings make every deadline small: report targets of 30 and 60 minutes, knowledge obtained just
long enough ago that each target passes between `cross_from` and `cross_to` seconds after T0.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from escalations import policy

# The settings the worker, beat and seeding run with (environment variables of settings.base).
SETTINGS = {
    "REPORT_TARGET_HOURS": "1",
    "URGENT_REPORT_TARGET_HOURS": "0.5",
    "DUE_SOON_HOURS": "0.075",  # 4.5 minutes before a standard target
    "URGENT_DUE_SOON_MINUTES": "3",
    "PRESERVATION_CONFIRM_HOURS": "0.5",
    # NCMEC deletes an unfinished report 24 h after opening: warn 23.5 h before, i.e. 30 minutes after
    # opening, so the warning falls inside the run for a report opened 30 minutes before it.
    "NCMEC_UNFINISHED_WARNING_HOURS": "23.5",
    "REPORT_OVERDUE_REPEAT_HOURS": "4",  # no repeat falls inside a run: each reminder is due once
    "REMINDER_DIGEST_THRESHOLD": "5",
    # Escalation steps of an urgent report nobody acknowledged, 1 and 2 minutes after its target, so
    # both fall inside the run: each must arrive once, none skipped (no team has PagerDuty here, so
    # the second goes to every lead too).
    "ESCALATION_POLICY": json.dumps(
        {"report_overdue": {"priorities": ["urgent"], "steps": [[1, "leads"], [2, "team_pagerduty"]]}}
    ),
}
# The last step falls due this long after the last target: the reckoning's horizon reaches it.
STEPS_AFTER_TARGET = timedelta(minutes=2)


def _hours(name: str) -> timedelta:
    return timedelta(hours=float(SETTINGS[name]))


# The same numbers as policy configuration, for reckoning in this process.
CFG = policy.PolicyConfig(
    report_target=_hours("REPORT_TARGET_HOURS"),
    urgent_report_target=_hours("URGENT_REPORT_TARGET_HOURS"),
    due_soon=_hours("DUE_SOON_HOURS"),
    urgent_due_soon=timedelta(minutes=float(SETTINGS["URGENT_DUE_SOON_MINUTES"])),
    preservation_confirm_window=_hours("PRESERVATION_CONFIRM_HOURS"),
    ncmec_unfinished_warning=_hours("NCMEC_UNFINISHED_WARNING_HOURS"),
    report_overdue_repeat=_hours("REPORT_OVERDUE_REPEAT_HOURS"),
    escalation_rules=policy.escalation_rules_from_settings(json.loads(SETTINGS["ESCALATION_POLICY"])),
)

REDIS_DOWN_SECONDS = 120


@dataclass(frozen=True)
class Profile:
    name: str
    escalations: int
    cross_from: float  # the first deadline crosses this many seconds after T0
    cross_to: float  # the last one
    # SIGKILLs of each role, spread over the crossing period (tests/faults/chaos.py).
    worker_kills: int
    beat_kills: int
    web_kills: int
    redis_down_at: float  # Redis stops for REDIS_DOWN_SECONDS
    pg_restart_at: float  # PostgreSQL stops and starts again
    # Of the worker kills, how many strike early in the Redis outage, so that a worker starts again
    # while the broker is down. Otherwise nothing is killed from 10 s before the outage to 40 s after
    # it: the processes that see Redis go must find it again by themselves.
    outage_kills: int = 0
    # Worker kills that must land inside a delivery (between a claim and `sent_at`).
    mid_sweep_kills: int = 10

    @property
    def redis_up_at(self) -> float:
        return self.redis_down_at + REDIS_DOWN_SECONDS

    @property
    def kills(self) -> int:
        return self.worker_kills + self.beat_kills + self.web_kills


PROFILES = {
    # About 5 minutes of faults: within 8 minutes with set-up and quiescence. The kills come first
    # (the PostgreSQL restart among them), then Redis is down for the last deadlines, which all go
    # out when it is back.
    "short": Profile(
        "short",
        escalations=240,
        cross_from=60,
        cross_to=280,
        worker_kills=16,
        beat_kills=4,
        web_kills=4,
        redis_down_at=180,
        pg_restart_at=105,
    ),
    # About 23 minutes of faults.
    "long": Profile(
        "long",
        escalations=600,
        cross_from=60,
        cross_to=1380,
        worker_kills=36,
        beat_kills=12,
        web_kills=12,
        redis_down_at=420,
        pg_restart_at=840,
        outage_kills=2,
    ),
}

# --- people ----------------------------------------------------------------------------------------

MODERATORS = ("soak-mod-1", "soak-mod-2", "soak-mod-3", "soak-mod-4")
LEADS = ("soak-lead-1", "soak-lead-2")
IN_APP_ONLY = frozenset({"soak-mod-4"})  # chose the bell only on their profile
WEBHOOK_TOO = ("soak-mod-2", "soak-lead-2")  # and a webhook besides email and the bell
EMAIL = "email"
IN_APP = "in_app"
WEBHOOK = "webhook"


def email_of(username: str) -> str:
    return f"{username}@soak.example.org"


def channels_of(username: str) -> tuple[str, ...]:
    if username in IN_APP_ONLY:
        return (IN_APP,)
    return (EMAIL, IN_APP, WEBHOOK) if username in WEBHOOK_TOO else (EMAIL, IN_APP)


# --- escalations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationSpec:
    """One escalation as the soak logs it; times are epoch seconds."""

    ref: str
    priority: str
    creator: str
    assignee: str
    knowledge_at: float
    reported_at: float | None = None
    ncmec_opened_at: float | None = None


@dataclass(frozen=True)
class Facts:
    """What the deadline rules read (policy.EscalationFacts), built from a spec."""

    priority: str
    status: str
    knowledge_at: datetime
    reported_at: datetime | None
    preservation_confirmed_at: datetime | None
    ncmec_opened_at: datetime | None
    ncmec_last_change_at: datetime | None = None

    @classmethod
    def of(cls, spec: EscalationSpec) -> Facts:
        return cls(
            priority=spec.priority,
            status=policy.REPORTED if spec.reported_at is not None else policy.OPEN,
            knowledge_at=at(spec.knowledge_at),
            reported_at=at(spec.reported_at) if spec.reported_at is not None else None,
            preservation_confirmed_at=None,
            ncmec_opened_at=at(spec.ncmec_opened_at) if spec.ncmec_opened_at is not None else None,
        )


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _target(priority: str) -> float:
    return policy.report_target(priority, CFG).total_seconds()


def _due_soon(priority: str) -> float:
    return policy.due_soon_window(priority, CFG).total_seconds()


def _safe_target(profile: Profile, priority: str, rng: random.Random) -> float:
    """When the report target passes (seconds after T0). A "due soon" reminder that the target
    overtakes before it goes out is cancelled by design (the overdue one replaces it), and a 2-minute
    broker outage delays delivery by up to 2.5 minutes: so the load never asks for a due-soon moment
    in the outage whose target follows it too closely to be reachable. Everything else is random."""
    while True:
        cross = rng.uniform(profile.cross_from, profile.cross_to)
        soon = cross - _due_soon(priority)
        in_outage = profile.redis_down_at - 20 <= soon <= profile.redis_up_at + 40
        if not (in_outage and cross < profile.redis_up_at + 100):
            return cross


def plan_load(profile: Profile, rng: random.Random, t0: float) -> list[EscalationSpec]:
    """`profile.escalations` escalations: about 15% already reported (the "preservation not
    confirmed" reminder crosses), 12% with an unfinished report opened at NCMEC (its deletion warning
    crosses too), the rest open (due soon, then overdue); 40% urgent; 15% logged by a lead; 30%
    logged for another moderator."""
    specs = []
    for n in range(1, profile.escalations + 1):
        draw = rng.random()
        priority = policy.URGENT if rng.random() < 0.4 else policy.STANDARD
        creator = rng.choice(LEADS) if rng.random() < 0.15 else rng.choice(MODERATORS)
        assignee = rng.choice([m for m in MODERATORS if m != creator]) if rng.random() < 0.3 else creator
        ref = f"soak-ticket-{n}"
        if draw < 0.15:
            crosses = rng.uniform(profile.cross_from, profile.cross_to)
            reported = t0 + crosses - CFG.preservation_confirm_window.total_seconds()
            knowledge = reported - rng.uniform(60, 900)
            specs.append(EscalationSpec(ref, priority, creator, assignee, knowledge, reported_at=reported))
            continue
        cross = _safe_target(profile, priority, rng)
        knowledge = t0 + cross - _target(priority)
        opened = None
        if draw < 0.27:
            # Not opened at NCMEC before knowledge was obtained: the warning crosses after that.
            earliest = max(profile.cross_from, cross - _target(priority) + 1800)
            warning = rng.uniform(min(earliest, profile.cross_to), profile.cross_to)
            lifetime = policy.NCMEC_UNFINISHED_LIFETIME - CFG.ncmec_unfinished_warning
            opened = t0 + warning - lifetime.total_seconds()
        specs.append(EscalationSpec(ref, priority, creator, assignee, knowledge, ncmec_opened_at=opened))
    return specs


# --- what must be delivered --------------------------------------------------------------------------

# (username, channel, escalation key, reminder kind): one reminder to one person on one channel.
Item = tuple[str, str, str, str]


def recipients(spec: EscalationSpec, kind: str) -> list[str]:
    """The assignee; every lead too for the kinds leads hear of (policy.REMINDER_KINDS_FOR_LEADS); every
    lead alone for the kinds only leads hear of (policy.REMINDER_KINDS_LEADS_ONLY: a new urgent one)."""
    if kind in policy.REMINDER_KINDS_LEADS_ONLY or kind in policy.REMINDER_KINDS_TEAM_PAGERDUTY_ONLY:
        # The teams' PagerDuty step goes to every lead when no team has PagerDuty (none does here).
        return list(LEADS)
    people = [spec.assignee]
    if kind in policy.REMINDER_KINDS_FOR_LEADS:
        people += [lead for lead in LEADS if lead != spec.assignee]
    return people


def expected_items(specs: list[EscalationSpec], keys: dict[str, str], horizon: datetime) -> dict[Item, datetime]:
    """Every item the policy calls for at or before `horizon`, with the moment it fell due. Fails
    when the load asks for something it cannot count exactly (a reminder due twice, or one falling
    due within an hour after the horizon, while the soak winds down)."""
    due: dict[Item, datetime] = {}
    for spec in specs:
        for reminder in policy.reminder_plan(Facts.of(spec), CFG):
            moments = [m for m in (reminder.first_at, reminder.first_after(reminder.first_at)) if m is not None]
            assert not [m for m in moments if horizon < m <= horizon + timedelta(hours=1)], (spec, reminder)
            within = [m for m in moments if m <= horizon]
            assert len(within) <= 1, (spec, reminder)  # the load never asks for a repeat
            for moment in within:
                for person in recipients(spec, reminder.kind):
                    for channel in channels_of(person):
                        due[(person, channel, keys[spec.ref], str(reminder.kind))] = moment
    return due


# --- what was delivered ------------------------------------------------------------------------------

# A message line (escalations.reminders.channels.Item.line): "ESC-000123: Report overdue (deadline ... UTC) https://..."
# A reminder about an urgent escalation or a test record starts with its marks ("TEST URGENT ").
LINE = re.compile(
    r"^(?:TEST )?(?:URGENT )?(ESC-\d+): (.+?) \(deadline \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\) ", re.MULTILINE
)
KIND_OF_LABEL = {label: str(kind) for kind, label in policy.REMINDER_LABELS.items()}


@dataclass(frozen=True)
class Copy:
    """One item as it arrived: in an email the sink accepted (with its Message-ID), in a webhook
    request the receiver verified and accepted (with its webhook-id), or in an in-app notification
    (each its own)."""

    item: Item
    message_id: str
    at: float


def items_in(text: str, username: str, channel: str, message_id: str, when: float) -> list[Copy]:
    return [
        Copy((username, channel, key, KIND_OF_LABEL.get(label, f"? {label}")), message_id, when)
        for key, label in LINE.findall(text)
    ]


@dataclass
class Tally:
    expected: int = 0
    delivered: int = 0  # expected items that arrived at least once
    lost: int = 0  # expected items that never arrived
    doubled: int = 0  # extra copies of an item under a different Message-ID, or extra notifications
    same_id_resends: int = 0  # extra copies under the same Message-ID (see test_soak's docstring)
    unexpected: int = 0  # items nobody expected
    lost_items: list[Item] = field(default_factory=list)
    # Items that arrived more than once: the Message-IDs (or notification ids) and arrival times.
    repeated: list[tuple[Item, list[str], list[float]]] = field(default_factory=list)
    unexpected_items: list[Item] = field(default_factory=list)


# --- acknowledgements ----------------------------------------------------------------------------------

ACK_AFTER_TARGET = 20.0  # seconds: after the target (so it counts), before the first step (60 s)
ACK_SHARE = 0.35  # of the open urgent escalations


def plan_acks(specs: list[EscalationSpec], ids: dict[str, int], rng: random.Random) -> list[tuple[int, float]]:
    """(escalation id, epoch) of each acknowledgement a lead makes: a share of the open urgent
    escalations, ACK_AFTER_TARGET seconds after their target."""
    acks = []
    for spec in specs:
        if spec.priority == policy.URGENT and spec.reported_at is None and rng.random() < ACK_SHARE:
            target = policy.escalation_report_due_at(Facts.of(spec), CFG).timestamp()
            acks.append((ids[spec.ref], target + ACK_AFTER_TARGET))
    return acks


def without_acknowledged_steps(
    expected: dict[Item, datetime],
    specs: list[EscalationSpec],
    keys: dict[str, str],
    ids: dict[str, int],
    acks: dict[int, float],
) -> tuple[dict[Item, datetime], set[Item], int]:
    """The expected items once the acknowledgements are known: an escalation step that fell due
    after its escalation's acknowledgement committed must never arrive (removed: an arrival counts
    as unexpected); one due within a second of it, or before it, may have gone (at most once: moved
    to `maybe`). Returns (expected, maybe, how many steps were silenced)."""
    key_of_id = {ids[spec.ref]: keys[spec.ref] for spec in specs}
    acked_keys = {key_of_id[pk]: moment for pk, moment in acks.items()}
    kept: dict[Item, datetime] = {}
    maybe: set[Item] = set()
    silenced = 0
    for item, due in expected.items():
        moment = acked_keys.get(item[2])
        if moment is None or item[3] not in policy.STEP_REMINDER_KINDS:
            kept[item] = due
        elif moment < due.timestamp() - 1:
            silenced += 1
        else:
            maybe.add(item)
    return kept, maybe, silenced


def tally(expected: dict[Item, datetime], copies: list[Copy], maybe: set[Item] | None = None) -> Tally:
    by_item: dict[Item, list[Copy]] = defaultdict(list)
    for copy in copies:
        by_item[copy.item].append(copy)
    result = Tally(expected=len(expected))
    for item in expected:
        got = by_item.get(item, [])
        if not got:
            result.lost += 1
            result.lost_items.append(item)
            continue
        result.delivered += 1
        ids = [c.message_id for c in got]
        result.same_id_resends += len(ids) - len(set(ids))
        result.doubled += len(set(ids)) - 1
        if len(ids) > 1:
            result.repeated.append((item, ids, sorted(c.at for c in got)))
    for item, got in by_item.items():
        if maybe and item in maybe:
            result.doubled += len({c.message_id for c in got}) - 1
            continue
        if item not in expected:
            result.unexpected += len(got)
            result.unexpected_items.append(item)
    return result
