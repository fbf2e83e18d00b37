"""People change their own password at /accounts/password/, with the current one: messages name the
field, wrong current passwords count toward the lockout, the change is an audit event (never the
password), this session goes on and every other session of theirs ends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import time_machine

from escalations.models import AuditAction, AuditEvent
from tests.accounts.test_two_factor import PASSWORD, sign_in
from tests.conftest import FormClient

PAGE = "/accounts/password/"
NEW = "Lantern-river-0471-quiet"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def change(client: FormClient, old: str, new1: str, new2: str | None = None) -> Any:
    return client.post(
        PAGE, {"old_password": old, "new_password1": new1, "new_password2": new1 if new2 is None else new2}
    )


@time_machine.travel(T0, tick=False)
def test_a_person_changes_their_password_with_the_current_one(moderator: Any) -> None:
    client, _ = sign_in("mod")
    elsewhere, _ = sign_in("mod")
    assert "/accounts/password/" in client.get("/accounts/profile/").content.decode()
    page = client.get(PAGE).content.decode()
    assert 'name="old_password"' in page and 'autocomplete="current-password"' in page

    done = change(client, PASSWORD, NEW)
    assert done.status_code == 302 and done["Location"] == "/accounts/profile/"
    assert "Password changed" in client.get("/accounts/profile/").content.decode()
    assert client.get("/escalations/mine/").status_code == 200, "this session goes on"
    assert elsewhere.get("/escalations/mine/")["Location"].startswith("/accounts/login/"), "the others end"

    _, old = sign_in("mod", PASSWORD)
    assert old.status_code == 200
    _, new = sign_in("mod", NEW)
    assert new.status_code == 302

    [event] = AuditEvent.objects.filter(action=AuditAction.PASSWORD_CHANGED)
    assert event.actor == moderator and event.escalation is None
    assert PASSWORD not in str(event.changes) and NEW not in str(event.changes)


def test_messages_name_the_field(client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    for new1, new2, old, message in [
        (NEW, NEW, "not-it", "Current password: not accepted."),
        ("short-1", "short-1", PASSWORD, "New password: This password is too short."),
        ("12345678901234", "12345678901234", PASSWORD, "New password: This password is entirely numeric."),
        (NEW, NEW + "x", PASSWORD, "New password again: it differs from the new password."),
        ("", "", PASSWORD, "New password: required."),
    ]:
        response = change(client, old, new1, new2)
        assert response.status_code == 200
        assert message in response.content.decode(), message
    moderator.refresh_from_db()
    assert moderator.check_password(PASSWORD), "nothing was changed"
    assert not AuditEvent.objects.filter(action=AuditAction.PASSWORD_CHANGED).exists()


@time_machine.travel(T0, tick=False)
def test_wrong_current_passwords_count_toward_the_lockout(moderator: Any) -> None:
    client, _ = sign_in("mod")
    for attempt in range(4):
        assert change(client, f"guess-{attempt}", NEW).status_code == 200
    locked = change(client, "guess-5", NEW)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED)
    assert failed.count() == 5
    assert all(e.actor == moderator and e.changes["path"] == PAGE for e in failed), "the signed-in person tried"
    assert AuditEvent.objects.filter(action=AuditAction.LOCKED_OUT).count() == 1
    _, again = sign_in("mod")
    assert again.status_code == 429


def test_signed_out_people_are_sent_to_sign_in(db: Any) -> None:
    response = FormClient().get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
