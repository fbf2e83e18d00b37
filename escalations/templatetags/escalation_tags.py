"""Rendering helpers: references as inert text or plain links, audit values in the viewer's zone."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from escalations import policy
from escalations.core import ncmec_report
from escalations.core.display import FIELD_LABELS, shown
from escalations.models import BreachReason, Escalation, IncidentType, Priority, Status, SubmissionState, format_key

register = template.Library()

_HTTP_URL = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)
_DATETIME_FIELDS = {
    "knowledge_at",
    "reported_at",
    "preservation_confirmed_at",
    "report_due_at",
    "preservation_confirm_due_at",
    "preserve_until",
    "preservation_hold_until",
    "release_requested_at",
    "released_at",
    "ncmec_opened_at",
    "ncmec_last_change_at",
    "knowledge_unconfirmed_since",
}
_CHOICE_LABELS: dict[str, dict[str, str]] = {
    "incident_type": dict(IncidentType.choices),
    "priority": dict(Priority.choices),
    "status": dict(Status.choices),
    "breach_reason": dict(BreachReason.choices),
    "ncmec_submission_state": dict(SubmissionState.choices),
}


@register.filter
def reference(value: str) -> SafeString:
    """A platform reference: an http(s) link that leaks no referrer, or inert text. Never an image,
    never fetched by the server."""
    if value and _HTTP_URL.match(value):
        return format_html(
            '<a href="{}" rel="noopener noreferrer" referrerpolicy="no-referrer" target="_blank">{}</a>', value, value
        )
    return format_html("<code>{}</code>", value)


_ESCALATION_KEY = re.compile(r"\bESC-(\d{6,18})\b")


@register.filter
def linked_keys(text: str) -> SafeString:
    """Plain text (an in-app notification's body) escaped, with each escalation key a link to its
    page: a digest's items are links, like a single reminder's "Open" button."""
    parts = []
    last = 0
    for match in _ESCALATION_KEY.finditer(text or ""):
        parts.append(escape(text[last : match.start()]))
        url = reverse("escalations:detail", args=[int(match.group(1))])
        parts.append(format_html('<a href="{}">{}</a>', url, match.group(0)))
        last = match.end()
    parts.append(escape((text or "")[last:]))
    return mark_safe("".join(parts))  # noqa: S308 - every part is escaped or built by format_html


@register.filter
def annotation_labels(stored: str) -> list[str]:
    """NCMEC's report annotations of the stored column, in words, one item each."""
    return [ncmec_report.LABELS.get(code, code) for code in ncmec_report.codes(stored)]


@register.filter
def pack_value(value: Any) -> Any:
    """A pack's record value as printed: a list (the annotations' codes) as words joined by commas."""
    return ", ".join(str(item) for item in value) if isinstance(value, list | tuple) else value


@register.filter
def escalation_key(pk: int) -> str:
    return format_key(pk)


@register.filter
def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


@register.simple_tag
def audit_value(field: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if field in _DATETIME_FIELDS and isinstance(value, str):
        try:
            return shown(datetime.fromisoformat(value))
        except ValueError:
            return value
    if field == "ncmec_annotations":
        return ncmec_report.labels(str(value))
    return _CHOICE_LABELS.get(field, {}).get(value, str(value))


@register.simple_tag
def escalation_state_badge(escalation: Escalation) -> SafeString:
    state = policy.state_from_columns(
        escalation.status, escalation.next_deadline_at, escalation.next_deadline_soon_at, timezone.now()
    )
    return format_html('<span class="badge badge-{}">{}</span>', state.value, state.label)
