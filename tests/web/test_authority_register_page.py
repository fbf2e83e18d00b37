"""The authority register on an escalation's page: the triage answered through its form, the register
listing each authority with its state, deadline, rule and citation and reference, the NCA's guidance
not to duplicate NCMEC referrals where the UK applies, filing with a bad reference named on its field
with the authority's format, acknowledging; who may do it; CSRF; the page's queries whatever the
register holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.legal import authority_services
from escalations.models import AuditAction, AuthorityObligation, Destination, Escalation, ObligationState
from tests.conftest import FormClient
from tests.web.test_escalation_pages import assert_field_error, typed
from tests.web.test_legal_pages import section

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CLOCK_START = T0
HOUR = timedelta(hours=1)


def fresh(esc: Escalation) -> Escalation:
    return Escalation.objects.get(pk=esc.pk)


def test_triage_at_the_page_fills_the_register_with_rules_and_the_uk_guidance(
    clock: Any, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR)
    client = client_for(moderator)
    before = section(client.get(f"/escalations/{esc.pk}/"), "authorities")
    assert "UK-linked? Not answered yet" in before and "no duplicates" not in before
    response = client.post(
        f"/escalations/{esc.pk}/authorities/triage/",
        {"version": esc.version, "uk_linked": "yes", "canada_connection": "no", "australian_end_users": ""},
    )
    assert response.status_code == 302, response.context["form"].errors
    text = section(client.get(f"/escalations/{esc.pk}/"), "authorities")
    assert (
        "UK-linked? Yes" in text and "Connection to Canada? No" in text and "Australian end-users? Not answered" in text
    )
    assert "should not be referred to the NCA again (no duplicates)" in text
    assert (
        "National Crime Agency (United Kingdom) Due 2026-06-02 10:00 UTC On track "
        "Online Safety Act 2023 s.66; SI 2026/268 v1" in text
    ), text
    assert "File with National Crime Agency (United Kingdom)" in text
    assert fresh(esc).audit_events.filter(action=AuditAction.AUTHORITY_TRIAGED).count() == 1


def test_filing_with_a_bad_reference_names_the_field_and_the_format_then_acknowledging(
    clock: Any, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    Destination.objects.filter(code="nca").update(report_id_pattern=r"^NCA-\d{6}$", report_id_hint="NCA- and 6 digits")
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR)
    authority_services.answer_triage(actor=moderator, escalation_id=esc.pk, version=None, answers={"uk_linked": True})
    nca = Destination.objects.get(code="nca")
    client = client_for(moderator)
    data = {"version": fresh(esc).version, "destination": nca.pk, "reported_at": typed(T0 - HOUR), "report_id": "123"}
    response = client.post(f"/escalations/{esc.pk}/destinations/", data)
    assert_field_error(
        response, "report_id", "doesn't match National Crime Agency (United Kingdom)'s format: NCA- and 6 digits"
    )
    assert AuthorityObligation.objects.get(escalation=esc).state == ObligationState.DUE
    data["report_id"] = "NCA-123456"
    assert client.post(f"/escalations/{esc.pk}/destinations/", data).status_code == 302
    text = section(client.get(f"/escalations/{esc.pk}/"), "authorities")
    assert "Filed 2026-06-01 11:00 UTC" in text and "NCA-123456" in text and "Met" in text
    obligation = AuthorityObligation.objects.get(escalation=esc)
    form = client.get(f"/escalations/{esc.pk}/authorities/acknowledge/")
    assert "National Crime Agency (United Kingdom) (reference NCA-123456)" in form.content.decode()
    early = {"version": fresh(esc).version, "authority": obligation.pk, "acknowledged_at": typed(T0 - 2 * HOUR)}
    response = client.post(f"/escalations/{esc.pk}/authorities/acknowledge/", early)
    assert_field_error(response, "acknowledged_at", "can't be before the filing")
    assert AuthorityObligation.objects.get(pk=obligation.pk).state == ObligationState.FILED
    response = client.post(
        f"/escalations/{esc.pk}/authorities/acknowledge/",
        {"version": fresh(esc).version, "authority": obligation.pk, "acknowledged_at": typed(T0)},
    )
    assert response.status_code == 302, response.context["form"].errors
    assert "acknowledged 2026-06-01 12:00 UTC" in section(client.get(f"/escalations/{esc.pk}/"), "authorities")


def test_the_register_s_page_refuses_auditors_and_requests_without_the_csrf_token(
    clock: Any, moderator: Any, auditor: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation(knowledge_at=T0 - 2 * HOUR)
    watcher = client_for(auditor)
    assert watcher.get(f"/escalations/{esc.pk}/authorities/triage/").status_code == 403
    assert (
        watcher.post(
            f"/escalations/{esc.pk}/authorities/triage/", {"version": esc.version, "uk_linked": "yes"}
        ).status_code
        == 403
    )
    assert "Answer the triage" not in section(watcher.get(f"/escalations/{esc.pk}/"), "authorities")
    strict = FormClient(enforce_csrf_checks=True)
    strict.force_login(moderator)
    response = strict.post(f"/escalations/{esc.pk}/authorities/triage/", {"version": esc.version, "uk_linked": "yes"})
    assert response.status_code == 403
    assert not AuthorityObligation.objects.filter(escalation=esc).exists()


def _count(client: Any, path: str) -> int:
    client.get(path)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_the_page_costs_the_same_whatever_the_register_holds(
    clock: Any, moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    client = client_for(moderator)
    one = make_escalation(knowledge_at=T0 - 2 * HOUR)
    authority_services.answer_triage(actor=moderator, escalation_id=one.pk, version=None, answers={"uk_linked": True})
    many = make_escalation(knowledge_at=T0 - 2 * HOUR)
    authority_services.answer_triage(
        actor=moderator,
        escalation_id=many.pk,
        version=None,
        answers={"uk_linked": True, "canada_connection": True, "australian_end_users": True},
    )
    assert AuthorityObligation.objects.filter(escalation=many).count() == 4
    assert _count(client, f"/escalations/{one.pk}/") == _count(client, f"/escalations/{many.pk}/")


def test_the_triage_answered_when_logging_is_saved_with_the_escalation(
    clock: Any, moderator: Any, client_for: Any
) -> None:
    from tests.web.test_escalation_pages import form_data

    client = client_for(moderator)
    assert "Australian end-users?" in client.get("/escalations/new/").content.decode()
    data = form_data(knowledge_at=typed(T0 - HOUR))
    data.update(uk_linked="", canada_connection="", australian_end_users="yes")
    response = client.post("/escalations/new/", data)
    assert response.status_code == 302, response.context["form"].errors
    esc = Escalation.objects.get()
    (obligation,) = AuthorityObligation.objects.filter(escalation=esc).select_related("authority")
    assert (obligation.authority.code, obligation.state, obligation.due_at) == ("afp", "due", T0 - HOUR + 24 * HOUR)
    assert list(esc.audit_events.order_by("pk").values_list("action", flat=True)) == [
        AuditAction.CREATED,
        AuditAction.AUTHORITY_TRIAGED,
    ]
    # Nothing answered: nothing more than the escalation.
    data["australian_end_users"] = ""
    data["platform_reference"] = "ticket-5002"
    assert client.post("/escalations/new/", data).status_code == 302
    later = Escalation.objects.exclude(pk=esc.pk).get()
    assert not AuthorityObligation.objects.filter(escalation=later).exists()
    assert later.audit_events.count() == 1
