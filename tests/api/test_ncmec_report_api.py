"""The API round trip of what the CyberTipline asks beside the incident: annotations, the prior
report a follow-up names and the submission state go in, come back, filter the list, and bad values
answer 400 naming the field, with nothing written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from escalations.models import AuditAction, Escalation
from tests.api.test_api import make_token, new_data, patch, post, token_client


def test_annotations_prior_report_and_state_round_trip(lead: Any, moderator: Any, client_for: Any) -> None:
    client = token_client(make_token(lead))
    created = post(
        client,
        "/api/v1/escalations/",
        new_data(ncmec_annotations=["sextortion", "spam", "sextortion"], prior_report_id="4564654"),
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["ncmec_annotations"] == ["sextortion", "spam"]
    assert (body["prior_report_id"], body["ncmec_submission_state"]) == ("4564654", "")

    opened = (timezone.now() - timedelta(hours=1)).replace(microsecond=0)
    changed = patch(
        client,
        f"/api/v1/escalations/{body['id']}/",
        {"ncmec_annotations": ["csam_solicitation"], "ncmec_opened_at": opened.isoformat(), "version": 1},
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["ncmec_annotations"] == ["csam_solicitation"]
    assert changed.json()["ncmec_submission_state"] == "opened"
    retracted = patch(client, f"/api/v1/escalations/{body['id']}/", {"ncmec_submission_state": "retracted"})
    assert retracted.json()["ncmec_submission_state"] == "retracted"

    listed = client.get("/api/v1/escalations/?annotation=csam_solicitation").json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]
    assert client.get("/api/v1/escalations/?annotation=sextortion").json()["results"] == []

    events = Escalation.objects.get(pk=body["id"]).audit_events.filter(action=AuditAction.EDITED).order_by("pk")
    assert events[0].changes["ncmec_annotations"] == ["sextortion,spam", "csam_solicitation"]
    assert events[1].changes["ncmec_submission_state"] == ["opened", "retracted"]


def test_bad_values_answer_400_naming_the_field_and_write_nothing(lead: Any) -> None:
    client = token_client(make_token(lead))
    answer = post(client, "/api/v1/escalations/", new_data(ncmec_annotations=["nudity"], prior_report_id="12a"))
    assert answer.status_code == 400
    errors = answer.json()
    assert "'nudity' is not one of NCMEC's annotations" in errors["ncmec_annotations"][0]
    assert "Prior CyberTipline report ID must be digits only" in errors["prior_report_id"][0]
    assert not Escalation.objects.exists()

    made = post(client, "/api/v1/escalations/", new_data()).json()
    refused = patch(client, f"/api/v1/escalations/{made['id']}/", {"ncmec_submission_state": "deleted_unfinished"})
    assert refused.status_code == 400
    assert "can't go from Not opened through NCMEC's API" in refused.json()["ncmec_submission_state"][0]
    assert Escalation.objects.get(pk=made["id"]).version == 1


def test_bulk_tags_and_opens_like_a_single_create(lead: Any) -> None:
    client = token_client(make_token(lead))
    knowledge = timezone.now() - timedelta(hours=2)
    items = [
        {
            "platform_reference": f"bulk-{i}",
            "incident_type": "online_enticement",
            "knowledge_at": knowledge.isoformat(),
            "ncmec_annotations": ["sextortion"] if i % 2 else [],
            "ncmec_opened_at": (knowledge + timedelta(minutes=30)).isoformat(),
        }
        for i in range(4)
    ]
    answer = post(client, "/api/v1/escalations/bulk/", items)
    assert answer.status_code == 201, answer.content
    assert [item["ncmec_submission_state"] for item in answer.json()] == ["opened"] * 4
    listed = client.get("/api/v1/escalations/?annotation=sextortion").json()["results"]
    assert sorted(item["platform_reference"] for item in listed) == ["bulk-1", "bulk-3"]
    created = Escalation.objects.get(platform_reference="bulk-1").audit_events.get(action=AuditAction.CREATED)
    assert created.changes["ncmec_annotations"] == [None, "sextortion"]

    refused = post(client, "/api/v1/escalations/bulk/", [{**items[0], "ncmec_annotations": ["nudity"]}])
    assert refused.status_code == 400
    assert "nudity" in str(refused.json())
