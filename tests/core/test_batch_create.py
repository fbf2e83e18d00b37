"""Many escalations at once (batch_create, behind the bulk API and the import): each item is checked
as a single create checks it, and the good ones get the very rows a single create writes (the
escalation, its rule versions, one chained audit event, its outbound event), in a few queries per
batch whatever its size."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.core import batch_create, services
from escalations.core.write_frame import acting_via
from escalations.models import AuditEvent, Escalation, EscalationRule, Event, EventDelivery, EventEndpoint
from tests.conftest import escalation_data

CLOCK_START = datetime(2031, 5, 6, 9, 30, tzinfo=UTC)

# Escalation columns that differ between two escalations logged alike: their identity.
IDENTITY = {"id", "platform_reference"}


def row_of(esc: Escalation) -> dict[str, Any]:
    esc.refresh_from_db()
    return {f.attname: getattr(esc, f.attname) for f in Escalation._meta.concrete_fields if f.attname not in IDENTITY}


def trail_of(esc: Escalation) -> list[tuple[Any, ...]]:
    return [
        (
            e.action,
            e.actor_id,
            e.at,
            e.version,
            e.via,
            e.seq,
            {k: v for k, v in e.changes.items() if k != "platform_reference"},
        )
        for e in AuditEvent.objects.filter(escalation=esc).order_by("seq")
    ]


def rules_of(esc: Escalation) -> set[tuple[int, str]]:
    return set(EscalationRule.objects.filter(escalation=esc).values_list("rule_id", "deadline"))


def event_of(esc: Escalation) -> tuple[str, dict[str, Any], int]:
    event = Event.objects.get(escalation=esc)
    facts = {k: v for k, v in event.payload["data"]["escalation"].items() if k not in ("id", "key", "url")}
    return event.type, facts, EventDelivery.objects.filter(event=event).count()


def items(count: int, **overrides: Any) -> list[dict[str, Any]]:
    return [escalation_data(platform_reference=f"batch-{i}", **overrides) for i in range(count)]


@pytest.fixture
def endpoints(db: Any, lead: Any) -> None:
    for name in ("warehouse", "siem"):
        EventEndpoint.objects.create(
            name=name, url=f"https://{name}.example.org/hook", event_types=["escalation.created"], created_by=lead
        )


@pytest.mark.usefixtures("seeded_rules", "endpoints")
def test_a_batch_writes_what_single_creates_write(clock: Any, moderator: Any, lead: Any) -> None:
    variants = [
        {},
        {"priority": "urgent", "urgent_reason": "Live stream with a child."},
        {"assignee": lead, "is_test": True, "notes": "From the classifier.", "account_reference": "user-77"},
        {"knowledge_at": CLOCK_START - timedelta(days=400)},
    ]
    with acting_via("token:pipeline"):
        singles = [
            services.create_escalation(actor=moderator, data=escalation_data(platform_reference=f"one-{i}", **v))
            for i, v in enumerate(variants)
        ]
        result = batch_create.create_escalations(
            actor=moderator,
            items=[escalation_data(platform_reference=f"many-{i}", **v) for i, v in enumerate(variants)],
        )
    assert result.errors == {}
    batch = [result.created[i] for i in range(len(variants))]
    assert [b.platform_reference for b in batch] == [f"many-{i}" for i in range(len(variants))]
    assert [b.pk for b in batch] == sorted(b.pk for b in batch)  # in the order they were sent
    for single, many in zip(singles, batch, strict=True):
        assert row_of(many) == row_of(single)
        assert trail_of(many) == trail_of(single)
        assert trail_of(many)[0][0] == "created" and len(trail_of(many)) == 1
        assert rules_of(many) == rules_of(single) and rules_of(many)
        assert event_of(many) == event_of(single)
        assert event_of(many)[2] == 2


@pytest.mark.usefixtures("seeded_rules")
def test_a_bad_item_gets_the_single_creates_errors_and_the_good_ones_are_saved(clock: Any, moderator: Any) -> None:
    bad: list[dict[str, Any]] = [
        {"platform_reference": "data:image/png;base64,AAAA"},
        {"priority": "urgent", "urgent_reason": ""},
        {"knowledge_at": CLOCK_START + timedelta(days=2), "incident_type": "nonsense"},
    ]
    batch = items(5)
    for position, fault in zip((1, 2, 4), bad, strict=True):
        batch[position].update(fault)
    result = batch_create.create_escalations(actor=moderator, items=batch)
    assert set(result.errors) == {1, 2, 4}
    for position, fault in zip((1, 2, 4), bad, strict=True):
        with pytest.raises(ValidationError) as single:
            services.create_escalation(actor=moderator, data=escalation_data(**fault))
        assert result.errors[position].message_dict == single.value.message_dict
    assert "data: URI" in result.errors[1].message_dict["platform_reference"][0]
    assert "urgent_reason" in result.errors[2].message_dict
    assert {"knowledge_at", "incident_type"} <= set(result.errors[4].message_dict)
    assert sorted(result.created) == [0, 3]
    assert sorted(Escalation.objects.values_list("platform_reference", flat=True)) == ["batch-0", "batch-3"]
    assert AuditEvent.objects.filter(escalation__isnull=False).count() == 2


@pytest.mark.usefixtures("seeded_rules")
def test_all_or_nothing_and_refused_items_write_nothing_of_theirs(clock: Any, moderator: Any) -> None:
    batch = items(3)
    batch[1]["notes"] = "data:text/plain;base64,AAAA"
    result = batch_create.create_escalations(actor=moderator, items=batch, all_or_nothing=True)
    assert set(result.errors) == {1} and "notes" in result.errors[1].message_dict
    assert result.created == {} and not Escalation.objects.exists()

    result = batch_create.create_escalations(actor=moderator, items=items(3), refused={0, 2})
    assert result.errors == {} and sorted(result.created) == [1]
    assert list(Escalation.objects.values_list("platform_reference", flat=True)) == ["batch-1"]


@pytest.mark.usefixtures("seeded_rules")
def test_an_unassignable_person_is_refused_on_every_item_naming_the_field(
    clock: Any, moderator: Any, auditor: Any
) -> None:
    result = batch_create.create_escalations(actor=moderator, items=items(3, assignee=auditor))
    assert set(result.errors) == {0, 1, 2}
    assert all("not an active moderator or lead" in e.message_dict["assignee"][0] for e in result.errors.values())
    assert not Escalation.objects.exists()


def test_an_auditor_may_not_log_a_batch(clock: Any, auditor: Any) -> None:
    with pytest.raises(PermissionDenied):
        batch_create.create_escalations(actor=auditor, items=items(2))
    assert not Escalation.objects.exists()


@pytest.mark.usefixtures("seeded_rules", "endpoints")
def test_the_audit_chain_of_a_batch_verifies(clock: Any, moderator: Any) -> None:
    services.create_escalation(actor=moderator, data=escalation_data(platform_reference="before"))
    batch_create.create_escalations(actor=moderator, items=items(30))
    out = StringIO()
    call_command("verifyaudit", stdout=out)  # raises CommandError on a broken chain
    tally = re.search(r"audit chain: events=(\d+) verified=(\d+) broken=(\d+)", out.getvalue())
    assert tally is not None, out.getvalue()
    assert tally[1] == tally[2] and tally[3] == "0" and int(tally[1]) >= 31
    events = AuditEvent.objects.filter(escalation__isnull=False)
    assert events.count() == 31
    assert set(events.values_list("seq", flat=True)) == {1}  # each escalation's chain starts at its creation


@pytest.mark.usefixtures("seeded_rules", "endpoints")
@pytest.mark.parametrize("size", [10, 400])
def test_a_batch_costs_the_same_few_queries_whatever_its_size(size: int, clock: Any, moderator: Any, lead: Any) -> None:
    batch = items(size)
    for i, item in enumerate(batch):
        item["assignee"] = (lead, moderator)[i % 2]
    # An INSERT holds as many rows as the database takes parameters (all of them on PostgreSQL; on
    # SQLite, 999 parameters: a few dozen escalations).
    fields = Escalation._meta.concrete_fields
    per_insert = connection.ops.bulk_batch_size(fields, batch) or size
    inserts = 5 * math.ceil(size / per_insert)  # escalations, rule links, audit events, events, deliveries
    with CaptureQueriesContext(connection) as done:
        result = batch_create.create_escalations(actor=moderator, items=batch)
    assert len(result.created) == size
    statements = [q["sql"] for q in done.captured_queries]
    # Permission, rules, the two assignees, the endpoints, the savepoint and its release.
    assert len([sql for sql in statements if not sql.startswith("INSERT")]) <= 8, statements
    assert len([sql for sql in statements if sql.startswith("INSERT")]) <= inserts
    if connection.vendor == "postgresql":
        assert len(statements) <= 13
