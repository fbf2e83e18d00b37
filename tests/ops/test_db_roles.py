"""Production's two database roles on PostgreSQL (scripts/check_db_roles.py, also a step of .ci/run):
the owner migrates; the app's role writes through the app, redactions included, and is refused
UPDATE, DELETE, TRUNCATE and ALTER on the audit trail and the access log, and every way to switch
their triggers off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import call_command
from django.db import connection

from escalations.ops import db_roles

ROOT = Path(__file__).resolve().parents[2]


def _admin_url() -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return urlunsplit((parts.scheme, f"postgres@{parts.hostname}:{parts.port or 5432}", "/postgres", "", ""))


@pytest.mark.postgres
def test_the_app_role_may_only_insert_and_select_the_audit_trail() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_MIGRATE_URL")}
    env.update(PG_ADMIN_URL=_admin_url(), ROLES_SUFFIX=f"test{os.getpid()}")
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_db_roles.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr[-3000:]
    assert "migrated as the owner; the app connects as escalations_app_test" in out
    assert "redaction=yes" in out
    assert "database roles: app refused update=yes delete=yes truncate=yes alter=yes disable_trigger=yes" in out
    assert re.search(r"^audit chain: events=(\d+) verified=\1 broken=0$", out, re.M), out


def test_without_a_migrate_url_migrate_is_djangos(db: Any, settings: Any) -> None:
    settings.DATABASE_MIGRATE_URL = ""
    before = dict(connection.settings_dict)
    call_command("migrate", verbosity=0)
    assert dict(connection.settings_dict) == before


@pytest.mark.postgres
def test_the_grants_name_the_app_role_and_keep_the_audit_tables_append_only(db: Any) -> None:
    statements = "\n".join(db_roles.grant_statements(connection, "someone"))
    for table in ("escalations_auditevent", "escalations_accesslog", "escalations_auditverification"):
        assert f'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM "someone"' in statements
    assert "REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON escalations_chainhead" in statements
    assert (
        'GRANT EXECUTE ON FUNCTION escalations_redact_auditevent(bigint, bigint, jsonb, text) TO "someone"'
        in statements
    )
    assert "ALTER DEFAULT PRIVILEGES" in statements, "a table made later is granted too"
