"""How long evidence is kept: 18 U.S.C. 2258A(h)'s year after the report, 2703(f) holds and their
renewals, voluntary extensions, destinations' minimums and retention caps (the EU's), and conflicts
between a hold and a cap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from escalations.policy.base import (
    PolicyConfig,
    as_utc,
)
from escalations.policy.calendar import add_calendar_months, add_calendar_years
from escalations.policy.rules import ncmec_preservation_minimum


def calendar_years(count: int) -> str:
    """ "one calendar year", "2 calendar years": as a person writes it."""
    return "one calendar year" if count == 1 else f"{count} calendar years"


def preservation_confirm_due_at(reported_at: datetime, cfg: PolicyConfig) -> datetime:
    return as_utc(reported_at) + cfg.preservation_confirm_window


def preservation_end(reported_at: datetime, cfg: PolicyConfig) -> datetime:
    """End of the 2258A(h) preservation period: the platform's calendar years (a setting) after the
    report, or the rule in force when the report was completed (cfg.rules), whichever is later: the
    setting may keep evidence longer than the law, never shorter."""
    end = add_calendar_years(reported_at, cfg.preservation_years)
    minimum = ncmec_preservation_minimum(cfg.rules, reported_at)
    return max(end, minimum[0]) if minimum is not None else end


def legal_hold_until(kind: str, received_at: datetime, renewed_hold_until: datetime | None) -> datetime | None:
    """The preservation a 2703(f) request holds (18 U.S.C. 2703(f)(2)): 90 days from its receipt; a
    renewal, 90 more days from the end of the period it renews. Other legal process holds nothing of
    its own (it blocks release while open)."""
    if kind == PRESERVATION_2703F:
        return as_utc(received_at) + HOLD_2703F
    if kind == RENEWAL_2703F:
        start = as_utc(renewed_hold_until) if renewed_hold_until is not None else as_utc(received_at)
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
                f"18 U.S.C. 2258A(h): {calendar_years(cfg.preservation_years)} after the report",
                preservation_end(reported_at, cfg),
            )
        )
    rules.extend((label, as_utc(until)) for label, until in holds)
    rules.sort(key=lambda rule: rule[1], reverse=True)
    return [RetentionRule(label, until, deciding=index == 0) for index, (label, until) in enumerate(rules)]


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
        return as_utc(reported_at) + timedelta(days=amount)
    return None


def destination_preservation_label(name: str, rule: str, amount: int) -> str:
    """'Police (Canada): 21 days after the report', for the rule-by-rule account."""
    if rule == YEARS_AFTER_REPORT:
        unit = "calendar year" if amount == 1 else "calendar years"
    else:
        unit = "day" if amount == 1 else "days"
    return f"{name}: {amount} {unit} after the report"


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
        RetentionConflict(cap_label, as_utc(cap_until), minimum_label, as_utc(minimum_until))
        for cap_label, cap_until in caps
        for minimum_label, minimum_until in minimums
        if as_utc(cap_until) < as_utc(minimum_until)
    ]
    conflicts.sort(key=lambda c: (c.cap_until, -c.minimum_until.timestamp()))
    return conflicts


HOLD_2703F = timedelta(days=90)


PRESERVATION_2703F = "2703f_preservation"


RENEWAL_2703F = "2703f_renewal"
