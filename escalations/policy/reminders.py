"""Which reminders an escalation is owed, when each is due, who hears of it, and when one no longer
applies because its deadline was met or moved."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from escalations.policy.base import (
    CLOSED,
    DISMISSED,
    REPORTED,
    URGENT,
    DeadlineKind,
    EscalationFacts,
    PolicyConfig,
    as_utc,
    knowledge_unconfirmed_since,
)
from escalations.policy.deadlines import deadlines, due_soon_window, escalation_preserve_until, escalation_report_due_at
from escalations.policy.escalation_steps import STEP_KIND, step_moments
from escalations.policy.ncmec import ncmec_deletion_of
from escalations.policy.preservation import preservation_confirm_due_at, preservation_end


class ReminderKind(enum.StrEnum):
    REPORT_DUE_SOON = "report_due_soon"
    REPORT_OVERDUE = "report_overdue"
    PRESERVATION_UNCONFIRMED = "preservation_unconfirmed"
    PRESERVATION_ENDING = "preservation_ending"
    PRESERVATION_ENDED = "preservation_ended"
    NCMEC_UNFINISHED = "ncmec_unfinished"
    LEGAL_RESPONSE_DUE_SOON = "legal_response_due_soon"
    LEGAL_RESPONSE_OVERDUE = "legal_response_overdue"
    URGENT_LOGGED = "urgent_logged"
    RELEASE_REQUESTED = "release_requested"
    KNOWLEDGE_UNCONFIRMED = "knowledge_unconfirmed"
    # Escalation steps (escalation_steps.py): a reminder nobody acknowledged, sent further.
    ESCALATED_TO_LEADS = "escalated_to_leads"
    ESCALATED_TO_PAGERDUTY = "escalated_to_pagerduty"
    # The authority register: a filing with an authority besides NCMEC (policy/authorities.py).
    AUTHORITY_DUE_SOON = "authority_due_soon"
    AUTHORITY_OVERDUE = "authority_overdue"


REMINDER_LABELS = {
    ReminderKind.REPORT_DUE_SOON: "Report due soon",
    ReminderKind.REPORT_OVERDUE: "Report overdue",
    ReminderKind.PRESERVATION_UNCONFIRMED: "Preservation not confirmed",
    ReminderKind.PRESERVATION_ENDING: "Preservation period ending",
    ReminderKind.PRESERVATION_ENDED: "Preservation period ended: close or extend",
    ReminderKind.NCMEC_UNFINISHED: "Unfinished NCMEC report will be deleted: finish it",
    ReminderKind.LEGAL_RESPONSE_DUE_SOON: "Legal request response due soon",
    ReminderKind.LEGAL_RESPONSE_OVERDUE: "Legal request response overdue",
    ReminderKind.URGENT_LOGGED: "Urgent escalation logged: a child may be in imminent danger",
    ReminderKind.RELEASE_REQUESTED: "Release requested: a different lead approves",
    ReminderKind.KNOWLEDGE_UNCONFIRMED: "Reported via Coop: confirm when knowledge was obtained",
    ReminderKind.ESCALATED_TO_LEADS: "Escalated to every lead: overdue and nobody acknowledged it",
    ReminderKind.ESCALATED_TO_PAGERDUTY: "Escalated to the teams' PagerDuty: overdue and nobody acknowledged it",
    ReminderKind.AUTHORITY_DUE_SOON: "Report to an authority due soon",
    ReminderKind.AUTHORITY_OVERDUE: "Report to an authority overdue",
}
# The reminder table\'s choices: the same kinds and labels, as Django wants them.
REMINDER_CHOICES = [(kind.value, REMINDER_LABELS[kind]) for kind in ReminderKind]


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
        # Coop's report made the escalation, so nobody may have it yet: a lead assigns it.
        ReminderKind.KNOWLEDGE_UNCONFIRMED,
        ReminderKind.AUTHORITY_OVERDUE,
    }
)


# Who hears of these: every lead only (law-enforcement requests are a lead's job, and a new urgent
# escalation is news to every lead, not to whoever just logged it); the escalation's owner only when
# there is no active lead at all.
REMINDER_KINDS_LEADS_ONLY = LEGAL_REMINDER_KINDS | {ReminderKind.URGENT_LOGGED, ReminderKind.ESCALATED_TO_LEADS}


# Escalation steps: each is sent once per deadline, to whom its step names (the sweep: leads, or the
# PagerDuty services of the assignee's teams, falling back to every lead when no team has one).
STEP_REMINDER_KINDS = frozenset({ReminderKind.ESCALATED_TO_LEADS, ReminderKind.ESCALATED_TO_PAGERDUTY})


# Only the PagerDuty services of the assignee's teams hear of these (every lead when none has one).
REMINDER_KINDS_TEAM_PAGERDUTY_ONLY = frozenset({ReminderKind.ESCALATED_TO_PAGERDUTY})


# Sent at most once per escalation, whatever moment they were first due: a later edit of the
# knowledge time, or urgent -> standard -> urgent, is not news again.
REMINDER_KINDS_ONCE = frozenset({ReminderKind.URGENT_LOGGED})


# A reminder already recorded for a deadline stands for that deadline while it moves by at most this
# much (an edit that rewrote the seconds of a time, say): not sent again. A deadline that moved by more
# is a new deadline, and its reminders go out again at their new moments.
SAME_DEADLINE_TOLERANCE = timedelta(minutes=1)


def same_reminder(kind: str, recorded_due_at: datetime, due_at: datetime) -> bool:
    """Whether a reminder recorded (not cancelled) as (kind, recorded_due_at) already stands for the
    reminder (kind, due_at) the plan now calls for."""
    if kind in REMINDER_KINDS_ONCE:
        return True
    return abs(as_utc(recorded_due_at) - as_utc(due_at)) <= SAME_DEADLINE_TOLERANCE


# Not about a deadline: the moment a lead asks for a release, every other lead hears of it (the
# service that records the request writes this reminder and its deliveries; the sweep sends them).
# Its due moment is the request's own time.
EVENT_REMINDER_KINDS = frozenset({ReminderKind.RELEASE_REQUESTED})


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
    ReminderKind.URGENT_LOGGED: DeadlineKind.REPORT,
    ReminderKind.REPORT_DUE_SOON: DeadlineKind.REPORT,
    ReminderKind.REPORT_OVERDUE: DeadlineKind.REPORT,
    ReminderKind.PRESERVATION_UNCONFIRMED: DeadlineKind.PRESERVATION_CONFIRM,
    ReminderKind.PRESERVATION_ENDING: DeadlineKind.PRESERVATION_END,
    ReminderKind.PRESERVATION_ENDED: DeadlineKind.PRESERVATION_END,
}


def step_source_kind(kind: str, cfg: PolicyConfig) -> str | None:
    """The reminder kind an escalation step escalates (the first rule that has such a step)."""
    for rule in cfg.escalation_rules:
        if any(STEP_KIND[step.to] == kind for step in rule.steps):
            return rule.kind
    return None


def reminder_deadline_at(kind: str, esc: EscalationFacts, cfg: PolicyConfig) -> datetime | None:
    """The deadline a reminder is about (not the moment the reminder fell due). None for the legal
    kinds: their deadline is the request's response date, which the escalation does not carry."""
    if kind in STEP_REMINDER_KINDS:
        source = step_source_kind(kind, cfg)
        return reminder_deadline_at(source, esc, cfg) if source else None
    if kind == ReminderKind.NCMEC_UNFINISHED:
        return ncmec_deletion_of(esc)
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
    unconfirmed = knowledge_unconfirmed_since(esc)
    if unconfirmed is not None:
        # Due the moment it was stored, so the next sweep asks; again every `repeat` until confirmed.
        plan.append(ReminderSpec(ReminderKind.KNOWLEDGE_UNCONFIRMED, unconfirmed, cfg.knowledge_confirm_repeat))
    if esc.reported_at is None:
        target = escalation_report_due_at(esc, cfg)
        if esc.priority == URGENT:
            # Due from the moment of knowledge, so the first sweep after logging sends it.
            plan.append(ReminderSpec(ReminderKind.URGENT_LOGGED, as_utc(esc.knowledge_at)))
        plan.append(ReminderSpec(ReminderKind.REPORT_DUE_SOON, target - due_soon_window(esc.priority, cfg)))
        plan.append(ReminderSpec(ReminderKind.REPORT_OVERDUE, target, cfg.report_overdue_repeat))
        deletion = ncmec_deletion_of(esc)
        if deletion is not None:
            # Once: a later change at NCMEC moves the deletion, and so the reminder (a new due_at).
            plan.append(ReminderSpec(ReminderKind.NCMEC_UNFINISHED, deletion - cfg.ncmec_unfinished_warning))
        return with_steps(plan, esc, cfg)
    if esc.preservation_confirmed_at is None:
        plan.append(
            ReminderSpec(ReminderKind.PRESERVATION_UNCONFIRMED, preservation_confirm_due_at(esc.reported_at, cfg))
        )
    end = escalation_preserve_until(esc, cfg) or preservation_end(esc.reported_at, cfg)
    plan.extend(
        ReminderSpec(ReminderKind.PRESERVATION_ENDING, end - offset) for offset in cfg.preservation_ending_offsets
    )
    plan.append(ReminderSpec(ReminderKind.PRESERVATION_ENDED, end, cfg.preservation_ended_repeat))
    return with_steps(plan, esc, cfg)


