"""Keeping an escalation's authority register true inside a write that is already under way (the
audited frame of escalations.core.write_frame holds the lock and writes the event): the obligations a
triage answer adds or removes, the state a filing moves, each deadline as policy.authorities sets it
under the rules the escalation is judged by. Nothing here checks roles or writes an audit event; the
services that call it do both."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.core.exceptions import ValidationError

from escalations.core import rulebook
from escalations.models import (
    AuthorityObligation,
    AuthorityTriage,
    Destination,
    DestinationReport,
    Escalation,
    ObligationState,
)
from escalations.policy import PolicyConfig
from escalations.policy import authorities as authority_policy

TRIAGE_FIELDS = tuple(authority_policy.TRIAGE_QUESTIONS)


def triage_of(escalation: Escalation, *, fresh: bool = False) -> AuthorityTriage:
    """The escalation's triage answers (all unanswered when nobody has answered): no query when the
    escalation was read with them joined (selectors.escalation_detail), else one; `fresh` reads them
    again (a write, under the escalation's lock)."""
    if not fresh and Escalation.authority_triage.is_cached(escalation):
        try:
            return escalation.authority_triage
        except AuthorityTriage.DoesNotExist:
            return AuthorityTriage(escalation=escalation)
    found = AuthorityTriage.objects.filter(escalation=escalation).first()
    return found if found is not None else AuthorityTriage(escalation=escalation)


def filed_state(report: DestinationReport) -> str:
    return ObligationState.FILED if report.reported_at is not None and report.report_id else ObligationState.DUE


def obligation_due(
    obligation: AuthorityObligation, escalation: Escalation, cfg: PolicyConfig
) -> authority_policy.ObligationDue:
    """What policy says this filing owes, by the rules in `cfg` and the authority's own targets."""
    return authority_policy.obligation_due(
        cfg.rules,
        obligation.authority.code,
        knowledge_at=escalation.knowledge_at,
        priority=escalation.priority,
        target_hours=obligation.authority.report_target_hours,
        urgent_target_hours=obligation.authority.urgent_report_target_hours,
        cfg=cfg,
    )


def set_deadline(obligation: AuthorityObligation, escalation: Escalation, cfg: PolicyConfig) -> None:
    due = obligation_due(obligation, escalation, cfg)
    obligation.due_at = due.due_at
    obligation.live = escalation.is_active and not escalation.is_test
    obligation.rule_id = due.rule.id if due.rule is not None else None
    # The sweep looks at it from its due-soon moment while it is unfiled (it records each reminder
    # once, whatever moment it is asked to look again).
    obligation.next_reminder_at = due.soon_at if obligation.state == ObligationState.DUE else None


def refresh_deadlines(escalation: Escalation, cfg: PolicyConfig) -> None:
    """Recompute every obligation's deadline (the knowledge time or the priority changed). `cfg`
    carries the rules the escalation is judged by. One query, plus one write per obligation moved."""
    for obligation in AuthorityObligation.objects.filter(escalation=escalation).select_related("authority"):
        due_at, rule_id = obligation.due_at, obligation.rule_id
        set_deadline(obligation, escalation, cfg)
        if (obligation.due_at, obligation.rule_id) != (due_at, rule_id):
            obligation.save(update_fields=["due_at", "rule", "next_reminder_at"])


def follow_status(escalation: Escalation) -> None:
    """The escalation was dismissed, closed or reopened: its obligations count on the dashboard only
    while it is active. One UPDATE."""
    AuthorityObligation.objects.filter(escalation=escalation).update(
        live=escalation.is_active and not escalation.is_test
    )


def record_filing(escalation: Escalation, report: DestinationReport) -> AuthorityObligation:
    """The obligation a destination report stands for, made or moved to match it: Due until the
    report has its time and reference, then Filed (an acknowledgement stays once given)."""
    obligation = AuthorityObligation.objects.filter(report=report).select_related("authority").first()
    if obligation is None:
        obligation = AuthorityObligation(escalation=escalation, authority=report.destination, report=report)
        set_deadline(obligation, escalation, rulebook.config_for(escalation))
    if obligation.state != ObligationState.ACKNOWLEDGED:
        obligation.state = filed_state(report)
    if obligation.state != ObligationState.DUE:
        obligation.next_reminder_at = None
    obligation.save()
    return obligation


def apply_triage(
    escalation: Escalation, answers: Mapping[str, bool | None], now: datetime, cfg: PolicyConfig
) -> list[str]:
    """Store the triage answers given (a key left out keeps its answer) and make the register follow
    them: an authority a "yes" makes apply is added as Due; one that no longer applies is removed
    while still Due, and refused once filed (the filing is a fact). Returns the audit lines, e.g.
    ["UK-linked?: not answered -> yes", "National Crime Agency (United Kingdom): due"]. Raises
    ValidationError naming the question when a removal is refused."""
    triage = triage_of(escalation, fresh=True)
    lines: list[str] = []
    for field, question in authority_policy.TRIAGE_QUESTIONS.items():
        if field not in answers:
            continue
        old, new = getattr(triage, field), answers[field]
        if old != new:
            lines.append(f"{question} {yes_no(old)} -> {yes_no(new)}")
            setattr(triage, field, new)
    if not lines:
        return []
    current = {f: getattr(triage, f) for f in TRIAGE_FIELDS}
    wanted = authority_policy.authorities_for(current)
    # Every authority any question names: those not wanted now are removed (while Due).
    triaged = {code for codes in authority_policy.TRIAGE_AUTHORITIES.values() for code in codes}
    held = {
        o.authority.code: o
        for o in AuthorityObligation.objects.filter(escalation=escalation).select_related("authority", "report")
    }
    errors: dict[str, list[str]] = {}
    for field, codes in authority_policy.TRIAGE_AUTHORITIES.items():
        for code in codes:
            obligation = held.get(code)
            if code in wanted or obligation is None or obligation.state == ObligationState.DUE:
                continue
            errors.setdefault(field, []).append(
                f"{authority_policy.TRIAGE_QUESTIONS[field]} can't be '{yes_no(current[field])}': the report to "
                f"{obligation.authority.name} is already {obligation.get_state_display().lower()} "
                "(a filing stays on the record)."
            )
    if errors:
        raise ValidationError(errors)
    triage.answered_at = now
    triage.save()
    for code in sorted(triaged - wanted):
        obligation = held.get(code)
        if obligation is not None:
            report = obligation.report
            obligation.delete()
            report.delete()
            lines.append(f"{obligation.authority.name}: no longer owed")
    destinations = {d.code: d for d in Destination.objects.filter(code__in=wanted - set(held))}
    for code in sorted(wanted - set(held)):
        destination = destinations.get(code)
        if destination is None:  # an admin removed the destination: nothing to owe it to
            continue
        report = DestinationReport.objects.create(escalation=escalation, destination=destination)
        obligation = AuthorityObligation(escalation=escalation, authority=destination, report=report)
        set_deadline(obligation, escalation, cfg)
        obligation.save()
        lines.append(f"{destination.name}: due")
    return lines


def yes_no(value: bool | None) -> str:
    return "not answered" if value is None else ("yes" if value else "no")
