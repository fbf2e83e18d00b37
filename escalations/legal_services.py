"""Every change after the report: law-enforcement requests, preservation holds and extensions, and
the release of preserved evidence. Like escalations.services: role check, validation, write, an
audit event on each escalation concerned, one transaction. Raises the same exceptions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import policy, validation
from .legal_models import PRESERVATION_KINDS
from .models import (
    AuditAction,
    Escalation,
    LegalRequest,
    LegalRequestKind,
    LegalRequestStatus,
    PreservationExtension,
    Status,
)
from .permissions import Action, require
from .services import _change, _clean_reason, _collect, _raise_if, _save_with_event, _snapshot

MAX_EXTENSION = timedelta(days=10 * 366)


def _shown(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "?"


def holds_for(escalation: Escalation) -> list[tuple[str, datetime]]:
    """(label, until) of every hold beyond the 2258A(h) year: 2703(f) requests not closed, and leads'
    voluntary extensions. Two queries."""
    holds: list[tuple[str, datetime]] = []
    requests = escalation.legal_requests.filter(kind__in=PRESERVATION_KINDS, hold_until__isnull=False).exclude(
        status=LegalRequestStatus.CLOSED
    )
    for request in requests:
        assert request.hold_until is not None  # filtered above
        holds.append(
            (
                f"{request.get_kind_display()} {request.key} from {request.agency} (ref. {request.reference})",
                request.hold_until,
            )
        )
    for extension in escalation.extensions.select_related("created_by"):
        holds.append(
            (f"Voluntary extension by {extension.created_by.get_username()}: {extension.reason}", extension.until)
        )
    return holds


def _refresh_holds(escalation: Escalation) -> None:
    holds = holds_for(escalation)
    escalation.preservation_hold_until = max((until for _, until in holds), default=None)


def open_requests(escalation: Escalation) -> list[LegalRequest]:
    return list(escalation.legal_requests.filter(status=LegalRequestStatus.OPEN).order_by("received_at"))


def _open_requests_error(escalation: Escalation, action: str) -> ValidationError | None:
    pending = open_requests(escalation)
    if not pending:
        return None
    names = ", ".join(f"{r.key} ({r.get_kind_display()}, {r.agency}, ref. {r.reference})" for r in pending)
    return ValidationError(f"{escalation.key} can't be {action} while a legal request is open: {names}.")


def _touch_escalations(escalations: Iterable[Escalation], actor: Any, reason: str, now: datetime) -> None:
    """Recompute each escalation's holds and deadlines and record why, in its own audit trail."""
    for escalation in escalations:
        locked = Escalation.objects.select_for_update(of=("self",)).get(pk=escalation.pk)
        before = _snapshot(locked)
        _refresh_holds(locked)
        _save_with_event(locked, actor, AuditAction.LEGAL_REQUEST, before, reason, now)


# --- legal requests --------------------------------------------------------------------------------


def create_legal_request(*, actor: Any, data: dict[str, Any]) -> LegalRequest:
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
    agency = _collect(
        errors, "agency", lambda: validation.clean_text(data.get("agency"), "Agency", required=True, max_length=200)
    )
    reference = _collect(
        errors,
        "reference",
        lambda: validation.clean_text(data.get("reference"), "Reference", required=True, max_length=200),
    )
    notes = _collect(errors, "notes", lambda: validation.clean_text(data.get("notes"), "Notes", required=False))
    received_at = data.get("received_at")
    if received_at is None:
        errors["received_at"] = ["Received is required: when did the request arrive?"]
    elif received_at > now + cfg.clock_skew:
        errors["received_at"] = [f"Received can't be in the future (it is now {_shown(now)})."]
    elif received_at < validation.EARLIEST_PLAUSIBLE:
        errors["received_at"] = ["Received is before the year 2000; check the year."]
    response_due_at = data.get("response_due_at")
    if response_due_at is not None and received_at is not None and response_due_at < received_at:
        errors["response_due_at"] = ["Response due can't be before the request was received."]
    ids = [int(pk) for pk in data.get("escalations") or []]
    escalations = list(Escalation.objects.filter(pk__in=ids).order_by("pk"))
    if not ids:
        errors["escalations"] = ["Escalations: name at least one escalation the request covers."]
    elif len(escalations) != len(set(ids)):
        missing = sorted(set(ids) - {e.pk for e in escalations})
        errors["escalations"] = [f"Escalations: no escalation with id {', '.join(map(str, missing))}."]
    renews = None
    if kind == LegalRequestKind.RENEWAL_2703F:
        renews_id = data.get("renews")
        renews = LegalRequest.objects.filter(pk=renews_id, kind__in=PRESERVATION_KINDS).first() if renews_id else None
        if renews is None:
            errors["renews"] = ["Renews: a renewal must name the 2703(f) request it renews."]
    elif data.get("renews"):
        errors["renews"] = ["Renews: only a 2703(f) renewal renews another request."]
    _raise_if(errors)
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
            label += f"; holds preservation until {_shown(hold_until)}"
        _touch_escalations(escalations, actor, label, now)
    return request


