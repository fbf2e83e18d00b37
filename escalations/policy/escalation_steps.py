"""Escalation steps: a reminder nobody acknowledged goes further. Per reminder kind (a setting), each
step names how long after the reminder fell due it goes, and to whom ("leads": every lead on their
channels; "team_pagerduty": the PagerDuty services of the assignee's teams). Steps stop as soon as
someone acknowledges a reminder of the escalation at or after the moment the reminder fell due, or
the deadline is met (the report recorded): they leave the plan, and the sweep cancels any recorded
step not yet sent.

An acknowledgement made before the reminder fell due (someone acknowledged "urgent logged" at once)
does not stop the steps of the overdue reminder that comes later: acknowledging the news is not
acknowledging that the target was then missed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

LEADS = "leads"
TEAM_PAGERDUTY = "team_pagerduty"
STEP_TARGETS = (LEADS, TEAM_PAGERDUTY)

# The reminder kind each step is recorded as (escalations.policy.reminders.ReminderKind values).
STEP_KIND = {LEADS: "escalated_to_leads", TEAM_PAGERDUTY: "escalated_to_pagerduty"}
STEP_KINDS = frozenset(STEP_KIND.values())


@dataclass(frozen=True)
class EscalationStep:
    after: timedelta
    to: str


@dataclass(frozen=True)
class EscalationRule:
    """For reminders of `kind` on escalations of one of `priorities`: `steps`, in order."""

    kind: str
    priorities: tuple[str, ...]
    steps: tuple[EscalationStep, ...]


# The default: an urgent report overdue and not acknowledged within 15 minutes goes to every lead,
# then 15 minutes later (30 after the target) to the teams' PagerDuty.
DEFAULT_ESCALATION_POLICY: dict[str, Any] = {
    "report_overdue": {"priorities": ["urgent"], "steps": [[15, LEADS], [30, TEAM_PAGERDUTY]]},
}


# The reminder kinds a step may follow (escalations.policy.reminders.ReminderKind values: the
# escalation's own deadlines; not the legal requests', the news or the steps themselves).
ESCALATABLE_KINDS = frozenset(
    {
        "report_due_soon",
        "report_overdue",
        "preservation_unconfirmed",
        "preservation_ending",
        "preservation_ended",
        "ncmec_unfinished",
    }
)


def parse_escalation_policy(
    raw: dict[str, Any], known_kinds: frozenset[str] = ESCALATABLE_KINDS
) -> tuple[EscalationRule, ...]:
    """The ESCALATION_POLICY setting as rules: {kind: {"priorities": [...], "steps": [[minutes, to],
    ...]}}, minutes counted from the moment the reminder fell due. Raises ValueError naming what is
    wrong (a setting read at start-up: a typo must stop the process, not silence a step)."""
    rules = []
    for kind, rule in raw.items():
        if kind not in known_kinds or kind in STEP_KINDS:
            raise ValueError(f"ESCALATION_POLICY: {kind!r} is not a reminder kind that can be escalated")
        priorities = tuple(rule.get("priorities") or ("standard", "urgent"))
        steps = []
        last = -1.0
        for entry in rule.get("steps", []):
            minutes, to = entry
            if to not in STEP_TARGETS:
                raise ValueError(f"ESCALATION_POLICY[{kind!r}]: step target {to!r} is not one of {STEP_TARGETS}")
            if not float(minutes) > last:
                raise ValueError(f"ESCALATION_POLICY[{kind!r}]: step minutes must grow ({minutes} after {last})")
            last = float(minutes)
            steps.append(EscalationStep(after=timedelta(minutes=float(minutes)), to=to))
        if len({s.to for s in steps}) != len(steps):
            raise ValueError(f"ESCALATION_POLICY[{kind!r}]: each target may appear once")
        rules.append(EscalationRule(kind=kind, priorities=priorities, steps=tuple(steps)))
    return tuple(rules)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: policy functions need timezone-aware datetimes")
    return value.astimezone(UTC)


def acknowledged_since(acknowledged_at: datetime | None, since: datetime) -> bool:
    """Whether an acknowledgement at `acknowledged_at` stops the steps of a reminder due at `since`."""
    return acknowledged_at is not None and _utc(acknowledged_at) >= _utc(since)


def step_moments(
    rules: tuple[EscalationRule, ...], kind: str, priority: str, first_at: datetime, acknowledged_at: datetime | None
) -> list[tuple[str, datetime]]:
    """(step kind, due moment) of each step a reminder of `kind` first due at `first_at` calls for,
    none once it was acknowledged at or after `first_at`."""
    if acknowledged_since(acknowledged_at, first_at):
        return []
    return [
        (STEP_KIND[step.to], _utc(first_at) + step.after)
        for rule in rules
        if rule.kind == kind and priority in rule.priorities
        for step in rule.steps
    ]


DEFAULT_ESCALATION_RULES = parse_escalation_policy(DEFAULT_ESCALATION_POLICY, frozenset(DEFAULT_ESCALATION_POLICY))
