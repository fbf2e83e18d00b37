"""The forgery of the audit trail through the redaction path, as the app's database role could try it
(shared by tests/security/test_redaction_forgery.py, in process on SQLite and as the app role on
PostgreSQL): a redaction request made to look approved, with a "marker" that is another incident type,
used to rewrite a past event's incident_type; then each other way round the rules.

Run as a script (`python -m tests.security.redaction_forgery`, DATABASE_URL the app role's) it prints
one JSON object: which attempts were refused, and what the event and verifyaudit say afterwards."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

FORGED = "misleading_words_or_digital_images"


def _refused(attempt: Any) -> bool:
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            attempt()
    except DatabaseError:
        return True
    return False


def attempts() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from escalations.core import audit_verify, redaction, services
    from escalations.models import AuditAction, AuditEvent, IncidentType, Priority, RedactionRequest

    users = get_user_model().objects
    moderator = users.create_user("forge-mod", password="forge-not-a-secret-1")
    moderator.groups.add(Group.objects.get_or_create(name="moderator")[0])
    lead = users.create_user("forge-lead", password="forge-not-a-secret-1")
    lead.groups.add(Group.objects.get_or_create(name="lead")[0])
    admin = users.create_user("forge-admin", password="forge-not-a-secret-1", is_staff=True)
    now = timezone.now()
    esc = services.create_escalation(
        actor=moderator,
        data={
            "platform_reference": "ticket-forgery-1",
            "incident_type": IncidentType.CHILD_PORNOGRAPHY,
            "priority": Priority.STANDARD,
            "knowledge_at": now - timedelta(hours=1),
            "notes": "pasted by mistake: a name and an address",
        },
    )
    event = AuditEvent.objects.get(escalation=esc, action=AuditAction.CREATED)

    def pending() -> RedactionRequest:
        return RedactionRequest.objects.create(
            escalation=esc, fields=["notes:0"], reason="PII in Notes.", requested_by=lead, requested_at=now
        )

    def approved() -> RedactionRequest:
        request = pending()
        request.approved_by, request.approved_at = admin, now
        request.marker = redaction.marker_for(request, admin, now)
        request.save(update_fields=["approved_by", "approved_at", "marker"])
        return request

    def swapped(marker: str) -> dict[str, Any]:
        changes = json.loads(json.dumps(event.changes))
        changes["incident_type"] = [changes["incident_type"][0], marker]
        return changes

    # The attack as found: a request that looks approved (a lead asked, an admin approved) whose marker
    # is another incident type, then the database's redaction path with it.
    def forged_request_and_rewrite() -> None:
        request = RedactionRequest.objects.create(
            escalation=esc,
            fields=["incident_type:0"],
            reason="PII in Notes.",
            requested_by=lead,
            requested_at=now,
            approved_by=admin,
            approved_at=now,
            marker=FORGED,
        )
        redaction.rewrite_event(request, event, swapped(FORGED), event.reason)

    def approved_with_free_text_marker() -> None:
        request = pending()
        request.approved_by, request.approved_at, request.marker = admin, now, FORGED
        request.save(update_fields=["approved_by", "approved_at", "marker"])

    def choice_field_rewritten_by_a_real_marker() -> None:
        request = approved()
        redaction.rewrite_event(request, event, swapped(request.marker), event.reason)

    def approved_by_the_requester() -> None:
        request = pending()
        request.approved_by, request.approved_at = lead, now
        request.marker = redaction.marker_for(request, lead, now)
        request.save(update_fields=["approved_by", "approved_at", "marker"])

    def decided_request_changed() -> None:
        request = approved()
        RedactionRequest.objects.filter(pk=request.pk).update(marker=FORGED)

    def decided_request_reason_changed() -> None:
        request = approved()
        RedactionRequest.objects.filter(pk=request.pk).update(reason="another reason")

    def request_deleted() -> None:
        request = pending()
        RedactionRequest.objects.filter(pk=request.pk).delete()

    refused = {
        "forged_request_and_rewrite": _refused(forged_request_and_rewrite),
        "approved_with_free_text_marker": _refused(approved_with_free_text_marker),
        "choice_field_rewritten": _refused(choice_field_rewritten_by_a_real_marker),
        "approved_by_the_requester": _refused(approved_by_the_requester),
        "decided_request_changed": _refused(decided_request_changed),
        "decided_request_reason_changed": _refused(decided_request_reason_changed),
        "request_deleted": _refused(request_deleted),
    }
    event.refresh_from_db()
    result = audit_verify.verify()
    return {
        "refused": refused,
        "incident_type": event.changes["incident_type"][1],
        "broken": len(result.breaks),
        "breaks": [str(b) for b in result.breaks[:5]],
    }


def main() -> None:
    import django

    django.setup()
    print(json.dumps(attempts()))


if __name__ == "__main__":
    main()
