"""After the report, through the services (escalations/legal_services.py, services.edit_escalation,
legal_selectors.after_report): 2703(f) holds and renewals, preserve_until as the latest of every rule,
release and closing, evidence items, destinations, retention conflicts, NCMEC's timer fields and
related escalations. The clock stands still (time_machine, tick=False) and is moved by hand, so each
boundary is checked one second either side.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from escalations import policy
from escalations.core import holds, selectors, services, write_frame
from escalations.legal import selectors as legal_selectors
from escalations.legal import services as legal_services
from escalations.models import (
    AuditAction,
    AuditEvent,
    Destination,
    DestinationReport,
    Escalation,
    EvidenceItem,
    LegalRequest,
    Priority,
    Status,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = T0
R = T0 - timedelta(hours=1)  # the CyberTipline report, one hour after knowledge
YEAR = datetime(2027, 1, 5, 8, 0, tzinfo=UTC)  # one calendar year after R
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
MD5 = "098f6bcd4621d373cade4e832627b4f6"


@pytest.fixture
def lead2(make_user: Any) -> Any:
    return make_user("leader2", "lead")


def reload(esc: Escalation) -> Escalation:
    return Escalation.objects.get(pk=esc.pk)


def reported(make_escalation: Any, **fields: Any) -> Escalation:
    fields.setdefault("knowledge_at", R - HOUR)
    return reload(make_escalation(reported_at=R, **fields))


def messages_of(excinfo: Any) -> str:
    return " ".join(excinfo.value.messages)


def field_errors(excinfo: Any, field: str) -> str:
    return " ".join(excinfo.value.message_dict.get(field, []))


def new_request(actor: Any, escalations: list[Escalation], **data: Any) -> LegalRequest:
    data.setdefault("kind", "2703f_preservation")
    data.setdefault("agency", "FBI Field Office")
    data.setdefault("reference", "FBI-2026-77")
    data.setdefault("received_at", timezone.now())
    data["escalations"] = [e.pk for e in escalations]
    return legal_services.create_legal_request(actor=actor, data=data)


def destination(code: str) -> Destination:
    return Destination.objects.get(code=code)


def report_to(actor: Any, esc: Escalation, code: str, reported_at: datetime | None, report_id: str = "REF-1") -> Any:
    return legal_services.report_to_destination(
        actor=actor,
        escalation_id=esc.pk,
        version=None,
        destination_id=destination(code).pk,
        reported_at=reported_at,
        report_id=report_id,
    )


def deciding(esc: Escalation, now: datetime) -> str:
    (rule,) = [r for r in legal_selectors.after_report(reload(esc), now).rules if r.deciding]
    return rule.label


class Unchanged:
    """On exit: the escalation row and the audit trail are as they were (a refusal wrote nothing)."""

    def __init__(self, esc: Escalation):
        self.esc = esc

    def _state(self) -> Any:
        row = dict(Escalation.objects.filter(pk=self.esc.pk).values().get())
        row.pop("updated_at")
        return row, list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))

    def __enter__(self) -> Unchanged:
        self.before = self._state()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._state() == self.before


# --- 2703(f): 90 days from receipt, renewal 90 more days from the end of the first ---------------------


def test_a_2703f_request_holds_90_days_from_receipt_and_release_waits_to_the_second(
    clock, make_escalation, lead, lead2
):
    esc = reported(make_escalation)
    received = R + 300 * DAY
    clock.move_to(received + HOUR)
    request = new_request(lead, [esc], received_at=received)
    assert request.hold_until == received + 90 * DAY
    esc = reload(esc)
    assert esc.preservation_hold_until == received + 90 * DAY
    assert esc.preserve_until == received + 90 * DAY  # later than the year (R + 365 days)
    assert "2703(f) preservation request LR-" in deciding(esc, received)
    event = esc.audit_events.order_by("pk").last()
    assert event is not None and event.action == AuditAction.LEGAL_REQUEST
    assert request.key in event.reason and "holds preservation until" in event.reason

    # Answered: the request no longer blocks release, but its hold still counts.
    legal_services.respond_legal_request(actor=lead, request_id=request.pk, version=None, responded_at=None)
    clock.move_to(received + 90 * DAY - SECOND)
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        legal_services.request_release(actor=lead, escalation_id=esc.pk, version=None, reason="Period over")
    assert "before preservation ends" in messages_of(excinfo)

    clock.move_to(received + 90 * DAY)
    esc = legal_services.request_release(actor=lead, escalation_id=esc.pk, version=None, reason="Period over")
    assert esc.release_requested_at == received + 90 * DAY


def test_a_renewal_extends_the_hold_by_90_days_from_the_end_of_the_first_period(clock, make_escalation, lead):
    esc = reported(make_escalation)
    received = R + 300 * DAY
    clock.move_to(received)
    first = new_request(lead, [esc], received_at=received)
    clock.move_to(received + 80 * DAY)
    renewal = new_request(lead, [esc], kind="2703f_renewal", renews=first.pk, received_at=received + 80 * DAY)
    assert renewal.hold_until == received + 180 * DAY
    assert reload(esc).preserve_until == received + 180 * DAY
    rules = legal_selectors.after_report(reload(esc), received + 80 * DAY).rules
    assert [(r.until, r.deciding) for r in rules][:2] == [(received + 180 * DAY, True), (received + 90 * DAY, False)]


def test_a_renewal_must_name_the_request_it_renews(clock, make_escalation, lead):
    esc = reported(make_escalation)
    with pytest.raises(ValidationError) as excinfo:
        new_request(lead, [esc], kind="2703f_renewal")
    assert "Renews" in field_errors(excinfo, "renews")


def test_preserve_until_is_the_latest_rule_each_winning_in_turn(clock, make_escalation, lead, moderator):
    esc = reported(make_escalation)
    assert esc.preserve_until == YEAR
    assert deciding(esc, T0).startswith("18 U.S.C. 2258A(h)")

    now = R + 355 * DAY
    clock.move_to(now)
    # Canada's police, notified now: 21 days from now is past the year.
    report_to(moderator, esc, "ca_police", now, "RCMP-2026-118")
    assert reload(esc).preserve_until == now + 21 * DAY
    assert deciding(esc, now) == "Police (Canada): 21 days after the report"

    # A 2703(f) request received now: 90 days.
    request = new_request(lead, [esc], received_at=now)
    assert reload(esc).preserve_until == now + 90 * DAY
    assert deciding(esc, now).startswith(f"2703(f) preservation request {request.key}")

    # Closed (withdrawn): its hold no longer counts, the police rule decides again.
    legal_services.close_legal_request(actor=lead, request_id=request.pk, version=None, reason="Withdrawn")
    assert reload(esc).preserve_until == now + 21 * DAY
    assert deciding(esc, now) == "Police (Canada): 21 days after the report"
    assert all(request.key not in r.label for r in legal_selectors.after_report(reload(esc), now).rules)

    # A lead's voluntary extension beyond every rule.
    legal_services.extend_preservation(
        actor=lead, escalation_id=esc.pk, version=None, until=now + 200 * DAY, reason="Counsel asked"
    )
    assert reload(esc).preserve_until == now + 200 * DAY
    assert deciding(esc, now) == "Voluntary extension by leader: Counsel asked"


def test_a_hold_ending_before_the_year_is_listed_but_does_not_decide(clock, make_escalation, lead):
    esc = reported(make_escalation)
    new_request(lead, [esc], received_at=T0)
    esc = reload(esc)
    assert esc.preservation_hold_until == T0 + 90 * DAY
    assert esc.preserve_until == YEAR
    rules = legal_selectors.after_report(esc, T0).rules
    assert [r.deciding for r in rules] == [True, False]


# --- release: after preserve_until, never while a request is open, two different leads ---------------


def test_release_is_refused_while_a_legal_request_is_open_and_the_refusal_names_it(clock, make_escalation, lead):
    esc = reported(make_escalation)
    subpoena = new_request(lead, [esc], kind="subpoena", agency="County Sheriff", reference="SUB-42", received_at=T0)
    clock.move_to(YEAR)
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        legal_services.request_release(actor=lead, escalation_id=esc.pk, version=None, reason="Period over")
    assert f"{subpoena.key} (Subpoena, County Sheriff, ref. SUB-42)" in messages_of(excinfo)
    assert "while a legal request is open" in messages_of(excinfo)
    # Closing is refused the same way.
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.close_escalation(actor=lead, escalation_id=esc.pk, version=None, reason="Done", retained=True)
    assert subpoena.key in messages_of(excinfo)

    legal_services.respond_legal_request(actor=lead, request_id=subpoena.pk, version=None, responded_at=None)
    esc = legal_services.request_release(actor=lead, escalation_id=esc.pk, version=None, reason="Period over")
    assert esc.release_requested_by == lead


def test_release_is_refused_one_second_before_the_year_ends(clock, make_escalation, lead):
    esc = reported(make_escalation)
    clock.move_to(YEAR - SECOND)
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        legal_services.request_release(actor=lead, escalation_id=esc.pk, version=None, reason="Period over")
    assert "before preservation ends" in messages_of(excinfo)
    clock.move_to(YEAR)
    legal_services.request_release(actor=lead, escalation_id=esc.pk, version=None, reason="Period over")


def test_the_lead_who_asked_cannot_approve_another_lead_can(clock, make_escalation, lead, lead2, moderator):
    esc = reported(make_escalation)
    clock.move_to(YEAR)
    with pytest.raises(ValidationError) as excinfo:
        legal_services.approve_release(actor=lead2, escalation_id=esc.pk, version=None)
    assert "Nobody has requested" in messages_of(excinfo)
    with pytest.raises(PermissionDenied):
        legal_services.request_release(actor=moderator, escalation_id=esc.pk, version=None, reason="Period over")
    legal_services.request_release(actor=lead, escalation_id=esc.pk, version=None, reason="Period over")

    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        legal_services.approve_release(actor=lead, escalation_id=esc.pk, version=None)
    assert "A different lead must approve" in messages_of(excinfo)

    esc = legal_services.approve_release(actor=lead2, escalation_id=esc.pk, version=None)
    assert (esc.released_at, esc.released_by) == (YEAR, lead2)
    actions = list(esc.audit_events.order_by("pk").values_list("action", "actor__username"))
    assert actions[-2:] == [(AuditAction.RELEASE_REQUESTED, "leader"), (AuditAction.RELEASED, "leader2")]
    assert esc.audit_events.get(action=AuditAction.RELEASE_REQUESTED).reason == "Period over"


def test_closing_needs_the_release_or_voluntary_retention_with_a_reason(clock, make_escalation, lead, lead2):
    kept = reported(make_escalation)
    released = reported(make_escalation)
    clock.move_to(YEAR)
    with Unchanged(kept), pytest.raises(ValidationError) as excinfo:
        services.close_escalation(actor=lead, escalation_id=kept.pk, version=None, reason="Period over")
    assert "has not been released" in messages_of(excinfo)
    with Unchanged(kept), pytest.raises(ValidationError) as excinfo:
        services.close_escalation(actor=lead, escalation_id=kept.pk, version=None, reason=" ", retained=True)
    assert "Reason is required" in field_errors(excinfo, "reason")
    kept = services.close_escalation(
        actor=lead, escalation_id=kept.pk, version=None, reason="Kept for the trial", retained=True
    )
    assert kept.status == Status.CLOSED

    legal_services.request_release(actor=lead, escalation_id=released.pk, version=None, reason="Period over")
    legal_services.approve_release(actor=lead2, escalation_id=released.pk, version=None)
    released = services.close_escalation(actor=lead, escalation_id=released.pk, version=None, reason="Released")
    assert released.status == Status.CLOSED


# --- voluntary extension -------------------------------------------------------------------------------


def test_an_extension_needs_a_reason_and_a_later_date(clock, make_escalation, lead, moderator):
    esc = reported(make_escalation)
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        legal_services.extend_preservation(actor=lead, escalation_id=esc.pk, version=None, until=YEAR + DAY, reason="")
    assert "Reason is required" in field_errors(excinfo, "reason")
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        legal_services.extend_preservation(actor=lead, escalation_id=esc.pk, version=None, until=YEAR, reason="Why")
    assert "must be after the current end of preservation" in field_errors(excinfo, "until")
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        legal_services.extend_preservation(actor=lead, escalation_id=esc.pk, version=None, until=None, reason="Why")
    assert "Keep until is required" in field_errors(excinfo, "until")
    with Unchanged(esc), pytest.raises(PermissionDenied):
        legal_services.extend_preservation(
            actor=moderator, escalation_id=esc.pk, version=None, until=YEAR + DAY, reason="Why"
        )

    esc = legal_services.extend_preservation(
        actor=lead, escalation_id=esc.pk, version=None, until=YEAR + SECOND, reason="Counsel asked"
    )
    assert esc.preserve_until == YEAR + SECOND
    event = esc.audit_events.order_by("pk").last()
    assert event is not None and event.action == AuditAction.PRESERVATION_EXTENDED
    assert "Counsel asked" in event.reason
    assert event.changes["preserve_until"][1] == (YEAR + SECOND).isoformat()


# --- destinations ----------------------------------------------------------------------------------------


def test_a_destination_report_is_one_row_corrected_by_a_second_call_and_audited(clock, make_escalation, moderator):
    esc = reported(make_escalation)
    first = report_to(moderator, esc, "ca_police", T0 - 30 * 60 * SECOND, "RCMP-1")
    again = report_to(moderator, esc, "ca_police", T0 - 10 * 60 * SECOND, "RCMP-2")
    assert first.pk == again.pk
    assert DestinationReport.objects.filter(escalation=esc).count() == 1
    again.refresh_from_db()
    assert (again.reported_at, again.report_id) == (T0 - 10 * 60 * SECOND, "RCMP-2")
    events = list(esc.audit_events.filter(action=AuditAction.DESTINATION_REPORTED).order_by("pk"))
    assert len(events) == 2
    assert "Reported to Police (Canada)" in events[0].reason and "RCMP-1" in events[0].reason
    assert events[1].reason.startswith("Corrected:") and "RCMP-1" in events[1].reason and "RCMP-2" in events[1].reason
    assert reload(esc).preservation_hold_until == T0 - 10 * 60 * SECOND + 21 * DAY


def test_canada_police_hold_is_21_days_after_notifying_them(clock, make_escalation, moderator):
    esc = reload(make_escalation(knowledge_at=T0 - 2 * HOUR))  # not yet reported to NCMEC
    notified = T0 - HOUR
    report_to(moderator, esc, "ca_police", notified, "RCMP-7")
    esc = reload(esc)
    assert esc.preservation_hold_until == notified + 21 * DAY
    # Labelled with the rule in force when police were notified (S.C. 2011, c. 4, s.4); the
    # destination's own setting gives the same date, so it is not listed twice.
    assert holds.holds_for(esc) == [
        (
            "Police (Canada): S.C. 2011, c. 4, s.4: preserve 21 days after notifying police "
            "(Mandatory Reporting Act, S.C. 2011, c. 4, s.4)",
            notified + 21 * DAY,
        )
    ]


def test_a_destination_not_yet_reported_to_holds_nothing_and_sets_its_target(clock, make_escalation, moderator):
    Destination.objects.filter(code="nca").update(report_target_hours=6)
    esc = reload(make_escalation(knowledge_at=T0 - HOUR))
    row = report_to(moderator, esc, "nca", None, "")
    assert (row.reported_at, row.report_id) == (None, "")
    esc = reload(esc)
    assert esc.preservation_hold_until is None
    assert esc.destination_target_hours == 6
    assert esc.report_due_at == T0 - HOUR + 6 * HOUR
    # A report ID needs the time it was sent; a recorded report can be corrected, not unrecorded.
    with pytest.raises(ValidationError) as excinfo:
        report_to(moderator, esc, "nca", None, "NCA-1")
    assert "Reported at is required" in field_errors(excinfo, "reported_at")
    report_to(moderator, esc, "nca", T0, "NCA-1")
    with pytest.raises(ValidationError) as excinfo:
        report_to(moderator, esc, "nca", None, "")
    assert "a correction gives the corrected time" in field_errors(excinfo, "reported_at")


def test_the_report_target_is_the_strictest_of_the_destinations(clock, make_escalation, moderator):
    Destination.objects.filter(code="nca").update(report_target_hours=6, urgent_report_target_hours=0.5)
    Destination.objects.filter(code="afp").update(report_target_hours=3)
    esc = reload(make_escalation(knowledge_at=T0 - HOUR))
    assert (esc.destination_target_hours, esc.report_due_at) == (None, T0 - HOUR + 24 * HOUR)
    report_to(moderator, esc, "c3p", T0, "C3P-1")  # no target of its own
    assert reload(esc).destination_target_hours is None
    report_to(moderator, esc, "nca", T0, "NCA-1")
    assert reload(esc).report_due_at == T0 - HOUR + 6 * HOUR
    report_to(moderator, esc, "afp", T0, "AFP-1")
    esc = reload(esc)
    assert (esc.destination_target_hours, esc.destination_urgent_target_hours) == (3, 0.5)
    assert esc.report_due_at == T0 - HOUR + 3 * HOUR

    urgent = services.edit_escalation(
        actor=moderator,
        escalation_id=esc.pk,
        version=None,
        data={"priority": Priority.URGENT, "urgent_reason": "Live stream"},
    )
    assert urgent.report_due_at == T0 - HOUR + 30 * 60 * SECOND


@pytest.mark.parametrize(
    ("code", "report_id", "fragment"),
    [
        ("ca_police", "", "Report ID is required: the police file number."),
        ("ca_police", "x" * 101, "at most 100 characters"),
        ("ca_police", "RCMP\n2026", "control or invisible characters"),
    ],
)
def test_destination_report_id_is_checked(clock, make_escalation, moderator, code, report_id, fragment):
    esc = reported(make_escalation)
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        report_to(moderator, esc, code, T0, report_id)
    assert fragment in field_errors(excinfo, "report_id")


def test_destination_report_id_must_match_the_destinations_pattern_the_message_gives_the_hint(
    clock, make_escalation, moderator
):
    Destination.objects.filter(code="nca").update(report_id_pattern=r"NCA-\d{6}", report_id_hint="NCA- and 6 digits")
    esc = reported(make_escalation)
    for bad in ("NCA-12345", "NCA-1234567", "nca-123456", "XNCA-123456"):
        with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
            report_to(moderator, esc, "nca", T0, bad)
        assert field_errors(excinfo, "report_id") == (
            "Report ID doesn't match National Crime Agency (United Kingdom)'s format: NCA- and 6 digits."
        )
    assert report_to(moderator, esc, "nca", T0, " NCA-123456 ").report_id == "NCA-123456"


def test_a_broken_destination_pattern_is_named_not_a_crash(clock, make_escalation, moderator):
    Destination.objects.filter(code="afp").update(report_id_pattern="[unclosed")
    esc = reported(make_escalation)
    with pytest.raises(ValidationError) as excinfo:
        report_to(moderator, esc, "afp", T0, "AFP-1")
    assert "Ask an admin to correct the destination" in field_errors(excinfo, "report_id")


def test_ncmec_is_reported_with_record_report_not_as_a_destination(clock, make_escalation, moderator):
    esc = reported(make_escalation)
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        report_to(moderator, esc, "ncmec", T0, "12ab")
    assert "Record report" in field_errors(excinfo, "destination")
    # Every field's errors at once: the report ID is checked against NCMEC's format too.
    assert "digits only" in field_errors(excinfo, "report_id")


def test_destination_reported_at_is_not_in_the_future_nor_before_knowledge(clock, make_escalation, moderator):
    esc = reported(make_escalation)
    skew = policy.PolicyConfig.from_settings().clock_skew
    with pytest.raises(ValidationError) as excinfo:
        report_to(moderator, esc, "ca_police", T0 + skew + SECOND, "RCMP-1")
    assert "can't be in the future" in field_errors(excinfo, "reported_at")
    report_to(moderator, esc, "ca_police", T0 + skew, "RCMP-1")
    with pytest.raises(ValidationError) as excinfo:
        report_to(moderator, esc, "ca_police", esc.knowledge_at - SECOND, "RCMP-1")
    assert "before knowledge was obtained" in field_errors(excinfo, "reported_at")
    report_to(moderator, esc, "ca_police", esc.knowledge_at, "RCMP-1")


def test_destination_reports_need_a_role_an_active_escalation_and_a_destination(
    clock, make_escalation, moderator, auditor, lead
):
    esc = reported(make_escalation)
    with Unchanged(esc), pytest.raises(PermissionDenied):
        report_to(auditor, esc, "ca_police", T0, "RCMP-1")
    with pytest.raises(ValidationError) as excinfo:
        legal_services.report_to_destination(
            actor=moderator, escalation_id=esc.pk, version=None, destination_id=999_999, reported_at=T0, report_id="1"
        )
    assert "Destination: choose" in field_errors(excinfo, "destination")
    with pytest.raises(write_frame.StaleVersionError):
        legal_services.report_to_destination(
            actor=moderator,
            escalation_id=esc.pk,
            version=esc.version - 1,
            destination_id=destination("ca_police").pk,
            reported_at=T0,
            report_id="1",
        )
    dismissed = reload(make_escalation())
    services.dismiss_escalation(actor=lead, escalation_id=dismissed.pk, version=None, reason="Not reportable")
    with pytest.raises(ValidationError) as excinfo:
        report_to(moderator, dismissed, "ca_police", T0, "RCMP-1")
    assert "reopen it" in messages_of(excinfo)


# --- retention caps: conflicts shown with both dates ----------------------------------------------------


def test_the_eu_cap_before_the_us_year_is_a_conflict_with_both_dates(clock, make_escalation, moderator):
    knowledge = R - 2 * DAY
    esc = reported(make_escalation, knowledge_at=knowledge)
    report_to(moderator, esc, "eu", T0, "EU-1")
    after = legal_selectors.after_report(reload(esc), T0)
    cap = datetime(2027, 1, 3, 8, 0, tzinfo=UTC)  # 12 months from detection
    assert after.caps == [("EU authority (retention capped): at most 12 months from detection", cap)]
    assert after.conflicts == [
        (
            "EU authority (retention capped): at most 12 months from detection",
            cap,
            "18 U.S.C. 2258A(h): one calendar year after the report",
            YEAR,
        )
    ]
    # The tracker does not shorten preservation to the cap: counsel decides.
    assert reload(esc).preserve_until == YEAR


def test_no_conflict_when_the_cap_ends_with_or_after_the_minimum(clock, make_escalation, moderator):
    # Reported the moment knowledge was obtained: 12 months from detection is exactly the US year.
    esc = reported(make_escalation, knowledge_at=R)
    report_to(moderator, esc, "eu", T0, "EU-1")
    assert legal_selectors.after_report(reload(esc), T0).conflicts == []
    # One second later a report would end the US year after the cap.
    later = reported(make_escalation, knowledge_at=R - SECOND)
    report_to(moderator, later, "eu", T0, "EU-2")
    assert len(legal_selectors.after_report(reload(later), T0).conflicts) == 1
    # A longer cap (an admin's edit): no conflict at all.
    Destination.objects.filter(code="eu").update(retention_cap_months=13)
    assert legal_selectors.after_report(reload(later), T0).conflicts == []


def test_a_cap_also_conflicts_with_a_longer_hold(clock, make_escalation, moderator, lead):
    esc = reported(make_escalation, knowledge_at=R)
    report_to(moderator, esc, "eu", T0, "EU-1")
    clock.move_to(R + 300 * DAY)
    request = new_request(lead, [esc], received_at=R + 300 * DAY)
    (conflict,) = legal_selectors.after_report(reload(esc), R + 300 * DAY).conflicts
    assert conflict.minimum_label.startswith(f"2703(f) preservation request {request.key}")
    assert conflict.minimum_until == R + 390 * DAY


# --- evidence items ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [("sha256", SHA256), ("sha1", SHA1), ("md5", MD5), ("sha256", SHA256.upper()), ("SHA1", f"  {SHA1.upper()} ")],
)
def test_evidence_digests_of_the_right_length_are_stored_lower_case(
    clock, make_escalation, moderator, algorithm, digest
):
    esc = reported(make_escalation)
    item = legal_services.add_evidence_item(
        actor=moderator,
        escalation_id=esc.pk,
        version=esc.version,
        reference="evidence-store://case/81/item/3",
        hash_algorithm=algorithm,
        digest=digest,
        size_bytes=1024,
    )
    assert isinstance(item, EvidenceItem)
    assert item.digest == digest.strip().lower()
    assert item.hash_algorithm == algorithm.lower()
    assert (item.preserved_by, item.preserved_at, item.is_context) == (moderator, T0, False)
    event = reload(esc).audit_events.order_by("pk").last()
    assert event is not None and event.action == AuditAction.EVIDENCE_ADDED
    assert f"#{item.pk}" in event.reason and item.digest in event.reason and "1024 bytes" in event.reason
    assert reload(esc).version == esc.version + 1


@pytest.mark.parametrize(
    ("algorithm", "digest", "field", "fragment"),
    [
        ("sha256", SHA256[:-1], "digest", "SHA-256 digests are 64 hexadecimal characters; this one has 63"),
        ("sha256", SHA256 + "0", "digest", "this one has 65"),
        ("sha256", SHA1, "digest", "this one has 40"),
        ("sha1", SHA1[:-1], "digest", "SHA-1 digests are 40 hexadecimal characters; this one has 39"),
        ("sha1", SHA1 + "a", "digest", "this one has 41"),
        ("md5", MD5[:-1], "digest", "MD5 digests are 32 hexadecimal characters; this one has 31"),
        ("md5", MD5 + "f", "digest", "this one has 33"),
        ("md5", MD5[:-1] + "g", "digest", "must be hexadecimal"),
        ("sha256", SHA256[:-2] + " 8", "digest", "must be hexadecimal"),
        ("sha256", "", "digest", "Digest is required"),
        ("sha512", SHA256, "hash_algorithm", "choose SHA-256, SHA-1 or MD5"),
        ("", SHA256, "hash_algorithm", "choose SHA-256, SHA-1 or MD5"),
    ],
)
def test_evidence_digest_format_is_checked_per_algorithm(
    clock, make_escalation, moderator, algorithm, digest, field, fragment
):
    esc = reported(make_escalation)
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        legal_services.add_evidence_item(
            actor=moderator,
            escalation_id=esc.pk,
            version=None,
            reference="evidence-store://case/81/item/3",
            hash_algorithm=algorithm,
            digest=digest,
            size_bytes=10,
        )
    assert fragment in field_errors(excinfo, field)
    assert not EvidenceItem.objects.exists()


@pytest.mark.parametrize(
    ("size", "ok"),
    [(0, True), ("0", True), (" 2048 ", True), (2**63 - 1, True), (-1, False), ("-1", False), ("1.5", False),
     (1.5, False), (True, False), (None, False), ("", False), (2**63, False)],
)  # fmt: skip
def test_evidence_size_is_a_whole_number_of_bytes_zero_or_more(clock, make_escalation, moderator, size, ok):
    esc = reported(make_escalation)

    def add() -> EvidenceItem:
        return legal_services.add_evidence_item(
            actor=moderator,
            escalation_id=esc.pk,
            version=None,
            reference="store/1",
            hash_algorithm="md5",
            digest=MD5,
            size_bytes=size,
        )

    if ok:
        assert add().size_bytes == int(str(size).strip())
    else:
        with pytest.raises(ValidationError) as excinfo:
            add()
        assert "Size in bytes" in field_errors(excinfo, "size_bytes")


def test_evidence_reference_is_a_reference_never_content(clock, make_escalation, moderator, auditor):
    esc = reported(make_escalation)

    def add(actor: Any, reference: str, **extra: Any) -> EvidenceItem:
        return legal_services.add_evidence_item(
            actor=actor,
            escalation_id=esc.pk,
            version=None,
            reference=reference,
            hash_algorithm="sha256",
            digest=SHA256,
            size_bytes=1,
            **extra,
        )

    with pytest.raises(ValidationError) as excinfo:
        add(moderator, "data:image/png;base64,iVBORw0KGgo=")
    assert "data: URI" in field_errors(excinfo, "reference")
    with pytest.raises(ValidationError) as excinfo:
        add(moderator, "  ")
    assert "Evidence reference is required" in field_errors(excinfo, "reference")
    with pytest.raises(PermissionDenied):
        add(auditor, "store/1")
    context = add(moderator, "store/ctx/2", is_context=True)
    assert context.is_context
    event = reload(esc).audit_events.order_by("pk").last()
    assert event is not None and event.reason.startswith("Related context item (2258A(h)(2))")


def test_every_evidence_error_is_reported_at_once(clock, make_escalation, moderator):
    esc = reported(make_escalation)
    with pytest.raises(ValidationError) as excinfo:
        legal_services.add_evidence_item(
            actor=moderator,
            escalation_id=esc.pk,
            version=None,
            reference="",
            hash_algorithm="md5",
            digest="xyz",
            size_bytes=-5,
        )
    assert set(excinfo.value.message_dict) == {"reference", "digest", "size_bytes"}


# --- NCMEC's timer fields and the account reference, through edit_escalation ---------------------------


def test_ncmec_times_and_account_reference_are_editable_and_audited(clock, make_escalation, moderator):
    esc = reload(make_escalation(knowledge_at=T0 - 3 * HOUR))
    opened = T0 - 2 * HOUR
    esc = services.edit_escalation(
        actor=moderator,
        escalation_id=esc.pk,
        version=esc.version,
        data={"ncmec_opened_at": opened, "ncmec_last_change_at": T0 - HOUR, "account_reference": "  user:8812 "},
    )
    assert (esc.ncmec_opened_at, esc.ncmec_last_change_at, esc.account_reference) == (opened, T0 - HOUR, "user:8812")
    event = esc.audit_events.order_by("pk").last()
    assert event is not None and set(event.changes) >= {"ncmec_opened_at", "ncmec_last_change_at", "account_reference"}
    after = legal_selectors.after_report(esc, T0)
    assert after.ncmec_deletion_at == opened + 24 * HOUR
    assert after.ncmec_state == policy.DeadlineState.ON_TRACK
    # The sweep looks again at the earlier of the report reminder and the NCMEC one.
    assert esc.next_reminder_at == min(esc.report_due_at - 4 * HOUR, opened + 22 * HOUR)


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"ncmec_opened_at": T0 + 6 * 60 * SECOND}, "ncmec_opened_at", "can't be in the future"),
        (
            {"ncmec_opened_at": T0 - HOUR, "ncmec_last_change_at": T0 + 6 * 60 * SECOND},
            "ncmec_last_change_at",
            "can't be in the future",
        ),
        (
            {"ncmec_opened_at": T0 - HOUR, "ncmec_last_change_at": T0 - HOUR - SECOND},
            "ncmec_last_change_at",
            "can't be before the report was opened",
        ),
        ({"ncmec_last_change_at": T0 - HOUR}, "ncmec_last_change_at", "needs Opened at NCMEC"),
        ({"ncmec_opened_at": datetime(1999, 12, 31, tzinfo=UTC)}, "ncmec_opened_at", "before the year 2000"),
        ({"account_reference": "user\u200b8812"}, "account_reference", "control or invisible characters"),
        ({"account_reference": "x" * 2049}, "account_reference", "too long"),
    ],
)
def test_ncmec_times_and_account_reference_are_validated(clock, make_escalation, moderator, data, field, fragment):
    esc = reload(make_escalation(knowledge_at=T0 - 3 * HOUR))
    with Unchanged(esc), pytest.raises(ValidationError) as excinfo:
        services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=None, data=data)
    assert fragment in field_errors(excinfo, field)


def test_ncmec_times_at_the_boundaries_are_accepted(clock, make_escalation, moderator):
    esc = reload(make_escalation(knowledge_at=T0 - 30 * HOUR))
    skew = policy.PolicyConfig.from_settings().clock_skew
    esc = services.edit_escalation(
        actor=moderator,
        escalation_id=esc.pk,
        version=None,
        data={"ncmec_opened_at": T0 - 23 * HOUR, "ncmec_last_change_at": T0 - 23 * HOUR, "account_reference": ""},
    )
    assert legal_selectors.after_report(esc, T0).ncmec_deletion_at == T0 + HOUR
    esc = services.edit_escalation(
        actor=moderator, escalation_id=esc.pk, version=None, data={"ncmec_last_change_at": T0 + skew}
    )
    assert esc.ncmec_last_change_at == T0 + skew
    assert legal_selectors.after_report(esc, T0).ncmec_deletion_at == T0 + skew + HOUR


def test_ncmec_state_is_met_once_the_report_is_recorded(clock, make_escalation, moderator):
    esc = reload(make_escalation(knowledge_at=T0 - 3 * HOUR, ncmec_opened_at=T0 - 2 * HOUR))
    assert legal_selectors.after_report(esc, T0).ncmec_state == policy.DeadlineState.ON_TRACK
    esc = services.record_report(
        actor=moderator, escalation_id=esc.pk, version=None, reported_at=T0, cybertipline_report_id="4564654"
    )
    assert legal_selectors.after_report(esc, T0).ncmec_state == policy.DeadlineState.MET


# --- related escalations -----------------------------------------------------------------------------------


def test_related_escalations_share_the_platform_reference_or_the_reported_account(clock, make_escalation):
    esc = reload(make_escalation(platform_reference="post-1", account_reference="user:1"))
    same_post = make_escalation(platform_reference="post-1")
    same_account = make_escalation(platform_reference="post-2", account_reference="user:1")
    make_escalation(platform_reference="post-3", account_reference="user:2")
    no_account = make_escalation(platform_reference="post-4")
    related = legal_selectors.after_report(esc, T0).related
    assert {e.pk for e in related} == {same_post.pk, same_account.pk}
    # An empty account reference links nothing: escalations without one are not "the same account".
    assert [e.pk for e in legal_selectors.after_report(reload(no_account), T0).related] == []
    # While logging (no escalation yet): the same lookup by values.
    assert {e.pk for e in selectors.related_escalations("post-9", "user:1")} == {esc.pk, same_account.pk}
    assert len(selectors.related_escalations("post-1", "user:1", limit=1)) == 1


def test_the_after_report_block_costs_five_queries_however_much_it_shows(
    clock, make_escalation, moderator, lead, django_assert_num_queries
):
    esc = reported(make_escalation, account_reference="user:5")
    for i in range(3):
        make_escalation(account_reference="user:5", platform_reference=f"other-{i}")
        new_request(lead, [esc], reference=f"REF-{i}", received_at=T0 - i * HOUR)
        legal_services.add_evidence_item(
            actor=moderator,
            escalation_id=esc.pk,
            version=None,
            reference=f"store/{i}",
            hash_algorithm="md5",
            digest=MD5,
            size_bytes=i,
        )
    for code in ("ca_police", "eu", "nca"):
        report_to(moderator, esc, code, T0, "REF-1")
    legal_services.extend_preservation(
        actor=lead, escalation_id=esc.pk, version=None, until=YEAR + DAY, reason="Counsel asked"
    )
    esc = reload(esc)
    with django_assert_num_queries(5):
        after = legal_selectors.after_report(esc, T0)
        assert len(after.legal_requests) == len(after.open_requests) == 3
        assert len(after.evidence_items) == 3 and len(after.destination_reports) == 3
        assert [e.created_by.get_username() for e in after.extensions] == ["leader"]
        assert [i.preserved_by.get_username() for i in after.evidence_items] == ["mod"] * 3
        assert {r.destination.code for r in after.destination_reports} == {"ca_police", "eu", "nca"}
        assert len(after.related) == 3
        assert len(after.rules) == 1 + 3 + 1 + 2  # year, three 2703(f), extension, police and NCA
        assert len(after.conflicts) >= 1
    assert after.rules[0].label == "Voluntary extension by leader: Counsel asked"


def test_legal_requests_are_lead_only(clock, make_escalation, moderator):
    esc = reported(make_escalation)
    with pytest.raises(PermissionDenied):
        new_request(moderator, [esc])
    assert not LegalRequest.objects.exists()
