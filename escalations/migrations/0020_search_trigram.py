"""Trigram indexes for the lists' `q` (escalations/core/search.py) on PostgreSQL: any part of a
platform reference, a reported account or a report ID, in any case, found by index. Each index is on
UPPER(column::text), the expression Django's icontains compares. Built CONCURRENTLY (so outside a
transaction) so that a large table keeps taking writes while they build. SQLite has no pg_trgm: it
gets nothing here, and the search bounds its scan instead."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

TABLE = "escalations_escalation"
INDEXES = (
    ("escalation_ref_trgm", "platform_reference"),
    ("escalation_account_trgm", "account_reference"),
    ("escalation_report_id_trgm", "cybertipline_report_id"),
)


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote(name)} ON {quote(TABLE)} "
            f"USING gin ((UPPER(({quote(column)})::text)) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("escalations", "0019_take_correct_release")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
