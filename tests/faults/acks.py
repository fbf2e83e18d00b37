"""Acknowledgements during the soak, as a lead would make them: run in a subprocess with the soak's
environment (`manage.py shell -c "from tests.faults.acks import main; main()"`), reading
{"actor": username, "acks": [[escalation id, epoch seconds], ...]} on stdin; at each moment it
acknowledges the escalation's "urgent logged" reminder through the service (retrying while the
database restarts) and prints a JSON line {"id": escalation id, "at": epoch seconds after the commit}.

An urgent report acknowledged after its target and before its first escalation step must get no
step at all; test_soak reckons each acknowledged escalation's steps from the moment printed here."""

from __future__ import annotations

import json
import sys
import time

RETRY_SECONDS = 0.5
GIVE_UP_SECONDS = 120


def main() -> None:
    from django.contrib.auth import get_user_model
    from django.db import DatabaseError, close_old_connections

    from escalations.models import Reminder
    from escalations.reminders import acknowledgements

    load = json.load(sys.stdin)
    actor = get_user_model().objects.get(username=load["actor"])
    for escalation_id, moment in sorted(load["acks"], key=lambda pair: pair[1]):
        time.sleep(max(0.0, moment - time.time()))
        give_up = time.time() + GIVE_UP_SECONDS
        while time.time() < give_up:
            try:
                reminder = Reminder.objects.filter(escalation_id=escalation_id, kind="urgent_logged").first()
                if reminder is None:
                    time.sleep(RETRY_SECONDS)  # not recorded yet: the sweeps may be held up
                    continue
                acknowledgements.acknowledge(actor=actor, reminder_id=reminder.pk, via="app")
                print(json.dumps({"id": escalation_id, "at": time.time()}), flush=True)
                break
            except DatabaseError:
                close_old_connections()
                time.sleep(RETRY_SECONDS)
