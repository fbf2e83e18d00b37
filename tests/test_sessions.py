"""Idle sessions end (issue 7): IDLE_SESSION_MINUTES (30) after the last request, the next one is
sent to sign in; every request renews the session (SESSION_SAVE_EVERY_REQUEST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.conf import settings

from tests.conftest import FormClient

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
PAGE = "/escalations/mine/"


def test_settings() -> None:
    assert settings.IDLE_SESSION_MINUTES == 30
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


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
