"""Every change to an escalation: check the role, validate, write, record an AuditEvent, one
transaction. Nothing else in the code writes an Escalation or an AuditEvent.

Each function raises:
- PermissionDenied when the actor's role does not allow the action;
- ValidationError (a dict of field -> messages; "__all__" for the whole record) for bad input or a
  transition the rules forbid; nothing is written;
- StaleVersionError when `version` is not the escalation's current version (someone else saved
  first); nothing is written;
- Escalation.DoesNotExist for an unknown id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from escalations import policy
from escalations.core import ncmec_report, validation
from escalations.core.display import shown
from escalations.core.holds import open_requests_error
from escalations.core.people import User
from escalations.core.permissions import LEAD, MODERATOR, Action, is_lead, require
from escalations.core.write_frame import (
    AUDITED_FIELDS,
    change,
    clean_reason,
    collect,
    current_via,
    raise_if,
    save_with_event,
)
from escalations.models import AuditAction, AuditEvent, BreachReason, Escalation, IncidentType, Priority, Status

# What logging an escalation asks for: the same on the page, in the API, in bulk and in the import.
INTAKE_FIELDS = ("platform_reference", "incident_type", "priority", "urgent_reason", "knowledge_at", "notes")
# What a person may change of the logged facts, in the order the forms show it: the intake, plus the
# reported account (links related escalations), NCMEC's report annotations, the earlier report a
# follow-up names, and the report's state at NCMEC with its unfinished-report timer.
EDITABLE_FIELDS = (
    "platform_reference",
    "account_reference",
    "incident_type",
    "priority",
    "urgent_reason",
    "knowledge_at",
    "notes",
    "ncmec_annotations",
    "prior_report_id",
    "ncmec_submission_state",
    "ncmec_opened_at",
    "ncmec_last_change_at",
)


def _report_id_taken_error(report_id: str, exclude_pk: int | None, actor: User) -> ValidationError | None:
    """The refusal of a report ID already recorded elsewhere. It names that escalation only to an
    actor who may open it (need-to-know): others learn that the ID is taken, not where. One query."""
    # Imported here: selectors imports the legal services, which import this module.
    from escalations.core.selectors import visible_q

    others = Escalation.objects.filter(cybertipline_report_id=report_id)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    rule = visible_q(actor)
    if rule:
        others = others.annotate(may_open=Case(When(rule, then=Value(True)), default=Value(False)))
    holder = others.only("pk").first()
    if holder is None:
        return None
    hidden = bool(rule) and not holder.may_open  # type: ignore[attr-defined]
    where = "another escalation you can't open; ask a lead" if hidden else holder.key
    return ValidationError(
        {"cybertipline_report_id": f"CyberTipline report ID {report_id} is already recorded on {where}."}
    )


def _validate_record(esc: Escalation, now: datetime, cfg: policy.PolicyConfig, errors: dict[str, list[str]]) -> None:
    """Checks on the whole record after a change, shared by create and edit."""
    esc.platform_reference = (
        collect(
            errors,
            "platform_reference",
            lambda: validation.clean_reference(esc.platform_reference, "Platform reference"),
        )
        or esc.platform_reference
    )
    if esc.incident_type not in IncidentType.values:
        errors.setdefault("incident_type", []).append("Incident type: choose one of the CyberTipline's incident types.")
    if esc.priority not in (Priority.STANDARD, Priority.URGENT):
        errors.setdefault("priority", []).append("Priority must be standard or urgent.")
    typed_urgent_reason = (esc.urgent_reason or "").strip()
    esc.urgent_reason = (
        collect(
            errors,
            "urgent_reason",
            lambda: validation.clean_text(esc.urgent_reason, "Urgent reason", required=esc.priority == Priority.URGENT),
        )
        or ""
    )
    # Only a missing reason gets this message; a refused one keeps its own (why it was refused).
    if esc.priority == Priority.URGENT and not typed_urgent_reason and "urgent_reason" in errors:
        errors["urgent_reason"] = [
            "Urgent reason is required for an urgent escalation: say why a child may be in imminent danger."
        ]
    if esc.priority == Priority.STANDARD:
        esc.urgent_reason = ""
    esc.notes = (
        collect(
            errors,
            "notes",
            lambda: validation.clean_text(esc.notes, "Notes", required=False, max_length=validation.NOTES_MAX_LENGTH),
        )
        or ""
    )
    collect(errors, "knowledge_at", lambda: validation.check_knowledge_at(esc.knowledge_at, now, cfg))
    if esc.reported_at and esc.knowledge_at and esc.reported_at < esc.knowledge_at:
        errors.setdefault("knowledge_at", []).append(
            "Knowledge obtained can't be after the report was sent; check both times."
        )
    esc.account_reference = (
        collect(
            errors,
            "account_reference",
            lambda: validation.clean_reference(esc.account_reference, "Account reference", required=False),
        )
        or ""
    )
    _check_ncmec_times(esc, now, cfg, errors)


def _check_ncmec_times(esc: Escalation, now: datetime, cfg: policy.PolicyConfig, errors: dict[str, list[str]]) -> None:
    """NCMEC's unfinished-report timer: both times in the past, the last change not before opening."""
    now_shown = shown(now)
    opened, changed = esc.ncmec_opened_at, esc.ncmec_last_change_at
    for field, label, value in (
        ("ncmec_opened_at", "Opened at NCMEC", opened),
        ("ncmec_last_change_at", "Last change at NCMEC", changed),
    ):
        if value is None:
            continue
        if value > now + cfg.clock_skew:
            errors.setdefault(field, []).append(f"{label} can't be in the future (it is now {now_shown}).")
        elif value < validation.EARLIEST_PLAUSIBLE:
            errors.setdefault(field, []).append(f"{label} is before the year 2000; check the year.")
    if changed is not None and opened is None:
        errors.setdefault("ncmec_last_change_at", []).append(
            "Last change at NCMEC needs Opened at NCMEC: when was the report opened through NCMEC's API?"
        )
    elif changed is not None and opened is not None and changed < opened:
        errors.setdefault("ncmec_last_change_at", []).append(
            "Last change at NCMEC can't be before the report was opened at NCMEC; check both times."
        )


