"""The redaction path cannot rewrite history. An approved redaction may only replace free text by
its own marker, "[redacted <date> by <approver>: RR-nnnnnn]", which the database rebuilds from the
request row; a request is decided once, by someone other than its requester, and is never deleted;
and verifyaudit names as broken any marker in the trail that is not exactly that of an approved
request naming the row, or a row a redaction names that holds no marker of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from escalations.core import audit_verify, redaction
from escalations.models import AuditAction, AuditEvent, RedactionRequest, audit_digest
from tests.core.test_audit_chain import as_owner_without_triggers
from tests.processes import scratch_roles
from tests.security.redaction_forgery import FORGED, attempts

ROOT = Path(__file__).resolve().parents[2]
EVERY_ATTEMPT = {
    "forged_request_and_rewrite",
    "approved_with_free_text_marker",
    "choice_field_rewritten",
    "approved_by_the_requester",
    "decided_request_changed",
    "decided_request_reason_changed",
    "request_deleted",
}


def _admin_url() -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return urlunsplit((parts.scheme, f"postgres@{parts.hostname}:{parts.port or 5432}", "/postgres", "", ""))


def _assert_all_refused(outcome: dict[str, Any]) -> None:
    assert set(outcome["refused"]) == EVERY_ATTEMPT
    allowed = [name for name, refused in outcome["refused"].items() if not refused]
    assert allowed == [], f"allowed: {allowed}"
    assert outcome["incident_type"] == "child_pornography", "the past event still records what was logged"
    assert outcome["broken"] == 0, outcome["breaks"]


@pytest.mark.postgres
def test_the_app_role_cannot_forge_a_redaction_on_postgresql() -> None:
    """The attack as found, and every way round it, connected as production's app role."""
    admin = _admin_url()
    with scratch_roles(admin, "esc_forgery") as roles:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_", "PYTEST_"))}
        env.update(DJANGO_SETTINGS_MODULE="settings.test", DATABASE_URL=roles.app_url)
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "1"],
            env={**env, "DATABASE_MIGRATE_URL": roles.owner_url},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert f"Granted role {roles.app}" in migrate.stdout, migrate.stdout[-2000:] + migrate.stderr[-3000:]
        run = subprocess.run(
            [sys.executable, "-m", "tests.security.redaction_forgery"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-4000:]
        outcome = json.loads(run.stdout.strip().splitlines()[-1])
    _assert_all_refused(outcome)


@pytest.mark.django_db
def test_the_forgery_is_refused_by_the_embedded_databases_triggers_too() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL test above runs it as the app role")
    _assert_all_refused(attempts())


# --- verifyaudit ------------------------------------------------------------------------------------


@contextmanager
def _without_triggers() -> Iterator[Any]:
    """The tables' owner at a SQL prompt, the audit trail's and the requests' triggers switched off
    (tests.core.test_audit_chain), inside the test's transaction."""
    with as_owner_without_triggers("escalations_auditevent", "escalations_redactionrequest") as cursor:
        if connection.vendor == "sqlite":
            for name in ("redactionrequest_insert", "redactionrequest_update"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        yield cursor


@pytest.mark.django_db
def test_verifyaudit_names_a_forged_redaction_made_with_the_triggers_off(make_escalation: Any, make_user: Any) -> None:
    """Whoever can switch the triggers off (the tables' owner) and forges the whole redaction, request
    and act, still leaves a break: the rewritten value is no approved request's marker."""
    lead = make_user("forge-lead", "lead")
    admin = make_user("forge-admin")
    admin.is_staff = True
    admin.save()
    esc = make_escalation(notes="a note")
    event = AuditEvent.objects.get(escalation=esc, action=AuditAction.CREATED)
    assert audit_verify.verify().ok
    changes = json.loads(json.dumps(event.changes))
    changes["incident_type"] = [None, FORGED]
    with _without_triggers() as cursor:
        cursor.execute(
            "INSERT INTO escalations_redactionrequest (escalation_id, fields, reason, requested_by_id, requested_at, "
            "approved_by_id, approved_at, refused_at, refusal_reason, marker, summary) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, '', %s, %s)",
            [esc.pk, '["incident_type:0"]', "PII", lead.pk, event.at, admin.pk, event.at, FORGED, "{}"],
        )
        cursor.execute("UPDATE escalations_auditevent SET changes = %s WHERE id = %s", [json.dumps(changes), event.pk])
    request = RedactionRequest.objects.get(escalation=esc)
    digest = redaction.event_digest(event, audit_digest.json_safe(changes), event.reason)
    AuditEvent.objects.create(
        escalation=esc,
        actor=admin,
        at=event.at,
        action=AuditAction.REDACTED,
        changes={
            "request": request.key,
            "request_id": request.pk,
            "marker": FORGED,
            "audit_events": {str(event.pk): digest},
        },
        reason="PII",
        version=esc.version,
    )
    result = audit_verify.verify()
    assert not result.ok
    text = "\n".join(str(b) for b in result.breaks)
    assert "event #" in text and "which no admin other than its requester approved with its own marker" in text
    assert "payload digest mismatch" in text


@pytest.mark.django_db
def test_verifyaudit_names_a_marker_that_no_redaction_naming_the_row_wrote(make_escalation: Any) -> None:
    esc = make_escalation(notes="a note")
    event = AuditEvent.objects.get(escalation=esc, action=AuditAction.CREATED)
    with _without_triggers() as cursor:
        changes = json.loads(json.dumps(event.changes))
        changes["notes"] = [None, "[redacted 2026-12-07 by admin: RR-000009]"]
        payload = redaction.event_digest(event, audit_digest.json_safe(changes), event.reason)
        # Even with its payload digest made to match: the marker is no approved request's.
        cursor.execute(
            "UPDATE escalations_auditevent SET changes = %s, payload_digest = %s WHERE id = %s",
            [json.dumps(changes), payload, event.pk],
        )
    text = "\n".join(str(b) for b in audit_verify.verify().breaks)
    assert "[redacted 2026-12-07 by admin: RR-000009]" in text
    assert "which no approved redaction naming this event wrote" in text


@pytest.mark.django_db
def test_a_real_redaction_still_verifies_and_leaves_choices_alone(make_escalation: Any, make_user: Any) -> None:
    lead = make_user("forge-lead", "lead")
    admin = make_user("forge-admin")
    admin.is_staff = True
    admin.save()
    # A note that happens to hold a choice's stored value: redacting the note never touches the choice.
    esc = make_escalation(notes="child_pornography")
    key = redaction.value_key("notes", "child_pornography")
    asked = redaction.request_redaction(actor=lead, escalation_id=esc.pk, fields=[key], reason="Wrong words.")
    done = redaction.approve_redaction(actor=admin, request_id=asked.pk)
    created = AuditEvent.objects.get(escalation=esc, action=AuditAction.CREATED)
    assert created.changes["notes"][1] == done.marker
    assert created.changes["incident_type"][1] == "child_pornography"
    assert audit_verify.verify().ok
