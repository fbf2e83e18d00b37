"""Logging many escalations at once (the bulk API, the import): each item is checked exactly as
services.create_escalation checks one (services.check_new, the same messages), and the good ones are
written in one transaction by a handful of bulk inserts whatever the batch's size: the escalations,
the rule versions that judged them, one audit event each (chained per escalation by the database's
insert trigger, as a single create's is) and their outbound events. A single create's rows and a
batch's are the same rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from escalations.core import event_outbox, ncmec_report, rulebook
from escalations.core.people import User
from escalations.core.permissions import Action, require
from escalations.core.services import check_assignable, check_new
from escalations.core.write_frame import AUDITED_FIELDS, apply_policy, current_via, diff, snapshot
from escalations.models import AuditAction, AuditEvent, Escalation, EscalationRule


@dataclass
class BatchResult:
    """What became of each item, by its index in the batch: the saved escalation, or the error that
    names each field in fault (a ValidationError with a message_dict, as create_escalation raises)."""

    created: dict[int, Escalation] = field(default_factory=dict)
    errors: dict[int, ValidationError] = field(default_factory=dict)


def _memo_assignable() -> Callable[[User | None], None]:
    """check_assignable, asked once per person in a batch (a pipeline names the same few)."""
    seen: dict[int, ValidationError | None] = {}

    def check(user: User | None) -> None:
        if user is None:
            return
        if user.pk not in seen:
            try:
                check_assignable(user)
                seen[user.pk] = None
            except ValidationError as exc:
                seen[user.pk] = exc
        refusal = seen[user.pk]
        if refusal is not None:
            raise refusal

    return check


def _check(
    actor: User, items: Sequence[dict[str, Any]], assign_to_actor: bool
) -> tuple[list[tuple[int, Escalation]], dict[int, ValidationError], Any, Any]:
    require(actor, Action.CREATE)
    now = timezone.now()
    # The settings plus the latest version of each rule: what any new escalation is judged by (no
    # pins yet), read once for the batch.
    cfg = rulebook.config_for(Escalation())
    assignable = _memo_assignable()
    good: list[tuple[int, Escalation]] = []
    errors: dict[int, ValidationError] = {}
    for index, data in enumerate(items):
        esc, found = check_new(actor, data, assign_to_actor, now, cfg, assignable)
        if found:
            errors[index] = ValidationError(found)
        else:
            good.append((index, esc))
    return good, errors, cfg, now


def check_escalations(
    *, actor: User, items: Sequence[dict[str, Any]], assign_to_actor: bool = True
) -> dict[int, ValidationError]:
    """The errors create_escalations would find, by item; writes nothing."""
    return _check(actor, items, assign_to_actor)[1]


def create_escalations(
    *,
    actor: User,
    items: Sequence[dict[str, Any]],
    assign_to_actor: bool = True,
    all_or_nothing: bool = False,
    refused: Collection[int] = (),
) -> BatchResult:
    """Check every item (the `data` of create_escalation) and save the good ones in one transaction.
    With `all_or_nothing`, one bad item and none is saved. `refused` names items the caller already
    found fault with (a column it could not read): they are checked, so that their errors are all
    reported, and never saved. Raises PermissionDenied when the actor may not log escalations."""
    good, errors, cfg, now = _check(actor, items, assign_to_actor)
    result = BatchResult(errors=errors)
    good = [(index, esc) for index, esc in good if index not in refused]
    if not good or (all_or_nothing and errors):
        return result
    with transaction.atomic():
        saved = _save(actor, [esc for _, esc in good], cfg, now)
    result.created = {index: esc for (index, _), esc in zip(good, saved, strict=True)}
    return result


def _save(actor: User, escalations: list[Escalation], cfg: Any, now: Any) -> list[Escalation]:
    """What save_with_event does for one new escalation, for all of them at once."""
    empty = dict.fromkeys(AUDITED_FIELDS)
    changes = []
    for esc in escalations:
        ncmec_report.settle(esc)
        apply_policy(esc, cfg)
        esc.version = 1
        changes.append(diff(empty, snapshot(esc)))
    Escalation.objects.bulk_create(escalations)
    ncmec_report.create_rows(escalations)
    EscalationRule.objects.bulk_create(
        EscalationRule(escalation=esc, rule_id=rule_id, deadline=deadline, judged_at=now)
        for esc in escalations
        for rule_id, deadline in rulebook.judged_by(esc, cfg).items()
    )
    via = current_via()
    encoder = DjangoJSONEncoder()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            escalation=esc,
            actor=actor if getattr(actor, "pk", None) else None,
            at=now,
            action=AuditAction.CREATED,
            # As write_event stores it: exactly what an export will show.
            changes=json.loads(encoder.encode(change)),
            reason="",
            version=esc.version,
            via=via,
        )
        for esc, change in zip(escalations, changes, strict=True)
    )
    event_outbox.record_created(escalations, now)
    return escalations