def create_escalation(*, actor: User, data: dict[str, Any], assign_to_actor: bool = True) -> Escalation:
    """Log a new escalation. `data` holds the EDITABLE_FIELDS, plus `assignee` (a user; when none is
    named, the actor, a person who logs what they saw; or nobody with `assign_to_actor=False`, for a
    pipeline: its escalations wait for a moderator to take them). Times are aware datetimes.
    Many at once: escalations.core.batch_create, which checks each with the same `check_new`."""
    require(actor, Action.CREATE)
    cfg = policy.PolicyConfig.from_settings()
    now = timezone.now()
    esc, errors = check_new(actor, data, assign_to_actor, now, cfg, check_assignable)
    raise_if(errors)
    before = dict.fromkeys(AUDITED_FIELDS)
    with transaction.atomic():
        esc.version = 0  # save_with_event bumps it to 1
        return save_with_event(esc, actor, AuditAction.CREATED, before, "", now)


def check_new(
    actor: User,
    data: dict[str, Any],
    assign_to_actor: bool,
    now: datetime,
    cfg: policy.PolicyConfig,
    assignable: Callable[[User | None], None],
) -> tuple[Escalation, dict[str, list[str]]]:
    """The unsaved escalation `data` describes, cleaned, and every error found in it by field (empty
    when it may be saved). `assignable` raises when its user may not be assigned (check_assignable,
    or a batch's memo of it). No write."""
    esc = Escalation(
        created_by=actor,
        status=Status.OPEN,
        assignee=data.get("assignee") or (actor if assign_to_actor else None),
        is_test=bool(data.get("is_test", False)),
        **{name: data.get(name) for name in EDITABLE_FIELDS if name in data},
    )
    esc.priority = esc.priority or Priority.STANDARD
    errors: dict[str, list[str]] = {}
    _validate_record(esc, now, cfg, errors)
    ncmec_report.check(esc, "", now, errors)
    collect(errors, "assignee", lambda: assignable(esc.assignee))
    return esc, errors


