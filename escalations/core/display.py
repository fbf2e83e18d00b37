"""How moments and field names are shown to people: one format for a moment in the viewer's zone,
one label per audited field, the same on pages, in messages and in exports."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

SHOWN_FORMAT = "%Y-%m-%d %H:%M %Z"


def shown(moment: datetime | None, empty: str = "?") -> str:
    """A moment in the current time zone, to the minute, with the zone's abbreviation."""
    return timezone.localtime(moment).strftime(SHOWN_FORMAT) if moment else empty


FIELD_LABELS = {
    "platform_reference": "Platform reference",
    "incident_type": "Incident type",
    "priority": "Priority",
    "urgent_reason": "Urgent reason",
    "knowledge_at": "Knowledge obtained",
    "notes": "Notes",
    "reported_at": "Reported at",
    "cybertipline_report_id": "CyberTipline report ID",
    "breach_reason": "Breach reason",
    "breach_note": "Breach note",
    "status": "Status",
    "status_reason": "Status reason",
    "preservation_confirmed_at": "Preservation confirmed at",
    "preservation_confirmed_by": "Preservation confirmed by",
    "preservation_location": "Preservation location",
    "assignee": "Assignee",
    "report_due_at": "Report target",
    "preservation_confirm_due_at": "Preservation confirmation due",
    "preserve_until": "Preserve until",
    "preservation_hold_until": "Held until (requests, extensions, destinations)",
    "release_requested_at": "Release requested",
    "release_requested_by": "Release requested by",
    "released_at": "Released",
    "released_by": "Release approved by",
    "account_reference": "Reported account",
    "ncmec_opened_at": "NCMEC report opened",
    "ncmec_last_change_at": "NCMEC report last changed",
    "knowledge_unconfirmed_since": "Knowledge time unconfirmed since (Coop)",
    "is_test": "Test record",
    "ncmec_annotations": "Report annotations",
    "prior_report_id": "Prior CyberTipline report ID",
    "ncmec_submission_state": "Submission state at NCMEC",
}
