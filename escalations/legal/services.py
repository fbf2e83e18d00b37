"""Every change after the report: law-enforcement requests, preservation holds and extensions, and
the release of preserved evidence. Like escalations.core.services: role check, validation, write, an
audit event on each escalation concerned, one transaction. Raises the same exceptions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from escalations import policy
from escalations.core import authority_register, validation
from escalations.core.display import shown
from escalations.core.holds import holds_for, legal_response_due_for, open_requests_error
from escalations.core.people import User
from escalations.core.permissions import Action, require
from escalations.core.selectors import visible_q
from escalations.core.write_frame import change, clean_reason, collect, raise_if, save_with_event, snapshot
from escalations.models import (
    PRESERVATION_KINDS,
    AuditAction,
    Destination,
    DestinationReport,
    Escalation,
    EvidenceItem,
    HashAlgorithm,
    LegalRequest,
    LegalRequestKind,
    LegalRequestStatus,
    PreservationExtension,
    Status,
    format_key,
)
from escalations.reminders import announcements
from escalations.reminders import sweep as reminders

MAX_EXTENSION = timedelta(days=10 * 366)
MAX_ID = 2**63 - 1  # the largest primary key SQLite and PostgreSQL's bigint can hold


def refresh_destination_targets(escalation: Escalation) -> None:
    """The strictest (shortest) report targets among the escalation's destinations; None where none
    of them sets one (the platform's own targets apply). One query."""
    targets = list(
        DestinationReport.objects.filter(escalation=escalation).values_list(
            "destination__report_target_hours", "destination__urgent_report_target_hours"
        )
    )
    escalation.destination_target_hours = min((t for t, _ in targets if t is not None), default=None)
    escalation.destination_urgent_target_hours = min((u for _, u in targets if u is not None), default=None)


def refresh_holds(escalation: Escalation) -> None:
    holds = holds_for(escalation)
    escalation.preservation_hold_until = max((until for _, until in holds), default=None)
    escalation.legal_response_due_at = legal_response_due_for(escalation)


def _touch_escalations(escalations: Iterable[Escalation], actor: User, reason: str, now: datetime) -> None:
    """Recompute each escalation's holds and deadlines and record why, in its own audit trail."""
    for escalation in escalations:
        locked = Escalation.objects.select_for_update(of=("self",)).get(pk=escalation.pk)
        before = snapshot(locked)
        refresh_holds(locked)
        save_with_event(locked, actor, AuditAction.LEGAL_REQUEST, before, reason, now)


# --- legal requests --------------------------------------------------------------------------------


def create_legal_request(*, actor: User, data: dict[str, Any]) -> LegalRequest:
    """Record a request from law enforcement or a court. `data`: kind, agency, reference,
    received_at, response_due_at (optional), escalations (ids), renews (a request id, for a
    renewal), notes."""
    require(actor, Action.MANAGE_LEGAL)
    cfg = policy.PolicyConfig.from_settings()
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    kind = data.get("kind") or ""
    if kind not in LegalRequestKind.values:
        errors["kind"] = ["Kind: choose the kind of request (2703(f) preservation, renewal, subpoena, …)."]
    agency = collect(
        errors, "agency", lambda: validation.clean_text(data.get("agency"), "Agency", required=True, max_length=200)
    )
    reference = collect(
        errors,
        "reference",
        lambda: validation.clean_text(data.get("reference"), "Reference", required=True, max_length=200),
    )
    notes = collect(
        errors,
        "notes",
        lambda: validation.clean_text(
            data.get("notes"), "Notes", required=False, max_length=validation.NOTES_MAX_LENGTH
        ),
    )
    received_at = data.get("received_at")
    if received_at is None:
        errors["received_at"] = ["Received is required: when did the request arrive?"]
    elif received_at > now + cfg.clock_skew:
        errors["received_at"] = [f"Received can't be in the future (it is now {shown(now)})."]
    elif received_at < validation.EARLIEST_PLAUSIBLE:
        errors["received_at"] = ["Received is before the year 2000; check the year."]
    response_due_at = data.get("response_due_at")
    if response_due_at is not None and received_at is not None and response_due_at < received_at:
        errors["response_due_at"] = ["Response due can't be before the request was received."]
    ids = [int(pk) for pk in data.get("escalations") or []]
    # An id beyond any row's range names nothing (and must not reach the database, which can't hold it).
    escalations = list(Escalation.objects.filter(pk__in=[pk for pk in ids if 0 < pk <= MAX_ID]).order_by("pk"))
    if not ids:
        errors["escalations"] = ["Escalations: name at least one escalation the request covers."]
    elif len(escalations) != len(set(ids)):
        missing = sorted(set(ids) - {e.pk for e in escalations})
        errors["escalations"] = [f"Escalations: no escalation with id {', '.join(map(str, missing))}."]
    renews = None
    if kind == LegalRequestKind.RENEWAL_2703F:
        renews_id = data.get("renews")
        renews = (
            LegalRequest.objects.filter(pk=renews_id, kind__in=PRESERVATION_KINDS).first()
            if isinstance(renews_id, int) and 0 < renews_id <= MAX_ID
            else None
        )
        if renews is None:
            errors["renews"] = ["Renews: a renewal must name the 2703(f) request it renews."]
    elif data.get("renews"):
        errors["renews"] = ["Renews: only a 2703(f) renewal renews another request."]
    raise_if(errors)
    assert received_at is not None
    hold_until = policy.legal_hold_until(kind, received_at, renews.hold_until if renews else None)
    with transaction.atomic():
        request = LegalRequest.objects.create(
            kind=kind,
            agency=agency,
            reference=reference,
            received_at=received_at,
            response_due_at=response_due_at,
            renews=renews,
            hold_until=hold_until,
            notes=notes or "",
            created_by=actor,
        )
        request.escalations.set(escalations)
        label = f"{request.key}: {request.get_kind_display()} from {agency}, ref. {reference} received"
        if hold_until:
            label += f"; holds preservation until {shown(hold_until)}"
        _touch_escalations(escalations, actor, label, now)
    return request


def _cancel_response_reminders(request: LegalRequest, now: datetime) -> None:
    """Its response reminders not yet sent no longer apply ("LR-00001 was answered.")."""
    ids = set(request.escalations.values_list("pk", flat=True))
    reminders.cancel_legal_reminders(ids, now, policy.PolicyConfig.from_settings())


def _change_request(actor: User, request_id: int, version: int | None) -> LegalRequest:
    require(actor, Action.MANAGE_LEGAL)
    request = LegalRequest.objects.select_for_update().get(pk=request_id)
    if version is not None and request.version != version:
        raise ValidationError(
            f"{request.key} was changed by someone else after the version you started from; nothing was saved. "
            "Check it and try again."
        )
    return request


def respond_legal_request(
    *, actor: User, request_id: int, version: int | None, responded_at: datetime | None
) -> LegalRequest:
    """Record that the platform answered the request (it stays a hold if it is a 2703(f) request)."""
    now = timezone.now()
    with transaction.atomic():
        request = _change_request(actor, request_id, version)
        if request.status != LegalRequestStatus.OPEN:
            raise ValidationError(f"{request.key} is {request.get_status_display().lower()} already.")
        responded_at = responded_at or now
        if responded_at > now + policy.PolicyConfig.from_settings().clock_skew or responded_at < request.received_at:
            raise ValidationError({"responded_at": ["Responded must be between the request's receipt and now."]})
        request.responded_at = responded_at
        request.status = LegalRequestStatus.RESPONDED
        request.version += 1
        request.save()
        _touch_escalations(request.escalations.all(), actor, f"{request.key}: responded {shown(responded_at)}", now)
        _cancel_response_reminders(request, now)
    return request


def close_legal_request(*, actor: User, request_id: int, version: int | None, reason: str) -> LegalRequest:
    """Close a request (withdrawn or fulfilled): its hold ends and it no longer blocks release."""
    now = timezone.now()
    reason = clean_reason(reason)
    with transaction.atomic():
        request = _change_request(actor, request_id, version)
        if request.status == LegalRequestStatus.CLOSED:
            raise ValidationError(f"{request.key} is closed already.")
        request.status = LegalRequestStatus.CLOSED
        request.notes = (request.notes + "\n" if request.notes else "") + f"Closed: {reason}"
        request.version += 1
        request.save()
        _touch_escalations(request.escalations.all(), actor, f"{request.key} closed: {reason}", now)
        _cancel_response_reminders(request, now)
    return request


# --- preservation: extension and release -----------------------------------------------------------


def extend_preservation(
    *, actor: User, escalation_id: int, version: int | None, until: datetime | None, reason: str
) -> Escalation:
    """A lead keeps the evidence longer than the rules require, voluntarily, with a reason."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status != Status.REPORTED:
            raise ValidationError(
                f"Only a reported escalation's preservation can be extended; "
                f"{esc.key} is {esc.get_status_display().lower()}."
            )
        errors: dict[str, list[str]] = {}
        clean = collect(errors, "reason", lambda: validation.clean_text(reason, "Reason", required=True))
        current = policy.escalation_preserve_until(esc, cfg)
        if until is None:
            errors["until"] = ["Keep until is required."]
        elif current is not None and until <= current:
            errors["until"] = [f"Keep until must be after the current end of preservation, {shown(current)}."]
        elif until > now + MAX_EXTENSION:
            errors["until"] = ["Keep until can be at most ten years away."]
        raise_if(errors)
        assert until is not None
        PreservationExtension.objects.create(escalation=esc, until=until, reason=clean, created_by=actor)
        refresh_holds(esc)
        esc.release_requested_at = esc.release_requested_by = None
        return f"Kept until {shown(until)}: {clean}"

    return change(actor, Action.EXTEND_PRESERVATION, escalation_id, version, AuditAction.PRESERVATION_EXTENDED, mutate)


def _release_blockers(esc: Escalation, now: datetime, cfg: policy.PolicyConfig, action: str) -> None:
    if esc.status != Status.REPORTED:
        raise ValidationError(
            f"Only a reported escalation's evidence is released; {esc.key} is {esc.get_status_display().lower()}."
        )
    end = policy.escalation_preserve_until(esc, cfg)
    if end is None or now < end:
        raise ValidationError(f"{esc.key} can't be {action} before preservation ends on {shown(end)}.")
    blocked = open_requests_error(esc, action)
    if blocked is not None:
        raise blocked


def request_release(*, actor: User, escalation_id: int, version: int | None, reason: str) -> Escalation:
    """After preserve_until, a lead asks for the preserved evidence to be released; another approves."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        _release_blockers(esc, now, cfg, "released")
        if esc.released_at is not None:
            raise ValidationError(f"{esc.key}'s evidence was released already.")
        clean = clean_reason(reason)
        esc.release_requested_at, esc.release_requested_by = now, actor
        return clean

    with transaction.atomic():
        escalation = change(actor, Action.RELEASE, escalation_id, version, AuditAction.RELEASE_REQUESTED, mutate)
        # Every other lead hears of it at once (in-app and email, on their channels): one of them approves.
        announcements.announce_release_request(escalation, actor)
    return escalation


def approve_release(*, actor: User, escalation_id: int, version: int | None) -> Escalation:
    """A second lead (not the one who asked) approves the release."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.release_requested_at is None:
            raise ValidationError(f"Nobody has requested {esc.key}'s release yet.")
        if esc.release_requested_by_id == actor.pk:
            raise ValidationError("A different lead must approve the release you requested.")
        _release_blockers(esc, now, cfg, "released")
        esc.released_at, esc.released_by = now, actor
        return ""

    return change(actor, Action.RELEASE, escalation_id, version, AuditAction.RELEASED, mutate)


# --- evidence items (metadata only) ----------------------------------------------------------------

DIGEST_LENGTHS = {HashAlgorithm.SHA256: 64, HashAlgorithm.SHA1: 40, HashAlgorithm.MD5: 32}
_HEX = re.compile(r"[0-9a-f]*")
MAX_SIZE_BYTES = 2**63 - 1  # PositiveBigIntegerField


def clean_digest(value: str | None, algorithm: str) -> str:
    """A hex digest of the length the algorithm gives (SHA-256 64, SHA-1 40, MD5 32 characters),
    any case, stored lower-case."""
    label = HashAlgorithm(algorithm).label
    length = DIGEST_LENGTHS[HashAlgorithm(algorithm)]
    text = (value or "").strip().lower()
    if not text:
        raise ValidationError(f"Digest is required: the item's {label} digest ({length} hexadecimal characters).")
    if not text.isascii() or not _HEX.fullmatch(text):
        raise ValidationError(f"Digest must be hexadecimal (0-9, a-f) only: {label} digests are {length} of them.")
    if len(text) != length:
        raise ValidationError(
            f"Digest: {label} digests are {length} hexadecimal characters; this one has {len(text)}. "
            "Check the hash algorithm, or copy the whole digest."
        )
    return text


def clean_size(value: Any) -> int:
    """A whole number of bytes, 0 or more."""
    if isinstance(value, bool):
        raise ValidationError("Size in bytes must be a whole number of bytes.")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValidationError("Size in bytes is required.")
        if not (text.isascii() and text.isdigit()):
            raise ValidationError("Size in bytes must be a whole number of bytes, 0 or more (digits only).")
        value = int(text)
    if value is None:
        raise ValidationError("Size in bytes is required.")
    if not isinstance(value, int):
        raise ValidationError("Size in bytes must be a whole number of bytes.")
    if value < 0:
        raise ValidationError("Size in bytes can't be negative.")
    if value > MAX_SIZE_BYTES:
        raise ValidationError("Size in bytes is too large; check the number.")
    return value


def add_evidence_item(
    *,
    actor: User,
    escalation_id: int,
    version: int | None,
    reference: str,
    hash_algorithm: str,
    digest: str,
    size_bytes: Any,
    is_context: bool = False,
) -> EvidenceItem:
    """Record one preserved item as metadata: where the evidence store keeps it, its digest and size,
    and whether it is related context (2258A(h)(2)). Moderators and leads; preserved now, by the
    actor. Audited on the escalation (EVIDENCE_ADDED) with the item in the reason."""
    created: list[EvidenceItem] = []

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status not in (Status.OPEN, Status.REPORTED):
            raise ValidationError(
                f"{esc.key} is {esc.get_status_display().lower()}; reopen it to record evidence items."
            )
        limit = settings.EVIDENCE_ITEMS_MAX
        if EvidenceItem.objects.filter(escalation=esc).count() >= limit:
            # The row lock taken by change makes this count exact: two adds can't both see room.
            raise ValidationError(
                f"{esc.key} already has {limit} evidence item{'' if limit == 1 else 's'}, the most one escalation "
                "holds (EVIDENCE_ITEMS_MAX). Keep the rest in the evidence store under one reference and record "
                "that as one item, or ask an admin to raise the limit."
            )
        errors: dict[str, list[str]] = {}
        clean_ref = collect(errors, "reference", lambda: validation.clean_reference(reference, "Evidence reference"))
        algorithm = (hash_algorithm or "").strip().lower()
        clean: str | None = None
        if algorithm not in HashAlgorithm.values:
            errors["hash_algorithm"] = ["Hash algorithm: choose SHA-256, SHA-1 or MD5."]
        else:
            clean = collect(errors, "digest", lambda: clean_digest(digest, algorithm))
        size = collect(errors, "size_bytes", lambda: clean_size(size_bytes))
        raise_if(errors)
        assert clean is not None
        item = EvidenceItem.objects.create(
            escalation=esc,
            reference=clean_ref,
            hash_algorithm=algorithm,
            digest=clean,
            size_bytes=size,
            is_context=bool(is_context),
            preserved_by=actor,
            preserved_at=now,
        )
        created.append(item)
        what = "Related context item (2258A(h)(2))" if item.is_context else "Evidence item"
        return f"{what} #{item.pk}: {HashAlgorithm(algorithm).label} {clean}, {size} bytes, at {clean_ref}"

    change(actor, Action.CONFIRM_PRESERVATION, escalation_id, version, AuditAction.EVIDENCE_ADDED, mutate)
    return created[0]


# --- destinations ----------------------------------------------------------------------------------


def _destination_report_id_taken(destination: Destination, report_id: str, esc: Escalation, actor: User) -> str:
    """A destination gives each report its own ID: one already recorded there for another escalation
    is a typing mistake (or the wrong escalation). Names that escalation only to whoever may open it."""
    holder = (
        DestinationReport.objects.filter(destination=destination, report_id=report_id)
        .exclude(escalation=esc)
        .only("escalation_id")
        .first()
    )
    if holder is None:
        return ""
    rule = visible_q(actor)
    may_open = not rule or Escalation.objects.filter(rule, pk=holder.escalation_id).exists()
    where = format_key(holder.escalation_id) if may_open else "another escalation you can't open; ask a lead"
    return f"Report ID {report_id} is already recorded for {destination.name} on {where}."


def report_to_destination(
    *,
    actor: User,
    escalation_id: int,
    version: int | None,
    destination_id: int,
    reported_at: datetime | None,
    report_id: str,
) -> DestinationReport:
    """Record the report to one destination besides NCMEC (whose report is recorded with
    services.record_report). One row per destination: a second call corrects it. Without
    `reported_at` and `report_id` the destination is recorded as one the escalation must still be
    reported to (its report target applies). Recomputes the escalation's strictest report targets and
    its holds (the destination's preservation minimum). Moderators and leads; audited."""
    saved: list[DestinationReport] = []

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status not in (Status.OPEN, Status.REPORTED):
            raise ValidationError(
                f"{esc.key} is {esc.get_status_display().lower()}; reopen it to record a report to a destination."
            )
        errors: dict[str, list[str]] = {}
        destination = Destination.objects.filter(pk=destination_id).first() if destination_id else None
        if destination is None:
            errors["destination"] = ["Destination: choose where the escalation was reported."]
        elif destination.is_default:
            errors["destination"] = [
                f"Destination: the report to {destination.name} is recorded with 'Record report' "
                "(its report ID and time are on the escalation itself)."
            ]
        existing = (
            DestinationReport.objects.select_for_update().filter(escalation=esc, destination=destination).first()
            if destination is not None
            else None
        )
        clean_id = (report_id or "").strip()
        if reported_at is None:
            if existing is not None and existing.reported_at is not None:
                errors["reported_at"] = [
                    f"Reported at is required: the report to {existing.destination.name} was recorded at "
                    f"{shown(existing.reported_at)}; a correction gives the corrected time."
                ]
            elif clean_id:
                errors["reported_at"] = ["Reported at is required with a report ID: when was the report sent?"]
        elif reported_at > now + cfg.clock_skew:
            errors["reported_at"] = [f"Reported at can't be in the future (it is now {shown(now)})."]
        elif reported_at < esc.knowledge_at:
            errors["reported_at"] = [
                f"Reported at can't be before knowledge was obtained ({shown(esc.knowledge_at)}). Check both times."
            ]
        if destination is not None:  # every field's errors at once, the default destination's too
            if reported_at is not None and not clean_id:
                errors["report_id"] = [f"Report ID is required: {destination.report_id_hint}."]
            elif clean_id:
                try:
                    validation.clean_reference(clean_id, "Report ID")
                    if len(clean_id) > 100:
                        raise ValidationError(
                            f"Report ID is too long: at most 100 characters (this one has {len(clean_id)})."
                        )
                    matches = re.fullmatch(destination.report_id_pattern, clean_id) is not None
                except ValidationError as exc:
                    errors["report_id"] = exc.messages
                except re.error:
                    errors["report_id"] = [
                        f"Report ID can't be checked: {destination.name}'s report-ID format is not a valid "
                        "pattern. Ask an admin to correct the destination."
                    ]
                else:
                    if not matches:
                        errors["report_id"] = [
                            f"Report ID doesn't match {destination.name}'s format: {destination.report_id_hint}."
                        ]
                    else:
                        taken = _destination_report_id_taken(destination, clean_id, esc, actor)
                        if taken:
                            errors["report_id"] = [taken]
        raise_if(errors)
        assert destination is not None
        report = existing or DestinationReport(escalation=esc, destination=destination)
        corrected = existing is not None
        before = (report.reported_at, report.report_id)
        report.reported_at = reported_at
        report.report_id = clean_id
        report.save()
        saved.append(report)
        # The register follows the filing in the same transaction: Due until filed, then Filed.
        authority_register.record_filing(esc, report)
        refresh_destination_targets(esc)
        refresh_holds(esc)
        if reported_at is None:
            text = f"To be reported to {destination.name}"
        else:
            text = f"Reported to {destination.name} {shown(reported_at)}, report ID {clean_id}"
        if corrected:
            text = f"Corrected: {text} (was {shown(before[0]) if before[0] else 'not reported'}"
            text += f", report ID {before[1]})" if before[1] else ")"
        minimum = policy.destination_preservation_until(
            destination.preservation_rule, destination.preservation_amount, reported_at
        )
        if minimum is not None:
            text += f"; its rule keeps the evidence until {shown(minimum)}"
        return text

    change(actor, Action.RECORD_REPORT, escalation_id, version, AuditAction.DESTINATION_REPORTED, mutate)
    return saved[0]
