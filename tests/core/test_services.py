"""escalations.core.services: every change writes the record, bumps the version, and leaves exactly one
audit event naming what changed; refused changes write nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from escalations.core import services, write_frame
from escalations.models import AuditEvent, Escalation, IncidentType, Priority, Status
from tests.conftest import escalation_data

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = NOW


@pytest.fixture
def other_moderator(make_user: Any) -> Any:
    return make_user("mod2", "moderator")


@pytest.fixture
def other_lead(make_user: Any) -> Any:
    return make_user("leader2", "lead")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def reload(esc: Escalation) -> Escalation:
    return Escalation.objects.get(pk=esc.pk)


def events(esc: Escalation) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(escalation_id=esc.pk).order_by("pk"))


def last_event(esc: Escalation) -> AuditEvent:
    return events(esc)[-1]


def snapshot(esc: Escalation) -> dict[str, Any]:
    """Every stored column of the escalation, to show that a refused change wrote nothing."""
    row = dict(Escalation.objects.filter(pk=esc.pk).values().get())
    row.pop("updated_at")
    return row


class Unchanged:
    """Asserts, on exit, that the escalation row and the whole audit trail are as they were."""

    def __init__(self, esc: Escalation | None = None):
        self.esc = esc

    def __enter__(self) -> Unchanged:
        self.row = snapshot(self.esc) if self.esc else None
        self.escalations = Escalation.objects.count()
        self.audit = list(AuditEvent.objects.order_by("pk").values())
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None and not issubclass(exc[0], Exception):
            return
        assert Escalation.objects.count() == self.escalations
        assert list(AuditEvent.objects.order_by("pk").values()) == self.audit
        if self.esc is not None:
            assert snapshot(self.esc) == self.row


def field_errors(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    error = excinfo.value
    return error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}


# --- create_escalation -------------------------------------------------------------------------


def test_create_stores_record_deadlines_and_one_created_event(clock, moderator):
    knowledge = NOW - timedelta(hours=2)
    esc = services.create_escalation(
        actor=moderator,
        data=escalation_data(platform_reference="ticket-42", knowledge_at=knowledge, notes="seen in review queue"),
    )

    esc = reload(esc)
    assert esc.key == f"ESC-{esc.pk:06d}"
    assert esc.status == Status.OPEN
    assert esc.version == 1
    assert esc.created_by == moderator
    assert esc.assignee == moderator
    assert esc.knowledge_at == knowledge
    assert esc.report_due_at == knowledge + timedelta(hours=24)
    assert esc.next_deadline_at == esc.report_due_at
    assert esc.preserve_until is None
    assert esc.preservation_confirm_due_at is None

    [event] = events(esc)
    assert event.action == "created"
    assert event.actor == moderator
    assert event.at == NOW
    assert event.version == 1
    changes = event.changes
    assert changes["platform_reference"] == [None, "ticket-42"]
    assert changes["incident_type"] == [None, IncidentType.CHILD_PORNOGRAPHY.value]
    assert changes["priority"] == [None, "standard"]
    assert changes["knowledge_at"] == [None, iso(knowledge)]
    assert changes["notes"] == [None, "seen in review queue"]
    assert changes["status"] == [None, "open"]
    assert changes["assignee"] == [None, "mod"]
    assert changes["report_due_at"] == [None, iso(knowledge + timedelta(hours=24))]
    # What was not set is not claimed as a change.
    for untouched in ("reported_at", "cybertipline_report_id", "preserve_until", "preservation_confirmed_at"):
        assert untouched not in changes
    assert all(before != after for before, after in changes.values())


def test_create_urgent_gets_a_one_hour_report_target(clock, moderator):
    knowledge = NOW - timedelta(minutes=10)
    esc = services.create_escalation(
        actor=moderator,
        data=escalation_data(
            priority=Priority.URGENT, urgent_reason="live stream, child at risk", knowledge_at=knowledge
        ),
    )

    esc = reload(esc)
    assert esc.priority == Priority.URGENT
    assert esc.urgent_reason == "live stream, child at risk"
    assert esc.report_due_at == knowledge + timedelta(hours=1)
    assert esc.next_deadline_at == knowledge + timedelta(hours=1)
    changes = last_event(esc).changes
    assert changes["urgent_reason"] == [None, "live stream, child at risk"]
    assert changes["report_due_at"] == [None, iso(knowledge + timedelta(hours=1))]


def test_create_urgent_without_reason_is_refused_and_writes_nothing(clock, moderator):
    with Unchanged(), pytest.raises(ValidationError) as excinfo:
        services.create_escalation(actor=moderator, data=escalation_data(priority=Priority.URGENT, urgent_reason="  "))
    assert "urgent_reason" in field_errors(excinfo)
    assert Escalation.objects.count() == 0


def test_create_standard_clears_an_urgent_reason(clock, moderator):
    esc = services.create_escalation(
        actor=moderator, data=escalation_data(priority=Priority.STANDARD, urgent_reason="left over from a draft")
    )
    assert reload(esc).urgent_reason == ""
    assert last_event(esc).changes.get("urgent_reason", [None, ""])[1] == ""


def test_create_with_knowledge_in_the_future_is_refused(clock, moderator):
    with Unchanged(), pytest.raises(ValidationError) as excinfo:
        services.create_escalation(actor=moderator, data=escalation_data(knowledge_at=NOW + timedelta(hours=1)))
    assert "knowledge_at" in field_errors(excinfo)
    assert "future" in " ".join(field_errors(excinfo)["knowledge_at"])


# --- edit_escalation ---------------------------------------------------------------------------


def test_edit_records_only_the_changed_field(clock, make_escalation, moderator):
    esc = make_escalation()
    clock.shift(timedelta(minutes=5))

    services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=1, data={"notes": "account also on forum"})

    after = reload(esc)
    assert after.notes == "account also on forum"
    assert after.version == 2
    assert len(events(esc)) == 2
    event = last_event(esc)
    assert event.action == "edited"
    assert event.actor == moderator
    assert event.at == NOW + timedelta(minutes=5)
    assert event.version == 2
    assert event.changes == {"notes": ["", "account also on forum"]}


def test_edit_knowledge_at_moves_the_report_deadline_and_audits_both(clock, make_escalation, moderator):
    old = NOW - timedelta(hours=1)
    new = NOW - timedelta(hours=5)
    esc = make_escalation(knowledge_at=old)

    services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=1, data={"knowledge_at": new})

    after = reload(esc)
    assert after.knowledge_at == new
    assert after.report_due_at == new + timedelta(hours=24)
    assert after.next_deadline_at == new + timedelta(hours=24)
    assert after.version == 2
    assert last_event(esc).changes == {
        "knowledge_at": [iso(old), iso(new)],
        "report_due_at": [iso(old + timedelta(hours=24)), iso(new + timedelta(hours=24))],
    }


def test_edit_to_urgent_and_back_to_standard(clock, make_escalation, moderator):
    knowledge = NOW - timedelta(minutes=30)
    esc = make_escalation(knowledge_at=knowledge)

    services.edit_escalation(
        actor=moderator,
        escalation_id=esc.pk,
        version=1,
        data={"priority": Priority.URGENT, "urgent_reason": "threat to meet the child tonight"},
    )
    urgent = reload(esc)
    assert urgent.report_due_at == knowledge + timedelta(hours=1)
    assert last_event(esc).changes == {
        "priority": ["standard", "urgent"],
        "urgent_reason": ["", "threat to meet the child tonight"],
        "report_due_at": [iso(knowledge + timedelta(hours=24)), iso(knowledge + timedelta(hours=1))],
    }

    services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=2, data={"priority": Priority.STANDARD})
    standard = reload(esc)
    assert standard.version == 3
    assert standard.urgent_reason == ""
    assert standard.report_due_at == knowledge + timedelta(hours=24)
    assert last_event(esc).changes == {
        "priority": ["urgent", "standard"],
        "urgent_reason": ["threat to meet the child tonight", ""],
        "report_due_at": [iso(knowledge + timedelta(hours=1)), iso(knowledge + timedelta(hours=24))],
    }


def test_edit_to_urgent_without_reason_is_refused(clock, make_escalation, moderator):
    esc = make_escalation()
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=1, data={"priority": Priority.URGENT})
    assert "urgent_reason" in field_errors(excinfo)


def test_edit_knowledge_at_into_the_future_is_refused(clock, make_escalation, moderator):
    esc = make_escalation()
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.edit_escalation(
            actor=moderator, escalation_id=esc.pk, version=1, data={"knowledge_at": NOW + timedelta(hours=2)}
        )
    assert "knowledge_at" in field_errors(excinfo)


def test_edit_knowledge_at_to_after_the_report_is_refused(clock, make_escalation, lead):
    esc = make_escalation(knowledge_at=NOW - timedelta(hours=3), reported_at=NOW - timedelta(hours=2))
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.edit_escalation(
            actor=lead, escalation_id=esc.pk, version=esc.version, data={"knowledge_at": NOW - timedelta(hours=1)}
        )
    assert "knowledge_at" in field_errors(excinfo)


def test_moderator_cannot_edit_a_reported_escalation_but_a_lead_can(clock, make_escalation, moderator, lead):
    esc = make_escalation(reported_at=NOW - timedelta(minutes=30))
    assert esc.version == 2

    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=2, data={"notes": "typo fixed"})
    assert "only a lead" in " ".join(excinfo.value.messages)

    services.edit_escalation(actor=lead, escalation_id=esc.pk, version=2, data={"notes": "typo fixed"})
    after = reload(esc)
    assert after.notes == "typo fixed"
    assert after.version == 3
    assert last_event(esc).actor == lead
    assert last_event(esc).changes == {"notes": ["", "typo fixed"]}


def test_a_dismissed_escalation_cannot_be_edited(clock, make_escalation, lead):
    esc = make_escalation()
    services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=1, reason="duplicate of another report")
    with Unchanged(esc), pytest.raises(ValidationError):
        services.edit_escalation(actor=lead, escalation_id=esc.pk, version=2, data={"notes": "late note"})


# --- assign_escalation -------------------------------------------------------------------------


def test_lead_assigns_and_unassigns(clock, make_escalation, lead, other_moderator):
    esc = make_escalation()

    services.assign_escalation(actor=lead, escalation_id=esc.pk, version=1, assignee=other_moderator)
    after = reload(esc)
    assert after.assignee == other_moderator
    assert after.version == 2
    event = last_event(esc)
    assert (event.action, event.actor, event.version) == ("assigned", lead, 2)
    assert event.changes == {"assignee": ["mod", "mod2"]}

    services.assign_escalation(actor=lead, escalation_id=esc.pk, version=2, assignee=None)
    assert reload(esc).assignee is None
    assert last_event(esc).changes == {"assignee": ["mod2", None]}
    assert len(events(esc)) == 3


def test_assigning_to_someone_without_a_working_role_is_refused(clock, make_escalation, lead, auditor):
    esc = make_escalation()
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.assign_escalation(actor=lead, escalation_id=esc.pk, version=1, assignee=auditor)
    assert "assignee" in field_errors(excinfo)


# --- record_report -----------------------------------------------------------------------------


def test_record_report_marks_reported_and_derives_preservation(clock, make_escalation, moderator):
    knowledge = NOW - timedelta(hours=3)
    reported = NOW - timedelta(minutes=30)
    esc = make_escalation(knowledge_at=knowledge)

    services.record_report(
        actor=moderator, escalation_id=esc.pk, version=1, reported_at=reported, cybertipline_report_id="4564654"
    )

    after = reload(esc)
    assert after.status == Status.REPORTED
    assert after.reported_at == reported
    assert after.cybertipline_report_id == "4564654"
    assert after.version == 2
    # One calendar year after the report; the next thing to do is confirm preservation.
    assert after.preserve_until == datetime(2026, 3, 10, 11, 30, tzinfo=UTC)
    assert after.preservation_confirm_due_at == reported + timedelta(hours=24)
    assert after.next_deadline_at == reported + timedelta(hours=24)
    event = last_event(esc)
    assert (event.action, event.actor, event.version) == ("report_recorded", moderator, 2)
    assert event.changes == {
        "reported_at": [None, iso(reported)],
        "cybertipline_report_id": [None, "4564654"],
        "status": ["open", "reported"],
        "preservation_confirm_due_at": [None, iso(reported + timedelta(hours=24))],
        "preserve_until": [None, "2026-03-10T11:30:00+00:00"],
        # A recorded report was finished at NCMEC.
        "ncmec_submission_state": ["", "finished"],
    }


def test_preservation_runs_one_calendar_year_from_a_leap_day(make_escalation, moderator):
    reported = datetime(2024, 2, 29, 10, 0, tzinfo=UTC)
    with time_machine.travel(reported + timedelta(hours=1), tick=False):
        esc = make_escalation(knowledge_at=reported - timedelta(hours=2), reported_at=reported)
    # Not 365 days (28 February): the period is never shorter than a calendar year.
    assert reload(esc).preserve_until == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def test_record_report_without_reported_at_is_refused(clock, make_escalation, moderator):
    esc = make_escalation()
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.record_report(
            actor=moderator, escalation_id=esc.pk, version=1, reported_at=None, cybertipline_report_id="4564654"
        )
    assert "reported_at" in field_errors(excinfo)


@pytest.mark.parametrize("report_id", ["", "45646a4", "4564 654", "-4564654", "4564654.0", "\uff14\uff15\uff16"])
def test_report_id_must_be_digits_only(clock, make_escalation, moderator, report_id):
    esc = make_escalation()
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.record_report(
            actor=moderator,
            escalation_id=esc.pk,
            version=1,
            reported_at=NOW - timedelta(minutes=5),
            cybertipline_report_id=report_id,
        )
    assert "cybertipline_report_id" in field_errors(excinfo)


@pytest.mark.parametrize("duplicate", ["4564654", "0004564654"])
def test_duplicate_report_id_names_the_escalation_holding_it(clock, make_escalation, moderator, duplicate):
    holder = make_escalation(reported_at=NOW - timedelta(minutes=20), report_id="4564654")
    esc = make_escalation()

    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.record_report(
            actor=moderator,
            escalation_id=esc.pk,
            version=1,
            reported_at=NOW - timedelta(minutes=5),
            cybertipline_report_id=duplicate,
        )
    messages = field_errors(excinfo)["cybertipline_report_id"]
    assert any(holder.key in message for message in messages)
    assert reload(esc).status == Status.OPEN


# --- confirm_preservation ----------------------------------------------------------------------


def test_confirm_preservation_records_who_when_and_where(clock, make_escalation, moderator):
    esc = make_escalation(reported_at=NOW - timedelta(hours=1))
    clock.shift(timedelta(hours=2))
    confirmed_at = NOW + timedelta(hours=2)

    services.confirm_preservation(
        actor=moderator, escalation_id=esc.pk, version=2, preservation_location="evidence-store://case/77"
    )

    after = reload(esc)
    assert after.preservation_location == "evidence-store://case/77"
    assert after.preservation_confirmed_at == confirmed_at
    assert after.preservation_confirmed_by == moderator
    assert after.version == 3
    # Confirmation met; what is left is the end of the preservation period.
    assert after.next_deadline_at == after.preserve_until
    event = last_event(esc)
    assert (event.action, event.actor, event.version) == ("preservation_confirmed", moderator, 3)
    assert event.changes == {
        "preservation_location": ["", "evidence-store://case/77"],
        "preservation_confirmed_at": [None, iso(confirmed_at)],
        "preservation_confirmed_by": [None, "mod"],
    }


@pytest.mark.parametrize("location", ["", "data:image/png;base64,iVBORw0KGgo="])
def test_confirm_preservation_needs_a_text_location(clock, make_escalation, moderator, location):
    esc = make_escalation(reported_at=NOW - timedelta(hours=1))
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.confirm_preservation(actor=moderator, escalation_id=esc.pk, version=2, preservation_location=location)
    assert "preservation_location" in field_errors(excinfo)


# --- dismiss_escalation ------------------------------------------------------------------------


def test_lead_dismisses_an_open_escalation_with_a_reason(clock, make_escalation, lead):
    esc = make_escalation()

    services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=1, reason="adult content, not CSAM")

    after = reload(esc)
    assert after.status == Status.DISMISSED
    assert after.status_reason == "adult content, not CSAM"
    assert after.version == 2
    assert after.next_deadline_at is None
    event = last_event(esc)
    assert (event.action, event.actor, event.version) == ("dismissed", lead, 2)
    assert event.reason == "adult content, not CSAM"
    assert event.changes == {"status": ["open", "dismissed"], "status_reason": ["", "adult content, not CSAM"]}


def test_dismiss_needs_a_reason(clock, make_escalation, lead):
    esc = make_escalation()
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=1, reason="   ")
    assert "reason" in field_errors(excinfo)


def test_moderator_cannot_dismiss(clock, make_escalation, moderator):
    esc = make_escalation()
    with Unchanged(esc), pytest.raises(PermissionDenied):
        services.dismiss_escalation(actor=moderator, escalation_id=esc.pk, version=1, reason="not reportable")


def test_only_open_escalations_can_be_dismissed(clock, make_escalation, lead):
    esc = make_escalation(reported_at=NOW - timedelta(minutes=10))
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=2, reason="changed my mind")
    assert "Only open escalations" in " ".join(excinfo.value.messages)


# --- close_escalation --------------------------------------------------------------------------


def test_close_is_refused_until_the_preservation_period_ends(clock, make_escalation, lead):
    esc = make_escalation(reported_at=NOW - timedelta(hours=1))
    preserve_until = reload(esc).preserve_until
    assert preserve_until == datetime(2026, 3, 10, 11, 0, tzinfo=UTC)

    clock.move_to(preserve_until - timedelta(seconds=1))
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.close_escalation(actor=lead, escalation_id=esc.pk, version=2, reason="period over", retained=True)
    assert "preservation period" in " ".join(excinfo.value.messages)

    clock.move_to(preserve_until)
    services.close_escalation(actor=lead, escalation_id=esc.pk, version=2, reason="period over", retained=True)
    after = reload(esc)
    assert after.status == Status.CLOSED
    assert after.status_reason == "period over"
    assert after.version == 3
    assert after.next_deadline_at is None
    event = last_event(esc)
    assert (event.action, event.actor, event.at, event.reason) == ("closed", lead, preserve_until, "period over")
    assert event.changes == {"status": ["reported", "closed"], "status_reason": ["", "period over"]}


def test_an_open_escalation_cannot_be_closed(clock, make_escalation, lead):
    esc = make_escalation()
    clock.shift(timedelta(days=800))
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.close_escalation(actor=lead, escalation_id=esc.pk, version=1, reason="old", retained=True)
    assert "Only reported escalations" in " ".join(excinfo.value.messages)


# --- reopen_escalation -------------------------------------------------------------------------


def test_reopen_a_closed_escalation_returns_it_to_reported(clock, make_escalation, lead):
    esc = make_escalation(reported_at=NOW - timedelta(hours=1))
    clock.shift(timedelta(days=366))
    services.close_escalation(actor=lead, escalation_id=esc.pk, version=2, reason="period over", retained=True)

    services.reopen_escalation(actor=lead, escalation_id=esc.pk, version=3, reason="law enforcement asked again")

    after = reload(esc)
    assert after.status == Status.REPORTED
    assert after.status_reason == "law enforcement asked again"
    assert after.version == 4
    assert after.next_deadline_at is not None
    event = last_event(esc)
    assert (event.action, event.actor, event.version) == ("reopened", lead, 4)
    assert event.changes == {
        "status": ["closed", "reported"],
        "status_reason": ["period over", "law enforcement asked again"],
    }


def test_reopen_a_dismissed_escalation_returns_it_to_open_with_its_report_deadline(clock, make_escalation, lead):
    esc = make_escalation()
    services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=1, reason="looked like a duplicate")

    services.reopen_escalation(actor=lead, escalation_id=esc.pk, version=2, reason="not a duplicate after all")

    after = reload(esc)
    assert after.status == Status.OPEN
    assert after.version == 3
    assert after.next_deadline_at == after.report_due_at
    assert last_event(esc).changes == {
        "status": ["dismissed", "open"],
        "status_reason": ["looked like a duplicate", "not a duplicate after all"],
    }


def test_an_active_escalation_cannot_be_reopened(clock, make_escalation, lead):
    esc = make_escalation()
    with Unchanged(esc), pytest.raises(ValidationError):
        services.reopen_escalation(actor=lead, escalation_id=esc.pk, version=1, reason="why not")


# --- roles -------------------------------------------------------------------------------------

# Each write, set up so that a lead's call succeeds: a refusal below is the role's doing alone.
WRITES = [
    "create",
    "edit",
    "assign",
    "record_report",
    "confirm_preservation",
    "dismiss",
    "close",
    "reopen",
]


@pytest.fixture
def ready(clock, make_escalation, lead) -> Callable[[str], tuple[Escalation | None, Callable[..., Any]]]:
    """ready(write) -> (escalation or None, call(actor, version=...)) with the escalation in a state
    where the write is allowed."""

    def make(write: str) -> tuple[Escalation | None, Callable[..., Any]]:
        if write == "create":
            return None, lambda actor, version=None: services.create_escalation(
                actor=actor, data=escalation_data(platform_reference="ticket-new")
            )
        if write == "close":
            esc = make_escalation(reported_at=NOW - timedelta(hours=1))
            clock.shift(timedelta(days=400))
        elif write == "reopen":
            esc = make_escalation()
            esc = services.dismiss_escalation(actor=lead, escalation_id=esc.pk, version=1, reason="dup")
        else:
            esc = make_escalation()
        kwargs: dict[str, Any] = {
            "edit": {"data": {"notes": "more context"}},
            "assign": {"assignee": lead},
            "record_report": {"reported_at": NOW - timedelta(minutes=1), "cybertipline_report_id": "777"},
            "confirm_preservation": {"preservation_location": "evidence-store://77"},
            "dismiss": {"reason": "not reportable"},
            "close": {"reason": "period over", "retained": True},
            "reopen": {"reason": "new information"},
        }[write]
        service = getattr(
            services,
            {
                "edit": "edit_escalation",
                "assign": "assign_escalation",
                "record_report": "record_report",
                "confirm_preservation": "confirm_preservation",
                "dismiss": "dismiss_escalation",
                "close": "close_escalation",
                "reopen": "reopen_escalation",
            }[write],
        )
        current = reload(esc)

        def call(actor: Any, version: int | None = current.version) -> Any:
            return service(actor=actor, escalation_id=current.pk, version=version, **kwargs)

        return current, call

    return make


@pytest.mark.parametrize("write", WRITES)
def test_a_lead_may_make_every_write(ready, lead, write):
    esc, call = ready(write)
    before = AuditEvent.objects.count()
    result = call(lead)
    assert AuditEvent.objects.count() == before + 1
    assert reload(result).version == (esc.version + 1 if esc else 1)


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("role", ["auditor", "nobody"])
def test_auditor_and_users_without_a_role_can_write_nothing(request, ready, role, write):
    user = request.getfixturevalue(role)
    esc, call = ready(write)
    with Unchanged(esc), pytest.raises(PermissionDenied):
        call(user)


@pytest.mark.parametrize("write", ["assign", "dismiss", "close", "reopen"])
def test_moderator_cannot_make_lead_only_writes(ready, moderator, write):
    esc, call = ready(write)
    with Unchanged(esc), pytest.raises(PermissionDenied) as excinfo:
        call(moderator)
    assert "Only a lead" in str(excinfo.value)


# --- optimistic locking ------------------------------------------------------------------------


@pytest.mark.parametrize("write", [w for w in WRITES if w != "create"])
def test_a_stale_version_is_refused_and_writes_nothing(ready, lead, other_lead, write):
    esc, call = ready(write)
    assert esc is not None
    seen = esc.version
    # Someone else saves first.
    if esc.is_active:
        services.assign_escalation(actor=other_lead, escalation_id=esc.pk, version=seen, assignee=other_lead)
    else:
        services.reopen_escalation(actor=other_lead, escalation_id=esc.pk, version=seen, reason="checking")
        services.dismiss_escalation(actor=other_lead, escalation_id=esc.pk, version=seen + 1, reason="still a dup")

    with Unchanged(esc), pytest.raises(write_frame.StaleVersionError) as excinfo:
        call(lead, version=seen)
    assert "leader2" in excinfo.value.message
    assert "nothing was saved" in excinfo.value.message
    assert excinfo.value.escalation.version > seen


# --- atomicity ---------------------------------------------------------------------------------


class AuditWriteFailed(Exception):
    pass


@pytest.fixture
def audit_write_fails(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AuditWriteFailed("audit storage unavailable")

    monkeypatch.setattr(AuditEvent.objects, "create", refuse)


def test_no_escalation_is_created_without_its_audit_event(clock, moderator, audit_write_fails):
    with Unchanged(), pytest.raises(AuditWriteFailed):
        services.create_escalation(actor=moderator, data=escalation_data())
    assert Escalation.objects.count() == 0


@pytest.mark.parametrize("write", [w for w in WRITES if w != "create"])
def test_a_change_is_rolled_back_when_its_audit_event_cannot_be_written(ready, lead, monkeypatch, write):
    esc, call = ready(write)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AuditWriteFailed("audit storage unavailable")

    monkeypatch.setattr(AuditEvent.objects, "create", refuse)
    with Unchanged(esc), pytest.raises(AuditWriteFailed):
        call(lead)
    monkeypatch.undo()

    # The failed attempt left nothing behind that blocks a retry (the report ID stays free, say).
    call(lead)
    assert reload(esc).version == esc.version + 1
