"""Recording Coop's report: Coop filed a CyberTipline report and calls our preservation endpoint with
the reported user, the media in the report and NCMEC's report ID. One transaction records the report
on the escalation it belongs to, or creates one, with the media as evidence items, audited as done
via Coop; a receipt unique by report ID makes every later call with that ID find the first answer.

Which escalation: the one already holding that report ID (a person recorded it first); else an open
escalation whose reported account is Coop's user ID (a lead links an escalation to a Coop user by
setting its reported account to that ID), the one with the earliest report target when there are
several; else a new one, whose knowledge time is unknown (see knowledge_unconfirmed_since)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from escalations import policy
from escalations.core.people import User
from escalations.core.write_frame import AUDITED_FIELDS, acting_via, save_with_event, snapshot
from escalations.integrations.coop_payload import PreservationRequest
from escalations.models import (
    AuditAction,
    CoopReceipt,
    Escalation,
    EvidenceItem,
    IncidentType,
    Priority,
    Status,
)

log = logging.getLogger(__name__)

# What the audit trail says the change went through (AuditEvent.via), as "token:<name>" does for the API.
VIA = "Coop"


@dataclass(frozen=True)
class CoopOutcome:
    receipt: CoopReceipt
    # True when this call found the report ID already received (a retry, a replay, a concurrent twin).
    duplicate: bool

    @property
    def answer(self) -> dict[str, object]:
        """What the endpoint answers: the same for the first call and every repeat."""
        return {
            "reportId": self.receipt.report_id,
            "escalation": self.receipt.escalation.key,
            "created": self.receipt.created_escalation,
        }


def coop_actor() -> User:
    """The account Coop's changes are recorded under (COOP_ACTOR_USERNAME): created on first use,
    inactive and without a password, so nobody can sign in as it and no reminder is addressed to it.
    An active account of that name is a person: refused rather than acting in their name."""
    username = settings.COOP_ACTOR_USERNAME
    # The unusable password goes in with the INSERT: a call arriving at the same moment must never
    # read the new row before its password was made unusable.
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"is_active": False, "first_name": "Coop", "password": make_password(None)}
    )
    if user.is_active or user.has_usable_password():
        raise ImproperlyConfigured(
            f"COOP_ACTOR_USERNAME names {username!r}, an account that can sign in; choose an unused name."
        )
    return user


def _incident_type() -> str:
    value = settings.COOP_INCIDENT_TYPE
    if value not in IncidentType.values:
        raise ImproperlyConfigured(f"COOP_INCIDENT_TYPE {value!r} is not one of {', '.join(IncidentType.values)}.")
    return str(value)


def record_coop_report(*, request: PreservationRequest, key_fingerprint: str) -> CoopOutcome:
    """Record the report Coop filed (see the module's docstring). The receipt time is now. Idempotent
    by report ID, also for two calls at once (the receipt's unique index decides). Raises
    ImproperlyConfigured for a bad COOP_ACTOR_USERNAME or COOP_INCIDENT_TYPE; writes nothing then."""
    first = receipt_for(request.report_id)
    if first is not None:
        return CoopOutcome(first, duplicate=True)
    incident_type = _incident_type()
    actor = coop_actor()
    try:
        with acting_via(VIA), transaction.atomic():
            receipt = _record(request, actor, incident_type, key_fingerprint, timezone.now())
    except IntegrityError:
        # A twin call committed the same report ID first (its receipt, or the escalation's unique
        # report ID): everything of ours was rolled back; answer as it did.
        first = receipt_for(request.report_id)
        if first is None:
            raise
        return CoopOutcome(first, duplicate=True)
    return CoopOutcome(receipt, duplicate=False)


def receipt_for(report_id: str) -> CoopReceipt | None:
    """The receipt of an earlier call with this report ID, if any."""
    return CoopReceipt.objects.select_related("escalation").filter(report_id=report_id).first()


def _find(request: PreservationRequest) -> tuple[Escalation | None, list[Escalation]]:
    """The escalation the report belongs to (locked), and the other open ones about the account."""
    holder = Escalation.objects.select_for_update(of=("self",)).filter(cybertipline_report_id=request.report_id).first()
    if holder is not None:
        return holder, []
    candidates = list(
        Escalation.objects.select_for_update(of=("self",))
        .filter(status=Status.OPEN, account_reference=request.user.id)
        .order_by("report_due_at", "pk")[:20]
    )
    return (candidates[0], candidates[1:]) if candidates else (None, [])


def _record(
    request: PreservationRequest, actor: User, incident_type: str, key_fingerprint: str, now: datetime
) -> CoopReceipt:
    escalation, others = _find(request)
    who = f"user {request.user.id} ({request.user.type_id})"
    media = _new_media(escalation, request)
    recorded = (
        f" {len(media)} reported media item{'' if len(media) == 1 else 's'} recorded as evidence items (ID and type)."
    )
    if len(media) < len(request.media):
        recorded += f" {len(request.media) - len(media)} more already recorded or beyond EVIDENCE_ITEMS_MAX."
    if escalation is None:
        escalation = Escalation(
            created_by=actor,
            assignee=None,
            status=Status.REPORTED,
            platform_reference=request.user.id,
            account_reference=request.user.id,
            incident_type=incident_type,
            priority=Priority.STANDARD,
            # Unknown: the receipt time is the latest it can be (knowledge comes before the report).
            knowledge_at=now,
            knowledge_unconfirmed_since=now,
            reported_at=now,
            cybertipline_report_id=request.report_id,
        )
        escalation.version = 0  # save_with_event makes it 1
        reason = (
            f"Created from Coop's report: CyberTipline report {request.report_id} filed for {who}. "
            "When knowledge was obtained is not known yet: the assignee confirms it."
        ) + recorded
        save_with_event(escalation, actor, AuditAction.CREATED, dict.fromkeys(AUDITED_FIELDS), reason, now)
        created = True
    else:
        before = snapshot(escalation)
        if escalation.cybertipline_report_id == request.report_id:
            reason = f"Coop reported CyberTipline report {request.report_id} for {who}, as recorded already."
        else:
            escalation.reported_at = now
            escalation.cybertipline_report_id = request.report_id
            escalation.status = Status.REPORTED
            reason = f"Coop filed CyberTipline report {request.report_id} for {who}; the report time is its receipt."
            late = policy.reported_on_time(escalation, policy.PolicyConfig.from_settings()) is False
            if late:
                reason += " It was after the report target: a lead records the breach reason."
            if others:
                keys = ", ".join(other.key for other in others)
                reason += f" Other open escalations about this account, left open: {keys}."
        reason += recorded
        save_with_event(escalation, actor, AuditAction.COOP_REPORT, before, reason, now)
        created = False
    for item in media:
        item.escalation = escalation
        item.preserved_by, item.preserved_at = actor, now
    EvidenceItem.objects.bulk_create(media)
    return CoopReceipt.objects.create(
        report_id=request.report_id,
        escalation=escalation,
        received_at=now,
        user_id=request.user.id,
        user_type_id=request.user.type_id,
        media=[[item.id, item.type_id] for item in request.media],
        created_escalation=created,
        key_fingerprint=key_fingerprint,
    )


def _new_media(escalation: Escalation | None, request: PreservationRequest) -> list[EvidenceItem]:
    """Each media item as an evidence item holding its ID and type only, but those the escalation
    has already, up to EVIDENCE_ITEMS_MAX (the receipt keeps every one). Unsaved, no escalation yet."""
    have: set[tuple[str, str]] = set()
    if escalation is not None:
        have = set(EvidenceItem.objects.filter(escalation=escalation).values_list("reference", "item_type"))
    room = max(settings.EVIDENCE_ITEMS_MAX - len(have), 0)
    new: list[EvidenceItem] = []
    for item in request.media:
        if (item.id, item.type_id) in have:
            continue
        have.add((item.id, item.type_id))
        new.append(
            EvidenceItem(reference=item.id, item_type=item.type_id, hash_algorithm="", digest="", size_bytes=None)
        )
    if len(new) > room:
        log.warning("coop media beyond the evidence item limit", extra={"recorded": room, "left_out": len(new) - room})
    return new[:room]