def with_steps(plan: list[ReminderSpec], esc: EscalationFacts, cfg: PolicyConfig) -> list[ReminderSpec]:
    """The plan with the escalation steps its reminders call for while nobody acknowledged them. A
    step kind appears once (the first rule that yields it)."""
    if not cfg.escalation_rules:
        return plan
    acknowledged_at = getattr(esc, "acknowledged_at", None)
    seen: set[str] = set()
    steps = []
    for spec in plan:
        for step_kind, at in step_moments(
            cfg.escalation_rules, spec.kind, esc.priority, spec.first_at, acknowledged_at
        ):
            if step_kind not in seen:
                seen.add(step_kind)
                steps.append(ReminderSpec(ReminderKind(step_kind), at))
    return plan + steps


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
    if kind == ReminderKind.RELEASE_REQUESTED:
        return why_release_request_overtaken(due_at, esc)
    if esc.status == CLOSED:
        return "The escalation was closed."
    if esc.status == DISMISSED:
        return "The escalation was dismissed."
    plan = {spec.kind: spec for spec in reminder_plan(esc, cfg)}
    if kind in STEP_REMINDER_KINDS and kind not in plan:
        if esc.reported_at is not None:
            return "The report was recorded."
        if getattr(esc, "acknowledged_at", None) is not None:
            return "Someone acknowledged the reminder before this step went out."
        return "The escalation policy no longer calls for this step."
    if kind == ReminderKind.NCMEC_UNFINISHED:
        if esc.reported_at is not None:
            return "The report was recorded, so it was finished at NCMEC."
        if kind not in plan:
            return "No unfinished NCMEC report is recorded any more."
        if not same_reminder(kind, due_at, plan[ReminderKind.NCMEC_UNFINISHED].first_at):
            return "The report at NCMEC changed since; a reminder for its new deletion time replaces this one."
        deletion = ncmec_deletion_of(esc)
        if deletion is not None and as_utc(now) >= deletion:
            return "NCMEC deleted the unfinished report before this went out; the report reminders still apply."
        return None
    if kind not in plan:
        if kind in (ReminderKind.REPORT_DUE_SOON, ReminderKind.REPORT_OVERDUE, ReminderKind.URGENT_LOGGED):
            if kind == ReminderKind.URGENT_LOGGED and esc.reported_at is None:
                return "The escalation is no longer urgent."
            return "The report was recorded."
        if kind == ReminderKind.PRESERVATION_UNCONFIRMED:
            return "Preservation was confirmed."
        if kind == ReminderKind.KNOWLEDGE_UNCONFIRMED:
            return "The knowledge time was confirmed."
        return "The deadline no longer applies."
    if kind == ReminderKind.REPORT_DUE_SOON and now > escalation_report_due_at(esc, cfg):
        return "The report target passed before it went out; the overdue reminder replaces it."
    if kind == ReminderKind.PRESERVATION_ENDING and esc.reported_at is not None:
        end = escalation_preserve_until(esc, cfg) or preservation_end(esc.reported_at, cfg)
        if now >= end:
            return "The preservation period ended before it went out; the ended reminder replaces it."
        # "30 days left" gives way to "7 days left" once that one is due too (after an outage, or a
        # report recorded late): one message per deadline, the latest stage.
        if any(as_utc(due_at) < end - offset <= now for offset in cfg.preservation_ending_offsets):
            return "A later reminder of the same deadline was due; it replaces this one."
    return None


