"""The deadline rules, in one place. Pure functions: no ORM, no clock (`now` is always an argument).

All datetimes in and out are timezone-aware; arithmetic happens in UTC so that a target of 24 hours
is 24 elapsed hours across a daylight-saving change, and a calendar year is counted on the UTC date.
Where a rule can be read two ways, we keep the evidence the longer way (DOMAIN.md).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol, TypedDict

# Kept as plain strings so this module needs no Django import; escalations.models uses the same values.
STANDARD = "standard"
URGENT = "urgent"
OPEN = "open"
REPORTED = "reported"
CLOSED = "closed"
DISMISSED = "dismissed"


class DeadlineState(enum.StrEnum):
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    MET = "met"
    NOT_APPLICABLE = "not_applicable"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS = {
    DeadlineState.ON_TRACK: "On track",
    DeadlineState.DUE_SOON: "Due soon",
    DeadlineState.OVERDUE: "Overdue",
    DeadlineState.MET: "Met",
    DeadlineState.NOT_APPLICABLE: "Not applicable",
}


class DeadlineKind(enum.StrEnum):
    REPORT = "report"
    PRESERVATION_CONFIRM = "preservation_confirm"
    PRESERVATION_END = "preservation_end"


DEADLINE_LABELS = {
    DeadlineKind.REPORT: "File the CyberTipline report (internal target)",
    DeadlineKind.PRESERVATION_CONFIRM: "Confirm the content is preserved",
    DeadlineKind.PRESERVATION_END: "Preservation period ends (18 U.S.C. 2258A(h)); close or extend",
}


@dataclass(frozen=True)
class PolicyConfig:
    """The numbers behind every deadline. `from_settings()` reads them from Django settings."""

    report_target: timedelta = timedelta(hours=24)
    urgent_report_target: timedelta = timedelta(hours=1)
    preservation_years: int = 1
    preservation_confirm_window: timedelta = timedelta(hours=24)
    due_soon: timedelta = timedelta(hours=4)
    urgent_due_soon: timedelta = timedelta(minutes=15)
    preservation_ending_soon: timedelta = timedelta(days=30)
    clock_skew: timedelta = timedelta(minutes=5)
    report_overdue_repeat: timedelta = timedelta(hours=4)
    preservation_ending_offsets: tuple[timedelta, ...] = (timedelta(days=30), timedelta(days=7), timedelta(days=1))
    preservation_ended_repeat: timedelta = timedelta(hours=24)
    # NCMEC deletes an unfinished report (see ncmec_deletion_at); the assignee and leads hear of it
    # this long before.
    ncmec_unfinished_warning: timedelta = timedelta(hours=2)
    # A legal request's response date: "due soon" this long before, then "overdue" every `repeat`.
    legal_response_due_soon: timedelta = timedelta(hours=24)
    legal_response_overdue_repeat: timedelta = timedelta(hours=24)

    @classmethod
    def from_settings(cls) -> PolicyConfig:
        from django.conf import settings

        return cls(
            report_target=timedelta(hours=settings.REPORT_TARGET_HOURS),
            urgent_report_target=timedelta(hours=settings.URGENT_REPORT_TARGET_HOURS),
            preservation_years=settings.PRESERVATION_YEARS,
            preservation_confirm_window=timedelta(hours=settings.PRESERVATION_CONFIRM_HOURS),
            due_soon=timedelta(hours=settings.DUE_SOON_HOURS),
            urgent_due_soon=timedelta(minutes=settings.URGENT_DUE_SOON_MINUTES),
            clock_skew=timedelta(minutes=settings.CLOCK_SKEW_MINUTES),
            report_overdue_repeat=timedelta(hours=settings.REPORT_OVERDUE_REPEAT_HOURS),
            preservation_ending_offsets=tuple(timedelta(days=d) for d in settings.PRESERVATION_ENDING_REMINDER_DAYS),
            preservation_ended_repeat=timedelta(hours=settings.PRESERVATION_ENDED_REPEAT_HOURS),
            ncmec_unfinished_warning=timedelta(hours=settings.NCMEC_UNFINISHED_WARNING_HOURS),
            legal_response_due_soon=timedelta(hours=settings.LEGAL_RESPONSE_DUE_SOON_HOURS),
            legal_response_overdue_repeat=timedelta(hours=settings.LEGAL_RESPONSE_OVERDUE_REPEAT_HOURS),
        )


class EscalationFacts(Protocol):
    """What the rules read from an escalation; the model satisfies it, and so does a test double."""

    @property
    def priority(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def knowledge_at(self) -> datetime: ...
    @property
    def reported_at(self) -> datetime | None: ...
    @property
    def preservation_confirmed_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    due_at: datetime | None
    # The moment the deadline becomes "due soon".
    soon_at: datetime | None
    # When it was met (the report filed, preservation confirmed, the escalation closed), if it was.
    met_at: datetime | None
    applicable: bool

    @property
    def label(self) -> str:
        return DEADLINE_LABELS[self.kind]

    @property
    def met_late(self) -> bool:
        """True when it was met after its due time (a compliance finding for the report target)."""
        return self.met_at is not None and self.due_at is not None and self.met_at > self.due_at

    def state(self, now: datetime) -> DeadlineState:
        if not self.applicable or self.due_at is None:
            return DeadlineState.NOT_APPLICABLE
        if self.met_at is not None:
            return DeadlineState.MET
        return state_at(self.due_at, self.soon_at, now)


def state_at(due_at: datetime, soon_at: datetime | None, now: datetime) -> DeadlineState:
    """State of an unmet deadline at `now`. Exactly at `due_at` it is still due soon, not overdue:
    a report filed at its target counts as within it."""
    now = _utc(now)
    if now > due_at:
        return DeadlineState.OVERDUE
    if soon_at is not None and now >= soon_at:
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TRACK


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: policy functions need timezone-aware datetimes")
    return value.astimezone(UTC)


def report_target(priority: str, cfg: PolicyConfig) -> timedelta:
    return cfg.urgent_report_target if priority == URGENT else cfg.report_target


def report_due_at(knowledge_at: datetime, priority: str, cfg: PolicyConfig) -> datetime:
    """The internal target for filing the report: elapsed time from actual knowledge (UTC)."""
    return _utc(knowledge_at) + report_target(priority, cfg)


def due_soon_window(priority: str, cfg: PolicyConfig) -> timedelta:
    return cfg.urgent_due_soon if priority == URGENT else cfg.due_soon


def preservation_confirm_due_at(reported_at: datetime, cfg: PolicyConfig) -> datetime:
    return _utc(reported_at) + cfg.preservation_confirm_window


def add_calendar_years(moment: datetime, years: int) -> datetime:
    """The same UTC date and time `years` later; 29 February becomes 1 March in a common year, so the
    period is never shorter than the years' worth of days."""
    moment = _utc(moment)
    target_year = moment.year + years
    try:
        return moment.replace(year=target_year)
    except ValueError:  # 29 February into a common year
        return moment.replace(year=target_year, month=3, day=1)


