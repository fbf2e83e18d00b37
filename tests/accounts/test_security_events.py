"""Security events are audit events, wherever they happen: sign-ins, failed sign-ins (a wrong
password, a wrong code), lockouts and unlocks (a lead's service, the admin, axes' commands), service
tokens created and revoked, group and team membership changed (the admin, a shell, code), two-factor
devices added or removed outside the two-factor pages. Leads and auditors read them at
/security-events/. The lockout tables keep no request body."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from escalations.models import AuditAction, AuditEvent, ServiceToken, Team
from tests.accounts.test_two_factor import PASSWORD, enrol, give_code, sign_in
from tests.conftest import FormClient

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LOGIN = "/accounts/login/"


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


@pytest.fixture
def admin_user(make_user: Any) -> Any:
    user = make_user("root")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


# --- signing in ---------------------------------------------------------------------------------------------


def test_a_sign_in_is_recorded(moderator: Any) -> None:
    sign_in(moderator.username)
    [event] = events(AuditAction.SIGNED_IN)
    assert event.actor == moderator and event.escalation is None
    assert event.changes == {"ip": "127.0.0.1"}


def test_failed_sign_ins_read_the_same_for_known_and_unknown_usernames(moderator: Any) -> None:
    people = get_user_model().objects.count()
    known = FormClient().post(LOGIN, {"username": "mod", "password": "wrong-guess-1"})
    unknown = FormClient().post(LOGIN, {"username": "no-such-person", "password": "wrong-guess-1"})
    assert known.status_code == unknown.status_code == 200
    assert get_user_model().objects.count() == people, "no user is created for an unknown username"
    first, second = events(AuditAction.SIGN_IN_FAILED)
    for event, typed in ((first, "mod"), (second, "no-such-person")):
        assert event.actor is None
        assert event.changes == {"username": typed, "step": "password", "path": LOGIN, "ip": "127.0.0.1"}
    # What the event holds is the same shape whichever it was, and never the password.
    assert "wrong-guess-1" not in str(first.changes) + str(second.changes)


def test_a_wrong_code_is_a_failed_sign_in_of_that_person(moderator: Any) -> None:
    enrol(moderator)
    client, _ = sign_in(moderator.username)
    give_code(client, "000000")
    [event] = events(AuditAction.SIGN_IN_FAILED)
    assert event.actor == moderator
    assert event.changes["step"] == "code" and event.changes["username"] == "mod"
    assert "000000" not in str(event.changes)


def test_the_lock_is_recorded_once(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False):
        for attempt in range(5):
            client.post(LOGIN, {"username": "mod", "password": f"wrong-{attempt}"})
        assert client.post(LOGIN, {"username": "mod", "password": PASSWORD}).status_code == 429
    [lock] = events(AuditAction.LOCKED_OUT)
    assert lock.actor is None
    assert lock.changes == {"username": "mod", "failures": 5, "ip": "127.0.0.1"}
    assert len(events(AuditAction.SIGN_IN_FAILED)) == 6, "the try while locked is a failed sign-in too"
    assert not events(AuditAction.SIGNED_IN)


# --- the lockout tables keep no request body ---------------------------------------------------------------


def test_no_request_body_in_the_lockout_tables(moderator: Any) -> None:
    enrol(moderator)
    FormClient().post(f"{LOGIN}?next=/escalations/mine/", {"username": "mod", "password": "my-secret-guess-123"})
    client, _ = sign_in(moderator.username)
    give_code(client, "493817")
    rows = list(AccessAttempt.objects.values("get_data", "post_data"))
    assert rows and all(row == {"get_data": "", "post_data": ""} for row in rows), rows


# --- unlocks -----------------------------------------------------------------------------------------------


def _lock(username: str) -> None:
    client = FormClient()
    for attempt in range(5):
        client.post(LOGIN, {"username": username, "password": f"wrong-{attempt}"})


def test_a_lead_unlocks_and_it_is_recorded(moderator: Any, lead: Any) -> None:
    from escalations.accounts.lockout import unlock_account

    with time_machine.travel(T0, tick=False):
        _lock("mod")
        assert unlock_account(actor=lead, username="mod") == 1
        _, response = sign_in("mod")
    assert response.status_code == 302
    [event] = events(AuditAction.UNLOCKED)
    assert event.actor == lead
    assert event.changes == {"username": "mod", "failures": 5, "was_locked": True}


def test_a_moderator_cannot_unlock(moderator: Any, auditor: Any) -> None:
    from django.core.exceptions import PermissionDenied

    from escalations.accounts.lockout import unlock_account

    _lock("mod")
    for who in (moderator, auditor):
        with pytest.raises(PermissionDenied):
            unlock_account(actor=who, username="mod")
    assert AccessAttempt.objects.filter(username="mod").exists()
    assert not events(AuditAction.UNLOCKED)


def test_axes_commands_unlock_on_the_record(moderator: Any) -> None:
    _lock("mod")
    _lock("no-such-person")
    call_command("axes_reset_username", "mod", stdout=StringIO())
    call_command("axes_reset", stdout=StringIO())
    first, second = events(AuditAction.UNLOCKED)
    assert (first.actor, first.changes["username"]) == (None, "mod")
    assert (second.actor, second.changes["username"]) == (None, "no-such-person")


def test_unlocking_in_the_admin_is_recorded(moderator: Any, admin_user: Any) -> None:
    _lock("mod")
    admin = FormClient()
    admin.force_login(admin_user)
    rows = list(AccessAttempt.objects.filter(username="mod").values_list("pk", flat=True))
    answer = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "lift_locks", "_selected_action": rows, "index": "0"},
    )
    assert answer.status_code == 302
    assert not AccessAttempt.objects.filter(username="mod").exists()
    [event] = events(AuditAction.UNLOCKED)
    assert event.actor == admin_user and event.changes["username"] == "mod"

    # Deleting the rows (axes' own way) is an unlock too.
    _lock("mod")
    rows = list(AccessAttempt.objects.filter(username="mod").values_list("pk", flat=True))
    answer = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": rows, "post": "yes", "index": "0"},
    )
    assert answer.status_code == 302
    assert not AccessAttempt.objects.filter(username="mod").exists()
    assert len(events(AuditAction.UNLOCKED)) == 2


# --- service tokens --------------------------------------------------------------------------------------------


def test_tokens_created_and_revoked_are_recorded_without_the_secret(client_for: Any, lead: Any) -> None:
    client = client_for(lead)
    page = client.post("/tokens/", {"name": "pipeline", "scope": "write", "days": "30"}).content.decode()
    token = ServiceToken.objects.get(name="pipeline")
    [created] = events(AuditAction.TOKEN_CREATED)
    assert created.actor == lead
    assert created.changes["token"] == "pipeline" and created.changes["scope"] == "write"
    assert created.changes["prefix"] == token.prefix
    secret = page.split("esct_", 1)[1].split("<", 1)[0]
    assert len(secret) > 20 and secret not in str(created.changes)

    client.post(f"/tokens/{token.pk}/revoke/")
    client.post(f"/tokens/{token.pk}/revoke/")  # twice: one revocation
    [revoked] = events(AuditAction.TOKEN_REVOKED)
    assert revoked.actor == lead and revoked.changes["token"] == "pipeline"


# --- membership --------------------------------------------------------------------------------------------------


def test_group_changes_in_code_or_a_shell_are_recorded_from_either_side(make_user: Any) -> None:
    user = make_user("ana")
    lead, auditor = Group.objects.get(name="lead"), Group.objects.get(name="auditor")
    AuditEvent.objects.all().count()  # (make_user added no group)
    user.groups.add(lead)
    auditor.user_set.add(user)
    lead.user_set.remove(user)
    user.groups.clear()
    changes = [(e.actor, e.changes) for e in events(AuditAction.GROUPS_CHANGED)]
    assert changes == [
        (None, {"user": "ana", "added": ["lead"], "removed": []}),
        (None, {"user": "ana", "added": ["auditor"], "removed": []}),
        (None, {"user": "ana", "added": [], "removed": ["lead"]}),
        (None, {"user": "ana", "added": [], "removed": ["auditor"]}),
    ]


def test_a_group_emptied_records_each_member(make_user: Any) -> None:
    make_user("ana", "moderator")
    make_user("ben", "moderator")
    before = len(events(AuditAction.GROUPS_CHANGED))
    Group.objects.get(name="moderator").user_set.clear()
    removed = [e.changes for e in events(AuditAction.GROUPS_CHANGED)[before:]]
    assert sorted(c["user"] for c in removed) == ["ana", "ben"]
    assert all(c["removed"] == ["moderator"] for c in removed)


def test_making_someone_a_lead_in_the_admin_is_recorded(moderator: Any, admin_user: Any) -> None:
    admin = FormClient()
    admin.force_login(admin_user)
    groups = [Group.objects.get(name=name).pk for name in ("moderator", "lead")]
    answer = admin.post(
        f"/admin/auth/user/{moderator.pk}/change/",
        {
            "username": "mod",
            "first_name": "",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "groups": groups,
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "09:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "09:00:00",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    last = events(AuditAction.GROUPS_CHANGED)[-1]
    assert last.actor == admin_user
    assert last.changes == {"user": "mod", "added": ["lead"], "removed": []}


def test_team_membership_changes_are_recorded(make_user: Any, admin_user: Any) -> None:
    ana, ben = make_user("ana", "moderator"), make_user("ben", "moderator")
    team = Team.objects.create(name="Night shift")
    team.members.add(ana)
    ben.teams.add(team)
    admin = FormClient()
    admin.force_login(admin_user)
    answer = admin.post(f"/admin/escalations/team/{team.pk}/change/", {"name": "Night shift", "members": [ben.pk]})
    assert answer.status_code == 302
    changes = [(e.actor, e.changes) for e in events(AuditAction.TEAM_MEMBERS_CHANGED)]
    assert changes[:2] == [
        (None, {"team": "Night shift", "added": ["ana"], "removed": []}),
        (None, {"team": "Night shift", "added": ["ben"], "removed": []}),
    ]
    # The admin saves the whole list: ana is taken out, ben stays (set() removes only what left).
    assert (admin_user, {"team": "Night shift", "added": [], "removed": ["ana"]}) in changes[2:]
    assert not any(c["added"] for _, c in changes[2:])


# --- two-factor devices changed outside the two-factor pages -------------------------------------------------------


def test_an_admin_removing_someones_authenticator_is_recorded(moderator: Any, admin_user: Any) -> None:
    device = enrol(moderator)
    added = events(AuditAction.TWO_FACTOR_DEVICE_ADDED)
    assert [e.changes["user"] for e in added] == ["mod", "mod"], "the app and the backup-code device"
    admin = FormClient()
    admin.force_login(admin_user)
    answer = admin.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    [removed] = events(AuditAction.TWO_FACTOR_DEVICE_REMOVED)
    assert removed.actor == admin_user
    assert removed.changes == {"user": "mod", "device": "TOTPDevice", "name": "default"}


def test_two_factor_disable_command_is_recorded(moderator: Any) -> None:
    enrol(moderator)
    call_command("two_factor_disable", "mod", stdout=StringIO())
    removed = events(AuditAction.TWO_FACTOR_DEVICE_REMOVED)
    assert sorted(e.changes["device"] for e in removed) == ["StaticDevice", "TOTPDevice"]
    assert all(e.actor is None for e in removed)


# --- where leads and auditors read them -------------------------------------------------------------------------


def test_leads_and_auditors_read_the_security_events(
    client_for: Any, moderator: Any, lead: Any, auditor: Any, nobody: Any
) -> None:
    FormClient().post(LOGIN, {"username": "ghost", "password": "x"})
    _lock("mod")
    for reader in (lead, auditor):
        page = client_for(reader).get("/security-events/")
        assert page.status_code == 200
        assert page["Cache-Control"] == "no-store"
        html = page.content.decode()
        assert 'data-action="sign_in_failed"' in html and "ghost" in html and 'data-action="locked_out"' in html
    for other in (moderator, nobody):
        assert client_for(other).get("/security-events/").status_code == 403

    filtered = client_for(auditor).get("/security-events/", {"user": "ghost"}).content.decode()
    assert "<code>ghost</code>" in filtered and 'data-action="locked_out"' not in filtered
    kinds = client_for(auditor).get("/security-events/", {"kind": "locked_out"}).content.decode()
    assert 'data-action="locked_out"' in kinds and "<code>ghost</code>" not in kinds
    refused = client_for(auditor).get("/security-events/", {"kind": "nonsense", "start": "2026-13-01"})
    assert refused.status_code == 200
    assert "Event: Choose one of the listed events." in refused.content.decode()
    assert "From: Enter a date as YYYY-MM-DD." in refused.content.decode()


def test_the_security_events_page_reads_a_bounded_number_of_queries(client_for: Any, lead: Any, make_user: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(lead)
    counts = []
    for batch in range(2):
        for n in range(10 * (batch + 1)):
            make_user(f"p{batch}-{n}", "moderator")
        client.get("/security-events/")
        with CaptureQueriesContext(connection) as ctx:
            page = client.get("/security-events/")
        assert page.status_code == 200 and page.content.decode().count("data-event=") >= 10 * (batch + 1)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
