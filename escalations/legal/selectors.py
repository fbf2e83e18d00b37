"""What an escalation owes after its report, read for its page: every rule that holds its evidence (the
2258A(h) year, 2703(f) holds, extensions, destinations' minimums), the deciding one, the caps on
retention and the conflicts between them, its legal requests, evidence items and destinations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, IntegerField, QuerySet, Value, When

from escalations.core.holds import caps_from, holds_from
from escalations.core.people import RequestUser
from escalations.core.selectors import related_escalations, visible_to
from escalations.models import (
    DestinationReport,
    Escalation,
    EvidenceItem,
    LegalRequest,
    LegalRequestStatus,
    PreservationExtension,
    Status,
)
from escalations.policy import (
    DeadlineState,
    PolicyConfig,
    RetentionConflict,
    RetentionRule,
    explain_preservation,
    ncmec_deletion_at,
    ncmec_unfinished_state,
    retention_conflicts,
)


@dataclass(frozen=True)
class AfterReport:
    """What the detail page shows after the report: every date explained, rule by rule."""

    # Every rule keeping the evidence, latest first, the deciding one marked (policy.RetentionRule).
    rules: list[RetentionRule]
    # Caps on retention that end before a rule's minimum: (cap_label, cap_until, minimum_label,
    # minimum_until), for counsel.
    conflicts: list[RetentionConflict]
    caps: list[tuple[str, datetime]]
    open_requests: list[LegalRequest]
    legal_requests: list[LegalRequest]
    extensions: list[PreservationExtension]
    evidence_items: list[EvidenceItem]
    destination_reports: list[DestinationReport]
    ncmec_deletion_at: datetime | None
    ncmec_state: DeadlineState
    related: list[Escalation]


def after_report(
    escalation: Escalation, now: datetime, user: RequestUser | None = None, cfg: PolicyConfig | None = None
) -> AfterReport:
    """Five queries whatever the escalation carries: legal requests, extensions, evidence items,
    destination reports and related escalations. `cfg` carries the rules the escalation is judged by
    (escalations.core.rule_selectors.escalation_rules); without it the settings alone explain."""
    cfg = cfg or PolicyConfig.from_settings()
    legal_requests = list(escalation.legal_requests.order_by("-received_at", "-pk"))
    extensions = list(escalation.extensions.select_related("created_by"))
    reports = list(escalation.destination_reports.select_related("destination").order_by("destination__name", "pk"))
    rules = explain_preservation(
        escalation.reported_at, holds_from(legal_requests, extensions, reports, cfg.rules), cfg
    )
    caps = caps_from(escalation, reports)
    return AfterReport(
        rules=rules,
        conflicts=retention_conflicts([(rule.label, rule.until) for rule in rules], caps),
        caps=caps,
        open_requests=sorted(
            (r for r in legal_requests if r.status == LegalRequestStatus.OPEN), key=lambda r: (r.received_at, r.pk)
        ),
        legal_requests=legal_requests,
        extensions=extensions,
        evidence_items=list(escalation.evidence_items.select_related("preserved_by")),
        destination_reports=reports,
        ncmec_deletion_at=ncmec_deletion_at(escalation.ncmec_opened_at, escalation.ncmec_last_change_at),
        ncmec_state=ncmec_unfinished_state(
            escalation.ncmec_opened_at,
            escalation.ncmec_last_change_at,
            escalation.reported_at,
            now,
            cfg,
            escalation.ncmec_submission_state,
        ),
        related=related_escalations(
            escalation.platform_reference, escalation.account_reference, escalation.pk, user=user
        ),
    )


# The dashboard lists this many; more are rare (two leads decide each) and the list links to them all.
RELEASES_SHOWN = 20


def releases_awaiting_approval(user: RequestUser, limit: int = RELEASES_SHOWN) -> list[Escalation]:
    """Reported escalations whose release a lead requested and nobody approved yet, the oldest
    request first, as far as `user` may see them. One query."""
    pending = Escalation.objects.filter(
        status=Status.REPORTED, release_requested_at__isnull=False, released_at__isnull=True
    ).select_related("release_requested_by")
    return list(visible_to(user, pending).order_by("release_requested_at", "pk")[:limit])


def legal_request_list(now: datetime, status: str = "", kind: str = "") -> QuerySet[LegalRequest]:
    """The legal requests list (and its export): open requests whose response is overdue first, the
    longest overdue at the top (what a lead must answer now), then the rest newest first."""
    requests = LegalRequest.objects.annotate(
        overdue=Case(
            When(status=LegalRequestStatus.OPEN, response_due_at__lt=now, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
    )
    if status:
        requests = requests.filter(status=status)
    if kind:
        requests = requests.filter(kind=kind)
    overdue_first = Case(
        When(overdue=0, then="response_due_at"),
        default=Value(None),
    )
    return requests.order_by("overdue", overdue_first.asc(nulls_last=True), "-received_at", "-pk")


def same_agency_and_reference(agency: str, reference: str, exclude_pk: int | None = None) -> list[LegalRequest]:
    """Requests already recorded with this agency and reference (any case): the same paper recorded
    twice, most likely. The first few, oldest first."""
    twins = LegalRequest.objects.filter(agency__iexact=agency.strip(), reference__iexact=reference.strip())
    if exclude_pk is not None:
        twins = twins.exclude(pk=exclude_pk)
    return list(twins.only("pk").order_by("received_at", "pk")[:5])