def preservation_end(reported_at: datetime, cfg: PolicyConfig) -> datetime:
    """End of the 2258A(h) preservation period: one calendar year (a setting) after the report."""
    return add_calendar_years(reported_at, cfg.preservation_years)


HOLD_2703F = timedelta(days=90)
PRESERVATION_2703F = "2703f_preservation"
RENEWAL_2703F = "2703f_renewal"


def legal_hold_until(kind: str, received_at: datetime, renewed_hold_until: datetime | None) -> datetime | None:
    """The preservation a 2703(f) request holds (18 U.S.C. 2703(f)(2)): 90 days from its receipt; a
    renewal, 90 more days from the end of the period it renews. Other legal process holds nothing of
    its own (it blocks release while open)."""
    if kind == PRESERVATION_2703F:
        return _utc(received_at) + HOLD_2703F
    if kind == RENEWAL_2703F:
        start = _utc(renewed_hold_until) if renewed_hold_until is not None else _utc(received_at)
        return start + HOLD_2703F
    return None


@dataclass(frozen=True)
class RetentionRule:
    """One reason the evidence is kept until `until`, for the detail page's rule-by-rule account."""

    label: str
    until: datetime
    deciding: bool = False


def explain_preservation(
    reported_at: datetime | None, holds: Sequence[tuple[str, datetime]], cfg: PolicyConfig
) -> list[RetentionRule]:
    """Every rule that keeps the evidence, latest first, the deciding one marked: one calendar year
    after the report, then each hold (label, until) the services know of."""
    rules = []
    if reported_at is not None:
        rules.append(
            (
                f"18 U.S.C. 2258A(h): {cfg.preservation_years} calendar year(s) after the report",
                preservation_end(reported_at, cfg),
            )
        )
    rules.extend((label, _utc(until)) for label, until in holds)
    rules.sort(key=lambda rule: rule[1], reverse=True)
    return [RetentionRule(label, until, deciding=index == 0) for index, (label, until) in enumerate(rules)]


