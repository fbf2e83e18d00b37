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
