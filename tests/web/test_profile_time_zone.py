"""The profile's time zone: canonical zones only (no "US/Eastern"-style aliases), searchable by typing
(a <datalist>: no script, so it works under the strict CSP), and an alias stored before shown and
saved as its canonical name."""

from __future__ import annotations

import re
from typing import Any

from escalations.models import UserProfile


def profile_page(client: Any) -> str:
    return client.get("/accounts/profile/").content.decode()


def post(client: Any, zone: str) -> Any:
    return client.post(
        "/accounts/profile/", {"time_zone": zone, "email_notifications": "on", "in_app_notifications": "on"}
    )


def test_the_list_holds_canonical_zones_only_and_is_searchable_without_script(moderator: Any, client_for: Any) -> None:
    content = profile_page(client_for(moderator))
    field = re.search(r'<input[^>]*name="time_zone"[^>]*>', content)
    assert field and 'list="time-zone-list"' in field.group(0)
    datalist = re.search(r'<datalist id="time-zone-list">(.*?)</datalist>', content, re.S)
    assert datalist
    zones = re.findall(r'<option value="([^"]+)"', datalist.group(1))
    assert "America/New_York" in zones and "Asia/Kolkata" in zones and "UTC" in zones
    for alias in ("US/Eastern", "Asia/Calcutta", "GB", "Etc/GMT+5", "EST5EDT"):
        assert alias not in zones
    assert "<script" not in content[content.index("<form") : content.index("</form>")]


def test_an_alias_or_a_typed_name_is_saved_as_the_canonical_zone(moderator: Any, client_for: Any) -> None:
    client = client_for(moderator)
    assert post(client, "US/Eastern").status_code == 302
    assert UserProfile.objects.get(user=moderator).time_zone == "America/New_York"
    assert post(client, "asia/calcutta").status_code == 302
    assert UserProfile.objects.get(user=moderator).time_zone == "Asia/Kolkata"
    assert post(client, "Europe/Berlin").status_code == 302
    assert UserProfile.objects.get(user=moderator).time_zone == "Europe/Berlin"


def test_a_name_that_is_no_zone_is_a_clear_error(moderator: Any, client_for: Any) -> None:
    response = post(client_for(moderator), "Mars/Olympus_Mons")
    assert response.status_code == 200
    assert "is not a time zone on the list" in response.content.decode()
    assert not UserProfile.objects.filter(user=moderator, time_zone="Mars/Olympus_Mons").exists()


def test_a_stored_alias_is_offered_as_its_canonical_name(moderator: Any, client_for: Any) -> None:
    UserProfile.objects.update_or_create(user=moderator, defaults={"time_zone": "US/Eastern"})
    content = profile_page(client_for(moderator))
    field = re.search(r'<input[^>]*name="time_zone"[^>]*>', content)
    assert field and 'value="America/New_York"' in field.group(0)
