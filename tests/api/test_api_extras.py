"""Small promises of the API and the import that a client relies on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from escalations.models import AuditEvent, UserProfile
from tests.management.test_importescalations import people, row, run_failing, write_csv

__all__ = ["people"]


def test_times_come_back_in_utc_even_for_a_person_with_another_zone(
    client_for: Any, moderator: Any, make_escalation: Any
) -> None:
    UserProfile.objects.create(user=moderator, time_zone="America/New_York")
    esc = make_escalation(knowledge_at=datetime(2026, 7, 1, 14, 0, tzinfo=UTC))
    body = client_for(moderator).get(f"/api/v1/escalations/{esc.pk}/").json()
    assert body["knowledge_at"] == "2026-07-01T14:00:00Z"


def test_an_empty_patch_changes_nothing_and_writes_no_event(
    client_for: Any, moderator: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    client = client_for(moderator)
    response = client.patch(f"/api/v1/escalations/{esc.pk}/", json.dumps({}), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["version"] == esc.version
    assert AuditEvent.objects.filter(escalation=esc).count() == 1  # only "created"


def test_a_dry_run_with_bad_rows_fails_even_with_partial(tmp_path: Path, people: dict[str, Any]) -> None:
    path = write_csv(tmp_path / "mixed.csv", [row(), row(platform_reference="", incident_type="nope")])
    output, error = run_failing(path, "--dry-run", "--partial")
    assert "Dry run: 1 of 2 rows would import" in output
    assert "rows with errors" in error