# --- Destinations, retention caps and conflicts -----------------------------------------------------

YEARS_AFTER_REPORT = "years_after_report"
DAYS_AFTER_REPORT = "days_after_report"
NO_PRESERVATION_RULE = "none"


def destination_preservation_until(rule: str, amount: int, reported_at: datetime | None) -> datetime | None:
    """The preservation a destination's own rule requires after the report made to it: calendar years
    (counted like 2258A(h)'s year), or days (Canada: 21 days after notifying police). None without a
    rule of its own, or while nothing was reported to it."""
    if reported_at is None:
        return None
    if rule == YEARS_AFTER_REPORT:
        return add_calendar_years(reported_at, amount)
    if rule == DAYS_AFTER_REPORT:
        return _utc(reported_at) + timedelta(days=amount)
    return None


def destination_preservation_label(name: str, rule: str, amount: int) -> str:
    """'Police (Canada): 21 days after the report', for the rule-by-rule account."""
    if rule == YEARS_AFTER_REPORT:
        unit = "calendar year" if amount == 1 else "calendar years"
    else:
        unit = "day" if amount == 1 else "days"
    return f"{name}: {amount} {unit} after the report"


def add_calendar_months(moment: datetime, months: int) -> datetime:
    """The same UTC day and time `months` later; where that month is shorter (from the 31st, or from
    29 February into a common year) the last day of that month. Used for caps, so it is never longer
    than the months' worth: the shorter reading, the one that keeps a cap."""
    moment = _utc(moment)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, _days_in_month(year, month)))


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return (following - timedelta(days=1)).day


def retention_cap_until(knowledge_at: datetime, months: int) -> datetime:
    """The latest a capped rule allows the data to be kept: `months` calendar months from detection
    (the EU's successor regime: 12 months, unconfirmed in DOMAIN.md)."""
    return add_calendar_months(knowledge_at, months)


def retention_cap_label(name: str, months: int) -> str:
    unit = "month" if months == 1 else "months"
    return f"{name}: at most {months} {unit} from detection"


class RetentionConflict(NamedTuple):
    """A cap on retention that ends before a rule's minimum: both dates, for counsel."""

    cap_label: str
    cap_until: datetime
    minimum_label: str
    minimum_until: datetime


def retention_conflicts(
    minimums: Sequence[tuple[str, datetime]], caps: Sequence[tuple[str, datetime]]
) -> list[RetentionConflict]:
    """Every (cap, minimum) pair where the cap ends strictly before the minimum does: the platform
    can't keep the data as long as one rule requires without keeping it longer than another allows.
    A cap ending exactly when a minimum does is no conflict. Earliest cap first, then the latest
    minimum first."""
    conflicts = [
        RetentionConflict(cap_label, _utc(cap_until), minimum_label, _utc(minimum_until))
        for cap_label, cap_until in caps
        for minimum_label, minimum_until in minimums
        if _utc(cap_until) < _utc(minimum_until)
    ]
    conflicts.sort(key=lambda c: (c.cap_until, -c.minimum_until.timestamp()))
    return conflicts


# --- NCMEC's unfinished-report timer -----------------------------------------------------------------

NCMEC_UNFINISHED_LIFETIME = timedelta(hours=24)
NCMEC_AFTER_LAST_CHANGE = timedelta(hours=1)


def ncmec_deletion_at(opened_at: datetime | None, last_change_at: datetime | None) -> datetime | None:
    """When NCMEC deletes a report opened through its API but not finished: 24 hours after opening
    or 1 hour after its last change, whichever is later (DOMAIN.md). None when none was opened."""
    if opened_at is None:
        return None
    last = last_change_at if last_change_at is not None else opened_at
    return max(_utc(opened_at) + NCMEC_UNFINISHED_LIFETIME, _utc(last) + NCMEC_AFTER_LAST_CHANGE)


