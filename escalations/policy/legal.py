"""Law-enforcement requests' response dates: when to remind, and when a reminder no longer applies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from escalations.policy.base import (
    OPEN,
    PolicyConfig,
    as_utc,
)
from escalations.policy.reminders import LEGAL_REMINDER_KINDS, ReminderKind, ReminderSpec


def legal_reminder_plan(response_due_at: datetime, cfg: PolicyConfig) -> list[ReminderSpec]:
    """A legal request's reminders: due soon (24 h before the response date), then overdue at the
    response date and every day after while the request stays open."""
    due = as_utc(response_due_at)
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
    now = as_utc(now)
    due = []
    for spec in legal_reminder_plan(response_due_at, cfg):
        if spec.kind == ReminderKind.LEGAL_RESPONSE_DUE_SOON and now > as_utc(response_due_at):
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
    due, at = as_utc(response_due_at), as_utc(due_at)
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
        as_utc(now) > as_utc(r.response_due_at) for r in still_open if r.response_due_at is not None
    ):
        return "The response date passed before it went out; the overdue reminder replaces it."
    return None