def edit_escalation(*, actor: User, escalation_id: int, version: int | None, data: dict[str, Any]) -> Escalation:
    """Change the logged facts (EDITABLE_FIELDS present in `data`). Open escalations: moderators and
    leads; reported ones: leads only (the report already cites these facts)."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status == Status.REPORTED and not is_lead(actor):
            raise ValidationError(f"{esc.key} is already reported; only a lead can change its facts now.")
        if esc.status not in (Status.OPEN, Status.REPORTED):
            raise ValidationError(f"{esc.key} is {esc.get_status_display().lower()}; reopen it before editing.")
        stored_state = esc.ncmec_submission_state
        for name in EDITABLE_FIELDS:
            if name in data:
                setattr(esc, name, data[name])
        errors: dict[str, list[str]] = {}
        _validate_record(esc, now, cfg, errors)
        ncmec_report.check(esc, stored_state, now, errors)
        raise_if(errors)
        return ""

    return change(actor, Action.EDIT, escalation_id, version, AuditAction.EDITED, mutate)


def check_assignable(user: User | None) -> None:
    """Refuse a user who is not an active moderator or lead (one query; none for nobody)."""
    if user is not None and not (user.is_active and user.groups.filter(name__in=(MODERATOR, LEAD)).exists()):
        raise ValidationError({"assignee": f"{user.get_username()} is not an active moderator or lead."})


def assign_escalation(*, actor: User, escalation_id: int, version: int | None, assignee: User | None) -> Escalation:
    """Give the escalation to a moderator or lead (or to nobody with assignee=None)."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if not esc.is_active:
            raise ValidationError(
                f"{esc.key} is {esc.get_status_display().lower()}; only active escalations are assigned."
            )
        check_assignable(assignee)
        esc.assignee = assignee
        return ""

    return change(actor, Action.ASSIGN, escalation_id, version, AuditAction.ASSIGNED, mutate)


def take_escalation(*, actor: User, escalation_id: int, version: int | None) -> Escalation:
    """A moderator or lead takes an unassigned, active escalation for themselves. Only one person
    gets it: the row is locked, and whoever comes second learns who took it."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if not esc.is_active:
            raise ValidationError(
                f"{esc.key} is {esc.get_status_display().lower()}; only active escalations are taken."
            )
        if esc.assignee is not None:
            who = "you" if esc.assignee_id == actor.pk else esc.assignee.get_username()
            raise ValidationError(f"{esc.key} is already assigned to {who}.")
        check_assignable(actor)
        esc.assignee = actor
        return ""

    return change(actor, Action.TAKE, escalation_id, version, AuditAction.TAKEN, mutate)


def _apply_breach(
    esc: Escalation, late: bool, breach_reason: str | None, breach_note: str | None, errors: dict[str, list[str]]
) -> None:
    """A report recorded after its target needs a reason (and a note with "other"); one in time
    carries none."""
    if not late:
        esc.breach_reason, esc.breach_note = "", ""
        return
    reason = (breach_reason or "").strip()
    if reason not in BreachReason.values:
        due = shown(esc.report_due_at)
        errors.setdefault("breach_reason", []).append(
            f"Breach reason is required: the report was recorded after its target ({due}). Choose why."
        )
        return
    note = collect(
        errors,
        "breach_note",
        lambda: validation.clean_text(breach_note, "Breach note", required=reason == BreachReason.OTHER),
    )
    esc.breach_reason, esc.breach_note = reason, note or ""


def record_report(
    *,
    actor: User,
    escalation_id: int,
    version: int | None,
    reported_at: datetime | None,
    cybertipline_report_id: Any,
    breach_reason: str | None = None,
    breach_note: str | None = None,
) -> Escalation:
    """Record that the report was sent to NCMEC and the report ID it returned; the escalation becomes
    `reported`. A report after its target needs `breach_reason` (and `breach_note` with "other").
    A recorded report is changed by correct_report, with a reason."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status == Status.REPORTED:
            raise ValidationError(
                f"{esc.key}'s report is already recorded. To change it, use Correct the report and say why."
            )
        if esc.status != Status.OPEN:
            raise ValidationError(f"{esc.key} is {esc.get_status_display().lower()}; reopen it to record a report.")
        _check_report(esc, now, cfg, reported_at, cybertipline_report_id, breach_reason, breach_note, actor)
        esc.status = Status.REPORTED
        return ""

    try:
        return change(actor, Action.RECORD_REPORT, escalation_id, version, AuditAction.REPORT_RECORDED, mutate)
    except IntegrityError:
        # Two people recorded the same report ID at the same moment: the unique index decided.
        taken = _report_id_taken_error(validation.clean_report_id(cybertipline_report_id), escalation_id, actor)
        if taken is None:
            raise
        raise taken from None


