"""Rules as dated data: which rule applies on the day a clock starts, the moment it sets, and which
rules judged an escalation. The rules come in as plain RuleData (escalations.core.rulebook reads the
rows); this module never reads a database or a clock.

A rule applies to a clock that starts at a moment inside [effective_from, effective_to) unless it is
pending (not law yet). Where two rules of one obligation apply, the one that keeps evidence longest
decides a minimum, the earliest decides a deadline (DOMAIN.md: keep the evidence the longer way)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from escalations.policy.base import URGENT, as_utc
from escalations.policy.calendar import add_calendar_months, add_calendar_years

# The values of escalations.models.rules' choices, as plain strings (this module imports no Django).
PENDING = "pending"
IN_FORCE = "in_force"
LAPSED = "lapsed"

REPORT = "report"
NOTIFY = "notify"
PRESERVE = "preserve"
PRESERVE_VOLUNTARY = "preserve_voluntary"
RETAIN_REFERENCE = "retain_reference"
PHONE_FOLLOW_UP = "phone_follow_up"
UNFINISHED_DELETION = "unfinished_deletion"
RETENTION_CAP = "retention_cap"

TARGET = "target"
DEADLINE = "deadline"
MINIMUM = "minimum"
CAP = "cap"
WINDOW = "window"
PERMISSION = "permission"

HOURS = "hours"
DAYS = "days"
CALENDAR_MONTHS = "calendar_months"
CALENDAR_YEARS = "calendar_years"

KNOWLEDGE = "knowledge"
NCMEC_REPORT = "ncmec_report"
AUTHORITY_REPORT = "authority_report"
NCMEC_OPENED = "ncmec_opened"

NCMEC = "ncmec"

# The deadlines an escalation's rule links name (EscalationRule.deadline).
JUDGED_REPORT = "report"
JUDGED_REPORT_LIMIT = "report_limit"
JUDGED_PRESERVATION_END = "preservation_end"
JUDGED_NCMEC_DELETION = "ncmec_deletion"


@dataclass(frozen=True)
class RuleData:
    """One version of one rule, as the policy reads it."""

    id: int
    code: str
    version: int
    regime: str
    authority: str
    obligation: str
    title: str
    clock_start: str
    limit: str
    citation: str
    link_text: str
    status: str
    certainty: str
    amount: int | None = None
    second_amount: int | None = None
    unit: str = "none"
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    window_start: time | None = None
    window_end: time | None = None
    time_zone: str = ""
    applies_to: str = ""

    def in_force_at(self, moment: datetime) -> bool:
        """Whether a clock starting at `moment` is governed by this rule: not pending, and
        effective_from <= moment < effective_to (either end may be open)."""
        if self.status == PENDING:
            return False
        at = as_utc(moment)
        if self.effective_from is not None and at < as_utc(self.effective_from):
            return False
        return not (self.effective_to is not None and at >= as_utc(self.effective_to))

    def until(self, start: datetime, *, second: bool = False) -> datetime | None:
        """The moment the rule sets for a clock started at `start` (its second amount when asked:
        the urgent target, NCMEC's hour after the last change); None when it sets no duration."""
        return add_duration(start, self.second_amount if second else self.amount, self.unit)

    @property
    def duration_words(self) -> str:
        if self.limit == WINDOW and self.window_start and self.window_end:
            return f"outside {self.window_start:%H:%M}-{self.window_end:%H:%M} {self.time_zone}"
        if self.amount is None:
            return "a target the platform sets" if self.limit == TARGET else "no fixed duration"
        return duration_words(self.amount, self.unit)


def duration_words(amount: int, unit: str) -> str:
    words = {HOURS: "hour", DAYS: "day", CALENDAR_MONTHS: "calendar month", CALENDAR_YEARS: "calendar year"}
    word = words.get(unit, unit)
    return f"{amount} {word}{'' if amount == 1 else 's'}"


def add_duration(start: datetime, amount: int | None, unit: str) -> datetime | None:
    """`start` plus a rule's duration. Hours and days are elapsed time (a day is 24 hours, across any
    daylight-saving change); calendar years and months count in UTC like the 2258A(h) year."""
    if amount is None:
        return None
    start = as_utc(start)
    if unit == HOURS:
        return start + timedelta(hours=amount)
    if unit == DAYS:
        return start + timedelta(days=amount)
    if unit == CALENDAR_YEARS:
        return add_calendar_years(start, amount)
    if unit == CALENDAR_MONTHS:
        return add_calendar_months(start, amount)
    return None


def latest_versions(rules: Iterable[RuleData], pinned: Iterable[int] = ()) -> tuple[RuleData, ...]:
    """One version per rule code: the pinned version where an escalation was judged by one (its id in
    `pinned`), else the highest."""
    pins = set(pinned)
    chosen: dict[str, RuleData] = {}
    for rule in rules:
        held = chosen.get(rule.code)
        if held is not None and held.id in pins:
            continue
        if held is None or rule.id in pins or rule.version > held.version:
            chosen[rule.code] = rule
    return tuple(sorted(chosen.values(), key=lambda r: (r.regime, r.code)))


def in_force(
    rules: Iterable[RuleData], *, obligation: str, authority: str, at: datetime, limit: str | None = None
) -> list[RuleData]:
    """The rules of one obligation owed to one authority that govern a clock starting at `at`."""
    return [
        r
        for r in rules
        if r.obligation == obligation
        and r.authority == authority
        and (limit is None or r.limit == limit)
        and r.in_force_at(at)
    ]


def statutory_report_limit(rules: Sequence[RuleData], knowledge_at: datetime) -> tuple[datetime, RuleData] | None:
    """The earliest legal deadline for the CyberTipline report (none today: 2258A says "as soon as
    reasonably possible"; the STOP CSAM Act's 60 days would be one), for knowledge at `knowledge_at`."""
    found = [
        (until, r)
        for r in in_force(rules, obligation=REPORT, authority=NCMEC, at=knowledge_at, limit=DEADLINE)
        if (until := r.until(knowledge_at)) is not None
    ]
    return min(found, key=lambda pair: pair[0], default=None)


def report_target_rule(rules: Sequence[RuleData], knowledge_at: datetime) -> RuleData | None:
    """The rule the platform's report target serves (2258A's "as soon as reasonably possible")."""
    found = in_force(rules, obligation=REPORT, authority=NCMEC, at=knowledge_at, limit=TARGET)
    return found[0] if found else None


def ncmec_preservation_minimum(rules: Sequence[RuleData], reported_at: datetime) -> tuple[datetime, RuleData] | None:
    """The longest preservation a rule in force when the report was completed requires (2258A(h):
    one calendar year since 7 May 2024, 90 days before)."""
    found = [
        (until, r)
        for r in in_force(rules, obligation=PRESERVE, authority=NCMEC, at=reported_at, limit=MINIMUM)
        if r.clock_start == NCMEC_REPORT and (until := r.until(reported_at)) is not None
    ]
    return max(found, key=lambda pair: pair[0], default=None)


def authority_preservation(
    rules: Sequence[RuleData], authority: str, reported_at: datetime
) -> tuple[datetime, RuleData] | None:
    """The longest preservation owed after a report (or notification) to `authority` at
    `reported_at`: Canada's police 21 days, the NCA's year for content."""
    found = [
        (until, r)
        for r in in_force(rules, obligation=PRESERVE, authority=authority, at=reported_at, limit=MINIMUM)
        if r.clock_start == AUTHORITY_REPORT and (until := r.until(reported_at)) is not None
    ]
    return max(found, key=lambda pair: pair[0], default=None)


def retention_cap(
    rules: Sequence[RuleData], authority: str, knowledge_at: datetime
) -> tuple[datetime, RuleData] | None:
    """The earliest cap on retention in force at detection (the EU interim regime's 12 months)."""
    found = [
        (until, r)
        for r in in_force(rules, obligation=RETENTION_CAP, authority=authority, at=knowledge_at, limit=CAP)
        if (until := r.until(knowledge_at)) is not None
    ]
    return min(found, key=lambda pair: pair[0], default=None)


def ncmec_deletion_by_rule(rule: RuleData, opened_at: datetime, last_change_at: datetime | None) -> datetime | None:
    """NCMEC's deletion of an unfinished report under `rule`: `amount` hours after opening or
    `second_amount` hours after the last change, whichever is later."""
    opened = rule.until(opened_at)
    after_change = rule.until(last_change_at if last_change_at is not None else opened_at, second=True)
    moments = [m for m in (opened, after_change) if m is not None]
    return max(moments, default=None)


def outside_window(rule: RuleData, moment: datetime) -> bool:
    """Whether `moment` falls outside the rule's local time-of-day window (the NCA's 07:00-17:00 UK
    time, by the clock on the wall in London: BST in summer, GMT in winter). The window includes its
    start and excludes its end: a report at 17:00:00 is out of hours, so the phone call is owed (the
    reading that asks more of the platform, as a call costs little and a missed one much)."""
    if rule.window_start is None or rule.window_end is None or not rule.time_zone:
        return False
    local = as_utc(moment).astimezone(ZoneInfo(rule.time_zone)).time()
    return not (rule.window_start <= local < rule.window_end)


def phone_follow_up_owed(
    rules: Sequence[RuleData], authority: str, nca_priority: str, reported_at: datetime
) -> RuleData | None:
    """The rule that asks for a phone call after a report of priority `nca_priority` (P1, P2, P3)
    made at `reported_at`, or None when no call is owed."""
    for rule in in_force(rules, obligation=PHONE_FOLLOW_UP, authority=authority, at=reported_at, limit=WINDOW):
        priorities = {p.strip() for p in rule.applies_to.split(",") if p.strip()}
        if nca_priority in priorities and outside_window(rule, reported_at):
            return rule
    return None


def judged_by(
    rules: Sequence[RuleData], knowledge_at: datetime, reported_at: datetime | None, ncmec_opened_at: datetime | None
) -> dict[int, str]:
    """{rule id: which deadline it decided} for an escalation's own deadlines: the report target's
    rule and any legal report limit (at knowledge), the 2258A(h) minimum (at the report), NCMEC's
    unfinished-report deletion (when a report was opened)."""
    found: dict[int, str] = {}
    target = report_target_rule(rules, knowledge_at)
    if target is not None:
        found[target.id] = JUDGED_REPORT
    limit = statutory_report_limit(rules, knowledge_at)
    if limit is not None:
        found[limit[1].id] = JUDGED_REPORT_LIMIT
    if reported_at is not None:
        minimum = ncmec_preservation_minimum(rules, reported_at)
        if minimum is not None:
            found[minimum[1].id] = JUDGED_PRESERVATION_END
    if ncmec_opened_at is not None:
        for rule in in_force(rules, obligation=UNFINISHED_DELETION, authority=NCMEC, at=ncmec_opened_at):
            found[rule.id] = JUDGED_NCMEC_DELETION
    return found


def as_if_in_force(rule: RuleData, effective_from: datetime | None) -> RuleData:
    """A pending rule as it would read once in force (from `effective_from`, or always), for the
    preview of what it would change."""
    return replace(rule, status=IN_FORCE, effective_from=effective_from)


def priority_words(priority: str) -> str:
    return "urgent" if priority == URGENT else "standard"
