"""What must be done first for an escalation: its next action, a rank and the moment it is due.

Queues sort by (rank, due moment), so a job of a more pressing kind always sits above one of a less
pressing kind, however long the latter has been waiting: an urgent report due in a minute above a
preservation chore 79 days late. The ranks, most pressing first:

1. the report of an urgent escalation (a child may be in imminent danger);
2. the report of a standard escalation;
3. a law-enforcement request's response date (the escalation's earliest open one);
4. confirming that the content is preserved;
5. the end of preservation (close, or extend the hold).

NCMEC's deletion of an unfinished report applies only while the report is not filed, so it belongs to
the report's own rank: when NCMEC would delete the draft before the report target, the action is
"Finish NCMEC report", due at the deletion (finishing the draft is filing the report), and it sorts
within its rank by that earlier moment. Closed and dismissed escalations have no action (rank 9).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from escalations.policy.base import (
    CLOSED,
    DISMISSED,
    URGENT,
    EscalationFacts,
    PolicyConfig,
    as_utc,
)
from escalations.policy.deadlines import escalation_preserve_until, escalation_report_due_at
from escalations.policy.ncmec import ncmec_deletion_of
from escalations.policy.preservation import preservation_confirm_due_at


class ActionKind(enum.StrEnum):
    FILE_REPORT = "file_report"
    FINISH_NCMEC_REPORT = "finish_ncmec_report"
    RESPOND_LEGAL = "respond_legal"
    CONFIRM_PRESERVATION = "confirm_preservation"
    PRESERVATION_END = "preservation_end"


ACTION_LABELS = {
    ActionKind.FILE_REPORT: "File report",
    ActionKind.FINISH_NCMEC_REPORT: "Finish NCMEC report",
    ActionKind.RESPOND_LEGAL: "Respond to legal request",
    ActionKind.CONFIRM_PRESERVATION: "Confirm preservation",
    ActionKind.PRESERVATION_END: "Close or extend preservation",
}
ACTION_CHOICES = [(kind.value, label) for kind, label in ACTION_LABELS.items()]

RANK_URGENT_REPORT = 1
RANK_REPORT = 2
RANK_LEGAL_RESPONSE = 3
RANK_CONFIRM_PRESERVATION = 4
RANK_PRESERVATION_END = 5
# Stored for closed and dismissed escalations: below every action, and never null, so that one plain
# ascending index serves the queues on every database.
RANK_NONE = 9


@dataclass(frozen=True)
class NextAction:
    kind: ActionKind
    rank: int
    due_at: datetime

    @property
    def label(self) -> str:
        return ACTION_LABELS[self.kind]


def next_action(esc: EscalationFacts, cfg: PolicyConfig) -> NextAction | None:
    """The most pressing thing to do for `esc` (see the module's docstring); None when nothing is."""
    if esc.status in (CLOSED, DISMISSED):
        return None
    if esc.reported_at is None:
        rank = RANK_URGENT_REPORT if esc.priority == URGENT else RANK_REPORT
        due = escalation_report_due_at(esc, cfg)
        deletion = ncmec_deletion_of(esc)
        if deletion is not None and deletion < due:
            return NextAction(ActionKind.FINISH_NCMEC_REPORT, rank, deletion)
        return NextAction(ActionKind.FILE_REPORT, rank, due)
    legal_due = getattr(esc, "legal_response_due_at", None)
    if legal_due is not None:
        return NextAction(ActionKind.RESPOND_LEGAL, RANK_LEGAL_RESPONSE, as_utc(legal_due))
    if esc.preservation_confirmed_at is None:
        return NextAction(
            ActionKind.CONFIRM_PRESERVATION,
            RANK_CONFIRM_PRESERVATION,
            preservation_confirm_due_at(esc.reported_at, cfg),
        )
    end = escalation_preserve_until(esc, cfg)
    if end is None:
        return None
    return NextAction(ActionKind.PRESERVATION_END, RANK_PRESERVATION_END, end)


def action_label(kind: str | None) -> str:
    """The words for a stored action kind ("" for none or an unknown one)."""
    try:
        return ACTION_LABELS[ActionKind(kind)] if kind else ""
    except ValueError:
        return ""
