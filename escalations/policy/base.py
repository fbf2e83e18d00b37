"""The words every rule is written in: statuses and priorities as plain strings, deadline kinds and
states, the settings the rules read (PolicyConfig) and the facts of an escalation they need.

The policy package is pure: no ORM, no clock (`now` is always an argument). All datetimes in and out
are timezone-aware; arithmetic happens in UTC so that a target of 24 hours is 24 elapsed hours across
a daylight-saving change. Where a rule can be read two ways, we keep the evidence the longer way
(DOMAIN.md)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from escalations.policy.escalation_steps import DEFAULT_ESCALATION_RULES, EscalationRule, parse_escalation_policy

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
    # A knowledge time nobody has confirmed (an escalation Coop's report created): reminded when it
    # arrives, then every `repeat` until someone confirms it.
    knowledge_confirm_repeat: timedelta = timedelta(hours=24)
    # Where a reminder nobody acknowledged goes next, and when (escalation_steps.py).
    escalation_rules: tuple[EscalationRule, ...] = DEFAULT_ESCALATION_RULES
    # The rules as dated data (escalations.core.rulebook loads them; one version per rule code). None
    # here means the settings alone decide, as before rules were data: the platform's targets stay
    # settings either way; a rule adds a legal limit or minimum (see policy/rules.py).
    # Typed loosely: policy/rules.py imports this module, so naming its RuleData here would make an
    # import circle; its functions take Sequence[RuleData].
    rules: tuple[Any, ...] = ()

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
            knowledge_confirm_repeat=timedelta(hours=settings.KNOWLEDGE_CONFIRM_REPEAT_HOURS),
            escalation_rules=escalation_rules_from_settings(settings.ESCALATION_POLICY),
        )


def escalation_rules_from_settings(raw: dict[str, Any]) -> tuple[EscalationRule, ...]:
    """The ESCALATION_POLICY setting as rules (escalation_steps.parse_escalation_policy)."""
    return parse_escalation_policy(raw)


class EscalationFacts(Protocol):
    """What the rules read from an escalation; the model satisfies it, and so does a test double.
    Optional facts some rules read with getattr (a double may lack them): destination targets,
    `preservation_hold_until`, `legal_response_due_at`, NCMEC's timer, and
    `knowledge_unconfirmed_since` (set while nobody has confirmed `knowledge_at`)."""

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
    now = as_utc(now)
    if now > due_at:
        return DeadlineState.OVERDUE
    if soon_at is not None and now >= soon_at:
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TRACK


def knowledge_unconfirmed_since(esc: EscalationFacts) -> datetime | None:
    """When an unconfirmed knowledge time was stored (an escalation Coop's report created); None
    once someone confirmed it, and for every escalation a person logged."""
    since: datetime | None = getattr(esc, "knowledge_unconfirmed_since", None)
    return as_utc(since) if since is not None else None


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: policy functions need timezone-aware datetimes")
    return value.astimezone(UTC)
