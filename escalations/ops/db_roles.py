"""Two database roles on PostgreSQL: the owner, who migrates, and the app's role, which runs the web
and the worker and may only INSERT and SELECT the audit trail, the access log and the integrity
checks (no UPDATE, DELETE, TRUNCATE, ALTER: it owns nothing, so it cannot disable a trigger either),
only SELECT the chains' heads (the owner's insert triggers move them), and change an audit row only
through the redaction functions (escalations.core.append_only), which let an approved redaction's marker
through and nothing else.

`manage.py migrate` connects as DATABASE_MIGRATE_URL's role when that is set (our migrate command),
then grants the app's role (DATABASE_URL's user) what it needs here, after every migration, so a
table a later migration adds is granted too; default privileges cover a table created otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import environ
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from escalations.core import append_only

# Rows the app adds and reads, never changes.
APPEND_ONLY_TABLES = tuple(table.name for table in append_only.APPEND_ONLY)
# Rows only the owner's triggers write; the app reads them (verifyaudit).
READ_ONLY_TABLES = (append_only.HEADS, "django_migrations")
REDACT_FUNCTIONS = (append_only.redact_function(append_only.AUDIT), append_only.redact_function(append_only.ACCESS))


def migrate_settings(url: str) -> dict[str, Any]:
    """The connection settings of DATABASE_MIGRATE_URL (the same database, as its owner)."""
    config: dict[str, Any] = environ.Env.db_url_config(url)
    return config


@contextmanager
def as_owner(alias: str, url: str) -> Iterator[str]:
    """Connect `alias` as DATABASE_MIGRATE_URL's role for the duration; yields the app's role (the
    user the alias had before)."""
    connection = connections[alias]
    settings_dict = connection.settings_dict
    app_role = settings_dict.get("USER") or ""
    owner = migrate_settings(url)
    saved = {key: settings_dict.get(key) for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}
    connection.close()
    settings_dict.update({key: owner.get(key, saved[key]) for key in saved})
    try:
        yield app_role
    finally:
        connection.close()
        settings_dict.update(saved)


def _quote(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


def grant_statements(connection: BaseDatabaseWrapper, app_role: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema(), current_user")
        schema_name, owner_name = cursor.fetchone()
    tables = set(connection.introspection.table_names())
    schema, app, owner = _quote(connection, schema_name), _quote(connection, app_role), _quote(connection, owner_name)
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
    ]
    for table in APPEND_ONLY_TABLES:
        if table in tables:
            statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {app}")
    for table in READ_ONLY_TABLES:
        if table in tables:
            statements.append(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {app}")
    if append_only.REDACTIONS in tables:
        # Requests are kept, like the trail they change (their triggers refuse a DELETE too).
        statements.append(f"REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON {append_only.REDACTIONS} FROM {app}")
        statements += [f"GRANT EXECUTE ON FUNCTION {function} TO {app}" for function in REDACT_FUNCTIONS]
    return statements


def grant_app_role(alias: str, app_role: str) -> list[str]:
    """Grant `app_role` what the app needs, as the connected owner; returns the statements run."""
    connection = connections[alias]
    if connection.vendor != "postgresql" or not app_role:
        return []
    statements = grant_statements(connection, app_role)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    return statements


def privileges(alias: str, role: str, table: str) -> dict[str, bool]:
    """What `role` may do to `table` (PostgreSQL's has_table_privilege)."""
    with connections[alias].cursor() as cursor:
        result = {}
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, table, privilege])
            result[privilege.lower()] = bool(cursor.fetchone()[0])
        return result
