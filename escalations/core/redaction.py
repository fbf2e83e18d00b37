"""Redaction: removing a value that must not be kept (material pasted into a field by mistake) from
everywhere the tracker holds it, on an append-only trail.

A lead asks (request_redaction): which values of one escalation's fields (or which evidence items'
references), and why. The request never holds a value: it names each by its field and a keyed
digest (HMAC with the SECRET_KEY, so a guess cannot be checked against it without the key); its
reason may not repeat one. An admin who is not the requester approves (approve_redaction) or refuses
(refuse_redaction). Approval, in one transaction:

- finds the chosen values among those the fields hold or held (the record and its audit events'
  before and after);
- writes the marker "[redacted 2026-12-07 by admin: RR-000001]" over them in the record, in every
  audit event of the escalation (wherever a field's before or after is a value, and any text that
  contains one: reasons, other fields), in exports recorded with filters that carry one (any person's),
  in the access log's recorded queries, in saved views and in the API's stored idempotent answers;
- bumps the escalation's version (a form opened before cannot write the value back) and records
  the act as an audit event that names each rewritten audit event and access-log row with its new
  payload digest, so `verifyaudit` accepts exactly those rewrites and the chains stay whole.

Exports and pages are built from those rows when asked for, so they show the marker. Values shorter
than MIN_PART characters are replaced where they are a whole value (a field, a change), not inside
other text, where they would take innocent words with them; no media fits in so few characters.

The audit trail's rows are rewritten through the database's redaction path only
(escalations.core.append_only): on PostgreSQL a function the app's role may execute, checked by the
trigger, which lets through nothing but this request's own marker (the format below, rebuilt by the
database from the request row) replacing free text, never a choice, a moment or a person
(redaction_text.LOCKED_KEYS). The request row itself is decided once and then fixed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_plus

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from escalations.core import validation
from escalations.core.people import User
from escalations.core.permissions import Action, is_admin, require
from escalations.core.redaction_text import EVIDENCE, LOCKED_KEYS, REDACTABLE_FIELDS, field_name, field_names
from escalations.models import (
    AccessLog,
    AuditAction,
    AuditEvent,
    Escalation,
    IdempotencyRecord,
    LegalRequest,
    Notification,
    PreservationExtension,
    RedactionRequest,
    SavedView,
    audit_digest,
)

MIN_PART = 8
# Characters of a value shown on the request form and to the approver: enough to tell values apart.
PREVIEW = 24
MARKER = re.compile(r"^\[redacted \d{4}-\d{2}-\d{2} by [^\]]*: RR-\d+\]$")
# A username as it may appear in the marker: the triggers look for the marker in stored JSON text,
# where other characters would be escaped.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9@.+_-]{1,60}$")


def is_marker(value: Any) -> bool:
    return isinstance(value, str) and bool(MARKER.match(value))


def _held(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not is_marker(value)


# --- what can be redacted --------------------------------------------------------------------------


def _history(escalation: Escalation) -> dict[str, dict[str, str]]:
    """Every value each redactable field holds or held, by its key: the record's, and the before and
    after of each of its audit events; and each evidence item's reference."""
    held: dict[str, dict[str, str]] = {name: {} for name in REDACTABLE_FIELDS}

    def add(name: str, value: Any) -> None:
        if _held(value):
            held[name].setdefault(value_key(name, value), value)

    for name in REDACTABLE_FIELDS:
        add(name, getattr(escalation, name))
    changes = AuditEvent.objects.filter(escalation=escalation).order_by("seq").values_list("changes", flat=True)
    for change in changes.iterator():
        if isinstance(change, dict):
            for name in REDACTABLE_FIELDS:
                pair = change.get(name)
                if isinstance(pair, list):
                    for value in pair:
                        add(name, value)
    for item in escalation.evidence_items.order_by("pk"):
        if _held(item.reference):
            held[f"{EVIDENCE}{item.pk}"] = {value_key(f"{EVIDENCE}{item.pk}", item.reference): item.reference}
    return held


def value_key(field: str, value: str) -> str:
    """How a request names one value of one field without holding it: "notes:3f1c…"."""
    digest = salted_hmac("escalations.redaction.value", value, algorithm="sha256").hexdigest()[:32]
    return f"{field}:{digest}"


def _label(key: str, value: str | None, preview: bool) -> str:
    name = field_name(key)
    if value is None:
        return f"{name}: a value no longer held"
    if not preview:
        return f"{name}: a value of {len(value)} characters"
    shown = value if len(value) <= PREVIEW else value[:PREVIEW] + "…"
    return f"{name}: “{shown}” ({len(value)} characters)"


