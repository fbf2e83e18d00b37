"""Migration 0016 chains the audit events and access-log rows already there, in order of (at, id)
within each chain, and writes each chain's head: a trail from before the chains verifies whole, and
the triggers chain what comes after it. Run in a database of its own (a subprocess), since it
migrates backwards and forwards."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import io
from datetime import UTC, datetime, timedelta

import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

before = [("escalations", "0015_security_events")]
executor = MigrationExecutor(connection)
executor.migrate(before)
apps = executor.loader.project_state(before).apps
User = apps.get_model("auth", "User")
Escalation = apps.get_model("escalations", "Escalation")
AuditEvent = apps.get_model("escalations", "AuditEvent")
AccessLog = apps.get_model("escalations", "AccessLog")

t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
mod = User.objects.create(username="old-mod")
lead = User.objects.create(username="old-lead")
escalations = [
    Escalation.objects.create(
        platform_reference=f"ticket-old-{i}", incident_type="child_pornography", knowledge_at=t0,
        report_due_at=t0 + timedelta(hours=24), created_by=mod,
    )
    for i in range(3)
]
# Written out of order on purpose: the chain follows (at, id), not the order of the ids.
for esc in escalations:
    for minutes, action in ((30, "edited"), (0, "created"), (45, "assigned")):
        AuditEvent.objects.create(
            escalation=esc, actor=mod, at=t0 + timedelta(minutes=minutes), action=action,
            changes={"notes": ["", f"note {minutes}"]}, version=1,
        )
    AccessLog.objects.create(user=lead, at=t0, kind="viewed", escalation=esc, what="detail")
AuditEvent.objects.create(escalation=None, actor=lead, at=t0, action="exported", changes={"rows": 3}, version=0)
AccessLog.objects.create(
    user=lead, at=t0, kind="exported", what="escalations.csv", query="status=open", ip_address="::ffff:10.0.0.1"
)

call_command("migrate", verbosity=0)
out = io.StringIO()
call_command("verifyaudit", stdout=out)
print(out.getvalue())
from escalations.models import AuditEvent as Chained
first = escalations[0].pk
print("order:", list(Chained.objects.filter(escalation_id=first).order_by("seq").values_list("action", flat=True)))
# New rows carry on the chains where the old ones end.
Chained.objects.create(
    escalation_id=first, actor_id=mod.pk, at=datetime.now(UTC), action="closed", changes={}, version=2
)
print("next:", Chained.objects.filter(escalation_id=first).order_by("-seq").values_list("seq", flat=True).first())
out = io.StringIO()
call_command("verifyaudit", stdout=out)
print(out.getvalue())
"""


def run_in(database_url: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "settings.test"}
    env.pop("DATABASE_MIGRATE_URL", None)
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    return run.stdout


def check(out: str) -> None:
    assert "audit chain: events=10 verified=10 broken=0" in out, out
    assert "access log chain: rows=4 verified=4 broken=0" in out, out
    assert "order: ['created', 'edited', 'assigned']" in out
    assert "next: 4" in out
    assert "audit chain: events=11 verified=11 broken=0" in out


def test_rows_from_before_the_chains_are_chained_by_the_migration(tmp_path: Path) -> None:
    check(run_in(f"sqlite:///{tmp_path / 'before.sqlite3'}"))


@pytest.mark.postgres
def test_rows_from_before_the_chains_are_chained_by_the_migration_on_postgresql() -> None:
    import psycopg

    # A database of its own, made through a separate autocommit connection (CREATE DATABASE cannot
    # run inside the test's transaction).
    settings_dict = connection.settings_dict
    name = f"esc_backfill_{uuid.uuid4().hex[:8]}"
    base = f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        check(run_in(f"{base}/{name}"))
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
