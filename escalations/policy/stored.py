"""The derived columns an escalation stores so that queues and the sweep can select by index."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from escalations.policy.actions import RANK_NONE, next_action
from escalations.policy.base import (
    EscalationFacts,
    PolicyConfig,
)
from escalations.policy.deadlines import (
    escalation_preserve_until,
    escalation_report_due_at,
    next_deadline,
    reported_on_time,
    seconds_to_report,
)
from escalations.policy.preservation import (
    preservation_confirm_due_at,
)
from escalations.policy.reminders import reminder_plan


class StoredColumns(TypedDict):
    report_due_at: datetime
    preservation_confirm_due_at: datetime | None
    preserve_until: datetime | None
    next_deadline_at: datetime | None
    next_deadline_soon_at: datetime | None
    next_reminder_at: datetime | None
    report_seconds: int | None
    reported_on_time: bool | None
    next_action: str
    next_action_rank: int
    next_action_due_at: datetime | None


def stored_columns(esc: EscalationFacts, cfg: PolicyConfig) -> StoredColumns:
    """The derived, indexed columns the services write on every change."""
    upcoming = next_deadline(esc, cfg)
    action = next_action(esc, cfg)
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
        # What the queues sort by: (rank, due moment), one index (policy/actions.py).
        "next_action": action.kind.value if action else "",
        "next_action_rank": action.rank if action else RANK_NONE,
        "next_action_due_at": action.due_at if action else None,
    }