def _check_report(
    esc: Escalation,
    now: datetime,
    cfg: policy.PolicyConfig,
    reported_at: datetime | None,
    cybertipline_report_id: Any,
    breach_reason: str | None,
    breach_note: str | None,
    actor: User,
) -> None:
    """Check a report's time, ID and breach reason (a late one needs one) and set them on `esc`;
    raises ValidationError naming each field (the caller's transaction then writes nothing)."""
    errors: dict[str, list[str]] = {}
    report_id = collect(errors, "cybertipline_report_id", lambda: validation.clean_report_id(cybertipline_report_id))
    collect(errors, "reported_at", lambda: validation.check_reported_at(reported_at, esc.knowledge_at, now, cfg))
    if report_id and not errors.get("cybertipline_report_id"):
        taken = _report_id_taken_error(report_id, esc.pk, actor)
        if taken is not None:
            errors.setdefault("cybertipline_report_id", []).extend(taken.messages)
    if reported_at is not None and not errors.get("reported_at"):
        late = reported_at > policy.escalation_report_due_at(esc, cfg)
        _apply_breach(esc, late, breach_reason, breach_note, errors)
    raise_if(errors)
    esc.reported_at = reported_at
    esc.cybertipline_report_id = report_id


# What a correction may change: what the report recorded.
CORRECTABLE_FIELDS = ("reported_at", "cybertipline_report_id", "breach_reason", "breach_note")


def correct_report(*, actor: User, escalation_id: int, version: int | None, reason: str, **values: Any) -> Escalation:
    """Correct a recorded report: its time sent (`reported_at`), its CyberTipline report ID or its
    breach reason and note; a field left out keeps its value. `reason` (required) says why; the audit
    event keeps the old and new values with it. A time corrected to within the target clears the
    breach reason; one corrected past it needs one."""
    require(actor, Action.CORRECT_REPORT)
    unknown = sorted(set(values) - set(CORRECTABLE_FIELDS))
    if unknown:
        raise ValidationError(
            {name: f"{name} is not part of a report; only {', '.join(CORRECTABLE_FIELDS)}." for name in unknown}
        )

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status != Status.REPORTED:
            raise ValidationError(
                f"{esc.key} has no recorded report to correct ({esc.get_status_display().lower()})."
                + (" Record the report instead." if esc.status == Status.OPEN else "")
            )
        errors: dict[str, list[str]] = {}
        why = collect(errors, "reason", lambda: clean_reason(reason))
        current = {name: getattr(esc, name) for name in CORRECTABLE_FIELDS}
        wanted = {**current, **values}
        before = (esc.reported_at, esc.cybertipline_report_id, esc.breach_reason, esc.breach_note)
        try:
            _check_report(
                esc, now, cfg, wanted["reported_at"], wanted["cybertipline_report_id"],
                wanted["breach_reason"], wanted["breach_note"], actor,
            )  # fmt: skip
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(messages)
        if not errors and before == (esc.reported_at, esc.cybertipline_report_id, esc.breach_reason, esc.breach_note):
            errors.setdefault("__all__", []).append(
                "Nothing to correct: the report time, report ID and breach reason are as recorded."
            )
        raise_if(errors)
        return str(why)

    try:
        return change(actor, Action.CORRECT_REPORT, escalation_id, version, AuditAction.REPORT_CORRECTED, mutate)
    except IntegrityError:
        report_id = values.get("cybertipline_report_id")
        taken = (
            _report_id_taken_error(validation.clean_report_id(report_id), escalation_id, actor) if report_id else None
        )
        if taken is None:
            raise
        raise taken from None


