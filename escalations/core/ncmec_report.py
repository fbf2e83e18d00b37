"""What the CyberTipline asks beside the incident: report annotations, the earlier report a follow-up
names (NCMEC's priorCTReports) and where the report stands at NCMEC. Checks for the services, the
rows that index the annotations (written only by the audited write frame) and the query pieces the
lists and the escalation's page read them by."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, Subquery

from escalations.core import validation
from escalations.models import Escalation, EscalationAnnotation, ReportAnnotation
from escalations.policy import ncmec_deletion_at, ncmec_submission

LABELS = dict(ReportAnnotation.choices)
PRIOR_LABEL = "Prior CyberTipline report ID"


def codes(stored: str) -> list[str]:
    """The annotation codes of the stored column, in its (sorted) order."""
    return [code for code in (stored or "").split(",") if code]


def labels(stored: str) -> str:
    """The annotations in words, for pages and exports ("Sextortion; Spam"); "" when none."""
    return "; ".join(LABELS.get(code, code) for code in codes(stored))


def clean_annotations(value: Any) -> str:
    """The stored form of the annotations chosen (a list of codes, or codes joined by commas): each
    once, sorted, joined by commas. Raises ValidationError naming a value that is not NCMEC's."""
    if value is None or value == "":
        return ""
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise ValidationError("Report annotations must be a list of NCMEC's annotations.")
    chosen: set[str] = set()
    for item in items:
        code = str(item).strip()
        if not code:
            continue
        if code not in LABELS:
            allowed = ", ".join(ReportAnnotation.values)
            raise ValidationError(f"Report annotations: {code[:40]!r} is not one of NCMEC's annotations ({allowed}).")
        chosen.add(code)
    return ",".join(sorted(chosen))


def check(esc: Escalation, old_state: str, now: datetime, errors: dict[str, list[str]]) -> None:
    """Check and normalise the annotations, the prior report ID and the submission state on `esc`
    (set from what the person sent); `old_state` is the stored state before. Messages go to
    `errors` by field."""
    try:
        esc.ncmec_annotations = clean_annotations(esc.ncmec_annotations)
    except ValidationError as exc:
        errors.setdefault("ncmec_annotations", []).extend(exc.messages)
    prior = str(esc.prior_report_id or "").strip()
    esc.prior_report_id = ""
    if prior:
        try:
            esc.prior_report_id = validation.clean_report_id(prior, PRIOR_LABEL)
        except ValidationError as exc:
            errors.setdefault("prior_report_id", []).extend(exc.messages)
        else:
            if esc.prior_report_id == esc.cybertipline_report_id:
                errors.setdefault("prior_report_id", []).append(
                    f"{PRIOR_LABEL} is this escalation's own report ID; name the earlier report it follows up."
                )
    new_state = esc.ncmec_submission_state or ""
    reported = esc.reported_at is not None and bool(esc.cybertipline_report_id)
    problem = ncmec_submission.transition_error(
        old_state,
        new_state,
        opened_at=esc.ncmec_opened_at,
        deletion_at=ncmec_deletion_at(esc.ncmec_opened_at, esc.ncmec_last_change_at),
        reported=reported,
        now=now,
    )
    if problem:
        errors.setdefault("ncmec_submission_state", []).append(problem)
    elif new_state == ncmec_submission.OPENED and esc.ncmec_opened_at is None:
        errors.setdefault("ncmec_opened_at", []).append(
            "NCMEC report opened is required while the submission state is Opened: the deletion countdown starts there."
        )


def settle(esc: Escalation) -> None:
    """The state the record implies (policy.ncmec_submission.settled_state): finished once the report
    is recorded, opened when an opening time is given and no state yet."""
    esc.ncmec_submission_state = ncmec_submission.settled_state(
        esc.ncmec_submission_state or "",
        opened_at=esc.ncmec_opened_at,
        reported=esc.reported_at is not None and bool(esc.cybertipline_report_id),
    )


def sync_rows(esc: Escalation) -> None:
    """Make the index rows match the audited column: two queries at most, only when it changed."""
    wanted = set(codes(esc.ncmec_annotations))
    EscalationAnnotation.objects.filter(escalation=esc).exclude(annotation__in=wanted).delete()
    if wanted:
        EscalationAnnotation.objects.bulk_create(
            [EscalationAnnotation(escalation=esc, annotation=code) for code in sorted(wanted)],
            ignore_conflicts=True,
        )


def create_rows(escalations: Iterable[Escalation]) -> None:
    """The index rows of escalations just inserted together (a batch): one insert for all of them."""
    EscalationAnnotation.objects.bulk_create(
        EscalationAnnotation(escalation=esc, annotation=code)
        for esc in escalations
        for code in codes(esc.ncmec_annotations)
    )


def annotated_q(annotation: str) -> Q:
    """Escalations carrying `annotation`: an index lookup per row (annotation, escalation)."""
    return Q(Exists(EscalationAnnotation.objects.filter(escalation=OuterRef("pk"), annotation=annotation)))


def prior_escalation_id(visible: Q) -> Subquery:
    """The id of the escalation we hold whose report ID is this one's prior report ID (and that
    `visible` lets the reader open), as a subquery to annotate the page's own query with: the link
    costs no query of its own. Never fetched from NCMEC."""
    held = Escalation.objects.filter(cybertipline_report_id=OuterRef("prior_report_id"))
    if visible:
        held = held.filter(visible)
    return Subquery(held.values("pk")[:1])


def follow_up_escalation_id(visible: Q) -> Subquery:
    """The id of the earliest escalation that names this one's report ID as its prior report (and
    that `visible` lets the reader open), as a subquery like prior_escalation_id."""
    follow_ups = Escalation.objects.filter(prior_report_id=OuterRef("cybertipline_report_id")).exclude(
        prior_report_id=""
    )
    if visible:
        follow_ups = follow_ups.filter(visible)
    return Subquery(follow_ups.order_by("pk").values("pk")[:1])
