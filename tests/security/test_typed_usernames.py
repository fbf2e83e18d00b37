"""A username typed at the sign-in form is the one text an outsider can write into the permanent
audit trail. Every security event that records a typed username keeps it by the same rule as the
lockout tables (escalations.accounts.lockout_username): file content written as text is recorded as
a marker, never as typed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from axes.models import AccessAttempt

from escalations.accounts.lockout_username import FILE_CONTENT_MARKER
from escalations.models import AuditAction, AuditEvent
from tests.conftest import FormClient
from tests.encoded_media import TINY_PNG_BASE64

LOGIN = "/accounts/login/"


def _trail_text() -> str:
    return json.dumps(list(AuditEvent.objects.values_list("changes", "reason")))


@pytest.mark.django_db
def test_a_base64_png_typed_as_a_username_never_reaches_the_audit_trail() -> None:
    response = FormClient().post(LOGIN, {"username": TINY_PNG_BASE64, "password": "any-password-at-all"})
    assert response.status_code == 200
    [event] = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED)
    assert event.changes["username"] == FILE_CONTENT_MARKER
    assert TINY_PNG_BASE64[:40] not in _trail_text()
    # The same rule as the lockout table's.
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [FILE_CONTENT_MARKER]


@pytest.mark.django_db
def test_a_lockout_by_a_file_content_username_records_the_marker(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    client = FormClient()
    for _ in range(3):
        client.post(LOGIN, {"username": TINY_PNG_BASE64, "password": "any-password-at-all"})
    locked = AuditEvent.objects.filter(action=AuditAction.LOCKED_OUT)
    assert locked.exists()
    assert {event.changes["username"] for event in locked} == {FILE_CONTENT_MARKER}
    assert TINY_PNG_BASE64[:40] not in _trail_text()


@pytest.mark.django_db
def test_an_ordinary_mistyped_username_is_still_recorded_as_typed() -> None:
    FormClient().post(LOGIN, {"username": "jane.doe@example.org", "password": "wrong-guess-1"})
    [event] = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED)
    assert event.changes["username"] == "jane.doe@example.org"
