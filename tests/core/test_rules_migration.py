"""Migrations 0022-0023 forwards on escalations logged before rules were data: every one is linked to
the rule versions that judged it (the report target; 2258A(h)'s 90 days or its year by the date of the
report; NCMEC's deletion timer when a report was opened), and every stored deadline comes out
identical when computed again under the seeded rules. Run in a database of its own (a subprocess),
since it migrates from an earlier state."""

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

before = [("escalations", "0028_scim")]
executor = MigrationExecutor(connection)
executor.migrate(before)
apps = executor.loader.project_state(before).apps
User = apps.get_model("auth", "User")
Escalation = apps.get_model("escalations", "Escalation")

mod = User.objects.create(username="old-mod")
cfg = policy.PolicyConfig()  # the settings' defaults, as the tracker computed before rules were data
act = datetime(2024, 5, 7, 4, 0, tzinfo=UTC)  # the REPORT Act: midnight in New York
rows = [
    ("open", datetime(2026, 1, 5, 9, 0, tzinfo=UTC), None, None),
    ("old-law", act - timedelta(days=2), act - timedelta(seconds=1), None),
    ("new-law", act - timedelta(days=1), act, None),
    (
        "uk-era-urgent",
        datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 40, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 10, tzinfo=UTC),
    ),
]
for i in range(200):  # a spread of knowledge times, reports and NCMEC openings over 2025
    k = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=37 * i)
    reported = k + timedelta(hours=20) if i % 3 else None
    rows.append((f"bulk-{i}", k, reported, k + timedelta(hours=2) if i % 7 == 0 else None))
for n, (ref, knowledge, reported, opened) in enumerate(rows):
    esc = Escalation(
        platform_reference=ref, incident_type="child_pornography", knowledge_at=knowledge, created_by=mod,
        priority="urgent" if "urgent" in ref else "standard", urgent_reason="child at risk" if "urgent" in ref else "",
        reported_at=reported, cybertipline_report_id=str(4564000 + n) if reported else None,
        status="reported" if reported else "open", ncmec_opened_at=opened, report_due_at=knowledge,
    )
    for name, value in policy.stored_columns(esc, cfg).items():
        setattr(esc, name, value)
    esc.save()

call_command("migrate", verbosity=0)

from escalations.core import rulebook
from escalations.models import Escalation as Live, EscalationRule

for ref in ("open", "old-law", "new-law", "uk-era-urgent"):
    esc = Live.objects.get(platform_reference=ref)
    print(ref, sorted(EscalationRule.objects.filter(escalation=esc).values_list("rule__code", "deadline")))
moved = []
for esc in Live.objects.all():
    stored = {name: getattr(esc, name) for name in policy.StoredColumns.__annotations__}
    again = policy.stored_columns(esc, rulebook.config_for(esc))
    if again != stored:
        moved.append((esc.platform_reference, {k: (stored[k], again[k]) for k in stored if stored[k] != again[k]}))
print("escalations:", Live.objects.count(), "links:", EscalationRule.objects.count())
print("moved:", moved)
"""


def test_escalations_from_before_rules_are_linked_and_their_deadlines_do_not_move(tmp_path: Path) -> None:
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
    assert "open [('us-2258a-report', 'report')]" in out, out
    assert "old-law [('us-2258a-h-preserve', 'preservation_end'), ('us-2258a-report', 'report')]" in out, out
    assert "new-law [('us-2258a-h-preserve-1-year', 'preservation_end'), ('us-2258a-report', 'report')]" in out, out
    assert (
        "uk-era-urgent [('ncmec-unfinished-report-deletion', 'ncmec_deletion'), "
        "('us-2258a-h-preserve-1-year', 'preservation_end'), ('us-2258a-report', 'report')]"
    ) in out, out
    # Every one linked (the count of links varies with what each carries); none of their deadlines moved.
    assert "escalations: 204 links: " in out, out
    assert "moved: []" in out, out