def ncmec_unfinished_state(
    opened_at: datetime | None,
    last_change_at: datetime | None,
    reported_at: datetime | None,
    now: datetime,
    cfg: PolicyConfig,
) -> DeadlineState:
    """Not applicable (no report opened at NCMEC), met (the report was recorded, so it was finished),
    on track, due soon (within the warning before deletion), or overdue: from the deletion time on,
    NCMEC may have deleted it (at the very moment we already assume it has)."""
    deletion = ncmec_deletion_at(opened_at, last_change_at)
    if deletion is None:
        return DeadlineState.NOT_APPLICABLE
    if reported_at is not None:
        return DeadlineState.MET
    now = _utc(now)
    if now >= deletion:
        return DeadlineState.OVERDUE
    if now >= deletion - cfg.ncmec_unfinished_warning:
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TRACK


def _ncmec_deletion_of(esc: EscalationFacts) -> datetime | None:
    return ncmec_deletion_at(getattr(esc, "ncmec_opened_at", None), getattr(esc, "ncmec_last_change_at", None))


def escalation_report_due_at(esc: EscalationFacts, cfg: PolicyConfig) -> datetime:
    """The report target for this escalation: the platform's target, or a stricter one set by a
    destination it must also be reported to (stored on the escalation by the services)."""
    due = report_due_at(esc.knowledge_at, esc.priority, cfg)
    hours = getattr(
        esc, "destination_urgent_target_hours" if esc.priority == URGENT else "destination_target_hours", None
    )
    if hours is not None:
        due = min(due, _utc(esc.knowledge_at) + timedelta(hours=hours))
    return due


def escalation_preserve_until(esc: EscalationFacts, cfg: PolicyConfig) -> datetime | None:
    """The end of preservation: the latest of one calendar year after the report (2258A(h)) and
    every longer hold (law-enforcement requests, a lead's extension, a destination's rule), which
    the services store as `preservation_hold_until`. None before the report and without holds."""
    candidates = []
    if esc.reported_at is not None:
        candidates.append(preservation_end(esc.reported_at, cfg))
    hold = getattr(esc, "preservation_hold_until", None)
    if hold is not None:
        candidates.append(_utc(hold))
    return max(candidates, default=None)


def deadlines(esc: EscalationFacts, cfg: PolicyConfig) -> list[Deadline]:
    """Every deadline of an escalation, in the order they fall due."""
    dismissed = esc.status == DISMISSED
    report_due = escalation_report_due_at(esc, cfg)
    window = due_soon_window(esc.priority, cfg)
    result = [
        Deadline(
            kind=DeadlineKind.REPORT,
            due_at=report_due,
            soon_at=report_due - window,
            met_at=esc.reported_at,
            applicable=not dismissed,
        )
    ]
    reported = esc.reported_at is not None and not dismissed
    confirm_due = preservation_confirm_due_at(esc.reported_at, cfg) if esc.reported_at else None
    confirmed = esc.preservation_confirmed_at
    result.append(
        Deadline(
            kind=DeadlineKind.PRESERVATION_CONFIRM,
            due_at=confirm_due,
            soon_at=confirm_due - window if confirm_due else None,
            # Confirming before the report was filed counts from the moment of the report.
            met_at=max(_utc(confirmed), _utc(esc.reported_at)) if confirmed and esc.reported_at else None,
            applicable=reported,
        )
    )
    end = escalation_preserve_until(esc, cfg) if esc.reported_at else None
    result.append(
        Deadline(
            kind=DeadlineKind.PRESERVATION_END,
            due_at=end,
            soon_at=end - cfg.preservation_ending_soon if end else None,
            # The decision at the end of the period is made by closing the escalation.
            met_at=end if esc.status == CLOSED and end else None,
            applicable=reported,
        )
    )
    return result


def next_deadline(esc: EscalationFacts, cfg: PolicyConfig) -> Deadline | None:
    """The earliest deadline still to be met, or None when nothing is pending (closed, dismissed)."""
    if esc.status in (CLOSED, DISMISSED):
        return None
    pending = [d for d in deadlines(esc, cfg) if d.applicable and d.met_at is None and d.due_at]
    return min(pending, key=lambda d: d.due_at or datetime.max.replace(tzinfo=UTC), default=None)