def _change_request(actor: Any, request_id: int, version: int | None) -> LegalRequest:
    require(actor, Action.MANAGE_LEGAL)
    request = LegalRequest.objects.select_for_update().get(pk=request_id)
    if version is not None and request.version != version:
        raise ValidationError(
            f"{request.key} was changed by someone else after the version you started from; nothing was saved. "
            "Check it and try again."
        )
    return request


def respond_legal_request(
    *, actor: Any, request_id: int, version: int | None, responded_at: datetime | None
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
        _touch_escalations(request.escalations.all(), actor, f"{request.key}: responded {_shown(responded_at)}", now)
    return request


def close_legal_request(*, actor: Any, request_id: int, version: int | None, reason: str) -> LegalRequest:
    """Close a request (withdrawn or fulfilled): its hold ends and it no longer blocks release."""
    now = timezone.now()
    reason = _clean_reason(reason)
    with transaction.atomic():
        request = _change_request(actor, request_id, version)
        if request.status == LegalRequestStatus.CLOSED:
            raise ValidationError(f"{request.key} is closed already.")
        request.status = LegalRequestStatus.CLOSED
        request.notes = (request.notes + "\n" if request.notes else "") + f"Closed: {reason}"
        request.version += 1
        request.save()
        _touch_escalations(request.escalations.all(), actor, f"{request.key} closed: {reason}", now)
    return request


# --- preservation: extension and release -----------------------------------------------------------


def extend_preservation(
    *, actor: Any, escalation_id: int, version: int | None, until: datetime | None, reason: str
) -> Escalation:
    """A lead keeps the evidence longer than the rules require, voluntarily, with a reason."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status != Status.REPORTED:
            raise ValidationError(
                f"Only a reported escalation's preservation can be extended; "
                f"{esc.key} is {esc.get_status_display().lower()}."
            )
        errors: dict[str, list[str]] = {}
        clean = _collect(errors, "reason", lambda: validation.clean_text(reason, "Reason", required=True))
        current = policy.escalation_preserve_until(esc, cfg)
        if until is None:
            errors["until"] = ["Keep until is required."]
        elif current is not None and until <= current:
            errors["until"] = [f"Keep until must be after the current end of preservation, {_shown(current)}."]
        elif until > now + MAX_EXTENSION:
            errors["until"] = ["Keep until can be at most ten years away."]
        _raise_if(errors)
        assert until is not None
        PreservationExtension.objects.create(escalation=esc, until=until, reason=clean, created_by=actor)
        _refresh_holds(esc)
        esc.release_requested_at = esc.release_requested_by = None
        return f"Kept until {_shown(until)}: {clean}"

    return _change(actor, Action.EXTEND_PRESERVATION, escalation_id, version, AuditAction.PRESERVATION_EXTENDED, mutate)


def _release_blockers(esc: Escalation, now: datetime, cfg: policy.PolicyConfig, action: str) -> None:
    if esc.status != Status.REPORTED:
        raise ValidationError(
            f"Only a reported escalation's evidence is released; {esc.key} is {esc.get_status_display().lower()}."
        )
    end = policy.escalation_preserve_until(esc, cfg)
    if end is None or now < end:
        raise ValidationError(f"{esc.key} can't be {action} before preservation ends on {_shown(end)}.")
    blocked = _open_requests_error(esc, action)
    if blocked is not None:
        raise blocked


def request_release(*, actor: Any, escalation_id: int, version: int | None, reason: str) -> Escalation:
    """After preserve_until, a lead asks for the preserved evidence to be released; another approves."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        _release_blockers(esc, now, cfg, "released")
        if esc.released_at is not None:
            raise ValidationError(f"{esc.key}'s evidence was released already.")
        clean = _clean_reason(reason)
        esc.release_requested_at, esc.release_requested_by = now, actor
        return clean

    return _change(actor, Action.RELEASE, escalation_id, version, AuditAction.RELEASE_REQUESTED, mutate)


def approve_release(*, actor: Any, escalation_id: int, version: int | None) -> Escalation:
    """A second lead (not the one who asked) approves the release."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.release_requested_at is None:
            raise ValidationError(f"Nobody has requested {esc.key}'s release yet.")
        if esc.release_requested_by_id == actor.pk:
            raise ValidationError("A different lead must approve the release you requested.")
        _release_blockers(esc, now, cfg, "released")
        esc.released_at, esc.released_by = now, actor
        return ""

    return _change(actor, Action.RELEASE, escalation_id, version, AuditAction.RELEASED, mutate)
