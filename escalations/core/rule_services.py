"""Writes about the rules: an admin makes a new version of a rule (never an edit of the old one), and a
lead judges an escalation again under the current versions. Both audited, with a reason."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from escalations.core import validation
from escalations.core.people import User
from escalations.core.permissions import Action, require, require_admin
from escalations.core.write_frame import (
    StaleVersionError,
    clean_reason,
    current_via,
    save_with_event,
    snapshot,
)
from escalations.models import AuditAction, AuditEvent, Escalation, Rule
from escalations.models.rules import Certainty, Limit, RuleStatus, Unit

# What a new version may change; the rest (code, regime, authority, obligation, clock start) is the
# rule's identity: another identity is another rule.
VERSIONED_FIELDS = (
    "title",
    "limit",
    "amount",
    "second_amount",
    "unit",
    "window_start",
    "window_end",
    "time_zone",
    "applies_to",
    "citation",
    "link_text",
    "source",
    "effective_from",
    "effective_to",
    "status",
    "certainty",
    "notes",
)
IDENTITY_FIELDS = ("code", "regime", "authority", "obligation", "clock_start")


def _shown(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value


def _validate(rule: Rule, errors: dict[str, list[str]]) -> None:
    choices = {
        "status": RuleStatus.values,
        "certainty": Certainty.values,
        "unit": Unit.values,
        "limit": Limit.values,
    }
    for field, allowed in choices.items():
        if getattr(rule, field) not in allowed:
            errors.setdefault(field, []).append(
                f"{field.replace('_', ' ').capitalize()} must be one of {', '.join(allowed)}."
            )
    for field in ("title", "citation", "link_text"):
        try:
            setattr(
                rule,
                field,
                validation.clean_text(getattr(rule, field), field.replace("_", " ").capitalize(), required=True),
            )
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)
    for field in ("source", "notes", "applies_to", "time_zone"):
        try:
            setattr(
                rule,
                field,
                validation.clean_text(getattr(rule, field), field.replace("_", " ").capitalize(), required=False),
            )
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)
    if rule.unit != Unit.NONE and rule.limit not in (Limit.TARGET, Limit.WINDOW, Limit.PERMISSION) and not rule.amount:
        errors.setdefault("amount", []).append("Amount is needed: a rule with a unit sets a duration of at least 1.")
    if rule.effective_from and rule.effective_to and rule.effective_to <= rule.effective_from:
        errors.setdefault("effective_to", []).append("Effective to must come after effective from (it is exclusive).")
    if rule.time_zone:
        try:
            ZoneInfo(rule.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.setdefault("time_zone", []).append(
                f"Time zone {rule.time_zone!r} is not one we know: write a canonical zone like Europe/London."
            )
    if rule.limit == Limit.WINDOW and not (rule.window_start and rule.window_end and rule.time_zone):
        errors.setdefault("window_start", []).append("A time-of-day rule needs its window's start, end and time zone.")


def rule_new_version(*, actor: User, code: str, data: dict[str, Any], reason: str) -> Rule:
    """Make the next version of rule `code` from its latest, with the VERSIONED_FIELDS in `data`
    changed. Admins only; a reason is required; the old versions stay as they were, and the escalations
    judged by them keep them until a lead re-evaluates them. Raises ValidationError naming the field."""
    require_admin(actor, "Only an admin may change a rule.")
    reason = clean_reason(reason)
    unknown = sorted(set(data) - set(VERSIONED_FIELDS))
    if unknown:
        raise ValidationError(
            {unknown[0]: [f"{unknown[0]} can't change in a new version: it is part of the rule's identity."]}
        )
    now = timezone.now()
    with transaction.atomic():
        latest = Rule.objects.select_for_update().filter(code=code).order_by("-version").first()
        if latest is None:
            raise ValidationError({"code": [f"No rule has the code {code!r}."]})
        rule = Rule(**{f: getattr(latest, f) for f in (*IDENTITY_FIELDS, *VERSIONED_FIELDS)})
        for field, value in data.items():
            setattr(rule, field, value)
        errors: dict[str, list[str]] = {}
        _validate(rule, errors)
        if errors:
            raise ValidationError(errors)
        changes = {
            f: [_shown(getattr(latest, f)), _shown(getattr(rule, f))]
            for f in VERSIONED_FIELDS
            if getattr(latest, f) != getattr(rule, f)
        }
        if not changes:
            raise ValidationError({"__all__": ["Nothing changed: a new version must change something."]})
        rule.version = latest.version + 1
        rule.created_by = actor
        rule.reason = reason
        try:
            rule.save()
        except IntegrityError:  # another admin made this version first
            raise ValidationError(
                {"__all__": [f"Someone made version {rule.version} of {code} first; start again."]}
            ) from None
        AuditEvent.objects.create(
            escalation=None,
            actor=actor,
            at=now,
            action=AuditAction.RULE_CHANGED,
            changes={"rule": [f"{code} v{latest.version}", f"{code} v{rule.version}"], **changes},
            reason=reason,
            version=rule.version,
            via=current_via(),
        )
    return rule


def reevaluate_rules(*, actor: User, escalation_id: int, version: int | None, reason: str) -> Escalation:
    """Judge an escalation again under the latest version of every rule (leads, with a reason): its
    deadlines are recomputed, its rule links replaced, and the audit event names every deadline and
    rule version that changed. Recorded even when nothing moved: the check itself is on the record."""
    require(actor, Action.REEVALUATE_RULES)
    reason = clean_reason(reason)
    now = timezone.now()
    with transaction.atomic():
        esc = Escalation.objects.select_for_update(of=("self",)).get(pk=escalation_id)
        if version is not None and esc.version != version:
            raise StaleVersionError(esc, esc.audit_events.select_related("actor").order_by("-at", "-pk").first())
        before = snapshot(esc)
        return save_with_event(esc, actor, AuditAction.RULES_REEVALUATED, before, reason, now, repin=True)
