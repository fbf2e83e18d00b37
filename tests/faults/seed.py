"""Seeds the soak's database through the services, as the product does: run in a subprocess with the
soak's environment (`manage.py shell -c "from tests.faults.seed import main; main()"`), reading
{"escalations": [EscalationSpec fields ...], "webhooks": {username: [url, secret]}} on stdin and
printing, as its last line, a JSON list of {"ref", "id", "key", "report_due_at"} (epoch seconds or
null)."""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.faults.load import IN_APP_ONLY, LEADS, MODERATORS, EscalationSpec, at, email_of

URGENT_REASON = "Fault soak: the target passes during the run."


def main() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from escalations.core import services
    from escalations.models import IncidentType, Priority, UserProfile

    users: dict[str, Any] = {}
    for names, group in ((MODERATORS, "moderator"), (LEADS, "lead")):
        for name in names:
            user = get_user_model().objects.create_user(name, email=email_of(name))
            user.groups.add(Group.objects.get(name=group))
            users[name] = user
    for name in IN_APP_ONLY:
        UserProfile.objects.create(user=users[name], email_notifications=False, in_app_notifications=True)
    load = json.load(sys.stdin)
    for name, (url, secret) in load.get("webhooks", {}).items():
        UserProfile.objects.create(user=users[name], webhook_url=url, webhook_secret=secret)

    created = []
    for fields in load["escalations"]:
        spec = EscalationSpec(**fields)
        data: dict[str, Any] = {
            "platform_reference": spec.ref,
            "incident_type": IncidentType.CHILD_PORNOGRAPHY,
            "priority": spec.priority,
            "urgent_reason": "Fault soak: the target passes during the run."
            if spec.priority == Priority.URGENT
            else "",
            "knowledge_at": at(spec.knowledge_at),
            "assignee": users[spec.assignee],
        }
        if spec.ncmec_opened_at is not None:
            data["ncmec_opened_at"] = at(spec.ncmec_opened_at)
        esc = services.create_escalation(actor=users[spec.creator], data=data)
        if spec.reported_at is not None:
            esc = services.record_report(
                actor=users[spec.creator],
                escalation_id=esc.pk,
                version=esc.version,
                reported_at=at(spec.reported_at),
                cybertipline_report_id=str(80_000_000 + esc.pk),
            )
        due = esc.report_due_at.timestamp() if esc.report_due_at else None
        created.append({"ref": spec.ref, "id": esc.pk, "key": esc.key, "report_due_at": due})
    print(json.dumps(created))
