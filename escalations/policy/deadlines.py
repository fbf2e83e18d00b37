"""An escalation's deadlines: the report target (urgent or standard, or the strictest destination's),
the preservation confirmation and end, NCMEC's unfinished-report deletion; each one's state at a moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from escalations.policy.base import (
    CLOSED,
    DISMISSED,
    URGENT,
    Deadline,
    DeadlineKind,
    DeadlineState,
    EscalationFacts,
    PolicyConfig,
    as_utc,
    knowledge_unconfirmed_since,
    state_at,
)
from escalations.policy.preservation import preservation_confirm_due_at, preservation_end
from escalations.policy.rules import statutory_report_limit


def escalation_report_due_at(esc: EscalationFacts, cfg: PolicyConfig) -> datetime:
    """The report target for this escalation: the platform's target, or a stricter one set by a
    destination it must also be reported to (stored on the escalation by the services), or a legal
    limit in force when knowledge was obtained (cfg.rules), whichever comes first."""
    due = report_due_at(esc.knowledge_at, esc.priority, cfg)
    hours = getattr(
        esc, "destination_urgent_target_hours" if esc.priority == URGENT else "destination_target_hours", None
    )
    if hours is not None:
        due = min(due, as_utc(esc.knowledge_at) + timedelta(hours=hours))
    limit = statutory_report_limit(cfg.rules, esc.knowledge_at)
    if limit is not None:
        due = min(due, limit[0])
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
        candidates.append(as_utc(hold))
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
            met_at=max(as_utc(confirmed), as_utc(esc.reported_at)) if confirmed and esc.reported_at else None,
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
    """Whether the report was recorded at or before its target; None while unreported, and while
    the knowledge time is unconfirmed (a placeholder would always look in time)."""
    if esc.reported_at is None or knowledge_unconfirmed_since(esc) is not None:
        return None
    return as_utc(esc.reported_at) <= escalation_report_due_at(esc, cfg)


def seconds_to_report(esc: EscalationFacts) -> int | None:
    """Whole seconds from actual knowledge to the report (never negative); None while unreported, and
    while the knowledge time is unconfirmed: the figures count only times someone vouched for."""
    if esc.reported_at is None or knowledge_unconfirmed_since(esc) is not None:
        return None
    return max(0, int((as_utc(esc.reported_at) - as_utc(esc.knowledge_at)).total_seconds()))


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


def report_target(priority: str, cfg: PolicyConfig) -> timedelta:
    return cfg.urgent_report_target if priority == URGENT else cfg.report_target


def report_due_at(knowledge_at: datetime, priority: str, cfg: PolicyConfig) -> datetime:
    """The internal target for filing the report: elapsed time from actual knowledge (UTC)."""
    return as_utc(knowledge_at) + report_target(priority, cfg)


def due_soon_window(priority: str, cfg: PolicyConfig) -> timedelta:
    return cfg.urgent_due_soon if priority == URGENT else cfg.due_soon
