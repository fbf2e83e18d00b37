"""What holds an escalation's evidence beyond the 2258A(h) year and what caps its retention, read from its
law-enforcement requests, extensions and destination reports; and which open requests block closing it.
Reads only: core's services and legal's services both rely on it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.exceptions import ValidationError

from escalations import policy
from escalations.core import rulebook
from escalations.models import (
    PRESERVATION_KINDS,
    DestinationReport,
    Escalation,
    LegalRequest,
    LegalRequestStatus,
    PreservationExtension,
)


def holds_for(escalation: Escalation) -> list[tuple[str, datetime]]:
    """(label, until) of every hold beyond the 2258A(h) year: 2703(f) requests not closed, leads'
    voluntary extensions, and the preservation minimum of each destination reported to (Canada's
    police: 21 days after the report), by its own setting or the rule in force when it was reported
    to. Five queries."""
    requests = escalation.legal_requests.filter(kind__in=PRESERVATION_KINDS, hold_until__isnull=False).exclude(
        status=LegalRequestStatus.CLOSED
    )
    return holds_from(
        requests,
        escalation.extensions.select_related("created_by"),
        escalation.destination_reports.select_related("destination").filter(reported_at__isnull=False),
        rulebook.config_for(escalation).rules,
    )


def legal_response_due_for(escalation: Escalation) -> datetime | None:
    """The earliest response date among the open law-enforcement requests on the escalation (what
    policy.next_action ranks above preservation chores). One query."""
    return (
        escalation.legal_requests.filter(status=LegalRequestStatus.OPEN, response_due_at__isnull=False)
        .order_by("response_due_at")
        .values_list("response_due_at", flat=True)
        .first()
    )


def holds_from(
    requests: Iterable[LegalRequest],
    extensions: Iterable[PreservationExtension],
    reports: Iterable[DestinationReport],
    rules: Sequence[policy.RuleData] = (),
) -> list[tuple[str, datetime]]:
    """holds_for() from rows already loaded (any status: closed requests and requests holding nothing
    are skipped here), so a page that lists them anyway pays no more queries. A destination's hold is
    the later of its own setting and the rule owed to it (by its code) in force on the day it was
    reported to, labelled with the rule's citation."""
    holds: list[tuple[str, datetime]] = []
    for request in requests:
        if request.kind in PRESERVATION_KINDS and request.hold_until and request.status != LegalRequestStatus.CLOSED:
            holds.append(
                (
                    f"{request.get_kind_display()} {request.key} from {request.agency} (ref. {request.reference})",
                    request.hold_until,
                )
            )
    for extension in extensions:
        holds.append(
            (f"Voluntary extension by {extension.created_by.get_username()}: {extension.reason}", extension.until)
        )
    for report in reports:
        destination = report.destination
        ruled = (
            policy.authority_preservation(rules, destination.code, report.reported_at) if report.reported_at else None
        )
        if ruled is not None:
            holds.append((f"{destination.name}: {ruled[1].link_text} ({ruled[1].citation})", ruled[0]))
        until = policy.destination_preservation_until(
            destination.preservation_rule, destination.preservation_amount, report.reported_at
        )
        if until is not None and (ruled is None or until > ruled[0]):
            label = policy.destination_preservation_label(
                destination.name, destination.preservation_rule, destination.preservation_amount
            )
            holds.append((label, until))
    return holds


def retention_caps_for(escalation: Escalation) -> list[tuple[str, datetime]]:
    """(label, until) of every cap on retention from the escalation's destinations. One query."""
    return caps_from(escalation, escalation.destination_reports.select_related("destination"))


def caps_from(escalation: Escalation, reports: Iterable[DestinationReport]) -> list[tuple[str, datetime]]:
    """The caps on retention among these destination reports (the EU's 12 months from detection),
    reported to or not yet: the platform is bound either way."""
    caps = []
    for report in reports:
        months = report.destination.retention_cap_months
        if months is None:
            continue
        caps.append(
            (
                policy.retention_cap_label(report.destination.name, months),
                policy.retention_cap_until(escalation.knowledge_at, months),
            )
        )
    return caps


def open_requests(escalation: Escalation) -> list[LegalRequest]:
    return list(escalation.legal_requests.filter(status=LegalRequestStatus.OPEN).order_by("received_at"))


def open_requests_error(escalation: Escalation, action: str) -> ValidationError | None:
    pending = open_requests(escalation)
    if not pending:
        return None
    names = ", ".join(f"{r.key} ({r.get_kind_display()}, {r.agency}, ref. {r.reference})" for r in pending)
    return ValidationError(f"{escalation.key} can't be {action} while a legal request is open: {names}.")