def choices(escalation: Escalation) -> list[tuple[str, str]]:
    """What a lead may ask to redact on `escalation`: each value its redactable fields hold or held,
    and each evidence item's reference, with a short preview (the lead is reading the record)."""
    held = _history(escalation)
    return [(key, _label(key, value, preview=True)) for values in held.values() for key, value in values.items()]


def _values(escalation: Escalation, keys: Iterable[str]) -> set[str]:
    known = {key: value for values in _history(escalation).values() for key, value in values.items()}
    return {known[key] for key in keys if key in known}


def field_labels(escalation: Escalation, keys: Iterable[str]) -> list[str]:
    """The request's choices as the approver reads them: the field and the value's length, never
    the value (the approver decides on the lead's reason, without being shown the material)."""
    known = {key: value for values in _history(escalation).values() for key, value in values.items()}
    return [_label(key, known.get(key), preview=False) for key in keys]


def _names(keys: list[str]) -> str:
    """The fields a request names, for text that is kept (notifications): no value, no length."""
    return field_names(keys)


class _Scrubber:
    """Replaces the values by the marker: whole values anywhere, and values of MIN_PART characters
    or more inside text too, as typed, URL-encoded (a list's filters) or JSON-escaped."""

    def __init__(self, values: set[str], marker: str):
        self.values = {value.strip() for value in values} | values
        self.marker = marker
        parts: set[str] = set()
        for value in values:
            for form in (value, value.strip(), quote(value, safe=""), quote(value), quote_plus(value)):
                if len(form) >= MIN_PART:
                    parts.add(form)
        self.parts = sorted(parts, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(p) for p in self.parts), re.IGNORECASE) if parts else None

    def text(self, value: Any) -> Any:
        if not isinstance(value, str) or not value or is_marker(value):
            return value
        if value in self.values or value.strip() in self.values:
            return self.marker
        return self.pattern.sub(self.marker, value) if self.pattern is not None else value

    def json(self, value: Any) -> Any:
        """Scrub every string in `value` (a value's before or after is one such string) but those of
        keys that are never free text (a choice, a moment, a person: LOCKED_KEYS), which the database
        refuses to see rewritten."""
        if isinstance(value, dict):
            return {key: item if key in LOCKED_KEYS else self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return self.text(value)

    def mentioned(self, *lookups: str) -> Q:
        """Rows where any of `lookups` contains a value (a prefilter; text() decides)."""
        query = Q(pk__in=[])
        for part in self.parts:
            for lookup in lookups:
                query |= Q(**{f"{lookup}__icontains": part})
        return query


# --- the database's redaction path -----------------------------------------------------------------


def rewrite_event(request: RedactionRequest, event: AuditEvent, changes: Any, reason: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT escalations_redact_auditevent(%s, %s, %s::jsonb, %s)",
                [request.pk, event.pk, json.dumps(changes), reason],
            )
        else:
            cursor.execute(
                "UPDATE escalations_auditevent SET changes = %s, reason = %s WHERE id = %s",
                [json.dumps(changes), reason, event.pk],
            )


def _rewrite_access(request: RedactionRequest, row: AccessLog, query: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT escalations_redact_accesslog(%s, %s, %s)", [request.pk, row.pk, query])
        else:
            cursor.execute("UPDATE escalations_accesslog SET query = %s WHERE id = %s", [query, row.pk])


def event_digest(event: AuditEvent, changes: Any, reason: str) -> str:
    return audit_digest.audit_payload_digest(
        escalation_id=event.escalation_id,
        actor_id=event.actor_id,
        at=event.at,
        action=event.action,
        changes=changes,
        reason=reason,
        version=event.version,
        via=event.via,
    )


def _access_digest(row: AccessLog, query: str) -> str:
    return audit_digest.access_payload_digest(
        user_id=row.user_id,
        at=row.at,
        kind=row.kind,
        escalation_id=row.escalation_id,
        what=row.what,
        query=query,
        ip_address=row.ip_address,
        via=row.via,
    )


# --- the services ----------------------------------------------------------------------------------


def _clean_reason(reason: str | None, values: set[str], field: str = "reason") -> str:
    try:
        clean = validation.clean_text(reason, "Reason", required=True)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None
    scrubber = _Scrubber(values, "")
    if scrubber.text(clean) != clean:
        raise ValidationError(
            {field: 'Reason must not repeat the text to be removed: describe it instead ("base64 pasted into Notes").'}
        )
    return clean


def _admins() -> QuerySet[User]:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(Q(is_superuser=True) | Q(is_staff=True), is_active=True)


def _notify(users: Iterable[User], title: str, body: str, now: datetime) -> None:
    Notification.objects.bulk_create(
        [Notification(user=user, title=title[:200], body=body, created_at=now) for user in users]
    )


def _event(
    escalation: Escalation, actor: User, action: str, changes: dict[str, Any], reason: str, now: datetime
) -> None:
    AuditEvent.objects.create(
        escalation=escalation,
        actor=actor,
        at=now,
        action=action,
        changes=changes,
        reason=reason,
        version=escalation.version,
    )


def request_redaction(*, actor: User, escalation_id: int, fields: list[str], reason: str) -> RedactionRequest:
    """A lead asks that the values of `fields` on one escalation be removed everywhere. Raises
    PermissionDenied for anyone else, ValidationError ({"fields": ...} or {"reason": ...}) for a field
    with nothing to redact or a reason that repeats a value. Audited; admins are notified."""
    require(actor, Action.REQUEST_REDACTION)
    now = timezone.now()
    with transaction.atomic():
        escalation = Escalation.objects.select_for_update(of=("self",)).get(pk=escalation_id)
        allowed = dict(choices(escalation))
        chosen = list(dict.fromkeys(fields or []))
        if not chosen:
            raise ValidationError({"fields": "Choose at least one field whose value must be removed."})
        if any(key not in allowed for key in chosen):
            raise ValidationError(
                {"fields": "A value you chose is not held on this escalation any more: choose among those listed."}
            )
        clean = _clean_reason(reason, _values(escalation, chosen))
        pending = RedactionRequest.objects.filter(
            escalation=escalation, approved_at__isnull=True, refused_at__isnull=True
        )
        for other in pending:
            if set(other.fields) >= set(chosen):
                raise ValidationError(f"{other.key} already asks for this; an admin has not decided yet.")
        request = RedactionRequest.objects.create(
            escalation=escalation, fields=chosen, reason=clean, requested_by=actor, requested_at=now
        )
        _event(
            escalation,
            actor,
            AuditAction.REDACTION_REQUESTED,
            {"request": request.key, "request_id": request.pk, "fields": chosen},
            clean,
            now,
        )
        labels = _names(chosen)
        _notify(
            _admins().exclude(pk=actor.pk),
            f"Redaction {request.key} on {escalation.key} awaits an admin",
            f"{actor.get_username()} asks that values of {labels} be removed everywhere. "
            f"Decide at /redactions/{request.pk}/.",
            now,
        )
    return request


def _decidable(actor: User, request_id: int) -> RedactionRequest:
    if not is_admin(actor):
        raise PermissionDenied("Only an admin approves or refuses a redaction.")
    request = RedactionRequest.objects.select_for_update().select_related("requested_by").get(pk=request_id)
    if request.requested_by_id == actor.pk:
        raise ValidationError("A different person must decide the redaction you requested.")
    if not request.pending:
        state = "approved" if request.approved_at else "refused"
        raise ValidationError(f"{request.key} was {state} already.")
    return request


def marker_for(request: RedactionRequest, approver: User, now: datetime) -> str:
    name = approver.get_username()
    who = name if _PLAIN_NAME.match(name) else f"user #{approver.pk}"
    return f"[redacted {now:%Y-%m-%d} by {who}: {request.key}]"


def approve_redaction(*, actor: User, request_id: int) -> RedactionRequest:
    """An admin other than the requester approves: every value is replaced by the marker everywhere
    (see the module's docstring), in one transaction. Raises PermissionDenied for anyone but an admin,
    ValidationError for the requester or a request already decided."""
    now = timezone.now()
    with transaction.atomic():
        request = _decidable(actor, request_id)
        escalation = Escalation.objects.select_for_update(of=("self",)).get(pk=request.escalation_id)
        values = _values(escalation, request.fields)
        request.approved_by, request.approved_at = actor, now
        request.marker = marker_for(request, actor, now)
        # Saved first: the database's triggers let a rewrite through only for an approved request.
        request.save(update_fields=["approved_by", "approved_at", "marker"])
        if connection.vendor == "sqlite":
            # The rewrites below free the old text's space in the database file: zero it.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA secure_delete = ON")
        if not values:
            raise ValidationError(f"{request.key}: none of its values is held any more; refuse it instead.")
        scrub = _Scrubber(values, request.marker)
        counts: dict[str, int] = {}

        # The record, and the escalation's own rows around it.
        changed = []
        for name in REDACTABLE_FIELDS:
            before = getattr(escalation, name)
            after = scrub.text(before)
            if after != before:
                setattr(escalation, name, after)
                changed.append(name)
        counts["record_fields"] = len(changed)
        counts["evidence_items"] = _scrub_rows(escalation.evidence_items.all(), ("reference",), scrub)
        counts["extensions"] = _scrub_rows(
            PreservationExtension.objects.filter(escalation=escalation), ("reason",), scrub
        )
        counts["legal_requests"] = _scrub_rows(
            LegalRequest.objects.filter(escalations=escalation), ("agency", "reference", "notes"), scrub
        )

        # The audit trail: the escalation's events, and exports (anyone's) whose filters carry a value.
        rewritten: dict[str, str] = {}
        events = AuditEvent.objects.filter(
            Q(escalation=escalation)
            | (Q(escalation__isnull=True, action=AuditAction.EXPORTED) & scrub.mentioned("changes__filters"))
        ).order_by("pk")
        for event in events:
            changes = audit_digest.json_safe(scrub.json(event.changes))
            reason = scrub.text(event.reason)
            if changes != event.changes or reason != event.reason:
                rewrite_event(request, event, changes, reason)
                rewritten[str(event.pk)] = event_digest(event, changes, reason)
        counts["audit_events"] = len(rewritten)

        # The access log's recorded queries (lists and exports filtered by a value).
        rows: dict[str, str] = {}
        for row in AccessLog.objects.filter(scrub.mentioned("query")).order_by("pk"):
            query = scrub.text(row.query)
            if query != row.query:
                _rewrite_access(request, row, query)
                rows[str(row.pk)] = _access_digest(row, query)
        counts["access_log"] = len(rows)
        counts["saved_views"] = _scrub_rows(
            SavedView.objects.filter(scrub.mentioned("query", "name")), ("name", "query"), scrub
        )
        counts["idempotency"] = _scrub_answers(escalation, scrub)

        escalation.version += 1
        escalation.save(update_fields=[*changed, "version", "updated_at"])
        request.summary = counts
        request.save(update_fields=["summary"])
        _event(
            escalation,
            actor,
            AuditAction.REDACTED,
            {
                "request": request.key,
                "request_id": request.pk,
                "fields": request.fields,
                "requested_by": request.requested_by.get_username(),
                "marker": request.marker,
                "audit_events": rewritten,
                "access_log": rows,
                "counts": counts,
            },
            request.reason,
            now,
        )
        _notify(
            [request.requested_by],
            f"Redaction {request.key} on {escalation.key} approved",
            f"{actor.get_username()} approved it: the chosen values of {_names(request.fields)} were replaced "
            "by a marker everywhere.",
            now,
        )
        if connection.vendor == "sqlite":
            transaction.on_commit(_forget_old_pages)
    return request


def _scrub_rows(queryset: QuerySet[Any], columns: tuple[str, ...], scrub: _Scrubber) -> int:
    """Rewrite `columns` of each row (ordinary tables: a plain UPDATE); how many rows changed."""
    count = 0
    for row in queryset:
        updates = {name: scrub.text(getattr(row, name)) for name in columns}
        updates = {name: value for name, value in updates.items() if value != getattr(row, name)}
        if updates:
            type(row).objects.filter(pk=row.pk).update(**updates)
            count += 1
    return count


def _scrub_answers(escalation: Escalation, scrub: _Scrubber) -> int:
    """The API's stored first answers (replayed for a repeated Idempotency-Key) that name the
    escalation."""
    count = 0
    for record in IdempotencyRecord.objects.filter(response_body__icontains=escalation.key):
        body = scrub.json(record.response_body)
        if body != record.response_body:
            IdempotencyRecord.objects.filter(pk=record.pk).update(response_body=body)
            count += 1
    return count


def _forget_old_pages() -> None:
    """SQLite keeps the old text in its write-ahead log until a checkpoint: copy the log into the
    database now (secure_delete zeroes what the rewrite freed there) and empty it."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def refuse_redaction(*, actor: User, request_id: int, reason: str) -> RedactionRequest:
    """An admin other than the requester refuses, saying why (audited; the requester is told)."""
    now = timezone.now()
    with transaction.atomic():
        request = _decidable(actor, request_id)
        escalation = Escalation.objects.get(pk=request.escalation_id)
        clean = _clean_reason(reason, _values(escalation, request.fields))
        request.refused_by, request.refused_at, request.refusal_reason = actor, now, clean
        request.save(update_fields=["refused_by", "refused_at", "refusal_reason"])
        _event(
            escalation,
            actor,
            AuditAction.REDACTION_REFUSED,
            {"request": request.key, "request_id": request.pk, "fields": request.fields},
            clean,
            now,
        )
        _notify(
            [request.requested_by],
            f"Redaction {request.key} on {escalation.key} refused",
            f"{actor.get_username()} refused it: {clean}",
            now,
        )
    return request


def pending() -> QuerySet[RedactionRequest]:
    return RedactionRequest.objects.filter(approved_at__isnull=True, refused_at__isnull=True).select_related(
        "escalation", "requested_by"
    )