def why_release_request_overtaken(due_at: datetime, esc: EscalationFacts) -> str | None:
    """A release request's news goes out while that request still waits for approval."""
    if getattr(esc, "released_at", None) is not None:
        return "The release was approved before this went out."
    if esc.status != REPORTED:
        return "The escalation is no longer reported."
    requested = getattr(esc, "release_requested_at", None)
    if requested is None or as_utc(requested) != as_utc(due_at):
        return "The release request was withdrawn (preservation was extended) before this went out."
    return None


# --- one deadline as an incident (PagerDuty's dedup_key) -------------------------------------------

LEGAL_DEADLINE = "legal"
RELEASE_DEADLINE = "release"
NCMEC_DEADLINE = "ncmec"


def incident_deadline(kind: str, esc: EscalationFacts, cfg: PolicyConfig) -> tuple[str, datetime | None]:
    """(deadline name, its moment) a reminder is about: every reminder of one deadline (due soon,
    overdue and its repeats, the escalation steps) is one incident for an on-call tool, opened by the
    first and resolved once the deadline is met or moved. The moment is None for a legal request's
    and a release request's reminders, whose incident ends when the reminder no longer applies."""
    if kind in LEGAL_REMINDER_KINDS:
        return LEGAL_DEADLINE, None
    if kind == ReminderKind.RELEASE_REQUESTED:
        return RELEASE_DEADLINE, None
    source = step_source_kind(kind, cfg) if kind in STEP_REMINDER_KINDS else kind
    if source == ReminderKind.NCMEC_UNFINISHED:
        return NCMEC_DEADLINE, ncmec_deletion_of(esc)
    wanted = REMINDER_DEADLINES.get(ReminderKind(source)) if source else None
    if wanted is None:
        return str(kind), None
    return wanted.value, reminder_deadline_at(str(source), esc, cfg)


