"""The migration that adds NCMEC's report details keeps what escalations already meant: a recorded
report is finished, a report opened through NCMEC's API and not recorded is opened (its countdown
still running, or run out), anything else was never opened; and no stored deadline, reminder time or
next action moves. Run in a database of its own (a subprocess), since it migrates from 0031."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
from datetime import UTC, datetime, timedelta

import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from escalations import policy

before = [("escalations", "0031_authority_register")]
executor = MigrationExecutor(connection)
executor.migrate(before)
apps = executor.loader.project_state(before).apps
User = apps.get_model("auth", "User")
Escalation = apps.get_model("escalations", "Escalation")

mod = User.objects.create(username="old-mod")
cfg = policy.PolicyConfig()
now = datetime.now(UTC).replace(microsecond=0)
rows = [
    ("reported", now - timedelta(hours=30), now - timedelta(hours=20), now - timedelta(hours=25)),
    ("reported-by-hand", now - timedelta(hours=30), now - timedelta(hours=20), None),
    ("opened-running", now - timedelta(hours=3), None, now - timedelta(hours=2)),
    ("opened-ran-out", now - timedelta(hours=40), None, now - timedelta(hours=30)),
    ("never-opened", now - timedelta(hours=3), None, None),
]
for n, (ref, knowledge, reported, opened) in enumerate(rows):
    esc = Escalation(
        platform_reference=ref, incident_type="child_pornography", knowledge_at=knowledge, created_by=mod,
        reported_at=reported, cybertipline_report_id=str(4564000 + n) if reported else None,
        breach_reason="tooling" if reported else "",
        status="reported" if reported else "open", ncmec_opened_at=opened, report_due_at=knowledge,
    )
    for name, value in policy.stored_columns(esc, cfg).items():
        setattr(esc, name, value)
    esc.save()

call_command("migrate", verbosity=0)

from escalations.models import Escalation as Live

moved = []
for esc in Live.objects.order_by("pk"):
    print(esc.platform_reference, repr(esc.ncmec_submission_state))
    stored = {name: getattr(esc, name) for name in policy.StoredColumns.__annotations__}
    again = policy.stored_columns(esc, cfg)
    if again != stored:
        moved.append((esc.platform_reference, {k: (stored[k], again[k]) for k in stored if stored[k] != again[k]}))
print("moved:", moved)
"""


def test_existing_escalations_keep_their_meaning(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'before.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "settings.test",
    }
    env.pop("DATABASE_MIGRATE_URL", None)
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    out = run.stdout
    assert "reported 'finished'" in out, out
    assert "reported-by-hand 'finished'" in out, out
    assert "opened-running 'opened'" in out, out
    assert "opened-ran-out 'opened'" in out, out
    assert "never-opened ''" in out, out
    assert "moved: []" in out, out
