"""The watchdog: /healthz for monitoring, and the red banner leads see when reminders stopped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import OperationalError

from escalations.reminders import sweep as reminders
from escalations.reminders import watchdog
from tests.conftest import FormClient

SWEPT = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)
STALE_AFTER = timedelta(minutes=5)
SECOND = timedelta(seconds=1)
BANNER = "Reminders are not being sent"


@pytest.fixture(autouse=True)
def five_minutes(settings: Any) -> None:
    """The default limit, whatever the environment says."""
    settings.WATCHDOG_STALE_MINUTES = 5


def swept_at(moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        reminders.sweep()


def health(client: Any | None = None) -> tuple[int, dict[str, Any]]:
    response = (client or FormClient()).get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


# --- /healthz ----------------------------------------------------------------------------------------


def test_ok_right_after_a_sweep(db: Any) -> None:
    swept_at(SWEPT)
    with time_machine.travel(SWEPT + SECOND, tick=False):
        status, body = health()
    assert status == 200
    assert body["status"] == "ok"
    assert datetime.fromisoformat(body["last_sweep"]) == SWEPT


def test_ok_at_exactly_the_limit_stale_one_second_later(db: Any) -> None:
    swept_at(SWEPT)
    # The sweep also ran the audit trail's first integrity check, which found it whole.
    checked = {"audit": "ok", "audit_checked_at": SWEPT.isoformat()}
    with time_machine.travel(SWEPT + STALE_AFTER, tick=False):
        assert health() == (200, {"status": "ok", "last_sweep": SWEPT.isoformat(), **checked})
    with time_machine.travel(SWEPT + STALE_AFTER + SECOND, tick=False):
        assert health() == (503, {"status": "stale", "last_sweep": SWEPT.isoformat(), **checked})
    # The next sweep makes it healthy again.
    swept_at(SWEPT + timedelta(minutes=6))
    with time_machine.travel(SWEPT + timedelta(minutes=6), tick=False):
        assert health()[0] == 200


def test_the_limit_is_a_setting(db: Any, settings: Any) -> None:
    settings.WATCHDOG_STALE_MINUTES = 1
    swept_at(SWEPT)
    with time_machine.travel(SWEPT + timedelta(minutes=1), tick=False):
        assert health()[0] == 200
    with time_machine.travel(SWEPT + timedelta(minutes=1) + SECOND, tick=False):
        assert health()[0] == 503


def test_stale_when_no_sweep_ever_ran(db: Any) -> None:
    assert health() == (503, {"status": "stale", "last_sweep": None, "audit": "unverified", "audit_checked_at": None})


def test_database_unreachable(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    swept_at(SWEPT)

    def unreachable() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(watchdog, "last_sweep", unreachable)
    status, body = health()
    assert status == 503
    assert body["database"] == "unreachable"
    assert body["status"] != "ok"


def test_needs_no_login_and_is_never_cached(db: Any, client_for: Any, nobody: Any) -> None:
    reminders.sweep()
    response = FormClient().get("/healthz")
    assert response.status_code == 200, "anonymous monitors get the answer, not a login redirect"
    assert "max-age=0" in response["Cache-Control"]
    signed_in = client_for(nobody)
    assert signed_in.get("/accounts/profile/").status_code == 200
    assert signed_in.get("/healthz").status_code == 200


def test_only_get(db: Any) -> None:
    assert FormClient().post("/healthz").status_code == 405


# --- the banner ----------------------------------------------------------------------------------------


@pytest.fixture
def pages(make_escalation: Any) -> list[str]:
    """Every kind of page a lead opens in a day."""
    esc = make_escalation()
    return [
        "/escalations/",
        "/escalations/mine/",
        f"/escalations/{esc.pk}/",
        f"/escalations/{esc.pk}/edit/",
        "/escalations/new/",
        "/notifications/",
        "/accounts/profile/",
    ]


def banner(response: Any) -> str | None:
    match = re.search(r'<div class="banner-stale" role="alert">(.*?)</div>', response.content.decode(), re.S)
    return re.sub(r"\s+", " ", match.group(1)) if match else None


def test_leads_see_the_banner_on_every_page_while_no_sweep_ever_ran(
    client_for: Any, lead: Any, pages: list[str]
) -> None:
    client = client_for(lead)
    for path in pages:
        shown = lead_page(client, path)
        assert shown is not None and BANNER in shown, path
        assert "last finished never" in shown, path


def lead_page(client: Any, path: str) -> str | None:
    response = client.get(path)
    assert response.status_code == 200, path
    return banner(response)


def test_banner_appears_after_five_minutes_and_goes_after_a_sweep(client_for: Any, lead: Any, pages: list[str]) -> None:
    client = client_for(lead)
    # Close to the real clock, so the test client's session is still valid.
    swept = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    swept_at(swept)
    with time_machine.travel(swept + STALE_AFTER, tick=False):
        for path in pages:
            assert lead_page(client, path) is None, path
    with time_machine.travel(swept + STALE_AFTER + SECOND, tick=False):
        for path in pages:
            shown = lead_page(client, path)
            assert shown is not None and BANNER in shown, path
            assert f"{swept:%Y-%m-%d %H:%M} UTC" in shown, "the banner says when the sweep last finished"
    swept_at(swept + timedelta(minutes=7))
    with time_machine.travel(swept + timedelta(minutes=7, seconds=30), tick=False):
        for path in pages:
            assert lead_page(client, path) is None, path


def test_banner_on_the_not_found_page_too(client_for: Any, lead: Any) -> None:
    response = client_for(lead).get("/escalations/999999/")
    assert response.status_code == 404
    assert banner(response) is not None


@pytest.mark.parametrize("role", ["moderator", "auditor", "nobody"])
def test_others_never_see_the_banner(role: str, request: Any, client_for: Any, lead: Any, make_escalation: Any) -> None:
    user = request.getfixturevalue(role)
    esc = make_escalation()
    client = client_for(user)
    paths = ["/accounts/profile/", "/notifications/"]
    if role != "nobody":
        paths += ["/escalations/", "/escalations/mine/", f"/escalations/{esc.pk}/"]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert BANNER not in response.content.decode(), path
    # The same pages for a lead at the same moment do show it: the state really was stale.
    assert banner(client_for(lead).get("/accounts/profile/")) is not None


def test_signed_out_pages_show_no_banner(db: Any) -> None:
    assert BANNER not in FormClient().get("/accounts/login/").content.decode()
