"""Walk every chain of the audit trail and the access log; name every broken link.

    python manage.py verifyaudit            # prints the counts and every break; exit 1 when broken
    python manage.py verifyaudit --no-record  # the same, without recording the check

Prints "audit chain: events=N verified=N broken=0" and the access log's line. The result is
recorded (the leads' banner and /healthz report the latest check) unless --no-record.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from escalations import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's and the access log's chains and name the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-record", action="store_true", help="Do not record this check (the banner and /healthz ignore it)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started_at = timezone.now()
        result = audit_verify.verify()
        if not options["no_record"]:
            audit_verify.record(result, started_at=started_at, source="command")
        for line in result.lines():
            self.stdout.write(line)
        self.stdout.write(f"chains: {result.chains}; heads digest: {result.heads_digest}")
        if result.ok:
            return
        self.stdout.write(f"first broken link: {result.breaks[0]}")
        for other in result.breaks[1:]:
            self.stdout.write(f"also broken: {other}")
        raise CommandError(f"the audit trail is broken: {len(result.breaks)} broken link(s)")
