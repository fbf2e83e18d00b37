"""The catch-up benchmark's data (bench.catchup): in a process of its own with Django set up against
the catch-up database, migrate it, then write the people and the escalations whose reminders came
due while no worker ran. Run as `python -m bench.catchup_seed <json arguments>`; prints the expected
deliveries as JSON on its last line."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from typing import Any

# Spread over the outage: knowledge times from this long before the worker's return...
OLDEST = timedelta(hours=45)
# ... to this long before it (a standard report's "due soon" falls due 21 hours after knowledge).
NEWEST = timedelta(hours=21, minutes=1)
# No reminder of theirs falls due again within this long after the worker's return.
QUIET = timedelta(minutes=40)
STEP = timedelta(minutes=20)


def seed(escalations: int, people: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction
    from django.utils import timezone

    from escalations import policy
    from escalations.core.permissions import MODERATOR
    from escalations.models import Escalation, IncidentType, UserProfile

    cfg = policy.PolicyConfig.from_settings()
    now = timezone.now()
    user_model = get_user_model()
    with transaction.atomic():
        group = Group.objects.get_or_create(name=MODERATOR)[0]
        unsaved = [user_model(username=f"mod{i:05d}", email=f"mod{i:05d}@example.org") for i in range(people)]
        for person in unsaved:
            person.set_unusable_password()
        users = user_model.objects.bulk_create(unsaved)
        user_model.groups.through.objects.bulk_create(
            [user_model.groups.through(user_id=user.pk, group_id=group.pk) for user in users]
        )
        # Both channels, as a moderator who kept the defaults has them.
        UserProfile.objects.bulk_create(
            [UserProfile(user=user, email_notifications=True, in_app_notifications=True) for user in users]
        )
        rows = []
        for index in range(escalations):
            owner = users[index % people]
            knowledge_at = now - OLDEST + (OLDEST - NEWEST) * (index / max(escalations - 1, 1))
            esc = Escalation(
                platform_reference=f"content:catchup-{index}",
                incident_type=IncidentType.CHILD_PORNOGRAPHY,
                priority=policy.STANDARD,
                knowledge_at=knowledge_at,
                assignee=owner,
                created_by=owner,
            )
            for name, value in policy.stored_columns(esc, cfg).items():
                setattr(esc, name, value)
            # Nothing else falls due during the run (a repeat of "overdue" would be a second,
            # rightful message and blur the count): moved back until its next reminder is far enough.
            for _ in range(24):
                if (policy.next_reminder_at(esc, cfg, now) or now + QUIET) >= now + QUIET:
                    break
                esc.knowledge_at -= STEP
                for name, value in policy.stored_columns(esc, cfg).items():
                    setattr(esc, name, value)
            # Never swept since it was logged: its whole plan so far is due.
            rows.append(esc)
        made = Escalation.objects.bulk_create(rows, batch_size=2000)
    expected = [[users[i % people].email, esc.key] for i, esc in enumerate(made)]
    return {"now": now.isoformat(), "expected": expected}


def main() -> None:
    args = json.loads(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    print(json.dumps(seed(args["escalations"], args["people"])))


if __name__ == "__main__":
    main()
