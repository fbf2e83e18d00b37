"""Sign-in lockout (django-axes): 5 failed sign-ins for one username lock it for 15 minutes;
the 6th attempt is refused even with the right password, with a message saying when to try again;
a successful sign-in forgets earlier failures. Axes stays on under the test settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings

from tests.conftest import FormClient

LOGIN = "/accounts/login/"
RIGHT = "correct-horse-battery"
T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def sign_in(client: FormClient, username: str, password: str, ip: str = "127.0.0.1") -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client: FormClient) -> bool:
    return "_auth_user_id" in client.session


def test_settings_say_five_failures_in_fifteen_minutes() -> None:
    assert settings.AXES_ENABLED is True
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_RESET_ON_SUCCESS is True
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username"]
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert "axes.middleware.AxesMiddleware" in settings.MIDDLEWARE


def test_sign_in_page_keeps_its_fields(db: Any) -> None:
    page = FormClient().get(LOGIN).content.decode()
    assert 'name="username"' in page and 'name="password"' in page


def test_five_failures_lock_the_account_and_the_right_password_is_refused(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False):
        for attempt in range(1, 5):
            response = sign_in(client, "mod", f"wrong-{attempt}")
            assert response.status_code == 200, attempt  # the form again, with its error
        fifth = sign_in(client, "mod", "wrong-5")
        assert fifth.status_code == 429
        sixth = sign_in(client, "mod", RIGHT)
        assert not signed_in(client)
    assert sixth.status_code == 429
    page = sixth.content.decode()
    assert "Sign-in is locked" in page and "for mod" in page
    assert "after 5 failed attempts" in page
    assert "Try again after" in page and "2025-06-02 09:15" in page
    assert "ask a lead or an admin" in page.lower()
    # The page says nothing of whether the password was right.
    assert RIGHT not in page


def test_lock_ends_fifteen_minutes_after_the_last_failure(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        for attempt in range(5):
            sign_in(client, "mod", f"wrong-{attempt}")
        clock.shift(timedelta(minutes=14, seconds=59))
        assert sign_in(client, "mod", RIGHT).status_code == 429
        assert not signed_in(client)
        # Attempts while locked do not push the end back (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT).
        clock.shift(timedelta(seconds=2))  # 15 min 1 s after the 5th failure
        response = sign_in(client, "mod", RIGHT)
        assert response.status_code == 302
        assert response["Location"] == "/escalations/mine/"
        assert signed_in(client)


def test_lock_is_by_username_whatever_the_address(moderator: Any) -> None:
    with time_machine.travel(T0, tick=False):
        for attempt in range(5):
            sign_in(FormClient(), "mod", f"wrong-{attempt}", ip=f"10.0.0.{attempt + 1}")
        other_place = FormClient()
        assert sign_in(other_place, "mod", RIGHT, ip="192.0.2.7").status_code == 429
        assert not signed_in(other_place)


def test_lock_of_one_username_leaves_others_alone(moderator: Any, lead: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False):
        for attempt in range(5):
            sign_in(client, "mod", f"wrong-{attempt}")
        response = sign_in(client, "leader", RIGHT)
        assert response.status_code == 302
        assert signed_in(client)


def test_success_resets_the_count(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        for attempt in range(4):
            assert sign_in(client, "mod", f"wrong-{attempt}").status_code == 200
        assert sign_in(client, "mod", RIGHT).status_code == 302
        assert not AccessAttempt.objects.filter(username="mod").exists()
        client.post("/accounts/logout/")
        clock.shift(timedelta(minutes=1))
        # Four more failures: with the earlier four forgotten, still not locked.
        for attempt in range(4):
            assert sign_in(client, "mod", f"again-{attempt}").status_code == 200
        assert sign_in(client, "mod", RIGHT).status_code == 302


def test_failures_spread_out_are_forgotten(moderator: Any) -> None:
    """Failures are forgotten 15 minutes after the last one: 4, a pause, 4 more do not lock."""
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        for attempt in range(4):
            sign_in(client, "mod", f"wrong-{attempt}")
        clock.shift(timedelta(minutes=15, seconds=1))
        for attempt in range(4):
            assert sign_in(client, "mod", f"later-{attempt}").status_code == 200
        assert sign_in(client, "mod", RIGHT).status_code == 302


def test_unknown_usernames_lock_too_and_say_the_same(db: Any) -> None:
    """No telling which usernames exist: an unknown one locks with the same page."""
    client = FormClient()
    with time_machine.travel(T0, tick=False):
        for attempt in range(5):
            sign_in(client, "no-such-person", f"wrong-{attempt}")
        response = sign_in(client, "no-such-person", RIGHT)
    assert response.status_code == 429
    assert "Sign-in is locked" in response.content.decode()


def test_password_is_not_stored_in_the_attempts(moderator: Any) -> None:
    sign_in(FormClient(), "mod", "my-secret-guess-123")
    attempt = AccessAttempt.objects.get(username="mod")
    assert "my-secret-guess-123" not in attempt.post_data


@pytest.mark.parametrize("role", ["moderator", "lead", "auditor"])
def test_force_login_still_works(role: str, request: Any, client_for: Any) -> None:
    """Tests sign in with force_login, which never calls authenticate() (axes needs a request)."""
    user = request.getfixturevalue(role)
    assert client_for(user).get("/escalations/").status_code == 200


def test_an_overlong_username_is_counted_not_a_server_error(db: Any) -> None:
    """Django's sign-in form does not enforce the username's length; axes' table holds 255 characters
    (PostgreSQL refused more: a 500). Cut to 150 (no account's username is longer), the failures still
    count and lock."""
    typed = "a" * 300
    client = FormClient()
    with time_machine.travel(T0, tick=False):
        for attempt in range(4):
            response = sign_in(client, typed, f"wrong-{attempt}")
            assert response.status_code == 200
            assert "Please enter a correct username and password" in response.content.decode()
        assert sign_in(client, typed, "wrong-5").status_code == 429
    assert AccessAttempt.objects.get().username == "a" * 150
