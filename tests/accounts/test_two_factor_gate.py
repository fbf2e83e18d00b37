"""The second factor holds against someone who has only the password.

A session that still owes a code reaches the code page and sign-out, nothing else: not the enrolment
wizard (which would let it add a device of its own and so verify itself), not the API, not tokens.
Setting up a first authenticator needs the password given in this session a few minutes ago (or
typed again); turning two factors off and new backup codes need a current code; a person made a lead
mid-session under REQUIRE_2FA is sent to set one up on their next page; wrong codes count toward the
lockout until a right code is given, whatever the password does meanwhile."""

from __future__ import annotations

import re
from base64 import b32decode
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import override_settings
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from escalations.models import AuditAction, AuditEvent, ServiceToken
from tests.accounts.test_two_factor import PASSWORD, SETUP, VERIFY, code_at, enrol, give_code, sign_in, totp_at
from tests.conftest import FormClient

T0 = datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC)  # a 30-second step boundary
CONFIRM = "/accounts/confirm-password/"
DISABLE = "/accounts/two-factor/disable/"
BACKUP = "/accounts/two-factor/backup-codes/"


def _secret_in(page: str) -> bytes | None:
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    return b32decode(match.group(1)) if match else None


def _enrol_as_attacker(client: FormClient, moment: datetime) -> list[Any]:
    """What the attacker tried: the wizard's steps posted straight, with a code for the key shown."""
    answers = [client.post(SETUP, {"enrol_view-current_step": "welcome"})]
    key = _secret_in(answers[0].content.decode()) if answers[0].status_code == 200 else None
    code = totp_at(key, moment) if key else "123456"
    answers.append(client.post(SETUP, {"enrol_view-current_step": "generator", "generator-token": code}))
    return answers


def _everything_stays_shut(client: FormClient) -> None:
    page = client.get("/escalations/mine/")
    assert page.status_code == 302 and page["Location"].startswith(VERIFY)
    assert client.get("/api/v1/escalations/").status_code == 403
    created = client.post("/tokens/", {"name": "stolen", "scope": "write", "days": "30"})
    assert created.status_code == 302 and created["Location"].startswith(VERIFY)
    assert not ServiceToken.objects.filter(name="stolen").exists()


@pytest.fixture
def enrolled(moderator: Any) -> tuple[Any, TOTPDevice]:
    return moderator, enrol(moderator)


@pytest.mark.parametrize("require", [False, True], ids=["optional", "REQUIRE_2FA"])
def test_the_password_alone_cannot_enrol_a_second_device(require: bool, lead: Any) -> None:
    """The attack: sign in with the password, post the enrolment wizard with a code for the secret it
    shows, and every page, the API and token creation were open."""
    enrol(lead)
    with override_settings(REQUIRE_2FA=require), time_machine.travel(T0 + timedelta(seconds=3), tick=False):
        client, _ = sign_in(lead.username)
        welcome, generator = _enrol_as_attacker(client, T0)
        assert welcome.status_code == 302 and welcome["Location"].startswith(VERIFY)
        assert "totp-secret" not in welcome.content.decode()
        assert generator.status_code == 302 and generator["Location"].startswith(VERIFY)
        assert TOTPDevice.objects.filter(user=lead).count() == 1, "no device of the attacker's"
        # Nor by the wizard's other doors: its QR code, its "it is on" page.
        assert client.get("/accounts/two-factor/setup/qrcode/")["Location"].startswith(VERIFY)
        assert client.get("/accounts/two-factor/setup/complete/")["Location"].startswith(VERIFY)
        assert client.get(CONFIRM)["Location"].startswith(VERIFY)
        _everything_stays_shut(client)
    assert not AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_ENABLED).exists()


