"""How an operator sizes the reminder machinery (README, "Sizing workers and sweeps"): the worker's
processes (CELERY_WORKER_CONCURRENCY) and the sweep's batch (REMINDER_SWEEP_BATCH) come from the
environment, a bad value stops start-up with a message naming it, and the batch is what a sweep
holds at once, so a sweep that dies holds back no more than that."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from escalations.models import Delivery, UserProfile
from escalations.reminders import channels as notify
from escalations.reminders import sweep as reminders
from tests.processes import ROOT
from tests.reminders.test_sweep import DUE_SOON_NOW, T0, Killed

# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = T0

PRINT_SIZING = (
    "import django; django.setup()\n"
    "from django.conf import settings\n"
    "from settings.celery import app\n"
    "print(settings.REMINDER_SWEEP_BATCH, app.conf.worker_concurrency)\n"
)


def start_up(**variables: str) -> subprocess.CompletedProcess[str]:
    """Load the settings and the Celery app as a worker does, in a fresh process with `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in ("REMINDER_SWEEP_BATCH", "CELERY_WORKER_CONCURRENCY")}
    env.update(DJANGO_SETTINGS_MODULE="settings.test", **variables)
    return subprocess.run(
        [sys.executable, "-c", PRINT_SIZING], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("variables", "printed"),
    [
        ({}, "500 2"),
        ({"REMINDER_SWEEP_BATCH": "40", "CELERY_WORKER_CONCURRENCY": "6"}, "40 6"),
        ({"REMINDER_SWEEP_BATCH": " 7 ", "CELERY_WORKER_CONCURRENCY": "1"}, "7 1"),
    ],
)
def test_the_worker_processes_and_the_sweep_batch_come_from_the_environment(variables, printed):
    done = start_up(**variables)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == printed


@pytest.mark.parametrize("name", ["REMINDER_SWEEP_BATCH", "CELERY_WORKER_CONCURRENCY"])
@pytest.mark.parametrize("value", ["0", "-3", "two", "1.5", ""])
def test_a_bad_sizing_value_stops_start_up_naming_the_variable(name, value):
    done = start_up(**{name: value})
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.endswith(f"{name} must be a whole number of at least 1, not {value!r}.")


def test_a_sweep_that_dies_holds_back_only_its_batch(
    clock, moderator, make_escalation, mailoutbox, settings, monkeypatch
):
    """Five reminders due for one person by email; batches of two. The first sweep dies sending its
    first message: only its two stay claimed until the lease runs out, and a sweep at the same moment
    (another worker's) sends the other three at once."""
    settings.REMINDER_SWEEP_BATCH = 2
    settings.REMINDER_DIGEST_THRESHOLD = 100  # one email per reminder
    moderator.email = "mod@example.org"
    moderator.save()
    UserProfile.objects.create(user=moderator, email_notifications=True, in_app_notifications=False)
    for _ in range(5):
        make_escalation(knowledge_at=DUE_SOON_NOW)

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(notify, "send", die)
        with pytest.raises(Killed):
            reminders.sweep()
    assert Delivery.objects.filter(claimed_until__isnull=False, sent_at__isnull=True).count() == 2

    reminders.sweep()
    assert len(mailoutbox) == 3
    assert Delivery.objects.filter(sent_at__isnull=True).count() == 2
