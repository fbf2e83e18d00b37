"""The audit trail is append-only in the database itself: triggers refuse UPDATE and DELETE on
escalations_auditevent, whatever code (or person at a SQL prompt) tries.

Migration 0002 created them first. On SQLite a migration that rebuilds the table (as adding or
altering a column often does) silently drops its triggers, so they are also (re)created after every
`migrate` (apps.py connects ensure_triggers to post_migrate). PostgreSQL's TRUNCATE is left to
privileges: grant the app's role no TRUNCATE in production.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS auditevent_no_update BEFORE UPDATE ON escalations_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER IF NOT EXISTS auditevent_no_delete BEFORE DELETE ON escalations_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END;""",
]
POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION escalations_auditevent_refuse() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
       END;
       $$ LANGUAGE plpgsql;""",
    """CREATE OR REPLACE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON escalations_auditevent
       FOR EACH ROW EXECUTE FUNCTION escalations_auditevent_refuse();""",
]


def ensure_triggers(using: str = "default", **kwargs: Any) -> None:
    connection = connections[using]
    statements = {"sqlite": SQLITE, "postgresql": POSTGRESQL}.get(connection.vendor, [])
    if "escalations_auditevent" not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
