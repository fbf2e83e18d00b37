"""Run the reminder sweep without Celery: once (for cron), or every interval with --loop; each time,
the dashboard's period figures are counted again too (as Celery beat's refresh-dashboard does)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from escalations.compliance import dashboard_period
from escalations.reminders import sweep as reminders


class Command(BaseCommand):
    help = "Run one reminder sweep and exit; --loop keeps sweeping every REMINDER_SWEEP_SECONDS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep sweeping until interrupted")
        parser.add_argument(
            "--interval", type=float, default=None, help="seconds between sweeps with --loop (default: the setting)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"] or settings.REMINDER_SWEEP_SECONDS
        while True:
            stats = reminders.sweep()
            self.stdout.write(" ".join(f"{k}={v}" for k, v in asdict(stats).items()))
            dashboard_period.refresh_viewed()
            if not options["loop"]:
                return
            time.sleep(interval)
