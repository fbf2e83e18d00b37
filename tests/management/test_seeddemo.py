"""seeddemo: the demo accounts, the handful of demo escalations and a realistic quarter of history
that the dashboard of `make run` shows."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from escalations.management.commands import seeddemo
from escalations.models import (
    AuditAction,
    AuditEvent,
    BreachReason,
    Escalation,
    IncidentType,
    Priority,
    Status,
    Team,
)


def _seed() -> tuple[str, float]:
    out = StringIO()
    started = time.monotonic()
    call_command("seeddemo", stdout=out)
    return out.getvalue(), time.monotonic() - started


@pytest.mark.django_db
def test_seeds_a_realistic_quarter_once() -> None:
    output, seconds = _seed()
    print(f"seeddemo took {seconds:.1f} s: {output.splitlines()[-1]}")
    # Generous: it takes a few seconds; this only catches a per-row blow-up.
    assert seconds < 60
    summary = [line for line in output.splitlines() if line.startswith("Demo escalations created:")]
    assert len(summary) == 1, output

    now = timezone.now()
    escalations = list(Escalation.objects.select_related("assignee").order_by("pk"))
    counts = (Escalation.objects.count(), AuditEvent.objects.count(), get_user_model().objects.count())

    # The demo escalations come first, the urgent one whose target passes a minute after start first.
    first = escalations[0]
    assert (first.platform_reference, first.priority) == ("acct:55501234", Priority.URGENT)
    assert timedelta(minutes=58) < now - first.knowledge_at < timedelta(minutes=61)

    total = len(escalations)
    assert 260 <= total <= 400
    quarter = [e for e in escalations if now - e.knowledge_at <= timedelta(days=91)]
    assert len(quarter) >= 250

    # Five moderators share the load.
    by_owner: dict[str, int] = {}
    for esc in quarter:
        name = esc.assignee.get_username() if esc.assignee else ""
        by_owner[name] = by_owner.get(name, 0) + 1
    for name in ("moderator", *seeddemo.EXTRA_MODERATORS):
        assert by_owner.get(name, 0) >= 20, by_owner
    extra = get_user_model().objects.filter(username__in=seeddemo.EXTRA_MODERATORS)
    assert all(not user.has_usable_password() for user in extra)
    # The demo team (README, need-to-know): the demo moderator shares a queue with mod-ana.
    assert sorted(Team.objects.get(name="Day shift").members.values_list("username", flat=True)) == [
        "mod-ana",
        "moderator",
    ]
    assert all(user.groups.filter(name="moderator").exists() for user in extra)

    # Mostly child pornography; some enticement, trafficking and unsolicited obscene material.
    by_type = {t: sum(1 for e in escalations if e.incident_type == t) for t in IncidentType.values}
    assert by_type[IncidentType.CHILD_PORNOGRAPHY] > total / 2
    for kind in (
        IncidentType.ONLINE_ENTICEMENT,
        IncidentType.CHILD_SEX_TRAFFICKING,
        IncidentType.UNSOLICITED_OBSCENE_MATERIAL,
    ):
        assert by_type[kind] >= 5, by_type
    urgent = sum(1 for e in escalations if e.priority == Priority.URGENT)
    assert 0.05 * total <= urgent <= 0.2 * total

    # Most reported within target; 10-15 % late, each with a breach reason (a note with "other").
    reported = [e for e in escalations if e.reported_at is not None]
    late = [e for e in reported if e.reported_on_time is False]
    assert 0.08 * len(reported) <= len(late) <= 0.16 * len(reported), (len(late), len(reported))
    for esc in late:
        assert esc.reported_at is not None and esc.reported_at > esc.report_due_at
        assert esc.breach_reason in BreachReason.values, esc.key
        if esc.breach_reason == BreachReason.OTHER:
            assert esc.breach_note, esc.key
    reasons = {e.breach_reason for e in late}
    assert BreachReason.OTHER in reasons
    assert len(reasons) >= 4, reasons
    assert all(not e.breach_reason for e in reported if e.reported_on_time)

    # A few dismissed by the lead, with a reason.
    dismissed = [e for e in escalations if e.status == Status.DISMISSED]
    assert 2 <= len(dismissed) <= 20
    for esc in dismissed:
        assert esc.status_reason
        event = esc.audit_events.get(action=AuditAction.DISMISSED)
        assert event.actor is not None and event.actor.get_username() == "lead"

    # Some still open, a few of them overdue.
    open_ = [e for e in escalations if e.status == Status.OPEN]
    overdue = [e for e in open_ if e.report_due_at < now]
    assert len(open_) >= 5
    assert 2 <= len(overdue) <= 15

    # Preservation confirmed within 24 hours of most reports, not all.
    confirmed_in_time = [
        e
        for e in reported
        if e.reported_at
        and e.preservation_confirmed_at
        and e.preservation_confirmed_at - e.reported_at <= timedelta(hours=24)
    ]
    unconfirmed = [e for e in reported if e.status == Status.REPORTED and e.preservation_confirmed_at is None]
    assert len(confirmed_in_time) >= 0.75 * len(reported)
    assert len(unconfirmed) >= 3

    # Holds ending within 30 days, holds ended awaiting a decision, and a few closed after the end.
    holds = [(e, e.preserve_until) for e in escalations if e.status == Status.REPORTED and e.preserve_until]
    ending = [e for e, until in holds if now <= until <= now + timedelta(days=30)]
    ended = [e for e, until in holds if until < now]
    assert len(ending) >= 3
    assert len(ended) >= 2
    for esc in ending + ended:
        assert esc.reported_at is not None and esc.knowledge_at <= esc.reported_at <= now
    closed = [e for e in escalations if e.status == Status.CLOSED]
    assert closed
    assert all(e.preserve_until and e.preserve_until < now for e in closed)

    # Every escalation has its 'created' event, made when it was logged (never before knowledge,
    # never in the future), and every event of the history is in time order.
    created = dict(AuditEvent.objects.filter(action=AuditAction.CREATED).values_list("escalation_id", "at"))
    assert set(created) == {e.pk for e in escalations}
    for esc in escalations:
        assert esc.knowledge_at <= created[esc.pk] <= now, esc.key
    assert not AuditEvent.objects.filter(at__gt=now).exists()
    for esc in late[:10] + unconfirmed[:5] + closed:
        times = list(esc.audit_events.values_list("at", flat=True))
        assert times == sorted(times), esc.key

    # Running it again creates nothing.
    output, _ = _seed()
    assert "already present" in output
    assert "Demo escalations created" not in output
    assert (Escalation.objects.count(), AuditEvent.objects.count(), get_user_model().objects.count()) == counts


def test_the_quarter_is_the_same_every_time() -> None:
    now = timezone.now()
    first = seeddemo.History(random.Random(seeddemo.SEED), now)
    second = seeddemo.History(random.Random(seeddemo.SEED), now)
    assert first._year_old() + first._quarter() == second._year_old() + second._quarter()


@pytest.mark.django_db
def test_refuses_without_demo_accounts_allowed(settings: Any) -> None:
    settings.DEMO_ACCOUNTS_ALLOWED = False
    with pytest.raises(CommandError, match="development only"):
        call_command("seeddemo", stdout=StringIO())
    assert not Escalation.objects.exists()
    assert not get_user_model().objects.exists()