def test_a_session_owing_a_code_reaches_only_the_code_page_and_sign_out(enrolled: Any) -> None:
    user, _ = enrolled
    client, _ = sign_in(user.username)
    for path in ("/accounts/two-factor/", BACKUP, DISABLE, "/accounts/profile/", "/accounts/password/", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(VERIFY), path
    assert client.get(VERIFY).status_code == 200
    assert client.get("/accounts/logout/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_session_opened_before_an_authenticator_was_added_elsewhere_owes_a_code(moderator: Any) -> None:
    """The password-only session of someone who then set up an authenticator in another session (or
    had one added) gets no further without a code: whether they have one is read on every request."""
    older, _ = sign_in(moderator.username)
    assert older.get("/escalations/mine/").status_code == 200
    enrol(moderator)
    page = older.get("/escalations/mine/")
    assert page.status_code == 302 and page["Location"].startswith(VERIFY)
    assert older.get("/api/v1/escalations/").status_code == 403


def test_an_authenticator_removed_by_an_admin_asks_for_no_more_code(moderator: Any) -> None:
    device = enrol(moderator)
    client, _ = sign_in(moderator.username)
    assert client.get("/escalations/mine/")["Location"].startswith(VERIFY)
    TOTPDevice.objects.filter(pk=device.pk).delete()
    from django_otp.plugins.otp_static.models import StaticDevice

    StaticDevice.objects.filter(user=moderator).delete()
    assert client.get("/escalations/mine/").status_code == 200


# --- the first device: the password given moments ago -------------------------------------------------


@override_settings(REQUIRE_2FA=True, TWO_FACTOR_PASSWORD_FRESH_MINUTES=10)
def test_a_lead_enrols_straight_after_the_password_and_not_later_without_it(lead: Any) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        client, _ = sign_in(lead.username)
        clock.shift(timedelta(minutes=9, seconds=59))
        welcome = client.post(SETUP, {"enrol_view-current_step": "welcome"})
        assert welcome.status_code == 200 and _secret_in(welcome.content.decode())

        later, _ = sign_in(lead.username)
        clock.shift(timedelta(minutes=10, seconds=1))
        refused = later.post(SETUP, {"enrol_view-current_step": "welcome"})
        assert refused.status_code == 302 and refused["Location"].startswith(CONFIRM)
        assert later.get(SETUP)["Location"].startswith(CONFIRM)
        # The password page is open to them (the gate's enrolment step), the rest is not.
        assert later.get("/escalations/mine/")["Location"].startswith(SETUP)
        page = later.get(refused["Location"])
        assert page.status_code == 200 and 'name="password"' in page.content.decode()

        wrong = later.post(CONFIRM, {"password": "not-it", "next": SETUP})
        assert wrong.status_code == 200
        assert "Password: not accepted" in wrong.content.decode()
        right = later.post(CONFIRM, {"password": PASSWORD, "next": SETUP})
        assert right.status_code == 302 and right["Location"] == SETUP
        done = _enrol_through(later, T0 + timedelta(minutes=20))
        assert done.status_code == 302
        assert later.get("/escalations/mine/").status_code == 200


def _enrol_through(client: FormClient, now: datetime) -> Any:
    generator = client.post(SETUP, {"enrol_view-current_step": "welcome"})
    key = _secret_in(generator.content.decode())
    assert key, generator
    return client.post(SETUP, {"enrol_view-current_step": "generator", "generator-token": totp_at(key, now)})


@override_settings(TWO_FACTOR_PASSWORD_FRESH_MINUTES=10)
def test_anyone_setting_up_a_first_device_gives_a_fresh_password(moderator: Any) -> None:
    """Optional two factors too: a borrowed session must not put its own phone on someone's account."""
    with time_machine.travel(T0, tick=False) as clock:
        client, _ = sign_in(moderator.username)
        clock.shift(timedelta(minutes=11))
        assert client.get("/escalations/mine/").status_code == 200
        assert client.get(SETUP)["Location"].startswith(CONFIRM)
        assert client.post(CONFIRM, {"password": PASSWORD, "next": SETUP})["Location"] == SETUP
        assert client.get(SETUP).status_code == 200


@override_settings(TWO_FACTOR_PASSWORD_FRESH_MINUTES=10)
def test_the_fresh_password_serves_one_enrolment(moderator: Any) -> None:
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False) as clock:
        client, _ = sign_in(moderator.username)
        assert _enrol_through(client, T0).status_code == 302
        device = TOTPDevice.objects.get(user=moderator)
        clock.shift(timedelta(seconds=60))
        off = client.post(DISABLE, {"understand": "on", "otp_token": code_at(device, T0 + timedelta(seconds=61))})
        assert off.status_code == 302
        assert client.get(SETUP)["Location"].startswith(CONFIRM), "a second enrolment asks for the password again"


def test_wrong_passwords_on_the_confirm_page_lock_and_sign_out(moderator: Any) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        client, _ = sign_in(moderator.username)
        clock.shift(timedelta(minutes=30 - 1))
        client.get("/escalations/mine/")  # keeps the session alive
        clock.shift(timedelta(minutes=1))
        for attempt in range(4):
            assert client.post(CONFIRM, {"password": f"wrong-{attempt}", "next": SETUP}).status_code == 200
        locked = client.post(CONFIRM, {"password": "wrong-5", "next": SETUP})
        assert locked.status_code == 429
        assert "_auth_user_id" not in client.session
        _, again = sign_in(moderator.username)
        assert again.status_code == 429


# --- roles read per request -------------------------------------------------------------------------------


@override_settings(REQUIRE_2FA=True)
def test_a_moderator_made_lead_mid_session_sets_it_up_before_the_next_page(moderator: Any) -> None:
    client, _ = sign_in(moderator.username)
    assert client.get("/escalations/mine/").status_code == 200
    moderator.groups.add(Group.objects.get(name="lead"))
    page = client.get("/escalations/mine/")
    assert page.status_code == 302 and page["Location"].startswith(SETUP)
    assert client.get("/api/v1/escalations/").status_code == 403
    assert client.post("/tokens/", {"name": "x", "scope": "read", "days": "1"})["Location"].startswith(SETUP)


@override_settings(REQUIRE_2FA=True)
def test_a_staff_flag_given_mid_session_counts_at_once(moderator: Any) -> None:
    client, _ = sign_in(moderator.username)
    assert client.get("/escalations/mine/").status_code == 200
    type(moderator).objects.filter(pk=moderator.pk).update(is_staff=True)
    assert client.get("/escalations/mine/")["Location"].startswith(SETUP)


@override_settings(REQUIRE_2FA=True)
def test_the_gate_reads_no_more_than_the_page_did(client_for: Any, moderator: Any, lead: Any) -> None:
    """The roles come from the request's user query: the gate adds no query to a page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    enrol(lead)
    client = client_for(moderator)
    client.get("/notifications/")
    with CaptureQueriesContext(connection) as before:
        client.get("/notifications/")
    with override_settings(REQUIRE_2FA=False), CaptureQueriesContext(connection) as without_gate:
        client.get("/notifications/")
    assert len(before.captured_queries) == len(without_gate.captured_queries)


# --- turning it off, new backup codes: a current code ------------------------------------------------------


def _verified(user: Any) -> tuple[FormClient, TOTPDevice]:
    """Signed in with both factors at T0 + 1 s (call under a clock at that moment)."""
    device = enrol(user)
    client, _ = sign_in(user.username)
    assert give_code(client, code_at(device, T0)).status_code == 302
    return client, device


def test_turning_it_off_needs_a_current_code(moderator: Any) -> None:
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False) as clock:
        client, device = _verified(moderator)
        clock.shift(timedelta(seconds=60))
        for data, message in [
            ({"understand": "on"}, "Code: enter the 6-digit code"),
            ({"understand": "on", "otp_token": "000000"}, "Code: not accepted"),
        ]:
            refused = client.post(DISABLE, data)
            assert refused.status_code == 200
            assert message in refused.content.decode()
            assert TOTPDevice.objects.filter(user=moderator).exists()
        clock.shift(timedelta(seconds=5))  # django-otp makes the next try after a wrong code wait a second
        done = client.post(DISABLE, {"understand": "on", "otp_token": code_at(device, T0 + timedelta(seconds=66))})
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=moderator).exists()
    assert AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_DISABLED, actor=moderator).count() == 1


def test_new_backup_codes_need_a_current_code(moderator: Any) -> None:
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        client, _ = _verified(moderator)
        refused = client.post(BACKUP, {})
        assert refused.status_code == 200 and "Code: enter the 6-digit code" in refused.content.decode()
        assert StaticToken.objects.filter(device__user=moderator).count() == 2, "the old codes are kept"
        assert not AuditEvent.objects.filter(action=AuditAction.BACKUP_CODES_ISSUED).exists()
        # A backup code is a current code too (it is used up, then every old code is replaced).
        done = client.post(BACKUP, {"otp_token": "abcd2345"})
        later = client.get(BACKUP).content.decode()
    assert done.status_code == 200
    tokens = set(StaticToken.objects.filter(device__user=moderator).values_list("token", flat=True))
    assert len(tokens) == 10 and not tokens & {"abcd2345", "efgh6723"}
    assert set(re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())) == tokens
    assert AuditEvent.objects.filter(action=AuditAction.BACKUP_CODES_ISSUED, actor=moderator).count() == 1
    # Shown once, in the answer that made them: a later visit (a session left open) does not show them.
    assert not tokens & set(re.findall(r"[a-z2-7]{8}", later))
    assert "You have 10 unused backup codes" in later


def test_wrong_codes_on_the_disable_form_count_toward_the_lockout(moderator: Any) -> None:
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        client, _ = _verified(moderator)
        for _ in range(4):
            assert client.post(DISABLE, {"understand": "on", "otp_token": "111111"}).status_code == 200
        locked = client.post(DISABLE, {"understand": "on", "otp_token": "222222"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert TOTPDevice.objects.filter(user=moderator).exists()


# --- wrong codes are not forgotten by a right password ---------------------------------------------------


def test_wrong_codes_survive_a_correct_password(enrolled: Any) -> None:
    user, _ = enrolled
    with time_machine.travel(T0, tick=False):
        client, _ = sign_in(user.username)
        for _ in range(4):
            assert give_code(client, "123456").status_code == 200
        again, answer = sign_in(user.username)
        assert answer.status_code == 302, "the password is still right, and signs in to the code step"
        locked = give_code(again, "654321")
    assert locked.status_code == 429
    assert "_auth_user_id" not in again.session


def test_a_right_code_forgets_the_wrong_ones(enrolled: Any) -> None:
    user, device = enrolled
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False) as clock:
        client, _ = sign_in(user.username)
        for _ in range(4):
            give_code(client, "123456")
        clock.shift(timedelta(seconds=20))  # past django-otp's wait after four wrong codes (8 s)
        assert give_code(client, code_at(device, T0)).status_code == 302
        client.post("/accounts/logout/")
        again, _ = sign_in(user.username)
        for _ in range(4):
            assert give_code(again, "123456").status_code == 200
        assert again.get("/escalations/mine/")["Location"].startswith(VERIFY)


def test_a_right_password_still_forgets_wrong_passwords_without_an_authenticator(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False):
        for attempt in range(4):
            client.post("/accounts/login/", {"username": "mod", "password": f"wrong-{attempt}"})
        assert client.post("/accounts/login/", {"username": "mod", "password": PASSWORD}).status_code == 302
        client.post("/accounts/logout/")
        for attempt in range(4):
            assert (
                client.post("/accounts/login/", {"username": "mod", "password": f"again-{attempt}"}).status_code == 200
            )
