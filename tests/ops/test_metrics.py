"""/metrics: who may read it, and that each of our figures says what an on-call engineer needs
(escalations/metrics.py, metrics_views.py). The clock is frozen, so every age is exact."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from escalations.models import AuditVerification, Priority
from escalations.ops import metrics
from escalations.reminders import sweep as reminders
from tests.conftest import FormClient

T0 = datetime(2031, 6, 2, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
TOKEN = "metrics-token-for-tests-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_counters(settings: Any) -> Iterator[None]:
    """The counters live in the cache, which outlives a test: each test starts from zero."""
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    cache.clear()
    yield
    cache.clear()


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses everything."""

    def send_messages(self, email_messages: Any) -> int:
        raise smtplib.SMTPDataError(554, b"refused for the test")


def scrape(**headers: str) -> Any:
    return FormClient().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the page, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(page: dict[Any, float], name: str, **labels: str) -> float:
    return page[(name, tuple(sorted(labels.items())))]


def figures() -> dict[Any, float]:
    response = scrape()
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.content.decode())


# --- who may read it -------------------------------------------------------------------------------


def test_nobody_reads_metrics_when_neither_token_nor_addresses_are_configured(db: Any, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    response = FormClient().get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 404
    assert b"escalations_" not in response.content


def test_the_token_opens_metrics_and_nothing_else_does(db: Any) -> None:
    assert scrape().status_code == 200
    refused = [
        FormClient().get("/metrics"),
        FormClient().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}),
        FormClient().get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}),
        FormClient().get("/metrics", headers={"Authorization": "Bearer"}),
    ]
    for response in refused:
        # Refused outright, never a sign-in redirect (a scraper is not a person).
        assert response.status_code == 403
        assert "Location" not in response
        assert b"escalations_" not in response.content


def test_a_signed_in_lead_without_the_token_is_refused_too(lead: Any, client_for: Any) -> None:
    assert client_for(lead).get("/metrics").status_code == 403