def escalation_state(esc: EscalationFacts, now: datetime, cfg: PolicyConfig) -> DeadlineState:
    """One state for the whole escalation: that of its next deadline; met when nothing is pending."""
    if esc.status == DISMISSED:
        return DeadlineState.NOT_APPLICABLE
    upcoming = next_deadline(esc, cfg)
    if upcoming is None:
        return DeadlineState.MET
    return upcoming.state(now)


def reported_on_time(esc: EscalationFacts, cfg: PolicyConfig) -> bool | None:
    """Whether the report was recorded at or before its target; None while unreported."""
    if esc.reported_at is None:
        return None
    return _utc(esc.reported_at) <= escalation_report_due_at(esc, cfg)


def seconds_to_report(esc: EscalationFacts) -> int | None:
    """Whole seconds from actual knowledge to the report (never negative); None while unreported."""
    if esc.reported_at is None:
        return None
    return max(0, int((_utc(esc.reported_at) - _utc(esc.knowledge_at)).total_seconds()))


class StoredColumns(TypedDict):
    report_due_at: datetime
    preservation_confirm_due_at: datetime | None
    preserve_until: datetime | None
    next_deadline_at: datetime | None
    next_deadline_soon_at: datetime | None
    next_reminder_at: datetime | None
    report_seconds: int | None
    reported_on_time: bool | None


def stored_columns(esc: EscalationFacts, cfg: PolicyConfig) -> StoredColumns:
    """The derived, indexed columns the services write on every change."""
    upcoming = next_deadline(esc, cfg)
    return {
        "report_due_at": escalation_report_due_at(esc, cfg),
        "preservation_confirm_due_at": (preservation_confirm_due_at(esc.reported_at, cfg) if esc.reported_at else None),
        "preserve_until": escalation_preserve_until(esc, cfg) if esc.reported_at else None,
        "next_deadline_at": upcoming.due_at if upcoming else None,
        "next_deadline_soon_at": upcoming.soon_at if upcoming else None,
        # The earliest reminder of the current plan: the sweep then records whatever of the plan is
        # due (idempotently) and moves this forward, so a change can never skip a reminder.
        "next_reminder_at": min((spec.first_at for spec in reminder_plan(esc, cfg)), default=None),
        "report_seconds": seconds_to_report(esc),
        "reported_on_time": reported_on_time(esc, cfg),
    }


def time_left(due_at: datetime, now: datetime) -> timedelta:
    """Signed time until `due_at` (negative once it has passed)."""
    return _utc(due_at) - _utc(now)


def humanize_delta(delta: timedelta) -> str:
    """'3 h 12 min left' / '2 d 4 h overdue': short enough for a table cell at 3 a.m."""
    # The sign decides the word: half a second past the target is overdue (as its state says), not "left".
    suffix = "left" if delta >= timedelta(0) else "overdue"
    seconds = abs(delta) // timedelta(seconds=1)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    parts: Sequence[str]
    if days:
        parts = [f"{days} d", f"{hours} h"]
    elif hours:
        parts = [f"{hours} h", f"{minutes} min"]
    else:
        parts = [f"{minutes} min"] if minutes else ["under 1 min"]
    return f"{' '.join(parts)} {suffix}"


def state_from_columns(
    status: str, next_deadline_at: datetime | None, next_deadline_soon_at: datetime | None, now: datetime
) -> DeadlineState:
    """escalation_state() from the stored columns alone (what list pages and filters have). Agrees
    with escalation_state() because the services store exactly what next_deadline() returns."""
    if status == DISMISSED:
        return DeadlineState.NOT_APPLICABLE
    if status == CLOSED or next_deadline_at is None:
        return DeadlineState.MET
    return state_at(next_deadline_at, next_deadline_soon_at, now)


# --- Reminders ---------------------------------------------------------------------------------


