"""The audited write frame every change to an escalation goes through: lock the row, check the version,
validate, recompute the deadlines, save, and write the audit event with the before and after of each
changed field, in one transaction. Public so that core's and legal's services share one frame."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from escalations import policy
from escalations.core import authority_register, event_outbox, ncmec_report, rulebook, validation
from escalations.core.display import shown
from escalations.core.people import User
from escalations.core.permissions import Action, require
from escalations.models import AuditAction, AuditEvent, Escalation

# Fields whose before/after each audit event records (derived deadlines included, so an auditor
# sees when and why a deadline moved).
AUDITED_FIELDS = (
    "platform_reference",
    "is_test",
    "incident_type",
    "priority",
    "urgent_reason",
    "knowledge_at",
    "notes",
    "reported_at",
    "cybertipline_report_id",
    "breach_reason",
    "breach_note",
    "status",
    "status_reason",
    "preservation_confirmed_at",
    "preservation_confirmed_by",
    "preservation_location",
    "assignee",
    "report_due_at",
    "preservation_confirm_due_at",
    "preserve_until",
    "preservation_hold_until",
    "release_requested_at",
    "release_requested_by",
    "released_at",
    "released_by",
    "account_reference",
    "ncmec_opened_at",
    "ncmec_last_change_at",
    "knowledge_unconfirmed_since",
    "ncmec_annotations",
    "prior_report_id",
    "ncmec_submission_state",
)


# How the current actor acts when not in person (a service token's name): set by the API around its
# service calls and written on every audit event, so the trail says which machine did what.
_acting_via: ContextVar[str] = ContextVar("acting_via", default="")


@contextmanager
def acting_via(via: str) -> Iterator[None]:
    token = _acting_via.set(via)
    try:
        yield
    finally:
        _acting_via.reset(token)


class StaleVersionError(Exception):
    """Someone saved the escalation after the actor loaded it. Carries the current record."""

    def __init__(self, escalation: Escalation, last_event: AuditEvent | None):
        self.escalation = escalation
        self.last_event = last_event
        who = "someone"
        when = ""
        if last_event is not None:
            who = last_event.actor.get_username() if last_event.actor else "the system"
            when = " at " + shown(last_event.at)
        self.message = (
            f"{escalation.key} was changed by {who}{when} after the version you started from, so nothing "
            "was saved. Check the current record, then save again."
        )
        super().__init__(self.message)


def _audit_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "get_username"):
        return value.get_username()
    return value


def snapshot(esc: Escalation) -> dict[str, Any]:
    return {name: _audit_value(getattr(esc, name)) for name in AUDITED_FIELDS}


EMPTY = (None, "", False)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    # None and "" both mean "empty": a field that stays empty is no change worth recording.
    return {
        name: [before[name], after[name]]
        for name in AUDITED_FIELDS
        if before[name] != after[name] and (before[name] not in EMPTY or after[name] not in EMPTY)
    }


def apply_policy(esc: Escalation, cfg: policy.PolicyConfig) -> None:
    for name, value in policy.stored_columns(esc, cfg).items():
        setattr(esc, name, value)


def write_event(
    esc: Escalation, actor: User, action: str, changes: dict[str, list[Any]], reason: str, now: datetime
) -> None:
    # Round-trip through the JSON encoder so what is stored is exactly what an export will show.
    safe = DjangoJSONEncoder().encode(changes)
    AuditEvent.objects.create(
        escalation=esc,
        actor=actor if getattr(actor, "pk", None) else None,
        at=now,
        action=action,
        changes=json.loads(safe),
        reason=reason,
        version=esc.version,
        via=current_via(),
    )


def collect(errors: dict[str, list[str]], field: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except ValidationError as exc:
        errors.setdefault(field, []).extend(exc.messages)
        return None


def raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def save_with_event(
    esc: Escalation,
    actor: User,
    action: str,
    before: dict[str, Any],
    reason: str,
    now: datetime,
    *,
    repin: bool = False,
) -> Escalation:
    """Recompute the deadlines under the rule versions the escalation was judged by (the latest for
    rules that had not judged it yet; all the latest with `repin`), save, record which versions
    judged it, and write the audit event (naming any rule version that changed)."""
    links = rulebook.links_of(esc)
    cfg = rulebook.config_for(esc, repin=repin, links=links)
    ncmec_report.settle(esc)
    apply_policy(esc, cfg)
    changes = diff(before, snapshot(esc))
    if esc.pk is not None and ("knowledge_at" in changes or "priority" in changes):
        # The authorities' deadlines count from knowledge too (and are shorter when urgent); a new
        # escalation owes none yet.
        authority_register.refresh_deadlines(esc, cfg)
    if esc.pk is not None and "status" in changes:
        authority_register.follow_status(esc)
    if not changes and action == AuditAction.EDITED:
        return esc  # nothing changed: no new version, no empty audit event
    esc.version += 1
    esc.save()
    if "ncmec_annotations" in changes:
        ncmec_report.sync_rows(esc)
    rule_changes = rulebook.record_judgement(esc, cfg, now, links)
    if repin:
        # A re-evaluation's event names the rule versions it swapped; otherwise the links record
        # the first judgement of each deadline, and the deadline's own change is already in the event.
        changes.update(rule_changes)
    write_event(esc, actor, action, changes, reason, now)
    # In the same transaction: the outbound event exists exactly when the change committed.
    event_outbox.record_change(esc, action, now)
    return esc


def change(
    actor: User,
    action: Action,
    escalation_id: int,
    version: int | None,
    audit_action: str,
    mutate: Callable[[Escalation, datetime, policy.PolicyConfig], str],
) -> Escalation:
    """Lock the row, check the version, let `mutate` validate and set fields (it returns the reason
    to record), recompute deadlines, save and write the audit event, all in one transaction."""
    require(actor, action)
    cfg = policy.PolicyConfig.from_settings()
    now = timezone.now()
    with transaction.atomic():
        # of=("self",): lock the escalation row only; PostgreSQL refuses FOR UPDATE on the nullable
        # side of the LEFT JOIN that select_related("assignee") adds.
        esc = Escalation.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=escalation_id)
        if version is not None and esc.version != version:
            last = esc.audit_events.select_related("actor").order_by("-at", "-pk").first()
            raise StaleVersionError(esc, last)
        before = snapshot(esc)
        reason = mutate(esc, now, cfg)
        return save_with_event(esc, actor, audit_action, before, reason, now)


def clean_reason(reason: str | None) -> str:
    try:
        return validation.clean_text(reason, "Reason", required=True)
    except ValidationError as exc:
        raise ValidationError({"reason": exc.messages}) from None


def current_via() -> str:
    """The service token's name the current actor acts through, or "" in person."""
    return _acting_via.get()