def why_incident_over(name: str, deadline_at: datetime | None, esc: EscalationFacts, cfg: PolicyConfig) -> str | None:
    """Why the deadline an incident is about no longer stands (met, moved, or the escalation closed),
    in words; None while it stands. Only for incidents with a deadline moment."""
    if esc.status == CLOSED:
        return "The escalation was closed."
    if esc.status == DISMISSED:
        return "The escalation was dismissed."
    current: datetime | None
    if name == DeadlineKind.REPORT:
        if esc.reported_at is not None:
            return "The report was recorded."
        current = escalation_report_due_at(esc, cfg)
    elif name == NCMEC_DEADLINE:
        if esc.reported_at is not None:
            return "The report was recorded, so it was finished at NCMEC."
        current = ncmec_deletion_of(esc)
    elif name == DeadlineKind.PRESERVATION_CONFIRM:
        if esc.preservation_confirmed_at is not None:
            return "Preservation was confirmed."
        current = preservation_confirm_due_at(esc.reported_at, cfg) if esc.reported_at else None
    elif name == DeadlineKind.PRESERVATION_END:
        current = (
            (escalation_preserve_until(esc, cfg) or preservation_end(esc.reported_at, cfg)) if esc.reported_at else None
        )
    else:
        return None
    if current is None:
        return "The deadline no longer applies."
    if deadline_at is not None and abs(as_utc(current) - as_utc(deadline_at)) > SAME_DEADLINE_TOLERANCE:
        return "The deadline moved; a new incident follows the new one."
    return None
