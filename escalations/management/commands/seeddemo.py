"""Demo accounts (one per role) and a few demo escalations, for `make run` on a developer's machine.

Refuses to run unless settings.DEMO_ACCOUNTS_ALLOWED (dev and test settings only), and creates
nothing that already exists, so running it on every `make run` is safe."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from escalations import services
from escalations.models import Escalation, IncidentType, Priority
from escalations.permissions import AUDITOR, LEAD, MODERATOR

# Published in the README: these accounts exist only under the dev settings.
DEMO_ACCOUNTS = (
    (MODERATOR, "moderator", "moderator-demo-pass"),
    (LEAD, "lead", "lead-demo-pass"),
    (AUDITOR, "auditor", "auditor-demo-pass"),
)


class Command(BaseCommand):
    help = "Create the demo accounts (one per role) and demo escalations when none exist. Dev only."

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "DEMO_ACCOUNTS_ALLOWED", False):
            raise CommandError("Demo accounts are for development only; these settings do not allow them.")
        User = get_user_model()
        created = []
        with transaction.atomic():
            for role, username, password in DEMO_ACCOUNTS:
                if User.objects.filter(username=username).exists():
                    continue
                user = User.objects.create_user(username=username, password=password, email=f"{username}@example.org")
                user.groups.add(Group.objects.get(name=role))
                created.append((role, username, password))
        if created:
            self.stdout.write("Demo accounts created:")
        else:
            self.stdout.write("Demo accounts (already present):")
        for role, username, password in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role:<10} username {username:<10} password {password}")
        if not Escalation.objects.exists():
            self._seed_escalations()

    def _seed_escalations(self) -> None:
        User = get_user_model()
        moderator = User.objects.get(username="moderator")
        lead = User.objects.get(username="lead")
        now = timezone.now()
        samples = [
            # Its 1-hour target passes a minute after `make run` starts: the overdue reminder
            # arrives by email (console) and in the app with the next sweep.
            (
                "acct:55501234",
                IncidentType.ONLINE_ENTICEMENT,
                Priority.URGENT,
                "Demo: threats to meet a child in person.",
                now - timedelta(minutes=59),
            ),
            ("ticket-10452", IncidentType.CHILD_PORNOGRAPHY, Priority.STANDARD, "", now - timedelta(hours=2)),
            (
                "acct:88412077",
                IncidentType.ONLINE_ENTICEMENT,
                Priority.URGENT,
                "Live chat suggests a meeting tonight.",
                now - timedelta(minutes=20),
            ),
            (
                "https://mod.internal.example/content/55120",
                IncidentType.CHILD_PORNOGRAPHY,
                Priority.STANDARD,
                "",
                now - timedelta(hours=23),
            ),
            (
                "ticket-10390",
                IncidentType.UNSOLICITED_OBSCENE_MATERIAL,
                Priority.STANDARD,
                "",
                now - timedelta(hours=30),
            ),
        ]
        created = []
        for reference, incident, priority, reason, knowledge_at in samples:
            created.append(
                services.create_escalation(
                    actor=moderator,
                    data={
                        "platform_reference": reference,
                        "incident_type": incident,
                        "priority": priority,
                        "urgent_reason": reason,
                        "knowledge_at": knowledge_at,
                        "notes": "Demo record.",
                    },
                )
            )
        reported = services.create_escalation(
            actor=moderator,
            data={
                "platform_reference": "ticket-10001",
                "incident_type": IncidentType.CHILD_SEX_TRAFFICKING,
                "priority": Priority.STANDARD,
                "knowledge_at": now - timedelta(days=3),
            },
        )
        services.record_report(
            actor=moderator,
            escalation_id=reported.pk,
            version=reported.version,
            reported_at=now - timedelta(days=2, hours=20),
            cybertipline_report_id="4564654",
        )
        services.assign_escalation(actor=lead, escalation_id=created[4].pk, version=None, assignee=lead)
        self.stdout.write(f"Demo escalations created: {len(samples) + 1}")
