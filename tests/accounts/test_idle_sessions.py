"""Idle sessions end: IDLE_SESSION_MINUTES (30) after the last request, the next one is
sent to sign in. Requests renew the session, writing it at most once a minute
(escalations/idle_session.py), so it ends between 29 and 30 minutes after the last request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.accounts.idle_session import RENEW_EVERY_SECONDS, needs_renewal
from tests.conftest import FormClient

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
PAGE = "/escalations/mine/"


def test_settings() -> None:
    assert settings.IDLE_SESSION_MINUTES == 30
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    # Not on every request (one UPDATE per page): the middleware below decides.
    assert settings.SESSION_SAVE_EVERY_REQUEST is False
    middleware = settings.MIDDLEWARE
    renew = middleware.index("escalations.accounts.idle_session.RenewIdleSessionMiddleware")
    # Its response step must run before SessionMiddleware's, which does the writing.
    assert renew > middleware.index("django.contrib.sessions.middleware.SessionMiddleware")


def test_request_29_minutes_after_the_last_keeps_the_session(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(moderator)
        assert client.get(PAGE).status_code == 200
        # Each request renews the session: 29 minutes after each, 3 times over (87 minutes in all).
        for _ in range(3):
            clock.shift(timedelta(minutes=29))
            assert client.get(PAGE).status_code == 200


def test_request_31_minutes_after_the_last_is_sent_to_sign_in(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(moderator)
        assert client.get(PAGE).status_code == 200
        clock.shift(timedelta(minutes=20))
        assert client.get(PAGE).status_code == 200
        clock.shift(timedelta(minutes=31))
        response = client.get(PAGE)
        assert "_auth_user_id" not in client.session
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={PAGE}"


def test_real_sign_in_then_idle(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        response = client.post("/accounts/login/", {"username": "mod", "password": "correct-horse-battery"})
        assert response.status_code == 302
        clock.shift(timedelta(minutes=29, seconds=59))
        assert client.get(PAGE).status_code == 200
        clock.shift(timedelta(minutes=30, seconds=1))
        assert client.get(PAGE).status_code == 302


def _session_writes(client: FormClient) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(PAGE).status_code == 200
    return sum(
        1 for q in ctx.captured_queries if "django_session" in q["sql"] and q["sql"].startswith(("UPDATE", "INSERT"))
    )


def test_the_session_is_written_at_most_once_a_minute(moderator: Any) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        client.force_login(moderator)
        assert _session_writes(client) == 1  # the first request renews
        clock.shift(timedelta(seconds=RENEW_EVERY_SECONDS - 1))
        assert _session_writes(client) == 0
        clock.shift(timedelta(seconds=1))
        assert _session_writes(client) == 1
        assert _session_writes(client) == 0


# The last request comes this long after the session was last written.
OFFSETS = [0, 1, 30, RENEW_EVERY_SECONDS - 1, RENEW_EVERY_SECONDS, RENEW_EVERY_SECONDS + 1, 119]


def _last_request_after(client: FormClient, user: Any, clock: Any, offset: int) -> None:
    client.force_login(user)
    assert client.get(PAGE).status_code == 200
    clock.shift(timedelta(seconds=offset))
    assert client.get(PAGE).status_code == 200


@pytest.mark.parametrize("offset", OFFSETS)
def test_no_session_lasts_30_minutes_after_the_last_request(moderator: Any, offset: int) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        _last_request_after(client, moderator, clock, offset)
        clock.shift(timedelta(minutes=30))
        response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={PAGE}"


@pytest.mark.parametrize("offset", OFFSETS)
def test_every_session_lasts_29_minutes_after_the_last_request(moderator: Any, offset: int) -> None:
    client = FormClient()
    with time_machine.travel(T0, tick=False) as clock:
        _last_request_after(client, moderator, clock, offset)
        clock.shift(timedelta(minutes=29))
        assert client.get(PAGE).status_code == 200


def test_signing_out_leaves_no_session_behind(moderator: Any) -> None:
    client = FormClient()
    client.force_login(moderator)
    assert client.get(PAGE).status_code == 200
    assert Session.objects.count() == 1
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    # Renewing must not bring the flushed session back, nor start an empty one.
    assert Session.objects.count() == 0
    assert client.get(PAGE).status_code == 302


@pytest.mark.parametrize(
    ("renewed_at", "now", "expected"),
    [
        (None, 1000, True),  # never renewed
        ("1000", 1000, True),  # not a time this code wrote
        (1000, 1000, False),
        (1000, 1000 + RENEW_EVERY_SECONDS - 1, False),
        (1000, 1000 + RENEW_EVERY_SECONDS, True),
        (1000, 999, True),  # the clock went back: renew rather than trust a time in the future
    ],
)
def test_needs_renewal(renewed_at: object, now: int, expected: bool) -> None:
    assert needs_renewal(renewed_at, now) is expected
