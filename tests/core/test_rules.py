"""Rules as data in the database: the seeded rows (each cited, dated and marked as DOMAIN.md marks it,
and the same numbers as the settings and timers the tracker used before), the rule versions each
escalation is judged by, a new version (admins, audited) and a lead's re-evaluation (audited, with
a reason)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from escalations import policy
from escalations.core import rule_selectors, rule_services, rulebook
from escalations.legal import services as legal_services
from escalations.models import AuditAction, AuditEvent, Destination, EscalationRule, Rule

CLOCK_START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("clock", "seeded_rules")

SEEDED_CODES = {
    "us-2258a-report": ("US", "in_force", "confirmed"),
    "us-stop-csam-60-days": ("US", "pending", "pending"),
    "us-2258a-h-preserve": ("US", "lapsed", "confirmed"),
    "us-2258a-h-preserve-1-year": ("US", "in_force", "confirmed"),
    "us-2258a-h-voluntary": ("US", "in_force", "confirmed"),
    "us-2703f-preserve": ("US", "in_force", "confirmed"),
    "us-2703f-renewal": ("US", "in_force", "confirmed"),
    "ncmec-unfinished-report-deletion": ("NCMEC", "in_force", "confirmed"),
    "uk-osa-s66-report": ("UK", "in_force", "confirmed"),
    "uk-nca-out-of-hours-phone": ("UK", "in_force", "secondary"),
    "uk-si-2026-268-reference": ("UK", "in_force", "secondary"),
    "uk-si-2026-268-content": ("UK", "in_force", "secondary"),
    "ca-mra-s2-report": ("CA", "in_force", "confirmed"),
    "ca-mra-s3-notify": ("CA", "in_force", "confirmed"),
    "ca-mra-s4-preserve": ("CA", "in_force", "confirmed"),
    "ca-c16-preserve-1-year": ("CA", "pending", "pending"),
    "au-474-25-refer": ("AU", "in_force", "confirmed"),
    "eu-2021-1232-retention-cap": ("EU", "lapsed", "confirmed"),
    "eu-interim-recreated-cap": ("EU", "pending", "pending"),
}


@pytest.fixture
def admin(make_user: Any) -> Any:
    user = make_user("admin", "lead")
    user.is_staff = True
    user.save()
    return user


def rule(code: str) -> Rule:
    return Rule.objects.filter(code=code).order_by("-version").first()  # type: ignore[return-value]


# --- the seed -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_rule_of_domain_md_is_seeded_with_its_citation_source_dates_and_certainty() -> None:
    rows = {r.code: r for r in Rule.objects.all()}
    assert set(rows) == set(SEEDED_CODES)
    for code, (regime, status, certainty) in SEEDED_CODES.items():
        row = rows[code]
        assert (row.regime, row.status, row.certainty, row.version) == (regime, status, certainty, 1), code
        assert row.citation and row.link_text and row.source.startswith("DOMAIN.md"), code
        assert row.authority, code
    assert rows["uk-osa-s66-report"].effective_from == datetime(2026, 4, 6, 23, 0, tzinfo=UTC)
    assert rows["eu-2021-1232-retention-cap"].effective_to == datetime(2026, 4, 2, 22, 0, tzinfo=UTC)
    assert rows["us-2258a-h-preserve-1-year"].effective_from == datetime(2024, 5, 7, 4, 0, tzinfo=UTC)
    assert rows["us-2258a-h-preserve"].effective_to == rows["us-2258a-h-preserve-1-year"].effective_from
    phone = rows["uk-nca-out-of-hours-phone"]
    assert (f"{phone.window_start:%H:%M}", f"{phone.window_end:%H:%M}", phone.time_zone, phone.applies_to) == (
        "07:00",
        "17:00",
        "Europe/London",
        "P1, P2",
    )
    assert (rows["uk-si-2026-268-reference"].amount, rows["uk-si-2026-268-content"].amount) == (5, 1)
    assert rows["us-stop-csam-60-days"].amount == 60 and rows["us-stop-csam-60-days"].unit == "days"


@pytest.mark.django_db
def test_the_seeded_numbers_are_the_ones_the_tracker_used_before_rules_were_data() -> None:
    rows = {r.code: r for r in Rule.objects.all()}
    assert rows["us-2258a-h-preserve-1-year"].amount == settings.PRESERVATION_YEARS == 1
    deletion = rows["ncmec-unfinished-report-deletion"]
    assert timedelta(hours=deletion.amount) == policy.NCMEC_UNFINISHED_LIFETIME  # type: ignore[arg-type]
    assert timedelta(hours=deletion.second_amount) == policy.NCMEC_AFTER_LAST_CHANGE  # type: ignore[arg-type]
    assert timedelta(days=rows["us-2703f-preserve"].amount) == policy.HOLD_2703F  # type: ignore[arg-type]
    assert timedelta(days=rows["us-2703f-renewal"].amount) == policy.HOLD_2703F  # type: ignore[arg-type]
    police = Destination.objects.get(code="ca_police")
    assert rows["ca-mra-s4-preserve"].amount == police.preservation_amount == 21
    assert rows["eu-2021-1232-retention-cap"].amount == Destination.objects.get(code="eu").retention_cap_months
    # The report target is the platform's: no hours in the rule, the settings decide.
    assert rows["us-2258a-report"].amount is None and rows["us-2258a-report"].limit == "target"


# --- judged by ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_escalation_is_judged_by_the_rule_versions_in_force_when_each_clock_starts(make_escalation: Any) -> None:
    esc = make_escalation(reported_at=timezone.now() - timedelta(minutes=5))
    judged = {
        link.rule.code: link.deadline for link in EscalationRule.objects.filter(escalation=esc).select_related("rule")
    }
    assert judged == {"us-2258a-report": "report", "us-2258a-h-preserve-1-year": "preservation_end"}
    # The deadlines are the ones the settings always gave.
    assert esc.report_due_at == esc.knowledge_at + timedelta(hours=24)
    assert esc.preserve_until == policy.add_calendar_years(esc.reported_at, 1)


@pytest.mark.django_db
def test_a_destination_hold_names_the_rule_in_force_on_the_day_it_was_reported_to(
    make_escalation: Any, moderator: Any
) -> None:
    esc = make_escalation(reported_at=timezone.now() - timedelta(minutes=5))
    notified = timezone.now() - timedelta(minutes=1)
    legal_services.report_to_destination(
        actor=moderator,
        escalation_id=esc.pk,
        version=None,
        destination_id=Destination.objects.get(code="ca_police").pk,
        reported_at=notified,
        report_id="TPS-1",
    )
    from escalations.core import holds

    labels = dict(holds.holds_for(esc))
    label = (
        "Police (Canada): S.C. 2011, c. 4, s.4: preserve 21 days after notifying police "
        "(Mandatory Reporting Act, S.C. 2011, c. 4, s.4)"
    )
    assert labels[label] == notified + timedelta(days=21)
    # The destination's own setting gives the same date, so it is not listed twice.
    assert len(labels) == 1


# --- a new version ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_an_admin_changes_a_rule(lead: Any) -> None:
    with pytest.raises(PermissionDenied):
        rule_services.rule_new_version(actor=lead, code="us-2258a-h-preserve-1-year", data={"amount": 2}, reason="x")
    assert Rule.objects.filter(code="us-2258a-h-preserve-1-year").count() == 1


@pytest.mark.django_db
def test_a_change_is_a_new_version_audited_with_its_reason_and_the_old_one_stays(admin: Any) -> None:
    old = rule("us-2258a-h-preserve-1-year")
    new = rule_services.rule_new_version(
        actor=admin, code=old.code, data={"amount": 2}, reason="Counsel reads the amendment as two years"
    )
    assert (new.version, new.amount, new.created_by, new.citation) == (2, 2, admin, old.citation)
    old.refresh_from_db()
    assert (old.version, old.amount) == (1, 1)
    event = AuditEvent.objects.get(action=AuditAction.RULE_CHANGED)
    assert event.escalation is None and event.actor == admin
    assert event.reason == "Counsel reads the amendment as two years"
    assert event.changes == {
        "rule": ["us-2258a-h-preserve-1-year v1", "us-2258a-h-preserve-1-year v2"],
        "amount": [1, 2],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "reason", "field", "words"),
    [
        ({"amount": 2}, "", "reason", "Reason"),
        ({"regime": "UK"}, "r", "regime", "identity"),
        ({"status": "maybe"}, "r", "status", "Status must be one of"),
        ({"effective_to": datetime(2020, 1, 1, tzinfo=UTC)}, "r", "effective_to", "after effective from"),
        ({}, "r", "__all__", "Nothing changed"),
        ({"time_zone": "Mars/Olympus_Mons"}, "r", "time_zone", "not one we know"),
        ({"amount": None}, "r", "amount", "Amount is needed"),
    ],
)
def test_a_bad_change_names_the_field_and_writes_nothing(
    admin: Any, data: dict[str, Any], reason: str, field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        rule_services.rule_new_version(actor=admin, code="us-2258a-h-preserve-1-year", data=data, reason=reason)
    assert words in " ".join(caught.value.message_dict[field])
    assert Rule.objects.filter(code="us-2258a-h-preserve-1-year").count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.RULE_CHANGED).exists()


# --- old versions and re-evaluation -------------------------------------------------------------------


@pytest.mark.django_db
def test_an_escalation_keeps_its_version_until_a_lead_re_evaluates_it_with_a_reason(
    make_escalation: Any, admin: Any, lead: Any, moderator: Any
) -> None:
    esc = make_escalation(reported_at=timezone.now() - timedelta(minutes=5))
    one_year = esc.preserve_until
    rule_services.rule_new_version(actor=admin, code="us-2258a-h-preserve-1-year", data={"amount": 2}, reason="r")

    # Any other change keeps the version it was judged by.
    from escalations.core import services

    esc = services.edit_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, data={"notes": "checked"})
    assert esc.preserve_until == one_year
    judged = rule_selectors.escalation_rules(esc)
    (outdated,) = judged.outdated
    assert (outdated.rule.version, outdated.latest.version, outdated.deadline) == (1, 2, "preservation_end")

    with pytest.raises(PermissionDenied):
        rule_services.reevaluate_rules(actor=moderator, escalation_id=esc.pk, version=None, reason="r")
    with pytest.raises(ValidationError):
        rule_services.reevaluate_rules(actor=lead, escalation_id=esc.pk, version=None, reason=" ")

    esc = rule_services.reevaluate_rules(
        actor=lead, escalation_id=esc.pk, version=esc.version, reason="2258A(h) v2 applies to this report"
    )
    assert esc.reported_at is not None
    assert esc.preserve_until == policy.add_calendar_years(esc.reported_at, 2)
    assert not rule_selectors.escalation_rules(esc).outdated
    event = esc.audit_events.get(action=AuditAction.RULES_REEVALUATED)
    assert event.actor == lead and event.reason == "2258A(h) v2 applies to this report"
    assert event.changes["preserve_until"][1] == policy.add_calendar_years(esc.reported_at, 2).isoformat()
    assert event.changes["rule:preservation_end"] == ["us-2258a-h-preserve-1-year v1", "us-2258a-h-preserve-1-year v2"]


@pytest.mark.django_db
def test_a_re_evaluation_that_moves_nothing_is_still_on_the_record(make_escalation: Any, lead: Any) -> None:
    esc = make_escalation()
    esc = rule_services.reevaluate_rules(actor=lead, escalation_id=esc.pk, version=None, reason="Audit check")
    event = esc.audit_events.get(action=AuditAction.RULES_REEVALUATED)
    assert event.changes == {} and event.reason == "Audit check"


@pytest.mark.django_db
def test_a_new_escalation_is_judged_by_the_latest_version(make_escalation: Any, admin: Any) -> None:
    rule_services.rule_new_version(actor=admin, code="us-2258a-h-preserve-1-year", data={"amount": 2}, reason="r")
    reported = timezone.now() - timedelta(minutes=5)
    esc = make_escalation(reported_at=reported)
    assert esc.preserve_until == policy.add_calendar_years(reported, 2)
    assert not rule_selectors.escalation_rules(esc).outdated


# --- a pending rule comes into force ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_pending_limit_put_in_force_applies_from_its_effective_from_to_the_second(
    make_escalation: Any, admin: Any, clock: Any, settings: Any
) -> None:
    settings.REPORT_TARGET_HOURS = 24 * 90  # a platform whose own target is longer than 60 days
    start = timezone.now() + timedelta(hours=1)
    rule_services.rule_new_version(
        actor=admin,
        code="us-stop-csam-60-days",
        data={"status": "in_force", "certainty": "confirmed", "effective_from": start},
        reason="Signed into law",
    )
    clock.move_to(start + timedelta(minutes=10))
    before = make_escalation(knowledge_at=start - timedelta(seconds=1))
    at = make_escalation(knowledge_at=start)
    assert before.report_due_at == start - timedelta(seconds=1) + timedelta(days=90)
    assert at.report_due_at == start + timedelta(days=60)
    codes = set(EscalationRule.objects.filter(escalation=at).values_list("rule__code", flat=True))
    assert codes == {"us-2258a-report", "us-stop-csam-60-days"}
    assert set(EscalationRule.objects.filter(escalation=before).values_list("rule__code", flat=True)) == {
        "us-2258a-report"
    }


@pytest.mark.django_db
def test_what_a_pending_rule_would_change_before_it_comes_into_force(make_escalation: Any, moderator: Any) -> None:
    reported = timezone.now() - timedelta(minutes=5)
    esc = make_escalation(reported_at=reported)
    other = make_escalation(reported_at=reported)
    legal_services.report_to_destination(
        actor=moderator,
        escalation_id=esc.pk,
        version=None,
        destination_id=Destination.objects.get(code="ca_police").pk,
        reported_at=reported,
        report_id="RCMP-7",
    )
    esc.refresh_from_db()
    c16 = rule("ca-c16-preserve-1-year")
    shown = rule_selectors.preview(c16)
    # Its 21 days are inside NCMEC's year already: a year from the same moment moves nothing.
    assert (shown.examined, shown.moved) == (1, 0)

    # Notified later than the NCMEC report: C-16's year would end after NCMEC's.
    legal_services.report_to_destination(
        actor=moderator,
        escalation_id=other.pk,
        version=None,
        destination_id=Destination.objects.get(code="ca_police").pk,
        reported_at=reported + timedelta(minutes=3),
        report_id="RCMP-8",
    )
    shown = rule_selectors.preview(c16)
    assert (shown.examined, shown.moved) == (2, 1)
    (move,) = shown.moves
    assert (move.pk, move.by) == (other.pk, timedelta(minutes=3))
    # From a date after every notification: nothing would move.
    assert rule_selectors.preview(c16, timezone.now() + timedelta(days=1)).moved == 0


@pytest.mark.django_db
def test_the_stop_csam_preview_counts_report_targets_that_would_move(make_escalation: Any, settings: Any) -> None:
    make_escalation()
    assert rule_selectors.preview(rule("us-stop-csam-60-days")).moved == 0  # 24 h is inside 60 days
    settings.REPORT_TARGET_HOURS = 24 * 61
    esc = make_escalation(platform_reference="slow-target")
    shown = rule_selectors.preview(rule("us-stop-csam-60-days"))
    assert shown.moved == 1 and shown.moves[0].pk == esc.pk and shown.moves[0].by == -timedelta(days=1)


@pytest.mark.django_db
def test_the_rules_page_counts_the_active_escalations_each_rule_judges(make_escalation: Any) -> None:
    make_escalation()
    make_escalation(reported_at=timezone.now() - timedelta(minutes=5))
    page = rule_selectors.rules_page(timezone.now())
    counts = {row.rule.code: row.governs for row in page.in_force}
    assert counts["us-2258a-report"] == 2
    assert counts["us-2258a-h-preserve-1-year"] == 1
    assert {row.rule.code for row in page.pending} == {
        "us-stop-csam-60-days",
        "ca-c16-preserve-1-year",
        "eu-interim-recreated-cap",
    }
    assert {row.rule.code for row in page.past} == {"us-2258a-h-preserve", "eu-2021-1232-retention-cap"}


@pytest.mark.django_db
def test_config_for_a_new_escalation_is_the_latest_rules() -> None:
    cfg = rulebook.config_now()
    assert {r.code for r in cfg.rules} == set(SEEDED_CODES)


@pytest.mark.django_db
def test_the_rules_page_and_a_preview_cost_the_same_queries_however_many_escalations(
    make_escalation: Any, django_assert_num_queries: Any
) -> None:
    for _ in range(5):
        make_escalation(reported_at=timezone.now() - timedelta(minutes=5))
    with django_assert_num_queries(2):
        rule_selectors.rules_page(timezone.now())
    c16, stop_csam = rule("ca-c16-preserve-1-year"), rule("us-stop-csam-60-days")
    with django_assert_num_queries(1):
        rule_selectors.preview(c16)
    with django_assert_num_queries(1):
        rule_selectors.preview(stop_csam)
