"""Pages that stay true: My queue, All escalations and the dashboard carry the refresh script
(static/js/live.js, from our own origin: the CSP allows no inline script), a live region it swaps
and a line saying when the page was drawn; "time left" cells carry their deadline so that the script
counts them down; the bell's count has an endpoint of its own. Without script the pages are the same
pages. tests/browser/test_live_refresh.py drives the script in Chromium."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from escalations.models import Notification

ROOT = Path(__file__).resolve().parents[2]
LIVE_PAGES = ["/escalations/mine/", "/escalations/", "/dashboard/"]


def scripts(html: str) -> list[tuple[str, str]]:
    return [(attrs, body) for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)]


@pytest.mark.parametrize("path", LIVE_PAGES)
def test_the_live_pages_carry_the_script_from_our_origin_and_a_region(
    path: str, lead: Any, client_for: Any, make_escalation: Any
) -> None:
    make_escalation(assignee=lead)
    html = client_for(lead).get(path).content.decode()
    [(attrs, body)] = scripts(html)
    assert body == ""
    assert 'src="/static/js/live.js"' in attrs and " defer" in attrs
    assert 'data-every="60"' in attrs and 'data-unread-url="/notifications/unread/"' in attrs
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers either
    assert re.search(r'<div id="live-[a-z]+" data-live-region>', html)
    assert "data-live-status" in html and "Reload the page for the latest." in html


def test_other_pages_carry_no_script(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    for path in ("/help/", f"/escalations/{esc.pk}/", "/notifications/"):
        assert "<script" not in client_for(lead).get(path).content.decode(), path


def test_time_left_cells_carry_their_deadline_for_the_countdown(
    moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    html = client_for(moderator).get("/escalations/mine/").content.decode()
    due = esc.next_deadline_at
    assert due is not None
    assert re.search(rf'<span data-due="{re.escape(due.isoformat())}">2\d h \d+ min left</span>', html)


def test_the_bell_count_is_the_person_s_own(moderator: Any, lead: Any, client_for: Any) -> None:
    now = timezone.now()
    Notification.objects.create(user=moderator, title="a", created_at=now)
    Notification.objects.create(user=moderator, title="b", created_at=now, read_at=now)
    Notification.objects.create(user=lead, title="c", created_at=now)
    Notification.objects.create(user=lead, title="d", created_at=now)
    response = client_for(moderator).get("/notifications/unread/")
    assert response.status_code == 200 and response.json() == {"unread": 1}
    assert "no-store" in response["Cache-Control"]
    assert client_for(lead).get("/notifications/unread/").json() == {"unread": 2}
    signed_out = client_for(None).get("/notifications/unread/")
    assert signed_out.status_code == 302 and "/accounts/login/" in signed_out["Location"]
    assert client_for(moderator).post("/notifications/unread/").status_code == 405


def test_a_background_refresh_leaves_the_messages_for_the_next_page(
    moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation()
    client = client_for(moderator)
    # A message waiting to be shown (as after an action in another tab).
    client.post(f"/escalations/{esc.pk}/take/", {})  # already assigned: an error message waits
    refreshed = client.get("/escalations/mine/", headers={"X-Live-Refresh": "1"})
    assert "is already assigned to you" not in refreshed.content.decode()
    shown = client.get("/escalations/mine/").content.decode()
    assert "is already assigned to you" in shown


def test_the_script_uses_no_eval_and_parses_fetched_pages_inertly() -> None:
    source = (ROOT / "static" / "js" / "live.js").read_text()
    for forbidden in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert forbidden not in source, forbidden
    assert "DOMParser" in source and "importNode" in source
    # It pauses for typing, unsent form changes, ticked rows and selections; it stops when signed out.
    for pause in ("Paused while you type", "changes you have not sent", "rows are selected", "text is selected"):
        assert pause in source
    assert "/accounts/login/" in source


def test_a_deadline_in_the_past_reads_overdue_in_both_places(
    moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation(knowledge_at=timezone.now() - timedelta(hours=25))
    html = client_for(moderator).get("/escalations/mine/").content.decode()
    assert esc.key in html and re.search(r'<span data-due="[^"]+">1 h \d+ min overdue</span>', html)