def confirm_preservation(
    *, actor: User, escalation_id: int, version: int | None, preservation_location: str
) -> Escalation:
    """Confirm the reported content is preserved in the platform's evidence store, at
    `preservation_location` (a reference into that store, never content). Now is the confirmation time."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status not in (Status.OPEN, Status.REPORTED):
            raise ValidationError(
                f"{esc.key} is {esc.get_status_display().lower()}; reopen it to confirm preservation."
            )
        try:
            location = validation.clean_reference(preservation_location, "Preservation location")
        except ValidationError as exc:
            raise ValidationError({"preservation_location": exc.messages}) from None
        esc.preservation_location = location
        esc.preservation_confirmed_at = now
        esc.preservation_confirmed_by = actor
        return ""

    return change(
        actor, Action.CONFIRM_PRESERVATION, escalation_id, version, AuditAction.PRESERVATION_CONFIRMED, mutate
    )


def confirm_knowledge(
    *,
    actor: User,
    escalation_id: int,
    version: int | None,
    knowledge_at: datetime | None,
    breach_reason: str | None = None,
    breach_note: str | None = None,
) -> Escalation:
    """Confirm, or correct, when knowledge was obtained, for an escalation whose knowledge time
    nobody has confirmed (made from Coop's report: it held the receipt time). Moderators and leads.
    The report target then counts from the confirmed time: a report it makes late needs
    `breach_reason` (and `breach_note` with "other"). The audit event keeps the old and new time."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.knowledge_unconfirmed_since is None:
            raise ValidationError(f"{esc.key}'s knowledge time is confirmed already; a lead changes it with Edit.")
        if esc.status not in (Status.OPEN, Status.REPORTED):
            raise ValidationError(f"{esc.key} is {esc.get_status_display().lower()}; reopen it first.")
        errors: dict[str, list[str]] = {}
        collect(errors, "knowledge_at", lambda: validation.check_knowledge_at(knowledge_at, now, cfg))
        if knowledge_at is not None and esc.reported_at is not None and knowledge_at > esc.reported_at:
            errors.setdefault("knowledge_at", []).append(
                f"Knowledge obtained can't be after the report was sent ({shown(esc.reported_at)}); check the time."
            )
        raise_if(errors)
        assert knowledge_at is not None
        stored = esc.knowledge_at
        esc.knowledge_at = knowledge_at
        esc.knowledge_unconfirmed_since = None
        if esc.reported_at is not None:
            esc.report_due_at = policy.escalation_report_due_at(esc, cfg)
            _apply_breach(esc, esc.reported_at > esc.report_due_at, breach_reason, breach_note, errors)
            raise_if(errors)
        if knowledge_at == stored:
            return "Knowledge time confirmed as stored (the report's receipt time)."
        return f"Knowledge time corrected from {shown(stored)} (a placeholder) to {shown(knowledge_at)}."

    return change(actor, Action.CONFIRM_KNOWLEDGE, escalation_id, version, AuditAction.KNOWLEDGE_CONFIRMED, mutate)


def dismiss_escalation(*, actor: User, escalation_id: int, version: int | None, reason: str) -> Escalation:
    """A lead decides an open escalation is not reportable; the reason is required and audited."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status != Status.OPEN:
            raise ValidationError(
                f"Only open escalations can be dismissed; {esc.key} is {esc.get_status_display().lower()}."
            )
        esc.status_reason = clean_reason(reason)
        esc.status = Status.DISMISSED
        return esc.status_reason

    return change(actor, Action.DISMISS, escalation_id, version, AuditAction.DISMISSED, mutate)


def close_escalation(
    *, actor: User, escalation_id: int, version: int | None, reason: str, retained: bool = False
) -> Escalation:
    """A lead closes a reported escalation once its preservation period has ended, no legal request
    is open, and its evidence was released (requested and approved by two leads) or is retained
    voluntarily (`retained`, the reason saying why)."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status != Status.REPORTED:
            raise ValidationError(
                f"Only reported escalations can be closed; {esc.key} is {esc.get_status_display().lower()}."
            )
        if esc.preserve_until is None or now < esc.preserve_until:
            until = shown(esc.preserve_until)
            raise ValidationError(
                f"{esc.key} can't be closed before its preservation period ends on {until} "
                "(18 U.S.C. 2258A(h): one year after the report, or longer under a hold)."
            )
        blocked = open_requests_error(esc, "closed")
        if blocked is not None:
            raise blocked
        if esc.released_at is None and not retained:
            raise ValidationError(
                f"{esc.key}'s evidence has not been released. Request its release (a second lead approves), "
                "or tick 'Retained voluntarily' and say why in the reason."
            )
        esc.status_reason = clean_reason(reason)
        esc.status = Status.CLOSED
        return esc.status_reason

    return change(actor, Action.CLOSE, escalation_id, version, AuditAction.CLOSED, mutate)


def reopen_escalation(*, actor: User, escalation_id: int, version: int | None, reason: str) -> Escalation:
    """A lead reopens a closed or dismissed escalation; it returns to `reported` if a report was
    recorded, else to `open`, and its deadlines apply again."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.status not in (Status.CLOSED, Status.DISMISSED):
            raise ValidationError(f"{esc.key} is already active ({esc.get_status_display().lower()}).")
        esc.status_reason = clean_reason(reason)
        esc.status = Status.REPORTED if esc.reported_at else Status.OPEN
        return esc.status_reason

    return change(actor, Action.REOPEN, escalation_id, version, AuditAction.REOPENED, mutate)


def amend_breach(
    *, actor: User, escalation_id: int, version: int | None, breach_reason: str, breach_note: str
) -> Escalation:
    """A lead corrects why a late report was late (audited like every change)."""

    def mutate(esc: Escalation, now: datetime, cfg: policy.PolicyConfig) -> str:
        if esc.reported_on_time is not False:
            raise ValidationError(f"{esc.key} has no late report, so it has no breach reason to amend.")
        errors: dict[str, list[str]] = {}
        _apply_breach(esc, True, breach_reason, breach_note, errors)
        raise_if(errors)
        return ""

    return change(actor, Action.AMEND_BREACH, escalation_id, version, AuditAction.BREACH_AMENDED, mutate)


def record_account_event(*, actor: User | None, action: str, changes: dict[str, Any] | None = None) -> AuditEvent:
    """Security events about accounts rather than escalations (sign-ins and failures, lockouts and
    unlocks, two-factor and password changes, tokens, membership, webhook settings) go in the audit
    trail too; they belong to no escalation. `actor` is None when no one signed in acted (a failed
    sign-in, a shell or a command); `changes` names whom it is about. Never a secret: no password,
    code or token is written down."""
    return AuditEvent.objects.create(
        escalation=None,
        actor=actor,
        at=timezone.now(),
        action=action,
        changes=changes or {},
        version=0,
        via=current_via(),
    )


def record_export(
    *, actor: User, export: str, query: str, rows: int, escalation: Escalation | None = None
) -> AuditEvent:
    """Every export is itself an audit event: who took which records away, with which filters."""
    require(actor, Action.EXPORT)
    with transaction.atomic():
        return AuditEvent.objects.create(
            escalation=escalation,
            actor=actor,
            at=timezone.now(),
            action=AuditAction.EXPORTED,
            changes={"export": export, "filters": query, "rows": rows},
            version=escalation.version if escalation else 0,
            via=current_via(),
        )
