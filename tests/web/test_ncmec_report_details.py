"""What the CyberTipline asks beside the incident, as people use it: a moderator tags a report as
sextortion, the list filters by it and the dashboard counts it; a follow-up names the earlier report
and links to the escalation that holds it; the report's state at NCMEC moves only as NCMEC allows,
with the deletion countdown following it; exports carry all three after the columns they had."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from typing import Any

from django.utils import timezone

from escalations.core import services
from escalations.legal import services as legal_services
from escalations.models import AuditAction, Destination, Escalation, EscalationAnnotation
from tests.web.test_escalation_pages import assert_field_error, field_block, form_data, page, row_keys, typed
from tests.web.test_legal_pages import section


def fresh(esc: Escalation) -> Escalation:
    return Escalation.objects.get(pk=esc.pk)


def edit_data(esc: Escalation, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": esc.version,
        "platform_reference": esc.platform_reference,
        "incident_type": esc.incident_type,
        "priority": esc.priority,
        "knowledge_at": typed(esc.knowledge_at),
        "ncmec_annotations": [code for code in esc.ncmec_annotations.split(",") if code],
        "prior_report_id": esc.prior_report_id,
        "ncmec_submission_state": esc.ncmec_submission_state,
    }
    if esc.ncmec_opened_at:
        data["ncmec_opened_at"] = typed(esc.ncmec_opened_at)
    data.update(overrides)
    return data


def test_a_moderator_tags_sextortion_the_list_filters_by_it_and_the_dashboard_counts_it(
    moderator: Any, lead: Any, client_for: Any, make_escalation: Any
) -> None:
    client = client_for(moderator)
    response = client.post(
        "/escalations/new/",
        form_data(platform_reference="ticket-sx", ncmec_annotations=["sextortion", "minor_to_minor_interaction"]),
    )
    assert response.status_code == 302, response.context["form"].errors
    tagged = Escalation.objects.get(platform_reference="ticket-sx")
    other = make_escalation(ncmec_annotations=["spam"])
    make_escalation()  # no annotation

    detail = page(client.get(f"/escalations/{tagged.pk}/"))
    assert re.search(r"Report annotations</dt><dd[^>]*>.*Minor-to-minor interaction.*Sextortion", detail)
    created = tagged.audit_events.get(action=AuditAction.CREATED)
    assert created.changes["ncmec_annotations"] == [None, "minor_to_minor_interaction,sextortion"]

    # The edit form shows what was saved: one legend for the group, each chosen box ticked.
    block = field_block(client.get(f"/escalations/{tagged.pk}/edit/"), "ncmec_annotations")
    assert "<legend>Report annotations</legend>" in block
    ticked = re.findall(r'<input type="checkbox" name="ncmec_annotations" value="(\w+)"[^>]*checked', block)
    assert ticked == ["sextortion", "minor_to_minor_interaction"]

    listed = client.get("/escalations/?annotation=sextortion")
    assert row_keys(listed) == [tagged.key]
    assert row_keys(client.get("/escalations/?annotation=spam")) == [other.key]
    # A value that is not NCMEC's annotation is the filter form's error, not a 500.
    assert client.get("/escalations/?annotation=nudity").status_code == 200

    board = client_for(lead).get("/dashboard/")
    counts = section_text(page(board), "annotation-counts")
    assert "Sextortion 1" in counts and "Spam 1" in counts and "CSAM solicitation 0" in counts
    assert "/escalations/?annotation=sextortion&amp;is_test=false&amp;status=open" in page(board)

    # Reported, it leaves the open count; untagged on edit, it leaves the filter.
    services.record_report(
        actor=moderator,
        escalation_id=other.pk,
        version=None,
        reported_at=timezone.now(),
        cybertipline_report_id="5550001",
    )
    edited = client.post(f"/escalations/{tagged.pk}/edit/", edit_data(fresh(tagged), ncmec_annotations=["spam"]))
    assert edited.status_code == 302
    assert row_keys(client.get("/escalations/?annotation=sextortion")) == []
    counts = section_text(page(client_for(lead).get("/dashboard/")), "annotation-counts")
    assert "Sextortion 0" in counts and "Spam 1" in counts
    event = fresh(tagged).audit_events.get(action=AuditAction.EDITED)
    assert event.changes["ncmec_annotations"] == ["minor_to_minor_interaction,sextortion", "spam"]
    assert list(EscalationAnnotation.objects.filter(escalation=tagged).values_list("annotation", flat=True)) == ["spam"]


def section_text(content: str, anchor: str) -> str:
    start = content.index(f'id="{anchor}"')
    end = content.index("</dl>", start)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", content[start:end])).strip()


def test_a_follow_up_names_its_prior_report_and_links_to_the_escalation_that_holds_it(
    moderator: Any, client_for: Any, make_escalation: Any
) -> None:
    earlier = make_escalation(reported_at=timezone.now() - timedelta(minutes=30), report_id="4564654")
    client = client_for(moderator)
    response = client.post("/escalations/new/", form_data(platform_reference="ticket-fu", prior_report_id="0004564654"))
    assert response.status_code == 302, response.context["form"].errors
    follow_up = Escalation.objects.get(platform_reference="ticket-fu")
    assert follow_up.prior_report_id == "4564654"  # the canonical digits, as the report ID is stored

    detail = page(client.get(f"/escalations/{follow_up.pk}/"))
    assert f'4564654 (<a href="/escalations/{earlier.pk}/">{earlier.key}</a>)' in detail
    back = page(client.get(f"/escalations/{earlier.pk}/"))
    assert f'<a href="/escalations/{follow_up.pk}/">{follow_up.key}</a>' in back

    unknown = make_escalation(prior_report_id="777")
    assert "no escalation here carries that report ID" in page(client.get(f"/escalations/{unknown.pk}/"))


def test_a_prior_report_id_is_checked_like_the_report_id(moderator: Any, client_for: Any) -> None:
    response = client_for(moderator).post("/escalations/new/", form_data(prior_report_id="CT-12"))
    assert_field_error(response, "prior_report_id", "Prior CyberTipline report ID must be digits only")
    assert not Escalation.objects.exists()


def test_submission_state_follows_ncmec_and_the_countdown_follows_it(
    lead: Any, client_for: Any, make_escalation: Any, clock: Any
) -> None:
    client = client_for(lead)
    opened = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    esc = make_escalation(knowledge_at=opened - timedelta(hours=1))
    assert client.post(f"/escalations/{esc.pk}/edit/", edit_data(esc, ncmec_opened_at=typed(opened))).status_code == 302
    esc = fresh(esc)
    assert esc.ncmec_submission_state == "opened"  # an opening time means a report is open at NCMEC
    assert "left: finish it before then" in section(client.get(f"/escalations/{esc.pk}/"), "ncmec-timer")

    # NCMEC deletes it only once the countdown ran out: refused before, with the field named.
    refused = client.post(f"/escalations/{esc.pk}/edit/", edit_data(esc, ncmec_submission_state="deleted_unfinished"))
    assert_field_error(refused, "ncmec_submission_state", "NCMEC keeps an unfinished report until")
    assert fresh(esc).ncmec_submission_state == "opened"
    finished = client.post(f"/escalations/{esc.pk}/edit/", edit_data(esc, ncmec_submission_state="finished"))
    assert_field_error(finished, "ncmec_submission_state", "becomes Finished when the report is recorded")

    clock.move_to(opened + timedelta(hours=24))
    client = client_for(lead)  # signed in again: a day idle ends a session
    ran_out = section(client.get(f"/escalations/{esc.pk}/"), "ncmec-timer")
    assert "Unfinished NCMEC report: deleted by NCMEC" in ran_out
    deleted = client.post(f"/escalations/{esc.pk}/edit/", edit_data(esc, ncmec_submission_state="deleted_unfinished"))
    assert deleted.status_code == 302
    esc = fresh(esc)
    assert esc.ncmec_submission_state == "deleted_unfinished"
    assert esc.next_action == "file_report"  # the report is still owed; the timer no longer is
    timer = section(client.get(f"/escalations/{esc.pk}/"), "ncmec-timer")
    assert "Deleted by NCMEC unfinished" in timer and "left" not in timer
    event = esc.audit_events.filter(action=AuditAction.EDITED).order_by("pk").last()
    assert event is not None and event.changes["ncmec_submission_state"] == ["opened", "deleted_unfinished"]

    # A new report opened, then recorded: finished, and final.
    reopened = opened + timedelta(hours=23, minutes=50)
    again = edit_data(esc, ncmec_submission_state="opened", ncmec_opened_at=typed(reopened))
    assert client.post(f"/escalations/{esc.pk}/edit/", again).status_code == 302
    esc = fresh(esc)
    report = {"version": esc.version, "reported_at": typed(timezone.now()), "cybertipline_report_id": "7100778"}
    report["breach_reason"] = "tooling"
    assert client.post(f"/escalations/{esc.pk}/report/", report).status_code == 302
    esc = fresh(esc)
    assert esc.ncmec_submission_state == "finished"
    assert "NCMEC report finished" in section(client.get(f"/escalations/{esc.pk}/"), "ncmec-timer")
    retract = client.post(f"/escalations/{esc.pk}/edit/", edit_data(esc, ncmec_submission_state="retracted"))
    assert_field_error(retract, "ncmec_submission_state", "a finished report can't be changed")


def test_the_list_filters_by_authority(moderator: Any, client_for: Any, make_escalation: Any) -> None:
    to_nca = make_escalation()
    plain = make_escalation()
    legal_services.report_to_destination(
        actor=moderator,
        escalation_id=to_nca.pk,
        version=None,
        destination_id=Destination.objects.get(code="nca").pk,
        reported_at=None,
        report_id="",
    )
    client = client_for(moderator)
    assert row_keys(client.get("/escalations/?authority=nca")) == [to_nca.key]
    assert set(row_keys(client.get("/escalations/?authority=ncmec"))) == {to_nca.key, plain.key}
    assert row_keys(client.get("/escalations/?authority=afp")) == []


def test_exports_carry_annotations_prior_report_and_state_after_the_existing_columns(
    lead: Any, client_for: Any, make_escalation: Any
) -> None:
    make_escalation(
        ncmec_annotations=["csam_solicitation", "sextortion"],
        prior_report_id="4564000",
        reported_at=timezone.now() - timedelta(minutes=5),
        report_id="4564001",
    )
    response = client_for(lead).get("/escalations/?_export=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][-3:] == ["Report annotations", "Prior CyberTipline report ID", "Submission state at NCMEC"]
    assert rows[0][:2] == ["Key", "Status"]  # the existing columns keep their positions
    assert rows[1][-3:] == ["CSAM solicitation; Sextortion", "4564000", "Finished"]


def test_the_evidence_pack_records_annotations_prior_report_and_state(
    auditor: Any, client_for: Any, make_escalation: Any
) -> None:
    esc = make_escalation(
        ncmec_annotations=["sadistic_online_exploitation"],
        prior_report_id="4564000",
        reported_at=timezone.now() - timedelta(minutes=5),
    )
    response = client_for(auditor).get(f"/escalations/{esc.pk}/evidence-pack/?format=json")
    record = json.loads(response.content)["pack"]["escalation"]
    assert record["ncmec_annotations"] == ["sadistic_online_exploitation"]
    assert (record["prior_report_id"], record["ncmec_submission_state"]) == ("4564000", "finished")
