"""NCMEC's unfinished-report timer: a report not submitted is deleted 24 hours after it was opened, or
an hour after its last change, whichever comes first."""

from __future__ import annotations

from datetime import datetime, timedelta

from escalations.policy.base import (
    DeadlineState,
    EscalationFacts,
    PolicyConfig,
    as_utc,
)
from escalations.policy.ncmec_submission import COUNTDOWN_STOPPED, FINISHED

NCMEC_UNFINISHED_LIFETIME = timedelta(hours=24)


NCMEC_AFTER_LAST_CHANGE = timedelta(hours=1)


def ncmec_deletion_at(opened_at: datetime | None, last_change_at: datetime | None) -> datetime | None:
    """When NCMEC deletes a report opened through its API but not finished: 24 hours after opening
    or 1 hour after its last change, whichever is later (DOMAIN.md). None when none was opened."""
    if opened_at is None:
        return None
    last = last_change_at if last_change_at is not None else opened_at
    return max(as_utc(opened_at) + NCMEC_UNFINISHED_LIFETIME, as_utc(last) + NCMEC_AFTER_LAST_CHANGE)


def ncmec_unfinished_state(
    opened_at: datetime | None,
    last_change_at: datetime | None,
    reported_at: datetime | None,
    now: datetime,
    cfg: PolicyConfig,
    submission_state: str = "",
) -> DeadlineState:
    """Not applicable (no report opened at NCMEC, or it was retracted or deleted), met (finished: the
    report was recorded), on track, due soon (within the warning before deletion), or overdue: from
    the deletion time on, NCMEC may have deleted it (at the very moment we already assume it has)."""
    deletion = ncmec_deletion_at(opened_at, last_change_at)
    if deletion is None:
        return DeadlineState.NOT_APPLICABLE
    if reported_at is not None or submission_state == FINISHED:
        return DeadlineState.MET
    if submission_state in COUNTDOWN_STOPPED:
        return DeadlineState.NOT_APPLICABLE
    now = as_utc(now)
    if now >= deletion:
        return DeadlineState.OVERDUE
    if now >= deletion - cfg.ncmec_unfinished_warning:
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TRACK


def ncmec_deletion_of(esc: EscalationFacts) -> datetime | None:
    """The deletion moment while the countdown runs: none once the report was finished, retracted or
    deleted (then nothing is owed to the timer: no reminder, no "Finish NCMEC report")."""
    if getattr(esc, "ncmec_submission_state", "") in COUNTDOWN_STOPPED:
        return None
    return ncmec_deletion_at(getattr(esc, "ncmec_opened_at", None), getattr(esc, "ncmec_last_change_at", None))
