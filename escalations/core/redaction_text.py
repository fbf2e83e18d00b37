"""How redaction events read on the timeline and in the audit-trail export: pure text, no queries.
The events name values by field and keyed digest (escalations.core.redaction), never the values."""

from __future__ import annotations

from typing import Any

REDACTABLE_FIELDS = {
    "platform_reference": "Platform reference",
    "account_reference": "Reported account",
    "urgent_reason": "Urgent reason",
    "notes": "Notes",
    "breach_note": "Breach note",
    "status_reason": "Status reason",
    "preservation_location": "Preservation location",
}
EVIDENCE = "evidence:"
# Keys of an audit event's changes whose values are never free text: choices (incident type, status,
# priority, ...), moments, people, numbers, and a redaction's own bookkeeping. A redaction never
# rewrites them, and the database refuses a rewrite that does (escalations.core.append_only): a
# marker there would stand for a choice, a moment or a person that was never recorded.
LOCKED_KEYS = (
    # The escalation's fields that are not free text (escalations.core.write_frame.AUDITED_FIELDS).
    "is_test",
    "incident_type",
    "priority",
    "knowledge_at",
    "reported_at",
    "cybertipline_report_id",
    "breach_reason",
    "status",
    "preservation_confirmed_at",
    "preservation_confirmed_by",
    "assignee",
    "report_due_at",
    "preservation_confirm_due_at",
    "preserve_until",
    "preservation_hold_until",
    "release_requested_at",
    "release_requested_by",
    "released_at",
    "released_by",
    "ncmec_opened_at",
    "ncmec_last_change_at",
    "ncmec_annotations",
    "prior_report_id",
    "ncmec_submission_state",
    # Other events' choices, moments and counts, and a redaction's bookkeeping.
    "kind",
    "scope",
    "algorithm",
    "export",
    "rows",
    "at",
    "expires_at",
    "due_at",
    "until",
    "request",
    "request_id",
    "fields",
    "marker",
    "requested_by",
    "audit_events",
    "access_log",
    "counts",
    "version",
)
ACTIONS = ("redaction_requested", "redacted", "redaction_refused")


def field_name(key: str) -> str:
    """The field a request's key ("notes:3f1c…", "evidence:12:9a0b…") names."""
    field = key.rsplit(":", 1)[0]
    if field.startswith(EVIDENCE):
        return f"Evidence item #{field.removeprefix(EVIDENCE)}'s reference"
    return REDACTABLE_FIELDS.get(field, field)


def field_names(keys: Any) -> str:
    keys = keys if isinstance(keys, list) else []
    return ", ".join(dict.fromkeys(field_name(str(key)) for key in keys)) or "no field"


def describe(action: str, changes: Any) -> str:
    """One line for a redaction event: "RR-000001: values of Notes; 4 audit events, …"."""
    details = changes if isinstance(changes, dict) else {}
    request = details.get("request", "")
    count = len(details.get("fields") or [])
    what = f"{count} value{'s' if count != 1 else ''} of {field_names(details.get('fields'))}"
    if action == "redaction_requested":
        return f"{request}: asks that {what} be removed everywhere; an admin decides"
    if action == "redaction_refused":
        return f"{request}: {what} kept"
    counts = details.get("counts") or {}
    return (
        f"{request} (asked by {details.get('requested_by', '?')}): {what} replaced by "
        f"{details.get('marker', 'the marker')} in the record, {_count(counts.get('audit_events', 0), 'audit event')} "
        f"and {_count(counts.get('access_log', 0), 'access-log row')}"
    )


def _count(n: Any, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
