"""The documented migrate step (deploy/container/entrypoint.sh migrate, which the systemd unit, compose
and the image all run) leaves the app's database role with exactly its rights: it may INSERT and
SELECT the audit trail, never UPDATE, DELETE or TRUNCATE it. Run against a database owned by one
role, with DATABASE_URL naming the other, as docs/deploy.md has an operator set them up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.processes import app_role_problems, scratch_roles

ROOT = Path(__file__).resolve().parents[2]


def _admin_url() -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return urlunsplit((parts.scheme, f"postgres@{parts.hostname}:{parts.port or 5432}", "/postgres", "", ""))


@pytest.mark.postgres
def test_the_entrypoints_migrate_grants_the_app_role_its_rights() -> None:
    admin = _admin_url()
    with scratch_roles(admin, "esc_migrate_step") as roles:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_", "PYTEST_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="settings.prod",
            DJANGO_SECRET_KEY="migrate-step-test-only-not-a-secret",
            DJANGO_ALLOWED_HOSTS="localhost",
            LOG_FORMAT="text",
            DATABASE_URL=roles.app_url,
            DATABASE_MIGRATE_URL=roles.owner_url,
        )
        run = subprocess.run(
            [str(ROOT / "deploy" / "container" / "entrypoint.sh"), "migrate", "--verbosity", "1"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
        assert "nothing to grant" not in run.stdout
        assert f"Granted role {roles.app} the app's privileges" in run.stdout, run.stdout[-2000:]
        assert app_role_problems(admin, roles) == []