class ReminderKind(enum.StrEnum):
    REPORT_DUE_SOON = "report_due_soon"
    REPORT_OVERDUE = "report_overdue"
    PRESERVATION_UNCONFIRMED = "preservation_unconfirmed"
    PRESERVATION_ENDING = "preservation_ending"
    PRESERVATION_ENDED = "preservation_ended"
    NCMEC_UNFINISHED = "ncmec_unfinished"
    LEGAL_RESPONSE_DUE_SOON = "legal_response_due_soon"
    LEGAL_RESPONSE_OVERDUE = "legal_response_overdue"


REMINDER_LABELS = {
    ReminderKind.REPORT_DUE_SOON: "Report due soon",
    ReminderKind.REPORT_OVERDUE: "Report overdue",
    ReminderKind.PRESERVATION_UNCONFIRMED: "Preservation not confirmed",
    ReminderKind.PRESERVATION_ENDING: "Preservation period ending",
    ReminderKind.PRESERVATION_ENDED: "Preservation period ended: close or extend",
    ReminderKind.NCMEC_UNFINISHED: "Unfinished NCMEC report will be deleted: finish it",
    ReminderKind.LEGAL_RESPONSE_DUE_SOON: "Legal request response due soon",
    ReminderKind.LEGAL_RESPONSE_OVERDUE: "Legal request response overdue",
}

# About a legal request, not about the escalation they are recorded on: the sweep creates them from
# LegalRequest rows (escalations/reminders.py, schedule_legal_due), once per request on its first
# linked escalation (the lowest id), and sends them to every lead.
LEGAL_REMINDER_KINDS = frozenset({ReminderKind.LEGAL_RESPONSE_DUE_SOON, ReminderKind.LEGAL_RESPONSE_OVERDUE})

# Who hears of each kind besides the assignee (or the creator while nobody is assigned).
REMINDER_KINDS_FOR_LEADS = frozenset(
    {
        ReminderKind.REPORT_OVERDUE,
        ReminderKind.PRESERVATION_UNCONFIRMED,
        ReminderKind.PRESERVATION_ENDING,
        ReminderKind.PRESERVATION_ENDED,
        ReminderKind.NCMEC_UNFINISHED,
    }
)
# Who hears of these: every lead only (law-enforcement requests are a lead's job); the first
# escalation's owner only when there is no active lead at all.
REMINDER_KINDS_LEADS_ONLY = LEGAL_REMINDER_KINDS


@dataclass(frozen=True)
class ReminderSpec:
    """A reminder of `kind` first due at `first_at`, then every `repeat` (if set) while it applies."""

    kind: ReminderKind
    first_at: datetime
    repeat: timedelta | None = None

    def latest_at_or_before(self, now: datetime) -> datetime | None:
        if now < self.first_at:
            return None
        if self.repeat is None:
            return self.first_at
        periods = (now - self.first_at) // self.repeat
        return self.first_at + periods * self.repeat

    def first_after(self, now: datetime) -> datetime | None:
        if now < self.first_at:
            return self.first_at
        if self.repeat is None:
            return None
        periods = (now - self.first_at) // self.repeat + 1
        return self.first_at + periods * self.repeat


REMINDER_DEADLINES = {
    ReminderKind.REPORT_DUE_SOON: DeadlineKind.REPORT,
    ReminderKind.REPORT_OVERDUE: DeadlineKind.REPORT,
    ReminderKind.PRESERVATION_UNCONFIRMED: DeadlineKind.PRESERVATION_CONFIRM,
    ReminderKind.PRESERVATION_ENDING: DeadlineKind.PRESERVATION_END,
    ReminderKind.PRESERVATION_ENDED: DeadlineKind.PRESERVATION_END,
}


def reminder_deadline_at(kind: str, esc: EscalationFacts, cfg: PolicyConfig) -> datetime | None:
    """The deadline a reminder is about (not the moment the reminder fell due). None for the legal
    kinds: their deadline is the request's response date, which the escalation does not carry."""
    if kind == ReminderKind.NCMEC_UNFINISHED:
        return _ncmec_deletion_of(esc)
    wanted = REMINDER_DEADLINES.get(ReminderKind(kind))
    if wanted is None:
        return None
    return next((d.due_at for d in deadlines(esc, cfg) if d.kind == wanted), None)


