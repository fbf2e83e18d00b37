"""Saving a form changes only what the person changed. The edit form shows times to the minute; a
stored 19:15:44 shown as 19:15 and saved as it is stays 19:15:44: the report target does not move,
no "edit" of the knowledge time appears on the timeline, and nobody is emailed "Report overdue"
twice. Typing another minute does change it. A local time that happened twice or never is a question
with both answers offered, not a refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalations.models import AuditAction, AuditEvent, Escalation, IncidentType, Priority, UserProfile
from escalations.reminders import sweep as reminders

KNOWLEDGE = datetime(2026, 5, 3, 19, 15, 44, tzinfo=UTC)  # 15:15:44 EDT
CLOCK_START = KNOWLEDGE + timedelta(hours=25)  # the report is an hour overdue
SECOND = timedelta(seconds=1)

pytestmark = pytest.mark.usefixtures("clock")


def in_new_york(*users: Any) -> None:
    for user in users:
        UserProfile.objects.update_or_create(user=user, defaults={"time_zone": "America/New_York"})


def edit_data(esc: Escalation, **overrides: Any) -> dict[str, Any]:
    """What the edit form posts when nothing is touched (times as the form shows them: minutes)."""
    data = {
        "platform_reference": esc.platform_reference,
        "account_reference": esc.account_reference,
        "incident_type": esc.incident_type,
        "priority": esc.priority,
        "urgent_reason": esc.urgent_reason,
        "knowledge_at": "2026-05-03T15:15",
        "notes": esc.notes,
        "ncmec_opened_at": "",
        "ncmec_last_change_at": "",
        "version": esc.version,
    }
    data.update(overrides)
    return data


def overdue_mails(outbox: list[Any], user: Any) -> int:
    return sum(1 for m in outbox if m.to == [user.email] and "Report overdue" in m.subject)


@pytest.fixture
def sent_once(moderator: Any, lead: Any, make_escalation: Any, mailoutbox: list[Any]) -> Escalation:
    lead.email = "lead@example.org"
    lead.save()
    in_new_york(moderator, lead)
    esc = make_escalation(knowledge_at=KNOWLEDGE, incident_type=IncidentType.CHILD_PORNOGRAPHY)
    reminders.sweep()
    assert overdue_mails(mailoutbox, lead) == 1
    return Escalation.objects.get(pk=esc.pk)


def test_the_edit_form_shows_the_minute(sent_once: Escalation, moderator: Any, client_for: Any) -> None:
    content = client_for(moderator).get(f"/escalations/{sent_once.pk}/edit/").content.decode()
    assert 'value="2026-05-03T15:15"' in content


def test_saving_unchanged_keeps_the_seconds_and_sends_nothing_again(
    sent_once: Escalation, moderator: Any, lead: Any, client_for: Any, mailoutbox: list[Any]
) -> None:
    response = client_for(moderator).post(f"/escalations/{sent_once.pk}/edit/", edit_data(sent_once, notes="Seen"))
    assert response.status_code == 302, response.context["form"].errors
    esc = Escalation.objects.get(pk=sent_once.pk)
    assert esc.knowledge_at == KNOWLEDGE
    assert esc.report_due_at == sent_once.report_due_at
    edit = AuditEvent.objects.filter(escalation=esc, action=AuditAction.EDITED).get()
    assert set(edit.changes) == {"notes"}  # no edit of the knowledge time that nobody made
    reminders.sweep()
    assert overdue_mails(mailoutbox, lead) == 1


def test_typing_another_minute_changes_it(sent_once: Escalation, moderator: Any, client_for: Any) -> None:
    response = client_for(moderator).post(
        f"/escalations/{sent_once.pk}/edit/", edit_data(sent_once, knowledge_at="2026-05-03T15:14")
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Escalation.objects.get(pk=sent_once.pk).knowledge_at == datetime(2026, 5, 3, 19, 14, tzinfo=UTC)


def test_typing_seconds_sets_them(sent_once: Escalation, moderator: Any, client_for: Any) -> None:
    response = client_for(moderator).post(
        f"/escalations/{sent_once.pk}/edit/", edit_data(sent_once, knowledge_at="2026-05-03T15:15:30")
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Escalation.objects.get(pk=sent_once.pk).knowledge_at == KNOWLEDGE.replace(second=30)


# --- a local time that happened twice or never --------------------------------------------------


def log_data(knowledge: str, **extra: Any) -> dict[str, Any]:
    return {
        "platform_reference": "ticket-77",
        "incident_type": IncidentType.CHILD_PORNOGRAPHY,
        "priority": Priority.STANDARD,
        "urgent_reason": "",
        "knowledge_at": knowledge,
        "notes": "",
        **extra,
    }


@pytest.mark.parametrize(
    ("typed", "offered", "chosen"),
    [
        pytest.param(
            "2026-11-01T01:30",
            ["01:30 EDT (UTC-4)", "01:30 EST (UTC-5)"],
            [datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)],
            id="clocks-go-back-twice",
        ),
        pytest.param(
            "2026-03-08T02:30",
            ["01:30 EST (UTC-5)", "03:30 EDT (UTC-4)"],
            [datetime(2026, 3, 8, 6, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)],
            id="clocks-go-forward-never",
        ),
    ],
)
@pytest.mark.parametrize("pick", [0, 1])
def test_an_ambiguous_or_skipped_time_asks_which_one(
    typed: str, offered: list[str], chosen: list[datetime], pick: int, moderator: Any, client_for: Any, clock: Any
) -> None:
    clock.move_to(datetime(2026, 11, 2, 12, tzinfo=UTC))
    in_new_york(moderator)
    client = client_for(moderator)
    response = client.post("/escalations/new/", log_data(typed))
    assert response.status_code == 200
    message = response.context["form"].errors["knowledge_at"][0]
    assert f"{offered[0]} or {offered[1]}" in message
    content = response.content.decode()
    for label, moment in zip(offered, chosen, strict=True):
        assert f'value="{moment.isoformat()}" required> {label}</label>' in content
    assert Escalation.objects.count() == 0

    response = client.post("/escalations/new/", log_data(typed, knowledge_at__which=chosen[pick].isoformat()))
    assert response.status_code == 302, response.context["form"].errors
    assert Escalation.objects.get().knowledge_at == chosen[pick]


def test_a_time_just_outside_the_repeated_hour_needs_no_choice(moderator: Any, client_for: Any, clock: Any) -> None:
    clock.move_to(datetime(2026, 11, 2, 12, tzinfo=UTC))
    in_new_york(moderator)
    client = client_for(moderator)
    # 00:59 happens once (EDT), and so does 02:00 (EST): one minute either side of the repeated hour.
    assert client.post("/escalations/new/", log_data("2026-11-01T00:59")).status_code == 302
    assert client.post("/escalations/new/", log_data("2026-11-01T02:00", platform_reference="t-2")).status_code == 302
    assert sorted(Escalation.objects.values_list("knowledge_at", flat=True)) == [
        datetime(2026, 11, 1, 4, 59, tzinfo=UTC),
        datetime(2026, 11, 1, 7, 0, tzinfo=UTC),
    ]


def test_an_edit_of_a_moment_in_the_repeated_hour_keeps_it_without_asking(
    moderator: Any, client_for: Any, make_escalation: Any, clock: Any
) -> None:
    clock.move_to(datetime(2026, 11, 1, 12, tzinfo=UTC))
    in_new_york(moderator)
    second_one = datetime(2026, 11, 1, 6, 30, 12, tzinfo=UTC)  # 01:30:12 EST, the second 01:30
    esc = make_escalation(knowledge_at=second_one)
    data = edit_data(esc, knowledge_at="2026-11-01T01:30", notes="Checked")
    response = client_for(moderator).post(f"/escalations/{esc.pk}/edit/", data)
    assert response.status_code == 302, response.context["form"].errors
    assert Escalation.objects.get(pk=esc.pk).knowledge_at == second_one
