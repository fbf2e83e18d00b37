"""The audit trail and the access log are append-only in the database itself: triggers refuse UPDATE
and DELETE on escalations_auditevent and escalations_accesslog, whatever code (or person at a SQL
prompt) tries.

Migrations 0002 and 0010 created them first. On SQLite a migration that rebuilds a table (as adding or
altering a column often does) silently drops its triggers, so they are also (re)created after every
`migrate` (apps.py connects ensure_triggers to post_migrate). PostgreSQL's TRUNCATE is left to
privileges: grant the app's role no TRUNCATE in production.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

# table: (short name used in trigger names, what the rows are called in the refusal)
APPEND_ONLY = {
    "escalations_auditevent": ("auditevent", "audit events"),
    "escalations_accesslog": ("accesslog", "access log rows"),
}


def _sqlite(table: str, short: str, noun: str) -> list[str]:
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {short}_no_update BEFORE UPDATE ON {table}
           BEGIN SELECT RAISE(ABORT, '{noun} are append-only: UPDATE refused'); END;""",
        f"""CREATE TRIGGER IF NOT EXISTS {short}_no_delete BEFORE DELETE ON {table}
           BEGIN SELECT RAISE(ABORT, '{noun} are append-only: DELETE refused'); END;""",
    ]


def _postgresql(table: str, short: str, noun: str) -> list[str]:
    return [
        f"""CREATE OR REPLACE FUNCTION escalations_{short}_refuse() RETURNS trigger AS $$
           BEGIN
             RAISE EXCEPTION '{noun} are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
           END;
           $$ LANGUAGE plpgsql;""",
        f"""CREATE OR REPLACE TRIGGER {short}_append_only BEFORE UPDATE OR DELETE ON {table}
           FOR EACH ROW EXECUTE FUNCTION escalations_{short}_refuse();""",
    ]


def ensure_triggers(using: str = "default", **kwargs: Any) -> None:
    connection = connections[using]
    build = {"sqlite": _sqlite, "postgresql": _postgresql}.get(connection.vendor)
    if build is None:
        return
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table, (short, noun) in APPEND_ONLY.items():
            if table in tables:
                for sql in build(table, short, noun):
                    cursor.execute(sql)