def reminder_plan(esc: EscalationFacts, cfg: PolicyConfig) -> list[ReminderSpec]:
    """Every reminder the escalation's current state calls for; a change of state (the report
    recorded, preservation confirmed, the escalation closed) changes the plan."""
    if esc.status in (CLOSED, DISMISSED):
        return []
    plan: list[ReminderSpec] = []
    if esc.reported_at is None:
        target = escalation_report_due_at(esc, cfg)
        plan.append(ReminderSpec(ReminderKind.REPORT_DUE_SOON, target - due_soon_window(esc.priority, cfg)))
        plan.append(ReminderSpec(ReminderKind.REPORT_OVERDUE, target, cfg.report_overdue_repeat))
        deletion = _ncmec_deletion_of(esc)
        if deletion is not None:
            # Once: a later change at NCMEC moves the deletion, and so the reminder (a new due_at).
            plan.append(ReminderSpec(ReminderKind.NCMEC_UNFINISHED, deletion - cfg.ncmec_unfinished_warning))
        return plan
    if esc.preservation_confirmed_at is None:
        plan.append(
            ReminderSpec(ReminderKind.PRESERVATION_UNCONFIRMED, preservation_confirm_due_at(esc.reported_at, cfg))
        )
    end = escalation_preserve_until(esc, cfg) or preservation_end(esc.reported_at, cfg)
    plan.extend(
        ReminderSpec(ReminderKind.PRESERVATION_ENDING, end - offset) for offset in cfg.preservation_ending_offsets
    )
    plan.append(ReminderSpec(ReminderKind.PRESERVATION_ENDED, end, cfg.preservation_ended_repeat))
    return plan


def due_reminders(esc: EscalationFacts, cfg: PolicyConfig, now: datetime) -> list[tuple[ReminderKind, datetime]]:
    """(kind, due_at) of every reminder due at or before `now`. A repeating reminder contributes only
    its latest occurrence: after a long outage one "still overdue" says all the missed ones would."""
    due = []
    for spec in reminder_plan(esc, cfg):
        at = spec.latest_at_or_before(now)
        if at is not None:
            due.append((spec.kind, at))
    return due


def next_reminder_at(esc: EscalationFacts, cfg: PolicyConfig, now: datetime) -> datetime | None:
    """When the sweep must next look at this escalation (None: never, as it stands)."""
    upcoming = [at for spec in reminder_plan(esc, cfg) if (at := spec.first_after(now)) is not None]
    return min(upcoming, default=None)


def reminder_still_applies(kind: str, due_at: datetime, esc: EscalationFacts, cfg: PolicyConfig, now: datetime) -> bool:
    """False for a reminder the record has overtaken (see why_overtaken)."""
    return why_overtaken(kind, due_at, esc, cfg, now) is None


def why_overtaken(kind: str, due_at: datetime, esc: EscalationFacts, cfg: PolicyConfig, now: datetime) -> str | None:
    """Why a recorded reminder must not be sent any more, in words for the timeline; None while it
    still applies. The legal kinds are about a request, not the escalation: see why_legal_overtaken."""
    if kind in LEGAL_REMINDER_KINDS:
        return None
    if esc.status == CLOSED:
        return "The escalation was closed."
    if esc.status == DISMISSED:
        return "The escalation was dismissed."
    plan = {spec.kind: spec for spec in reminder_plan(esc, cfg)}
    if kind == ReminderKind.NCMEC_UNFINISHED:
        if esc.reported_at is not None:
            return "The report was recorded, so it was finished at NCMEC."
        if kind not in plan:
            return "No unfinished NCMEC report is recorded any more."
        if _utc(due_at) != plan[ReminderKind.NCMEC_UNFINISHED].first_at:
            return "The report at NCMEC changed since; a reminder for its new deletion time replaces this one."
        deletion = _ncmec_deletion_of(esc)
        if deletion is not None and _utc(now) >= deletion:
            return "NCMEC deleted the unfinished report before this went out; the report reminders still apply."
        return None
    if kind not in plan:
        if kind in (ReminderKind.REPORT_DUE_SOON, ReminderKind.REPORT_OVERDUE):
            return "The report was recorded."
        if kind == ReminderKind.PRESERVATION_UNCONFIRMED:
            return "Preservation was confirmed."
        return "The deadline no longer applies."
    if kind == ReminderKind.REPORT_DUE_SOON and now > escalation_report_due_at(esc, cfg):
        return "The report target passed before it went out; the overdue reminder replaces it."
    if kind == ReminderKind.PRESERVATION_ENDING and esc.reported_at is not None:
        end = escalation_preserve_until(esc, cfg) or preservation_end(esc.reported_at, cfg)
        if now >= end:
            return "The preservation period ended before it went out; the ended reminder replaces it."
        # "30 days left" gives way to "7 days left" once that one is due too (after an outage, or a
        # report recorded late): one message per deadline, the latest stage.
        if any(_utc(due_at) < end - offset <= now for offset in cfg.preservation_ending_offsets):
            return "A later reminder of the same deadline was due; it replaces this one."
    return None


