#!/usr/bin/env python
"""Prove the two database roles on PostgreSQL: the owner migrates; the app's role writes and reads
through the app but is refused UPDATE, DELETE, TRUNCATE and ALTER on the audit trail and the access
log, and cannot switch their triggers off.

As a superuser (PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres) it creates the
roles escalations_owner_<suffix> and escalations_app_<suffix> and the database
escalations_roles_<suffix> owned by the first (ROLES_SUFFIX, default "ci"); migrates with
DATABASE_URL as the app role and DATABASE_MIGRATE_URL as the owner (escalations' migrate command);
then, connected as the app role, makes real changes through the services (an escalation logged,
edited, viewed, exported, and a redaction asked and approved), tries each forbidden statement,
walks the chains and prints:

    database roles: tables owned by escalations_owner_ci; migrated as the owner
    database roles: app wrote events=5 access_rows=2 redaction=yes
    database roles: app refused update=yes delete=yes truncate=yes alter=yes disable_trigger=yes
    audit chain: events=5 verified=5 broken=0
    access log chain: rows=2 verified=2 broken=0
    chains: 4; heads digest: …
    database role: escalations_app_ci may update=no delete=no truncate=no on the audit trail

Exits 1 when any statement was allowed, a write failed or a chain is broken. Drops what it made at
the end (--keep keeps it). Not a management command: it makes demo data and roles, never run it
against a real database.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
TABLES = ("escalations_auditevent", "escalations_accesslog")


def _url(role: str, password: str, database: str) -> str:
    parts = urlsplit(ADMIN_URL)
    netloc = f"{role}:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", "", ""))


def _admin(sql: str, *params: Any) -> None:
    import psycopg
    from psycopg import sql as pgsql

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL(sql).format(*[pgsql.Identifier(p) for p in params]))


def create(owner: str, app: str, database: str, owner_password: str, app_password: str) -> None:
    drop(owner, app, database)
    _admin("CREATE ROLE {} LOGIN PASSWORD " + f"'{owner_password}'", owner)
    _admin("CREATE ROLE {} LOGIN PASSWORD " + f"'{app_password}'", app)
    _admin("CREATE DATABASE {} OWNER {}", database, owner)
    _admin("REVOKE ALL ON DATABASE {} FROM PUBLIC", database)
    _admin("GRANT CONNECT ON DATABASE {} TO {}", database, app)


def drop(owner: str, app: str, database: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
    if exists:
        _admin("DROP DATABASE {} WITH (FORCE)", database)
    for role in (app, owner):
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                _admin("DROP ROLE {}", role)


def refused(statement: str, params: list[Any] | None = None) -> bool:
    """Run `statement` as the app role in a savepoint: was it refused for want of privilege?"""
    from django.db import DatabaseError, connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    except DatabaseError as exc:
        cause = getattr(exc, "__cause__", None)
        state = getattr(cause, "sqlstate", None)
        message = str(exc)
        # 42501 insufficient_privilege, from the privilege system ("permission denied", "must be
        # owner"), not from our own append-only trigger (which says "append-only").
        return state == "42501" and "append-only" not in message
    return False


def writes(owner_name: str) -> dict[str, Any]:
    """Real work through the app, as the app role: what the web and the worker do."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.utils import timezone

    from escalations.core import redaction, services
    from escalations.models import AccessLog, AuditEvent

    users = get_user_model().objects
    password = secrets.token_hex(12)  # nobody signs in with these: the test client is forced in
    moderator = users.create_user("roles-mod", password=password)
    moderator.groups.add(Group.objects.get(name="moderator"))
    lead = users.create_user("roles-lead", password=password)
    lead.groups.add(Group.objects.get(name="lead"))
    admin = users.create_user("roles-admin", password=password, is_staff=True)
    esc = services.create_escalation(
        actor=moderator,
        data={
            "platform_reference": "ticket-roles-1",
            "incident_type": "child_pornography",
            "priority": "standard",
            "knowledge_at": timezone.now() - timedelta(hours=1),
            "notes": "pasted by mistake: a name and an address",
        },
    )
    esc = services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=esc.version, data={"notes": "ok"})
    client = Client(SERVER_NAME="localhost")
    client.force_login(lead)
    viewed = client.get(f"/escalations/{esc.pk}/").status_code == 200
    exported = client.get("/escalations/?_export=csv").status_code == 200
    key = redaction.value_key("notes", "pasted by mistake: a name and an address")
    asked = redaction.request_redaction(actor=lead, escalation_id=esc.pk, fields=[key], reason="PII in Notes.")
    done = redaction.approve_redaction(actor=admin, request_id=asked.pk)
    return {
        "events": AuditEvent.objects.count(),
        "access_rows": AccessLog.objects.count(),
        "redaction": bool(done.summary.get("audit_events")) and viewed and exported,
    }


