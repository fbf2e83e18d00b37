"""Migration 0031 forwards (and back) on real-shaped data: a few hundred escalations logged under
0030 with destination reports to several authorities, reported and not, with odd report IDs (spaces,
accents, 100 characters, a time without an ID, an ID without a time), open, reported, closed and
dismissed, test records among them, some known before the UK's Act took effect. Every destination
report becomes exactly one obligation (Filed where its time and ID were recorded), no destination
report changes, each deadline is what the policy computes under the seeded rules, only live ones
count on the dashboard and only live, unfiled ones wait for a reminder. Run in a database of its own
(a subprocess), since it migrates from an earlier state."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
from datetime import UTC, datetime, timedelta

import django
django.setup()
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from escalations import policy

before = [("escalations", "0030_seed_rules")]
after = [("escalations", "0031_authority_register")]
executor = MigrationExecutor(connection)
executor.migrate(before)
apps = executor.loader.project_state(before).apps
User = apps.get_model("auth", "User")
Escalation = apps.get_model("escalations", "Escalation")
Destination = apps.get_model("escalations", "Destination")
DestinationReport = apps.get_model("escalations", "DestinationReport")

mod = User.objects.create(username="old-mod")
destinations = list(Destination.objects.filter(is_default=False).order_by("code"))
Destination.objects.filter(code="afp").update(report_target_hours=72, urgent_report_target_hours=2)
odd_ids = ["RCMP 2026-0001", "NCA/Ref/ü-17", "x" * 100, "", "  padded  ", "42"]
uk_from = datetime(2026, 4, 6, 23, 0, tzinfo=UTC)
statuses = ["open", "reported", "closed", "dismissed"]
cfg = policy.PolicyConfig()
made = 0
for i in range(300):
    knowledge = uk_from + timedelta(hours=7 * (i - 150), seconds=i % 2)  # half before the UK's Act
    status = statuses[i % 4]
    reported = knowledge + timedelta(hours=5) if status in ("reported", "closed") else None
    esc = Escalation(
        platform_reference=f"ticket-{i}", incident_type="child_pornography", knowledge_at=knowledge, created_by=mod,
        priority="urgent" if i % 9 == 0 else "standard", urgent_reason="child at risk" if i % 9 == 0 else "",
        reported_at=reported, cybertipline_report_id=str(160_000_000 + i) if reported else None,
        status=status, report_due_at=knowledge, is_test=i % 17 == 0,
    )
    esc.save()
    for j, dest in enumerate(destinations[: 1 + i % len(destinations)]):
        report_id = odd_ids[(i + j) % len(odd_ids)]
        at = knowledge + timedelta(hours=j + 1) if (i + j) % 3 else None
        DestinationReport.objects.create(escalation=esc, destination=dest, reported_at=at, report_id=report_id)
        made += 1

snapshot = list(DestinationReport.objects.order_by("pk").values())
executor = MigrationExecutor(connection)
executor.migrate(after)
# The live models read below are the latest: the later migrations run too.
executor = MigrationExecutor(connection)
executor.migrate(executor.loader.graph.leaf_nodes())

from escalations.core import rulebook
from escalations.models import AuthorityObligation, DestinationReport as LiveReport
from escalations.policy import authorities as authority_policy

rules = rulebook.current_rules()
problems = []
counts = {"due": 0, "filed": 0, "dated": 0, "reminded": 0}
for o in AuthorityObligation.objects.select_related("report", "escalation", "authority"):
    r, esc = o.report, o.escalation
    if (o.escalation_id, o.authority_id) != (r.escalation_id, r.destination_id):
        problems.append(("wrong owner", o.pk))
    filed = r.reported_at is not None and bool(r.report_id)
    if o.state != ("filed" if filed else "due"):
        problems.append(("state", o.pk, o.state, r.reported_at, r.report_id))
    due = authority_policy.obligation_due(
        rules, o.authority.code, knowledge_at=esc.knowledge_at, priority=esc.priority,
        target_hours=o.authority.report_target_hours, urgent_target_hours=o.authority.urgent_report_target_hours,
        cfg=cfg,
    )
    if (o.due_at, o.rule_id) != (due.due_at, due.rule.id if due.rule else None):
        problems.append(("deadline", o.pk, o.due_at, due.due_at))
    if o.live != (esc.status in ("open", "reported") and not esc.is_test):
        problems.append(("live", o.pk))
    wants_reminder = not filed and esc.status in ("open", "reported") and due.soon_at is not None
    if o.next_reminder_at != (due.soon_at if wants_reminder else None):
        problems.append(("reminder", o.pk))
    counts[o.state] += 1
    counts["dated"] += o.due_at is not None
    counts["reminded"] += o.next_reminder_at is not None
print("reports:", made, "obligations:", AuthorityObligation.objects.count())
print("unchanged:", list(LiveReport.objects.order_by("pk").values()) == snapshot)
print("counts:", counts)
print("problems:", problems[:5])

executor = MigrationExecutor(connection)
executor.migrate(before)
print("back:", DestinationReport.objects.count(), list(DestinationReport.objects.order_by("pk").values()) == snapshot)
"""


def test_every_destination_report_becomes_one_obligation_and_nothing_is_lost(tmp_path: Path) -> None:
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
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    reports, _, obligations = lines["reports"].split()
    assert int(reports) > 600 and obligations == reports, out
    assert lines["unchanged"].strip() == "True", out
    assert lines["problems"].strip() == "[]", out
    counts = ast.literal_eval(lines["counts"].strip())
    # Both states, dated and undated (before the UK's Act; the EU and "other" owe no filing rule), and
    # reminders waiting only on some.
    assert counts["due"] and counts["filed"] and 0 < counts["dated"] < int(reports), out
    assert 0 < counts["reminded"] < counts["due"], out
    assert lines["back"].split() == [reports, "True"], out
