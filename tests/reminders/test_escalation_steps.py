"""Acknowledge and escalate: an urgent report overdue and not acknowledged within 15 minutes goes to
every lead, 15 minutes later to the teams' PagerDuty (every lead again when no team has one); the
steps stop once someone acknowledges or the report is recorded. Each step is recorded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalations import policy
from escalations.core import services
from escalations.models import Priority, Reminder
from escalations.policy.escalation_steps import parse_escalation_policy
from escalations.reminders import acknowledgements
from escalations.reminders.sweep import sweep

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CLOCK_START = T0
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
TARGET = T0 + 60 * MINUTE
STEP_LEADS = "Escalated to every lead: overdue and nobody acknowledged it"


@pytest.fixture
def boss(make_user: Any) -> Any:
    user = make_user("boss", "lead")
    user.email = "boss@example.org"
    user.save()
    return user


@pytest.fixture
def urgent(make_escalation: Any, moderator: Any) -> Any:
    moderator.email = "mod@example.org"
    moderator.save()
    return make_escalation(knowledge_at=T0, priority=Priority.URGENT, urgent_reason="Live stream announced")


def steps(escalation: Any) -> list[str]:
    sent = Reminder.objects.filter(escalation=escalation, kind__in=policy.STEP_REMINDER_KINDS, sent_at__isnull=False)
    return sorted(sent.values_list("kind", flat=True))


def overdue_reminder(escalation: Any) -> Reminder:
    return Reminder.objects.get(escalation=escalation, kind="report_overdue")


def test_nobody_acknowledged_for_15_minutes_goes_to_every_lead_not_at_14_59(
    clock: Any, boss: Any, urgent: Any, mailoutbox: list[Any]
) -> None:
    clock.move_to(TARGET)
    sweep()
    clock.move_to(TARGET + 14 * MINUTE + 59 * SECOND)
    sweep()
    assert steps(urgent) == []
    clock.move_to(TARGET + 15 * MINUTE + SECOND)
    sweep()
    sweep()
    assert steps(urgent) == ["escalated_to_leads"]
    (mail,) = [m for m in mailoutbox if STEP_LEADS in m.subject]
    assert mail.to == ["boss@example.org"] and mail.subject.startswith(f"[Escalations] URGENT {urgent.key}")
    assert "/reminders/acknowledge/" in mail.body  # the signed link
    # 29:59: not yet the teams' PagerDuty; 30:01: it (no team has one: every lead again).
    clock.move_to(TARGET + 29 * MINUTE + 59 * SECOND)
    sweep()
    assert steps(urgent) == ["escalated_to_leads"]
    clock.move_to(TARGET + 30 * MINUTE + SECOND)
    sweep()
    sweep()
    assert steps(urgent) == ["escalated_to_leads", "escalated_to_pagerduty"]
    assert Reminder.objects.filter(escalation=urgent, kind__in=policy.STEP_REMINDER_KINDS).count() == 2


def test_acknowledged_at_14_59_nothing_escalates(clock: Any, boss: Any, urgent: Any, moderator: Any) -> None:
    clock.move_to(TARGET)
    sweep()
    clock.move_to(TARGET + 14 * MINUTE + 59 * SECOND)
    acknowledgements.acknowledge(actor=moderator, reminder_id=overdue_reminder(urgent).pk, via="app")
    for minutes in (15, 16, 30, 31, 240):
        clock.move_to(TARGET + minutes * MINUTE + SECOND)
        sweep()
    assert steps(urgent) == []
    assert not Reminder.objects.filter(escalation=urgent, kind__in=policy.STEP_REMINDER_KINDS).exists()


def test_acknowledged_after_the_first_step_the_second_is_not_sent(
    clock: Any, boss: Any, urgent: Any, moderator: Any
) -> None:
    clock.move_to(TARGET + 15 * MINUTE)
    sweep()
    assert steps(urgent) == ["escalated_to_leads"]
    clock.move_to(TARGET + 29 * MINUTE)
    acknowledgements.acknowledge(actor=boss, reminder_id=overdue_reminder(urgent).pk, via="app")
    clock.move_to(TARGET + 30 * MINUTE + SECOND)
    sweep()
    assert steps(urgent) == ["escalated_to_leads"]


def test_a_step_recorded_before_the_acknowledgement_is_cancelled_not_sent(
    clock: Any, boss: Any, urgent: Any, moderator: Any, settings: Any
) -> None:
    """The step is recorded, its delivery is waiting for a retry, then someone acknowledges."""
    clock.move_to(TARGET + 15 * MINUTE)
    settings.EMAIL_BACKEND = "tests.reminders.test_escalation_steps.RefusingBackend"
    sweep()
    step = Reminder.objects.get(escalation=urgent, kind="escalated_to_leads")
    assert step.sent_at is None
    acknowledgements.acknowledge(actor=moderator, reminder_id=overdue_reminder(urgent).pk, via="app")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    clock.move_to(TARGET + 20 * MINUTE)
    sweep()
    step.refresh_from_db()
    assert step.sent_at is None
    assert step.cancel_reason == "Someone acknowledged the reminder before this step went out."


def test_acknowledging_the_urgent_logged_news_does_not_silence_the_overdue_steps(
    clock: Any, boss: Any, urgent: Any
) -> None:
    sweep()
    logged = Reminder.objects.get(escalation=urgent, kind="urgent_logged")
    acknowledgements.acknowledge(actor=boss, reminder_id=logged.pk, via="app")
    clock.move_to(TARGET + 15 * MINUTE + SECOND)
    sweep()
    assert steps(urgent) == ["escalated_to_leads"]


def test_the_report_recorded_stops_the_steps(clock: Any, boss: Any, urgent: Any, moderator: Any) -> None:
    clock.move_to(TARGET + 10 * MINUTE)
    sweep()
    services.record_report(
        actor=moderator,
        escalation_id=urgent.pk,
        version=urgent.version,
        reported_at=TARGET + 9 * MINUTE,
        cybertipline_report_id="4564654",
        breach_reason="needed_review",
    )
    clock.move_to(TARGET + 31 * MINUTE)
    sweep()
    assert steps(urgent) == []


def test_a_standard_report_has_no_steps_by_default(clock: Any, boss: Any, make_escalation: Any) -> None:
    esc = make_escalation(knowledge_at=T0 - 26 * 60 * MINUTE)
    sweep()
    assert steps(esc) == []


def test_the_policy_is_a_setting_per_kind(clock: Any, boss: Any, make_escalation: Any, settings: Any) -> None:
    settings.ESCALATION_POLICY = {"report_overdue": {"priorities": ["standard"], "steps": [[5, "leads"]]}}
    esc = make_escalation(knowledge_at=T0 - 24 * 60 * MINUTE)  # target now
    sweep()
    clock.move_to(T0 + 4 * MINUTE + 59 * SECOND)
    sweep()
    assert steps(esc) == []
    clock.move_to(T0 + 5 * MINUTE)
    sweep()
    assert steps(esc) == ["escalated_to_leads"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"report_overdu": {"steps": [[15, "leads"]]}}, "'report_overdu' is not a reminder kind"),
        ({"report_overdue": {"steps": [[15, "boss"]]}}, "step target 'boss'"),
        ({"report_overdue": {"steps": [[30, "leads"], [15, "team_pagerduty"]]}}, "step minutes must grow"),
    ],
)
def test_a_mistyped_policy_is_refused_naming_what_is_wrong(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_escalation_policy(raw)


def test_the_kinds_a_step_may_follow_are_reminder_kinds() -> None:
    from escalations.policy.escalation_steps import ESCALATABLE_KINDS

    assert ESCALATABLE_KINDS.issubset({kind.value for kind in policy.ReminderKind} - policy.STEP_REMINDER_KINDS)


class RefusingBackend:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send_messages(self, messages: Any) -> int:
        raise ConnectionRefusedError("mail server down")