def test_an_allowed_address_reads_without_the_token_a_forwarded_header_does_not_count(db: Any, settings: Any) -> None:
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    assert FormClient(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    outsider = FormClient(REMOTE_ADDR="203.0.113.9")
    assert outsider.get("/metrics").status_code == 403
    assert outsider.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 403


def test_only_get_is_served(db: Any) -> None:
    response = FormClient().post("/metrics", {}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


# --- what it says ----------------------------------------------------------------------------------


def test_requests_and_their_latency_are_counted_by_django_prometheus(db: Any) -> None:
    FormClient().get("/healthz")
    page = figures()
    assert value(page, "django_http_requests_total_by_view_transport_method_total",
                 view="healthz", transport="http", method="GET") >= 1  # fmt: skip
    assert any(name == "django_http_requests_latency_including_middlewares_seconds_count" for name, _ in page)


def test_open_escalations_by_deadline_state_and_the_oldest_missed_target(make_escalation: Any) -> None:
    with time_machine.travel(T0 - HOUR, tick=False):
        # Urgent: knowledge 90 min before T0, target (1 h) 30 min before T0.
        make_escalation(priority=Priority.URGENT, urgent_reason="a child at risk", knowledge_at=T0 - 90 * MINUTE)
        # A test record, as late: left out.
        make_escalation(priority=Priority.URGENT, urgent_reason="drill", knowledge_at=T0 - 3 * HOUR, is_test=True)
    with time_machine.travel(T0, tick=False):
        make_escalation(knowledge_at=T0 - 21 * HOUR)  # standard, target T0+3h: due soon (4 h)
        make_escalation(knowledge_at=T0 - HOUR)  # standard, target T0+23h: on track
        page = figures()
    assert value(page, "escalations_by_deadline_state", status="open", deadline_state="overdue") == 1
    assert value(page, "escalations_by_deadline_state", status="open", deadline_state="due_soon") == 1
    assert value(page, "escalations_by_deadline_state", status="open", deadline_state="on_track") == 1
    assert value(page, "escalations_oldest_overdue_report_seconds", priority="urgent") == 30 * 60
    assert value(page, "escalations_oldest_overdue_report_seconds", priority="standard") == 0
    assert value(page, "escalations_by_status", status="open") == 3


def test_a_report_target_is_missed_one_second_after_it_not_at_it(make_escalation: Any) -> None:
    due = T0
    with time_machine.travel(T0 - HOUR, tick=False):
        make_escalation(priority=Priority.URGENT, urgent_reason="a child at risk", knowledge_at=due - HOUR)
    with time_machine.travel(due, tick=False):
        page = figures()
        assert value(page, "escalations_oldest_overdue_report_seconds", priority="urgent") == 0
        assert value(page, "escalations_by_deadline_state", status="open", deadline_state="overdue") == 0
    with time_machine.travel(due + SECOND, tick=False):
        page = figures()
        assert value(page, "escalations_oldest_overdue_report_seconds", priority="urgent") == 1
        assert value(page, "escalations_by_deadline_state", status="open", deadline_state="overdue") == 1


def test_reported_without_preservation_confirmed_past_its_deadline(make_escalation: Any) -> None:
    with time_machine.travel(T0 - 2 * 24 * HOUR, tick=False):
        make_escalation(knowledge_at=T0 - 50 * HOUR, reported_at=T0 - 49 * HOUR)
    with time_machine.travel(T0, tick=False):
        page = figures()
    # Confirmation was due 24 h after the report, 25 h ago.
    assert value(page, "escalations_preservation_unconfirmed_overdue") == 1
    assert value(page, "escalations_by_deadline_state", status="reported", deadline_state="overdue") == 1
    assert value(page, "escalations_by_status", status="reported") == 1


def test_sweep_heartbeat_age_and_duration(db: Any) -> None:
    with time_machine.travel(T0, tick=False):
        page = figures()
    assert value(page, "escalations_sweep_heartbeat_age_seconds") == float("inf")
    with time_machine.travel(T0, tick=False):
        reminders.sweep()
    with time_machine.travel(T0 + 90 * SECOND, tick=False):
        page = figures()
    assert value(page, "escalations_sweep_heartbeat_age_seconds") == 90
    assert value(page, "escalations_sweep_last_duration_seconds") == 0
    assert value(page, "escalations_sweep_last_finished_timestamp_seconds") == T0.timestamp()


def test_reminder_lateness_and_attempts_after_a_sweep(
    make_escalation: Any, moderator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    moderator.email = "mod@example.org"
    moderator.save()
    with time_machine.travel(T0 - 10 * MINUTE, tick=False):
        # Standard, knowledge 20 h 5 min before T0: target T0+3 h 55 min, "due soon" (4 h before) at
        # T0-5 min. (Standard: an urgent one would also be news to the leads, a second reminder.)
        make_escalation(knowledge_at=T0 - 20 * HOUR - 5 * MINUTE)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        stats = reminders.sweep()
    assert stats.deliveries_sent == 2  # email and in-app, to the moderator who logged it
    page = figures()
    for channel in ("email", "in_app"):
        # Sent at T0, due at T0-5 min: exactly 300 s late, counted in the "le 300" bucket, not below.
        assert value(page, "escalations_reminder_lateness_seconds_bucket", channel=channel, le="120.0") == 0
        assert value(page, "escalations_reminder_lateness_seconds_bucket", channel=channel, le="300.0") == 1
        assert value(page, "escalations_reminder_lateness_seconds_bucket", channel=channel, le="+Inf") == 1
        assert value(page, "escalations_reminder_lateness_seconds_count", channel=channel) == 1
        assert value(page, "escalations_reminder_lateness_seconds_sum", channel=channel) == 300
        assert value(page, "escalations_delivery_attempts_total", channel=channel, outcome="ok") == 1
    assert value(page, "escalations_deliveries_pending", channel="email") == 0


def test_failing_deliveries_are_pending_failing_and_counted(
    make_escalation: Any, moderator: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    moderator.email = "mod@example.org"
    moderator.save()
    settings.EMAIL_BACKEND = "tests.ops.test_metrics.RefusingBackend"
    with time_machine.travel(T0 - 10 * MINUTE, tick=False):
        make_escalation(knowledge_at=T0 - 20 * HOUR - 5 * MINUTE)  # due soon at T0-5 min
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        reminders.sweep()
    page = figures()
    assert value(page, "escalations_deliveries_pending", channel="email") == 1
    assert value(page, "escalations_deliveries_failing", channel="email") == 1
    assert value(page, "escalations_deliveries_failing", channel="in_app") == 0
    assert value(page, "escalations_delivery_attempts_total", channel="email", outcome="failed") == 1
    # A refused message is not a delivered one: no lateness for it.
    assert value(page, "escalations_reminder_lateness_seconds_count", channel="email") == 0


def test_an_attempt_rolled_back_is_not_counted(make_escalation: Any, moderator: Any) -> None:
    """Counted after commit only: the test's transaction never commits, so nothing is counted."""
    moderator.email = "mod@example.org"
    moderator.save()
    with time_machine.travel(T0 - 10 * MINUTE, tick=False):
        make_escalation(knowledge_at=T0 - 20 * HOUR - 5 * MINUTE)  # due soon at T0-5 min
    with time_machine.travel(T0, tick=False):
        assert reminders.sweep().deliveries_sent == 2
    page = figures()
    assert value(page, "escalations_delivery_attempts_total", channel="email", outcome="ok") == 0


def test_the_metrics_cache_failing_never_fails_a_delivery(monkeypatch: Any, caplog: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache down")

    monkeypatch.setattr(metrics.cache, "incr", broken)
    monkeypatch.setattr(metrics.cache, "add", broken)
    metrics.record_attempt("email", True, 12.0)  # does not raise
    assert "could not count a delivery attempt" in caplog.text


def test_the_audit_chain_state_is_unknown_until_verifications_are_recorded(db: Any) -> None:
    page = figures()
    assert value(page, "escalations_audit_chain_state", state="unknown") == 1
    assert value(page, "escalations_audit_chain_state", state="broken") == 0
    assert value(page, "escalations_audit_chain_state", state="ok") == 0


def test_the_audit_chain_state_follows_the_last_check(db: Any) -> None:
    """The alert on a broken trail reads this gauge: it says what the latest check found."""
    from escalations.core import audit_verify

    audit_verify.verify_and_record("command")
    page = figures()
    assert value(page, "escalations_audit_chain_state", state="ok") == 1
    assert value(page, "escalations_audit_chain_state", state="unknown") == 0

    # A later check found a break (as recorded by the sweep's daily walk).
    AuditVerification.objects.create(
        started_at=timezone.now(),
        finished_at=timezone.now() + timedelta(seconds=1),
        ok=False,
        broken=1,
        first_break="ESC-000001 event #2 (id 4): payload digest mismatch (the row was edited)",
        source="sweep",
    )
    page = figures()
    assert value(page, "escalations_audit_chain_state", state="broken") == 1
    assert value(page, "escalations_audit_chain_state", state="ok") == 0


def test_bucket_bounds_are_inclusive() -> None:
    assert metrics.bucket_index(0) == 0
    assert metrics.bucket_index(5) == 0
    assert metrics.bucket_index(5.001) == 1
    assert metrics.bucket_index(10**9) == len(metrics.LATENESS_BUCKETS)


def test_no_name_or_reference_is_ever_a_label(make_escalation: Any, make_user: Any) -> None:
    person = make_user("zelda-quartermain", "moderator")
    with time_machine.travel(T0, tick=False):
        make_escalation(
            actor=person, platform_reference="https://platform.example/u/SECRET-REF-77", knowledge_at=T0 - 30 * HOUR
        )
        text = scrape().content.decode()
    assert "SECRET-REF-77" not in text
    assert "zelda" not in text
