"""Walk every chain of the audit trail and the access log; name every broken link.

    python manage.py verifyaudit            # prints the counts and every break; exit 1 when broken
    python manage.py verifyaudit --no-record  # the same, without recording the check
    python manage.py verifyaudit --acknowledge --by admin --reason "restored from backup, see INC-42"

--acknowledge records (an admin, audited) that the breaks found now were looked into: later checks
list them as acknowledged and raise the banner and /healthz only for new ones.

Prints "audit chain: events=N verified=N broken=0" and the access log's line. The result is
recorded (the leads' banner and /healthz report the latest check) unless --no-record.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connection
from django.utils import timezone

from escalations.core import audit_verify
from escalations.ops import db_roles


class Command(BaseCommand):
    help = "Verify the audit trail's and the access log's chains and name the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-record", action="store_true", help="Do not record this check (the banner and /healthz ignore it)."
        )
        parser.add_argument("--acknowledge", action="store_true", help="Acknowledge the breaks found now.")
        parser.add_argument("--by", default="", help="The admin's username (with --acknowledge).")
        parser.add_argument("--reason", default="", help="What was found and done (with --acknowledge).")

    def handle(self, *args: Any, **options: Any) -> None:
        started_at = timezone.now()
        result = audit_verify.verify()
        if options["acknowledge"]:
            admin = get_user_model().objects.filter(username=options["by"]).first()
            try:
                ack = audit_verify.acknowledge(result, by=admin, reason=options["reason"])
            except (PermissionDenied, ValidationError) as exc:
                raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from None
            self.stdout.write(f"acknowledged {len(ack.breaks)} break(s) by {options['by']}")
            started_at = timezone.now()
            result = audit_verify.verify()
        if not options["no_record"]:
            audit_verify.record(result, started_at=started_at, source="command")
        for line in result.lines():
            self.stdout.write(line)
        self.stdout.write(f"chains: {result.chains}; heads digest: {result.heads_digest}")
        self._role_line()
        for known in result.acknowledged:
            self.stdout.write(f"acknowledged: {known}")
        if result.ok:
            return
        self.stdout.write(f"first broken link: {result.breaks[0]}")
        for other in result.breaks[1:]:
            self.stdout.write(f"also broken: {other}")
        raise CommandError(f"the audit trail is broken: {len(result.breaks)} broken link(s)")

    def _role_line(self) -> None:
        """On PostgreSQL, whether the role this runs as could rewrite the trail (production's app
        role cannot; escalations.ops.db_roles)."""
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            role = cursor.fetchone()[0]
        may = db_roles.privileges(DEFAULT_DB_ALIAS, role, "escalations_auditevent")
        said = " ".join(f"{name}={'yes' if may[name] else 'no'}" for name in ("update", "delete", "truncate"))
        self.stdout.write(f"database role: {role} may {said} on the audit trail")