# --- Legal requests' response dates ------------------------------------------------------------------


def legal_reminder_plan(response_due_at: datetime, cfg: PolicyConfig) -> list[ReminderSpec]:
    """A legal request's reminders: due soon (24 h before the response date), then overdue at the
    response date and every day after while the request stays open."""
    due = _utc(response_due_at)
    return [
        ReminderSpec(ReminderKind.LEGAL_RESPONSE_DUE_SOON, due - cfg.legal_response_due_soon),
        ReminderSpec(ReminderKind.LEGAL_RESPONSE_OVERDUE, due, cfg.legal_response_overdue_repeat),
    ]


def legal_due_reminders(
    status: str, response_due_at: datetime | None, cfg: PolicyConfig, now: datetime
) -> list[tuple[ReminderKind, datetime]]:
    """(kind, due_at) of a legal request's reminders due at `now`: none unless it is open with a
    response date. The due-soon one is left out once the response date has passed (the overdue one
    says more); a repeating one contributes its latest occurrence, as for escalations."""
    if status != OPEN or response_due_at is None:
        return []
    now = _utc(now)
    due = []
    for spec in legal_reminder_plan(response_due_at, cfg):
        if spec.kind == ReminderKind.LEGAL_RESPONSE_DUE_SOON and now > _utc(response_due_at):
            continue
        at = spec.latest_at_or_before(now)
        if at is not None:
            due.append((spec.kind, at))
    return due


def legal_reminder_matches(kind: str, due_at: datetime, response_due_at: datetime | None, cfg: PolicyConfig) -> bool:
    """Whether a recorded reminder (kind, due_at) is one of a request's with this response date: the
    Reminder row names the escalation, not the request, so the request is found by its date."""
    if response_due_at is None or kind not in LEGAL_REMINDER_KINDS:
        return False
    due, at = _utc(response_due_at), _utc(due_at)
    if kind == ReminderKind.LEGAL_RESPONSE_DUE_SOON:
        return at == due - cfg.legal_response_due_soon
    return at >= due and (at - due) % cfg.legal_response_overdue_repeat == timedelta(0)


class LegalRequestFacts(Protocol):
    """What the cancellation rule reads from a legal request; the model satisfies it."""

    @property
    def key(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def response_due_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class LegalReminderFacts:
    """A LegalRequestFacts test double."""

    key: str
    status: str
    response_due_at: datetime | None


LEGAL_STATUS_WORDS = {"responded": "was answered", "closed": "was closed"}


def why_legal_overtaken(
    kind: str, due_at: datetime, requests: Sequence[LegalRequestFacts], cfg: PolicyConfig, now: datetime
) -> str | None:
    """Why a legal reminder must not be sent any more ("LR-00001 was answered."); None while one of
    the requests it is about is still open and its stage still applies. `requests`: the requests
    whose first escalation carries the reminder (any status)."""
    about = [r for r in requests if legal_reminder_matches(kind, due_at, r.response_due_at, cfg)]
    if not about:
        return "No legal request is due at that time any more (its response date changed)."
    still_open = [r for r in about if r.status == OPEN]
    if not still_open:
        return " ".join(f"{r.key} {LEGAL_STATUS_WORDS.get(r.status, 'is no longer open')}." for r in about)
    if kind == ReminderKind.LEGAL_RESPONSE_DUE_SOON and all(
        _utc(now) > _utc(r.response_due_at) for r in still_open if r.response_due_at is not None
    ):
        return "The response date passed before it went out; the overdue reminder replaces it."
    return None
