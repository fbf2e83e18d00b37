"""Make the audit trail append-only in the database itself: triggers refuse UPDATE and DELETE on
escalations_auditevent, whatever code (or person at a SQL prompt) tries.

PostgreSQL's TRUNCATE is left to database privileges (grant the app role no TRUNCATE in production):
row triggers do not see it, and the test runner empties tables with it between tests."""

from django.db import migrations

SQLITE_UP = [
    """CREATE TRIGGER auditevent_no_update BEFORE UPDATE ON escalations_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON escalations_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS auditevent_no_update;",
    "DROP TRIGGER IF EXISTS auditevent_no_delete;",
]
POSTGRES_UP = [
    """CREATE OR REPLACE FUNCTION escalations_auditevent_refuse() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
       END;
       $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON escalations_auditevent
       FOR EACH ROW EXECUTE FUNCTION escalations_auditevent_refuse();""",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS auditevent_append_only ON escalations_auditevent;",
    "DROP FUNCTION IF EXISTS escalations_auditevent_refuse();",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            # params=None: run the SQL as written; with params, psycopg reads the % in RAISE as a placeholder.
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("escalations", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
