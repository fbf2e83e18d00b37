"""The escalation table on My queue and All escalations: what each cell shows, and the remembered
signatures (escalations/tables_signature.py) changing nothing but the time it takes."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import django_tables2
import django_tables2.utils as tables2_utils
import pytest
import time_machine

from escalations.core import services
from escalations.models import Escalation, UserProfile
from escalations.web import tables_signature

NEW_YORK = ZoneInfo("America/New_York")
# The night the clocks in New York go forward (2026-03-08, 02:00 EST to 03:00 EDT).
KNOWLEDGE = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST


def row_of(content: str, esc: Escalation) -> str:
    match = re.search(rf'<tr[^>]*data-key="{esc.key}"[^>]*>(.*?)</tr>', content, re.S)
    assert match, f"no row for {esc.key}"
    return match.group(1)


def shown(moment: datetime) -> str:
    return moment.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M %Z")


@pytest.mark.parametrize("url", ["/escalations/mine/", "/escalations/"])
def test_row_shows_times_in_the_viewers_zone_across_a_clock_change(
    url: str, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    UserProfile.objects.update_or_create(user=moderator, defaults={"time_zone": "America/New_York"})
    with time_machine.travel(KNOWLEDGE.replace(hour=9), tick=False):
        esc = make_escalation(knowledge_at=KNOWLEDGE, assignee=moderator)
        row = row_of(client_for(moderator).get(url).content.decode(), esc)
    assert esc.next_deadline_at is not None
    assert "2026-03-08 01:30 EST" in row
    # The next deadline falls after the change, so it is shown in summer time.
    assert shown(esc.next_deadline_at).endswith("EDT")
    assert shown(esc.next_deadline_at) in row


def test_key_links_to_the_escalation_and_marks_test_records(
    moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    real = make_escalation(assignee=moderator)
    trial = make_escalation(assignee=moderator, is_test=True)
    content = client_for(moderator).get("/escalations/mine/").content.decode()
    assert f'<a href="/escalations/{real.pk}/">{real.key}</a>' in row_of(content, real)
    assert "badge-test" not in row_of(content, real)
    trial_row = row_of(content, trial)
    assert f'<a href="/escalations/{trial.pk}/">{trial.key}</a> <span class="badge badge-test">Test</span>' in trial_row


def test_no_deadline_is_a_dash(lead: Any, client_for: Any, make_escalation: Any) -> None:
    esc = make_escalation()
    esc = services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, reason="Adult content.")
    assert esc.next_deadline_at is None
    cells = re.findall(
        r"<td[^>]*>(.*?)</td>", row_of(client_for(lead).get("/escalations/").content.decode(), esc), re.S
    )
    assert [c.strip() for c in cells].count("—") >= 2  # time left and next deadline


# --- remembered signatures ---------------------------------------------------------------------


def test_installed_for_this_release() -> None:
    # Fails on an upgrade of django-tables2: check that it still reaches every function's signature
    # through django_tables2.utils.signature, then update INSTALLED_FOR.
    assert django_tables2.__version__ == tables_signature.INSTALLED_FOR
    assert tables2_utils.signature is tables_signature.signature


class Renderer:
    def render(self, value: Any, record: Any) -> str:
        return f"{value}/{record}"

    def render_all(self, **kwargs: Any) -> str:
        return ",".join(sorted(kwargs))

    @staticmethod
    def plain(value: Any) -> Any:
        return value

    def __call__(self, table: Any, *args: Any) -> Any:
        return table


class Unhashable(Renderer):
    __hash__ = None  # type: ignore[assignment]


def keyword_only(*, bound_row: Any, value: Any = None) -> Any:
    return bound_row


CALLABLES = {
    "function": keyword_only,
    "lambda": lambda record: record,
    "bound method": Renderer().render,
    "bound method with **kwargs": Renderer().render_all,
    "static method": Renderer.plain,
    "unbound function": Renderer.render,
    "callable object": Renderer(),
    "unhashable callable object": Unhashable(),
    "partial": functools.partial(keyword_only, value=1),
    "class": Renderer,
}


@pytest.mark.parametrize("fn", CALLABLES.values(), ids=CALLABLES.keys())
def test_remembered_signature_is_the_one_django_tables2_computes(fn: Any) -> None:
    expected = tables_signature.uncached(fn)
    assert tables_signature.signature(fn) == (tuple(expected[0]), expected[1])
    assert tables_signature.signature(fn) == tables_signature.signature(fn)  # the second, remembered


def test_two_objects_of_one_class_are_called_with_their_own_self() -> None:
    first, second = Renderer(), Renderer()
    first.name, second.name = "first", "second"  # type: ignore[attr-defined]
    assert tables2_utils.call_with_appropriate(first.render, {"value": 1, "record": "a"}) == "1/a"
    assert (
        tables_signature.signature(first.render)
        == tables_signature.signature(second.render)
        == (
            ("value", "record"),
            None,
        )
    )


def without_csrf_token(content: bytes) -> bytes:
    # The token is masked afresh on every response.
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)


@pytest.mark.parametrize("url", ["/escalations/mine/", "/escalations/?status=open"])
def test_pages_are_the_same_with_and_without_remembered_signatures(
    url: str, lead: Any, client_for: Any, make_escalation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        make_escalation(assignee=lead, is_test=i == 2)
    client = client_for(lead)
    with time_machine.travel(datetime.now(UTC), tick=False):
        remembered = without_csrf_token(client.get(url).content)
        monkeypatch.setattr(tables2_utils, "signature", tables_signature.uncached)
        computed = without_csrf_token(client.get(url).content)
    assert remembered.count(b"<tr") == 4
    assert remembered == computed


def _masked(content: bytes) -> str:
    return re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]+', r"\1CSRF", content.decode())


@pytest.mark.parametrize("url", ["/escalations/mine/", "/escalations/", "/escalations/?sort=-knowledge_at&per_page=3"])
def test_header_and_rows_written_in_python_are_the_bytes_the_tables_template_writes(
    url: str, monkeypatch: pytest.MonkeyPatch, lead: Any, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    from escalations.web.tables import EscalationTable

    UserProfile.objects.update_or_create(user=lead, defaults={"time_zone": "America/New_York"})
    with time_machine.travel(KNOWLEDGE.replace(hour=9), tick=False):
        make_escalation(knowledge_at=KNOWLEDGE, assignee=lead)
        make_escalation(knowledge_at=KNOWLEDGE, assignee=lead, is_test=True)
        make_escalation(
            knowledge_at=KNOWLEDGE, assignee=lead, priority="urgent", urgent_reason="A child <b>at</b> risk & more"
        )
        unassigned = make_escalation(knowledge_at=KNOWLEDGE)
        services.assign_escalation(actor=lead, escalation_id=unassigned.pk, version=unassigned.version, assignee=None)
        make_escalation(knowledge_at=KNOWLEDGE, assignee=lead, reported_at=KNOWLEDGE.replace(hour=8))
        client = client_for(lead)
        fast = client.get(url)
        monkeypatch.setattr(EscalationTable, "fast_tbody", lambda self: None)
        monkeypatch.setattr(EscalationTable, "fast_thead", lambda self: None)
        slow = client.get(url)
    assert fast.status_code == slow.status_code == 200
    assert "<tbody" in _masked(fast.content)
    assert _masked(fast.content) == _masked(slow.content)
