"""Two-factor sign-in: the password at /accounts/login/, then a code from an authenticator
app or a backup code; with REQUIRE_2FA, leads and admins must set one up before any page opens."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import time_machine
from django.test import override_settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from escalations.models import AuditAction, AuditEvent
from tests.conftest import FormClient

PASSWORD = "correct-horse-battery"  # tests.conftest.make_user's
T0 = datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC)  # a step boundary: 03:00:00 is a multiple of 30 s
VERIFY = "/accounts/login/verify/"
SETUP = "/accounts/two-factor/setup/"


def totp_at(key: bytes, moment: datetime) -> str:
    """The 6-digit code an authenticator app shows at `moment` for `key` (30-second steps)."""
    generator = TOTP(key, step=30, t0=0, digits=6)
    generator.time = int(moment.timestamp())
    return f"{generator.token():06d}"


def code_at(device: TOTPDevice, moment: datetime) -> str:
    return totp_at(device.bin_key, moment)


def enrol(user: Any, backup_codes: tuple[str, ...] = ("abcd2345", "efgh6723")) -> TOTPDevice:
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    for code in backup_codes:
        StaticToken.objects.create(device=static, token=code)
    return device


def sign_in(username: str, password: str = PASSWORD) -> tuple[FormClient, Any]:
    client = FormClient()
    return client, client.post("/accounts/login/", {"username": username, "password": password})


def give_code(client: FormClient, code: str, next_url: str = "") -> Any:
    return client.post(VERIFY, {"otp_token": code, "next": next_url})


@pytest.fixture
def enrolled_moderator(moderator: Any) -> tuple[Any, TOTPDevice]:
    return moderator, enrol(moderator)


# --- the code after the password ---------------------------------------------------------------------


@time_machine.travel(T0 + timedelta(seconds=5), tick=False)
def test_password_then_code_opens_the_pages(enrolled_moderator: Any) -> None:
    user, device = enrolled_moderator
    client, response = sign_in(user.username)
    assert response.status_code == 302 and response["Location"] == "/escalations/mine/"

    # Until the code is given every page, the API with the session included, sends them to give it.
    page = client.get("/escalations/mine/")
    assert page.status_code == 302
    assert page["Location"] == f"{VERIFY}?next={quote('/escalations/mine/', safe='')}"
    assert client.get("/escalations/").status_code == 302
    api = client.get("/api/v1/escalations/")
    assert api.status_code == 403
    assert "Two-factor verification required" in api.json()["detail"]

    form = client.get(page["Location"])
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="otp_token"' in html and 'autocomplete="one-time-code"' in html
    assert 'href="/escalations/"' not in html, "no navigation to pages that cannot open yet"

    session_before = client.session.session_key
    done = give_code(client, code_at(device, T0 + timedelta(seconds=5)), "/escalations/mine/")
    assert done.status_code == 302 and done["Location"] == "/escalations/mine/"
    assert client.session.session_key != session_before, "a new session key once both factors are proven"
    assert client.get("/escalations/mine/").status_code == 200
    assert client.get("/api/v1/escalations/").status_code == 200


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-31, False), (-30, True), (-1, True), (0, True), (29, True), (30, True), (59, True), (60, False)],
    ids=lambda v: str(v),
)
def test_code_is_accepted_one_step_either_side_and_no_further(
    enrolled_moderator: Any, offset: int, accepted: bool
) -> None:
    """The code for 03:00:00 to 03:00:29 is given at T0 + offset seconds: one 30-second step of drift
    is forgiven either way (phones' clocks drift), not two."""
    user, device = enrolled_moderator
    code = code_at(device, T0)
    with time_machine.travel(T0 + timedelta(seconds=offset), tick=False):
        client, _ = sign_in(user.username)
        response = give_code(client, code)
        assert (response.status_code == 302) is accepted
        assert (client.get("/escalations/mine/").status_code == 200) is accepted


def test_a_code_works_once(enrolled_moderator: Any) -> None:
    user, device = enrolled_moderator
    with time_machine.travel(T0 + timedelta(seconds=3), tick=False):
        code = code_at(device, T0)
        first, _ = sign_in(user.username)
        assert give_code(first, code).status_code == 302
        second, _ = sign_in(user.username)
        response = give_code(second, code)
        assert response.status_code == 200
        assert "Code: not accepted" in response.content.decode()


def test_wrong_or_empty_code_is_named_and_the_gate_stays(enrolled_moderator: Any) -> None:
    user, _ = enrolled_moderator
    client, _ = sign_in(user.username)
    for value, message in [
        ("", "Code: enter the 6-digit code"),
        ("000000", "Code: not accepted"),
        ("<b>x</b>", "Code: not accepted"),
    ]:
        response = give_code(client, value)
        assert response.status_code == 200
        page = response.content.decode()
        assert message in page
        assert "<b>x</b>" not in page
    assert client.get("/escalations/mine/").status_code == 302


def test_a_backup_code_signs_in_once(enrolled_moderator: Any) -> None:
    user, _ = enrolled_moderator
    client, _ = sign_in(user.username)
    assert give_code(client, "ABCD-2345").status_code == 302, "case and a dash are forgiven"
    assert client.get("/escalations/mine/").status_code == 200
    again, _ = sign_in(user.username)
    assert give_code(again, "abcd2345").status_code == 200
    assert StaticToken.objects.filter(token="abcd2345").count() == 0
    assert StaticToken.objects.filter(token="efgh6723").count() == 1


def test_five_wrong_codes_sign_out_and_lock_the_username(enrolled_moderator: Any) -> None:
    user, _ = enrolled_moderator
    client, _ = sign_in(user.username)
    for _ in range(4):
        assert give_code(client, "123456").status_code == 200
    locked = give_code(client, "654321")
    assert locked.status_code == 429
    assert "Sign-in is locked" in locked.content.decode()
    # Signed out: nothing opens, and the right password is refused until the lock ends.
    assert client.get("/escalations/mine/")["Location"].startswith("/accounts/login/")
    _, again = sign_in(user.username)
    assert again.status_code == 429


def test_next_must_stay_on_this_site(enrolled_moderator: Any) -> None:
    user, device = enrolled_moderator
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        client, _ = sign_in(user.username)
        response = give_code(client, code_at(device, T0), next_url="https://attacker.example/")
    assert response["Location"] == "/escalations/mine/"


def test_verify_page_sends_on_whoever_owes_no_code(client_for: Any, moderator: Any) -> None:
    response = client_for(moderator).get(f"{VERIFY}?next=/escalations/")
    assert response.status_code == 302 and response["Location"] == "/escalations/"


def test_no_authenticator_no_code(moderator: Any) -> None:
    client, response = sign_in(moderator.username)
    assert response["Location"] == "/escalations/mine/"
    assert client.get("/escalations/mine/").status_code == 200


# --- REQUIRE_2FA: leads and admins set it up first ----------------------------------------------------


def _secret(page: str) -> bytes:
    from base64 import b32decode

    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert match, "the enrolment page shows the key for typing"
    return b32decode(match.group(1))


def _enrol_through_pages(client: FormClient, moment: datetime) -> Any:
    welcome = client.get(SETUP)
    assert welcome.status_code == 200
    generator = client.post(SETUP, {"enrol_view-current_step": "welcome"})
    assert generator.status_code == 200
    page = generator.content.decode()
    assert 'src="/accounts/two-factor/setup/qrcode/"' in page
    key = _secret(page)
    code = totp_at(key, moment)
    return client.post(SETUP, {"enrol_view-current_step": "generator", "generator-token": code})


@override_settings(REQUIRE_2FA=True)
@pytest.mark.parametrize("who", ["lead", "superuser", "staff"])
@time_machine.travel(T0 + timedelta(seconds=2), tick=False)  # sessions expire 30 min after their last request
def test_leads_and_admins_must_set_it_up_before_any_page(who: str, make_user: Any) -> None:
    user = make_user("boss", "lead" if who == "lead" else "moderator")
    if who != "lead":
        setattr(user, "is_superuser" if who == "superuser" else "is_staff", True)
        user.save()
    client, _ = sign_in("boss")
    for path in ("/escalations/mine/", "/dashboard/", "/accounts/profile/", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(f"{SETUP}?next="), path
    assert client.get("/api/v1/escalations/").status_code == 403

    done = _enrol_through_pages(client, T0)
    assert done.status_code == 302
    assert client.get("/escalations/mine/").status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.TWO_FACTOR_ENABLED)
    assert event.actor == user and event.escalation is None

    # The next sign-in asks for a code.
    again, _ = sign_in("boss")
    assert again.get("/escalations/mine/")["Location"].startswith(VERIFY)


@override_settings(REQUIRE_2FA=True)
def test_moderators_and_auditors_may_choose(moderator: Any, auditor: Any) -> None:
    for user in (moderator, auditor):
        client, _ = sign_in(user.username)
        assert client.get("/escalations/").status_code in (200, 403)
        assert client.get("/accounts/profile/").status_code == 200


@override_settings(REQUIRE_2FA=True)
def test_a_wrong_enrolment_code_is_named(lead: Any) -> None:
    client, _ = sign_in(lead.username)
    client.post(SETUP, {"enrol_view-current_step": "welcome"})
    for value, message in [
        ("", "Code: enter the 6 digits"),
        ("12ab", "Code: digits only"),
        ("000000", "Code: not accepted"),
    ]:
        response = client.post(SETUP, {"enrol_view-current_step": "generator", "generator-token": value})
        assert response.status_code == 200
        assert message in response.content.decode(), value
    assert not TOTPDevice.objects.filter(user=lead).exists()
    assert client.get("/escalations/mine/")["Location"].startswith(SETUP)


@override_settings(REQUIRE_2FA=True)
@time_machine.travel(T0 + timedelta(seconds=2), tick=False)  # sessions expire 30 min after their last request
def test_backup_codes_are_issued_and_audited_without_the_codes(lead: Any) -> None:
    client, _ = sign_in(lead.username)
    _enrol_through_pages(client, T0)
    device = TOTPDevice.objects.get(user=lead)
    # New codes take a current code (the next step's: the enrolment used this one).
    response = client.post(
        "/accounts/two-factor/backup-codes/", {"otp_token": code_at(device, T0 + timedelta(seconds=30))}
    )
    assert response.status_code == 200
    page = response.content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page)
    assert len(codes) == 10
    event = AuditEvent.objects.get(action=AuditAction.BACKUP_CODES_ISSUED)
    assert event.changes == {"codes": 10, "confirmed_with": "authenticator app (TOTP)"}
    assert not any(code in str(event.changes) for code in codes)

    # One of them signs in instead of the app.
    other, _ = sign_in(lead.username)
    assert give_code(other, codes[0]).status_code == 302
    assert other.get("/escalations/mine/").status_code == 200


