"""The people of a load run, made ready in its database copy: run by bench.loadtest as
`python -m bench.loadtest.people` under settings.prod with DATABASE_URL naming the copy and
LOADTEST_PASSWORD set. Prints one JSON line: who signs in, their authenticator keys, the escalation
pages the moderators open, and the pipeline's service token.

The people are bench/generate.py's own (the moderators with the median queues, the first leads, and
its superuser); they get
a password (the generator leaves them unusable) and, for leads and the admin, a confirmed TOTP
authenticator, so that they sign in as production asks them to. The token is made by the service
that makes every token (escalations.tokens), for a lead, write scope, expiring in a day."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from typing import Any

MODERATORS = 4
LEADS = 4
# Escalation pages per moderator: their own most recent assignments, opened in turn.
DETAIL_PAGES = 25


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from django_otp.util import random_hex

    from escalations.accounts import tokens
    from escalations.core.permissions import LEAD, MODERATOR
    from escalations.models import ACTIVE_STATUSES, Escalation

    from ..generate import ADMIN_USERNAME

    password = os.environ["LOADTEST_PASSWORD"]
    people = get_user_model().objects
    # The moderators whose active queues are the median ones (as `make bench` picks its moderator), so
    # that My queue is the typical one: the generator's first moderators carry the largest queues.
    sizes = list(
        Escalation.objects.filter(status__in=ACTIVE_STATUSES, assignee__groups__name=MODERATOR)
        .values_list("assignee")
        .annotate(n=Count("pk"))
        .order_by("n", "assignee")
        .values_list("assignee", "n")
    )
    middle = sizes[max(len(sizes) // 2 - MODERATORS // 2, 0) :][:MODERATORS]
    queue_sizes = dict(middle)
    moderators = sorted(people.filter(pk__in=queue_sizes), key=lambda m: m.get_username())
    leads = list(people.filter(groups__name=LEAD).order_by("username")[:LEADS])
    admin = people.filter(username=ADMIN_USERNAME, is_superuser=True).first()
    if len(moderators) < MODERATORS or len(leads) < LEADS or admin is None:
        raise SystemExit(
            f"the bench database lacks the generator's people ({len(moderators)} moderators, {len(leads)} leads, "
            f"admin {'found' if admin else 'missing'}): make it again with BENCH_REGENERATE=1"
        )

    def ready(user: Any, authenticator: bool) -> dict[str, Any]:
        user.set_password(password)
        user.save(update_fields=["password"])
        found: dict[str, Any] = {"username": user.get_username()}
        if authenticator:
            key = random_hex(20)
            TOTPDevice.objects.update_or_create(
                user=user, name="loadtest", defaults={"key": key, "confirmed": True, "last_t": -1}
            )
            found["totp_key"] = key
        return found

    out: dict[str, Any] = {
        "moderators": [],
        "leads": [],
        "admin": ready(admin, authenticator=True),
        "largest_queue": sizes[-1][1] if sizes else 0,
    }
    for moderator in moderators:
        entry = ready(moderator, authenticator=False)
        entry["queue"] = queue_sizes[moderator.pk]
        entry["detail_ids"] = list(
            Escalation.objects.filter(assignee=moderator).order_by("-pk").values_list("pk", flat=True)[:DETAIL_PAGES]
        )
        if not entry["detail_ids"]:
            raise SystemExit(f"{entry['username']} has no escalations assigned in the bench database")
        out["moderators"].append(entry)
    out["leads"] = [ready(lead, authenticator=True) for lead in leads]
    _, raw = tokens.create_token(
        actor=leads[0], name="loadtest pipeline", scope="write", expires_at=timezone.now() + timedelta(days=1)
    )
    out["token"] = raw
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