def check(owner: str, app: str) -> int:
    import django

    django.setup()
    from django.core.management import CommandError, call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        me = cursor.fetchone()[0]
        cursor.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'escalations_%%'")
        owners = sorted(row[0] for row in cursor.fetchall())
    failures = []
    if me != app:
        failures.append(f"connected as {me}, not the app role {app}")
    if owners != [owner]:
        failures.append(f"tables owned by {owners}, not by {owner}")
    print(f"database roles: tables owned by {', '.join(owners)}; migrated as the owner; the app connects as {me}")

    done = writes(owner)
    print(
        f"database roles: app wrote events={done['events']} access_rows={done['access_rows']} "
        f"redaction={'yes' if done['redaction'] else 'no'}"
    )
    if not done["redaction"]:
        failures.append("the app role could not view, export or redact through the app")

    attempts: dict[str, list[bool]] = {"update": [], "delete": [], "truncate": [], "alter": [], "disable_trigger": []}
    for table in (*TABLES, "escalations_auditverification", "escalations_chainhead"):
        attempts["update"].append(refused(f"UPDATE {table} SET id = id"))  # noqa: S608 (our own table names)
        attempts["delete"].append(refused(f"DELETE FROM {table}"))  # noqa: S608
        attempts["truncate"].append(refused(f"TRUNCATE {table}"))
        attempts["alter"].append(refused(f"ALTER TABLE {table} ADD COLUMN forged integer"))
        attempts["disable_trigger"].append(refused(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
    # The other way round a trigger: replica mode skips ordinary triggers (superusers only).
    attempts["disable_trigger"].append(refused("SET session_replication_role = replica"))
    # A forged head: only the owner's triggers move heads.
    attempts["update"].append(
        refused("INSERT INTO escalations_chainhead (log, chain, seq, digest) VALUES ('x', 1, 1, '')")
    )
    summary = " ".join(f"{name}={'yes' if all(results) else 'NO'}" for name, results in attempts.items())
    print(f"database roles: app refused {summary}")
    failures += [f"the app role was allowed to {name}" for name, results in attempts.items() if not all(results)]

    out = StringIO()
    try:
        call_command("verifyaudit", stdout=out)
    except CommandError as exc:
        failures.append(str(exc))
    print(out.getvalue().strip())
    if "database role: " + app + " may update=no delete=no truncate=no" not in out.getvalue():
        failures.append("verifyaudit does not see the app role as unable to rewrite the trail")
    for failure in failures:
        print(f"database roles: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the roles and the database afterwards")
    args = parser.parse_args()
    suffix = os.environ.get("ROLES_SUFFIX", "ci")
    owner, app, database = f"escalations_owner_{suffix}", f"escalations_app_{suffix}", f"escalations_roles_{suffix}"
    owner_password, app_password = secrets.token_hex(12), secrets.token_hex(12)
    create(owner, app, database, owner_password, app_password)
    os.environ["DATABASE_URL"] = _url(app, app_password, database)
    os.environ["DATABASE_MIGRATE_URL"] = _url(owner, owner_password, database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.test")
    sys.path.insert(0, str(ROOT))
    try:
        return check(owner, app)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop(owner, app, database)


if __name__ == "__main__":
    sys.exit(main())