@override_settings(REQUIRE_2FA=True)
@time_machine.travel(T0 + timedelta(seconds=2), tick=False)  # sessions expire 30 min after their last request
def test_turning_it_off_is_audited_and_a_lead_must_set_it_up_again(lead: Any) -> None:
    client, _ = sign_in(lead.username)
    _enrol_through_pages(client, T0)
    refused = client.post("/accounts/two-factor/disable/", {})
    assert refused.status_code == 200
    assert "Yes, I am sure: tick it to turn two-factor sign-in off." in refused.content.decode()
    assert TOTPDevice.objects.filter(user=lead).exists()
    device = TOTPDevice.objects.get(user=lead)
    done = client.post(
        "/accounts/two-factor/disable/", {"understand": "on", "otp_token": code_at(device, T0 + timedelta(seconds=30))}
    )
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=lead).exists()
    assert AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_DISABLED, actor=lead).count() == 1
    assert client.get("/escalations/mine/")["Location"].startswith(SETUP)


def test_profile_says_whether_it_is_on(client_for: Any, moderator: Any) -> None:
    client = client_for(moderator)
    assert "Off: your password alone signs you in." in client.get("/accounts/profile/").content.decode()
    assert 'href="/accounts/two-factor/"' in client.get("/accounts/profile/").content.decode()


def test_production_requires_it_for_leads_and_admins() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.prod",
        "DJANGO_SECRET_KEY": "test-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_ALLOWED_HOSTS": "example.org",
    }
    env.pop("REQUIRE_2FA", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.REQUIRE_2FA)",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "True"
