"""The outbound event stream, as a receiver sees it: a local server that verifies every request with
the standardwebhooks library and holds its body to the published schema, drops a webhook-id it has
already processed (as Standard Webhooks asks of receivers), and answers as each test scripts it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message as HeaderMessage
from typing import Any

import jsonschema
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from escalations.core import event_outbox, services
from escalations.legal import services as legal_services
from escalations.models import (
    AuditAction,
    AuditEvent,
    Event,
    EventDelivery,
    EventDeliveryAttempt,
    EventEndpoint,
    EventType,
)
from escalations.reminders import event_delivery, event_endpoints
from escalations.reminders import sweep as reminders
from tests.integrations.conftest import IntegrationCounter, local_receiver

pytestmark = pytest.mark.integrations

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLOCK_START = T0
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
ALL_TYPES = list(EventType.values)

# Text a person typed: none of it may leave in an event.
TYPED = {
    "platform_reference": "https://platform.example/content/TYPED-REFERENCE-77",
    "account_reference": "TYPED-ACCOUNT-88",
    "notes": "TYPED-NOTE: the moderator's context",
}


class Killed(BaseException):
    """A worker dying (SIGKILL): nothing after it in the sweep runs."""


@dataclass
class EventsReceiver:
    """A platform's receiver: verifies, checks the schema, processes each webhook-id once."""

    counter: IntegrationCounter
    secret: str = ""
    url: str = ""
    # Answers for the next valid requests (then 200): a receiver that is down, say.
    script: list[int] = field(default_factory=list)
    processed: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    refusals: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def answer(self, path: str, headers: HeaderMessage, body: bytes) -> tuple[int, bytes]:
        self.bodies.append(body)
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            payload = Webhook(self.secret).verify(body, lowered)
        except WebhookVerificationError as exc:
            return self._refuse(401, f"signature: {exc}")
        try:
            jsonschema.validate(payload, event_outbox.PAYLOAD_SCHEMA, format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as exc:
            return self._refuse(422, f"schema: {exc.message}")
        if self.script:
            status = self.script.pop(0)
            if status >= 300:
                return self._refuse(status, f"scripted {status}")
        message_id = lowered["webhook-id"]
        if message_id in self.ids:
            self.duplicates += 1  # already processed: acknowledged, not processed again
            return 200, b"{}"
        self.ids.append(message_id)
        self.processed.append(payload)
        self.counter.accepted("events")
        return 200, b"{}"

    def _refuse(self, status: int, why: str) -> tuple[int, bytes]:
        self.refusals.append(why)
        self.counter.refused("events")
        return status, json.dumps({"error": why}).encode()

    @property
    def types(self) -> list[str]:
        return [payload["type"] for payload in self.processed]


@pytest.fixture
def admin(make_user: Any) -> Any:
    user = make_user("runs-the-tracker")
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def events(integration_counter: IntegrationCounter) -> Any:
    receiver = EventsReceiver(counter=integration_counter)
    with local_receiver(receiver.answer) as server:
        receiver.url = server.url + "/tracker-events"
        yield receiver


def subscribe(admin: Any, receiver: EventsReceiver, types: list[str] = ALL_TYPES, name: str = "Warehouse") -> Any:
    endpoint, secret = event_endpoints.add_endpoint(actor=admin, name=name, url=receiver.url, event_types=types)
    receiver.secret = secret
    return endpoint


def sweep_at(clock: Any, moment: datetime) -> None:
    clock.move_to(moment)
    reminders.sweep(moment)


# --- what is sent ------------------------------------------------------------------------------------


def test_each_change_reaches_the_endpoint_signed_with_metadata_only(clock, admin, moderator, lead, events):
    subscribe(admin, events)
    esc = services.create_escalation(
        actor=moderator, data={"incident_type": "child_pornography", "knowledge_at": T0 - 2 * MINUTE, **TYPED}
    )
    esc = services.record_report(
        actor=moderator, escalation_id=esc.pk, version=esc.version, reported_at=T0 - MINUTE,
        cybertipline_report_id="4564654",
    )  # fmt: skip
    esc = services.confirm_preservation(
        actor=moderator, escalation_id=esc.pk, version=esc.version, preservation_location="vault://TYPED-LOCATION-99"
    )
    assert Event.objects.count() == 3  # written with the changes; nothing sent yet
    assert events.processed == []

    reminders.sweep(T0)

    assert events.types == ["escalation.created", "report.recorded", "preservation.confirmed"]
    created, reported, preserved = (p["data"]["escalation"] for p in events.processed)
    assert created["key"] == esc.key and created["status"] == "open" and created["version"] == 1
    assert reported["cybertipline_report_id"] == "4564654" and reported["reported_at"] == "2026-03-02T08:59:00Z"
    assert reported["status"] == "reported" and reported["reported_on_time"] is True
    assert preserved["preservation_confirmed_at"] == "2026-03-02T09:00:00Z"
    assert preserved["preserve_until"] == "2027-03-02T08:59:00Z"
    assert events.processed[0]["timestamp"] == "2026-03-02T09:00:00Z"
    for body in events.bodies:
        for typed in ("TYPED-", "vault://", "moderator's context"):
            assert typed.encode() not in body
    assert len(set(events.ids)) == 3 and all(i.startswith("evt_") for i in events.ids)
    assert EventDelivery.objects.filter(sent_at=T0, attempts=1, last_status=200).count() == 3


def test_closing_is_an_event(clock, admin, moderator, lead, events, make_escalation):
    subscribe(admin, events, types=["escalation.closed"])
    esc = make_escalation(actor=lead, knowledge_at=T0 - 2 * MINUTE, reported_at=T0 - MINUTE)
    clock.move_to(esc.preserve_until + MINUTE)
    services.close_escalation(
        actor=lead, escalation_id=esc.pk, version=esc.version, reason="Kept for the appeal", retained=True
    )
    reminders.sweep(esc.preserve_until + MINUTE)
    assert events.types == ["escalation.closed"]
    assert events.processed[0]["data"]["escalation"]["status"] == "closed"
    assert b"Kept for the appeal" not in events.bodies[0]


def test_a_passed_report_target_is_a_missed_deadline_once(clock, admin, moderator, events, make_escalation):
    subscribe(admin, events, types=["deadline.missed"])
    esc = make_escalation(knowledge_at=T0)
    target = esc.report_due_at
    sweep_at(clock, target - SECOND)
    assert events.processed == []

    sweep_at(clock, target)
    [missed] = events.processed
    assert missed["type"] == "deadline.missed"
    assert missed["data"]["deadline"] == {
        "name": "report",
        "due_at": "2026-03-03T09:00:00Z",
        "detected_at": "2026-03-03T09:00:00Z",
    }
    assert missed["timestamp"] == "2026-03-03T09:00:00Z"
    # Still overdue four hours later (a second overdue reminder), but the same deadline: no second event.
    sweep_at(clock, target + timedelta(hours=4))
    assert len(events.processed) == 1


def test_an_unconfirmed_preservation_is_a_missed_deadline(clock, admin, moderator, events, make_escalation):
    subscribe(admin, events, types=["deadline.missed"])
    esc = make_escalation(knowledge_at=T0 - 2 * MINUTE, reported_at=T0 - MINUTE)
    sweep_at(clock, esc.preservation_confirm_due_at)
    [missed] = events.processed
    assert missed["data"]["deadline"]["name"] == "preservation_confirmation"
    assert missed["data"]["deadline"]["due_at"] == "2026-03-03T08:59:00Z"


def test_a_legal_requests_passed_response_date_is_a_missed_deadline_once(
    clock, admin, moderator, lead, events, make_escalation
):
    subscribe(admin, events, types=["deadline.missed"])
    esc = make_escalation(knowledge_at=T0 - 2 * MINUTE, reported_at=T0 - MINUTE)
    due = T0 + timedelta(days=2)
    legal_services.create_legal_request(
        actor=lead,
        data={
            "kind": "subpoena",
            "agency": "FBI Field Office",
            "reference": "FBI-2026-77",
            "received_at": T0,
            "response_due_at": due,
            "escalations": [esc.pk],
        },
    )

    def legal() -> list[dict]:
        # (Its preservation confirmation passes too: a missed deadline of its own.)
        return [e for e in events.processed if e["data"]["deadline"]["name"] == "legal_response"]

    sweep_at(clock, due - SECOND)
    assert legal() == []

    sweep_at(clock, due + SECOND)
    [missed] = legal()
    assert missed["data"]["deadline"]["due_at"] == "2026-03-04T09:00:00Z"
    assert missed["data"]["escalation"]["key"] == esc.key
    # The overdue reminder repeats; the deadline it is about was missed once.
    sweep_at(clock, due + timedelta(days=2))
    assert len(legal()) == 1


def test_each_endpoint_gets_only_the_types_it_chose_and_an_inactive_one_nothing(
    clock, admin, moderator, events, integration_counter, make_escalation
):
    subscribe(admin, events, types=["report.recorded"])
    other = EventsReceiver(counter=integration_counter)
    with local_receiver(other.answer) as server:
        other.url = server.url + "/off"
        endpoint = subscribe(admin, other, name="Paused")
        event_endpoints.change_endpoint(
            actor=admin, endpoint_id=endpoint.pk, name="Paused", url=other.url, event_types=ALL_TYPES, active=False
        )
        make_escalation(knowledge_at=T0 - 2 * MINUTE, reported_at=T0 - MINUTE)
        reminders.sweep(T0)
    assert events.types == ["report.recorded"]
    assert other.processed == [] and other.bodies == []
    assert not EventDelivery.objects.filter(endpoint=endpoint).exists()


def test_without_endpoints_nothing_is_written(clock, moderator, make_escalation):
    make_escalation(knowledge_at=T0 - 2 * MINUTE, reported_at=T0 - MINUTE)
    assert not Event.objects.exists()


def test_a_change_that_fails_writes_no_event(clock, admin, moderator, events, make_escalation):
    subscribe(admin, events)
    esc = make_escalation(knowledge_at=T0 - 2 * MINUTE)
    with pytest.raises(ValidationError):
        services.record_report(
            actor=moderator, escalation_id=esc.pk, version=esc.version, reported_at=T0, cybertipline_report_id="12a"
        )
    assert list(Event.objects.values_list("type", flat=True)) == ["escalation.created"]


# --- delivery: retries, claims, the log --------------------------------------------------------------


def test_a_500_is_retried_with_backoff_under_the_same_id(clock, admin, moderator, events, make_escalation):
    subscribe(admin, events, types=["escalation.created"])
    events.script = [500]
    make_escalation(knowledge_at=T0 - MINUTE)
    reminders.sweep(T0)
    delivery = EventDelivery.objects.get()
    assert (delivery.sent_at, delivery.attempts, delivery.last_status) == (None, 1, 500)
    assert delivery.last_error == "endpoint answered HTTP 500"
    assert delivery.next_attempt_at == T0 + MINUTE

    sweep_at(clock, T0 + 59 * SECOND)  # not yet
    assert len(events.bodies) == 1
    sweep_at(clock, T0 + MINUTE)
    assert events.types == ["escalation.created"]
    [first, again] = [json.loads(b) for b in events.bodies]
    assert first == again
    log = list(EventDeliveryAttempt.objects.order_by("at").values_list("ok", "status_code", "error"))
    assert log == [(False, 500, "endpoint answered HTTP 500"), (True, 200, "")]
    assert EventDelivery.objects.get().sent_at == T0 + MINUTE


def test_a_worker_killed_after_the_receiver_accepted_sends_again_under_the_same_id(
    clock, admin, moderator, events, make_escalation, monkeypatch, settings
):
    settings.EVENT_CLAIM_LEASE_SECONDS = 120
    subscribe(admin, events, types=["escalation.created"])
    make_escalation(knowledge_at=T0 - MINUTE)

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(event_delivery, "record", die)
        with pytest.raises(Killed):
            event_delivery.deliver_due(T0)
    assert len(events.processed) == 1
    assert EventDelivery.objects.get().claimed_until == T0 + 120 * SECOND

    sweep_at(clock, T0 + 60 * SECOND)  # the dead worker's claim still holds: nobody sends it
    assert len(events.bodies) == 1
    sweep_at(clock, T0 + 121 * SECOND)
    assert len(events.bodies) == 2 and events.duplicates == 1
    assert len(events.processed) == 1  # processed once: the receiver dropped the copy by its id
    assert EventDelivery.objects.get().sent_at == T0 + 121 * SECOND
    sweep_at(clock, T0 + 10 * MINUTE)
    assert len(events.bodies) == 2


def test_a_worker_killed_before_sending_leaves_it_to_the_next_sweep_once(
    clock, admin, moderator, events, make_escalation, monkeypatch, settings
):
    settings.EVENT_CLAIM_LEASE_SECONDS = 120
    subscribe(admin, events, types=["escalation.created"])
    make_escalation(knowledge_at=T0 - MINUTE)

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(event_delivery, "post_one", die)
        with pytest.raises(Killed):
            event_delivery.deliver_due(T0)
    sweep_at(clock, T0 + 119 * SECOND)
    assert events.bodies == []
    sweep_at(clock, T0 + 120 * SECOND + SECOND)
    sweep_at(clock, T0 + 5 * MINUTE)
    assert len(events.bodies) == 1 and events.duplicates == 0


def test_a_sweep_whose_lease_ran_out_cannot_record_over_the_one_that_took_over(
    clock, admin, moderator, events, make_escalation, settings
):
    settings.EVENT_CLAIM_LEASE_SECONDS = 120
    subscribe(admin, events, types=["escalation.created"])
    make_escalation(knowledge_at=T0 - MINUTE)
    [stale] = event_delivery.claim(T0, set())
    later = T0 + 121 * SECOND
    [fresh] = event_delivery.claim(later, set())
    stats = event_delivery.EventStats()
    assert event_delivery.record(fresh, event_delivery.Outcome(fresh.pk, ok=True, status=200), later, stats)
    lost = event_delivery.Outcome(stale.pk, ok=False, status=500, error="late")
    assert not event_delivery.record(stale, lost, later + SECOND, stats)
    delivery = EventDelivery.objects.get()
    assert (delivery.sent_at, delivery.last_status, delivery.attempts) == (later, 200, 1)


def test_an_endpoint_that_is_down_costs_one_attempt_and_delays_no_other(
    clock, admin, moderator, events, integration_counter, make_escalation
):
    subscribe(admin, events, types=["escalation.created"])
    down = EventsReceiver(counter=integration_counter, script=[503] * 10)
    with local_receiver(down.answer) as server:
        down.url = server.url + "/down"
        subscribe(admin, down, types=["escalation.created"], name="Down")
        for _ in range(3):
            make_escalation(knowledge_at=T0 - MINUTE)
        reminders.sweep(T0)
        assert len(events.processed) == 3
        assert len(down.bodies) == 1  # the first failure stops that endpoint for this sweep
        waiting = EventDelivery.objects.filter(endpoint__name="Down").order_by("event_id")
        assert [d.attempts for d in waiting] == [1, 0, 0]
        assert {d.next_attempt_at for d in waiting} == {T0 + MINUTE}  # the queue waits with the first
        down.script = []
        sweep_at(clock, T0 + MINUTE)
        assert [p["data"]["escalation"]["id"] for p in down.processed] == sorted(
            p["data"]["escalation"]["id"] for p in down.processed
        )
        assert len(down.processed) == 3


def test_a_receiver_with_an_old_secret_refuses_until_it_has_the_new_one(
    clock, admin, moderator, events, make_escalation
):
    endpoint = subscribe(admin, events, types=["escalation.created"])
    old = events.secret
    new = event_endpoints.replace_secret(actor=admin, endpoint_id=endpoint.pk)
    assert new != old and new.startswith("whsec_")
    make_escalation(knowledge_at=T0 - MINUTE)
    reminders.sweep(T0)
    assert events.processed == [] and events.refusals[0].startswith("signature")
    assert EventDelivery.objects.get().last_status == 401
    events.secret = new
    sweep_at(clock, T0 + MINUTE)
    assert events.types == ["escalation.created"]


def test_a_delivery_that_keeps_failing_is_given_up_and_an_admin_can_send_it_again(
    clock, admin, moderator, events, make_escalation, settings
):
    settings.EVENT_DELIVERY_MAX_ATTEMPTS = 2
    subscribe(admin, events, types=["escalation.created"])
    events.script = [500, 500]
    make_escalation(knowledge_at=T0 - MINUTE)
    reminders.sweep(T0)
    sweep_at(clock, T0 + MINUTE)
    delivery = EventDelivery.objects.get()
    assert delivery.failed_at == T0 + MINUTE and delivery.attempts == 2
    sweep_at(clock, T0 + 2 * timedelta(hours=1))
    assert len(events.bodies) == 2

    assert event_endpoints.deliver_again(actor=admin, delivery_ids=[delivery.pk]) == 1
    reminders.sweep(T0 + 2 * timedelta(hours=1))
    assert events.types == ["escalation.created"]
    assert AuditEvent.objects.filter(action=AuditAction.EVENT_DELIVERY_RETRIED, actor=admin).count() == 1


# --- configuration: admins only, audited, the secret shown once --------------------------------------


def test_only_an_admin_configures_endpoints(lead, events):
    with pytest.raises(PermissionDenied):
        event_endpoints.add_endpoint(actor=lead, name="Mine", url=events.url, event_types=ALL_TYPES)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://warehouse.example/in", "Webhook URL"),
        ("http://warehouse.example/in", "Webhook URL"),
        ("https://10.0.0.7/in", "can't receive webhooks"),
        ("", "URL is required"),
    ],
)
def test_a_url_that_cannot_receive_events_is_refused_by_name(admin, url, message):
    with pytest.raises(ValidationError) as refused:
        event_endpoints.add_endpoint(actor=admin, name="Warehouse", url=url, event_types=ALL_TYPES)
    assert message in " ".join(refused.value.message_dict["url"])


def test_the_admin_adds_an_endpoint_sees_its_secret_once_and_the_change_is_audited(client_for, admin, lead, events):
    client = client_for(admin)
    answer = client.post(
        "/admin/escalations/eventendpoint/add/",
        {"name": "Warehouse", "url": events.url, "event_types": ["report.recorded", "deadline.missed"], "active": "on"},
        follow=True,
    )
    assert answer.status_code == 200
    endpoint = EventEndpoint.objects.get()
    assert endpoint.event_types == ["report.recorded", "deadline.missed"]
    assert endpoint.secret in answer.content.decode()  # shown once, in the notice
    page = client.get(f"/admin/escalations/eventendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in page and "whsec_" not in page
    [added] = AuditEvent.objects.filter(action=AuditAction.EVENT_ENDPOINT_ADDED)
    assert added.actor == admin and endpoint.secret not in json.dumps(added.changes)
    assert "/tracker-events" not in json.dumps(added.changes)  # the host, never the path
    assert client_for(lead).get("/admin/escalations/eventendpoint/").status_code == 403
    assert client_for(lead).get("/admin/escalations/eventdelivery/").status_code == 403

    bad = client.post(
        "/admin/escalations/eventendpoint/add/", {"name": "Bad", "url": "http://example.org/in", "event_types": []}
    )
    assert bad.status_code == 200 and EventEndpoint.objects.count() == 1
    assert "Webhook URL" in bad.content.decode() and "Event types" in bad.content.decode()


def test_the_delivery_log_shows_each_attempt_to_admins(clock, client_for, admin, moderator, events, make_escalation):
    subscribe(admin, events, types=["escalation.created"])
    events.script = [500]
    make_escalation(knowledge_at=T0 - MINUTE)
    reminders.sweep(T0)
    sweep_at(clock, T0 + MINUTE)
    client = client_for(admin)
    listing = client.get("/admin/escalations/eventdelivery/").content.decode()
    assert "escalation.created" in listing and "delivered" in listing
    delivery = EventDelivery.objects.get()
    page = client.get(f"/admin/escalations/eventdelivery/{delivery.pk}/change/").content.decode()
    assert "500" in page and "endpoint answered HTTP 500" in page and "200" in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_deliver_each_event_once(admin, moderator, events, make_escalation, settings):
    """Two workers sweeping at the same moment (PostgreSQL's row locks, skip_locked), claiming a few
    at a time: every event reaches the receiver, none twice."""
    import threading

    from django.db import connection

    settings.EVENT_DELIVERY_BATCH = 3
    subscribe(admin, events, types=["escalation.created"])
    for _ in range(12):
        make_escalation()
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def sweep() -> None:
        try:
            start.wait(timeout=10)
            event_delivery.deliver_due()
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=sweep) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert failures == []
    assert len(events.processed) == 12 and events.duplicates == 0 and len(events.bodies) == 12
    assert EventDelivery.objects.filter(sent_at__isnull=False, attempts=1).count() == 12


def test_metrics_show_each_endpoints_backlog_and_failures(clock, admin, moderator, events, make_escalation):
    from escalations.ops.metrics import EscalationsCollector

    endpoint = subscribe(admin, events, types=["escalation.created"])
    events.script = [500]
    make_escalation(knowledge_at=T0 - MINUTE)
    make_escalation(knowledge_at=T0 - MINUTE)
    reminders.sweep(T0)

    def gauge(name: str) -> float:
        family = next(f for f in EscalationsCollector(now=T0).collect() if f.name == name)
        return sum(s.value for s in family.samples if s.labels == {"endpoint": str(endpoint.pk)})

    assert gauge("escalations_event_deliveries_pending") == 2
    assert gauge("escalations_event_deliveries_failing") == 1
    sweep_at(clock, T0 + MINUTE)
    assert gauge("escalations_event_deliveries_pending") == 0
