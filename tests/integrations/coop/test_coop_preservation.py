"""Coop's preservation endpoint, called byte for byte as Coop calls it (see conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from escalations.models import (
    AuditAction,
    AuditEvent,
    CoopReceipt,
    Escalation,
    EvidenceItem,
    Status,
)
from escalations.ops.metrics import counted_figures
from tests.integrations.coop.conftest import URL, coop_body, coop_jwk, coop_sign

pytestmark = [pytest.mark.integrations, pytest.mark.django_db]

CLOCK_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def coop_count(outcome: str) -> int:
    return counted_figures()[f"metrics:v1:coop:{outcome}"]


def nothing_written() -> bool:
    return not Escalation.objects.exists() and not CoopReceipt.objects.exists() and not EvidenceItem.objects.exists()


# --- accepted ----------------------------------------------------------------------------------------


def test_a_new_report_creates_a_reported_escalation_with_its_media(
    coop_post: Any, coop_key_setting: str, clock: Any
) -> None:
    body = coop_body("4564654", ("acct-77", "user"), [("m-1", "image"), ("m-2", "video")])
    response = coop_post(body)

    assert response.status_code == 200
    esc = Escalation.objects.get()
    assert response.json() == {"reportId": "4564654", "escalation": esc.key, "created": True}
    assert esc.status == Status.REPORTED
    assert esc.cybertipline_report_id == "4564654"
    assert esc.reported_at == CLOCK_START
    assert esc.account_reference == "acct-77"
    assert esc.assignee is None
    # The preservation clock runs from the receipt: confirm within 24 h, keep for a year.
    assert esc.preservation_confirm_due_at == CLOCK_START + timedelta(hours=24)
    assert esc.preserve_until == datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    # Knowledge is unknown: stored as the receipt time and marked unconfirmed.
    assert esc.knowledge_at == CLOCK_START
    assert esc.knowledge_unconfirmed_since == CLOCK_START
    assert esc.report_seconds is None and esc.reported_on_time is None
    items = list(esc.evidence_items.order_by("reference").values_list("reference", "item_type", "digest", "size_bytes"))
    assert items == [("m-1", "image", "", None), ("m-2", "video", "", None)]


def test_every_change_is_audited_as_done_via_coop(coop_post: Any, coop_key_setting: str, clock: Any) -> None:
    coop_post(coop_body("4564654", ("acct-77", "user"), [("m-1", "image")]))

    event = AuditEvent.objects.get(escalation__isnull=False)
    assert event.action == AuditAction.CREATED
    assert event.via == "Coop"
    assert event.actor is not None and event.actor.get_username() == "coop"
    assert "CyberTipline report 4564654" in event.reason and "1 reported media item" in event.reason
    # The account Coop acts as can't sign in, and is no one's to assign.
    coop = get_user_model().objects.get(username="coop")
    assert not coop.is_active and not coop.has_usable_password()
    assert EvidenceItem.objects.get().preserved_by == coop


def test_the_report_is_recorded_on_the_open_escalation_of_the_reported_account(
    coop_post: Any, coop_key_setting: str, clock: Any, make_escalation: Any
) -> None:
    logged = make_escalation(
        account_reference="acct-77", knowledge_at=CLOCK_START - timedelta(hours=3), platform_reference="ticket-9"
    )
    response = coop_post(coop_body("4564654", ("acct-77", "user"), [("m-1", "image")]))

    assert response.json() == {"reportId": "4564654", "escalation": logged.key, "created": False}
    logged.refresh_from_db()
    assert Escalation.objects.count() == 1
    assert logged.status == Status.REPORTED
    assert (logged.reported_at, logged.cybertipline_report_id) == (CLOCK_START, "4564654")
    # A person logged it: its knowledge time stands, and the figures count it.
    assert logged.knowledge_unconfirmed_since is None
    assert logged.report_seconds == 3 * 3600 and logged.reported_on_time is True
    assert logged.preserve_until == datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    event = logged.audit_events.latest("pk")
    assert (event.action, event.via) == (AuditAction.COOP_REPORT, "Coop")
    assert event.changes["status"] == ["open", "reported"]
    assert list(logged.evidence_items.values_list("reference", "item_type")) == [("m-1", "image")]


def test_a_late_report_is_recorded_and_left_for_a_lead_to_give_the_breach_reason(
    coop_post: Any, coop_key_setting: str, clock: Any, make_escalation: Any
) -> None:
    logged = make_escalation(account_reference="acct-77", knowledge_at=CLOCK_START - timedelta(hours=30))
    assert coop_post(coop_body(user=("acct-77", "user"))).status_code == 200

    logged.refresh_from_db()
    assert logged.reported_on_time is False and logged.breach_reason == ""
    assert "a lead records the breach reason" in logged.audit_events.latest("pk").reason


def test_of_several_open_escalations_of_the_account_the_earliest_target_gets_it(
    coop_post: Any, coop_key_setting: str, clock: Any, make_escalation: Any
) -> None:
    later = make_escalation(account_reference="acct-77", knowledge_at=CLOCK_START - timedelta(hours=1))
    earlier = make_escalation(account_reference="acct-77", knowledge_at=CLOCK_START - timedelta(hours=2))
    reported = make_escalation(
        account_reference="acct-77", knowledge_at=CLOCK_START - timedelta(hours=5), reported_at=CLOCK_START
    )
    coop_post(coop_body(user=("acct-77", "user")))

    earlier.refresh_from_db()
    later.refresh_from_db()
    assert earlier.cybertipline_report_id == "4564654" and later.status == Status.OPEN
    assert f"left open: {later.key}" in earlier.audit_events.latest("pk").reason
    reported.refresh_from_db()
    assert reported.cybertipline_report_id != "4564654"


def test_a_report_id_a_person_recorded_first_gets_the_media_and_nothing_else_changes(
    coop_post: Any, coop_key_setting: str, clock: Any, make_escalation: Any
) -> None:
    recorded = make_escalation(
        knowledge_at=CLOCK_START - timedelta(hours=2), reported_at=CLOCK_START - timedelta(hours=1), report_id="4564654"
    )
    response = coop_post(coop_body("4564654", ("acct-1", "user"), [("m-1", "image")]))

    assert response.json()["escalation"] == recorded.key
    after = Escalation.objects.get()
    assert after.reported_at == CLOCK_START - timedelta(hours=1)
    assert after.evidence_items.count() == 1
    event = after.audit_events.latest("pk")
    assert (event.action, event.via, event.changes) == (AuditAction.COOP_REPORT, "Coop", {})


# --- idempotency ---------------------------------------------------------------------------------


def test_the_same_report_id_again_answers_the_same_and_doubles_nothing(
    coop_post: Any, coop_key_setting: str, clock: Any
) -> None:
    body = coop_body("4564654", ("acct-77", "user"), [("m-1", "image"), ("m-2", "image")])
    first = coop_post(body)
    clock.shift(timedelta(seconds=3))
    again = coop_post(body)
    # Coop's retries and a replay carry the same body; a different body with the same ID is the same report.
    other = coop_post(coop_body("4564654", ("acct-99", "user"), [("m-3", "image")]))

    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json() == again.json() == other.json()
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Escalation.objects.count() == 1 and CoopReceipt.objects.count() == 1
    assert EvidenceItem.objects.count() == 2
    assert AuditEvent.objects.filter(escalation__isnull=False).count() == 1
    assert (coop_count("created"), coop_count("duplicate")) == (1, 2)


def test_a_twin_call_that_commits_first_wins_and_the_second_answers_as_it(
    coop_post: Any, coop_key_setting: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: both calls find no receipt; the twin commits; ours then hits the unique report ID,
    rolls back everything it wrote, and answers with the twin's receipt."""
    from escalations.integrations import coop_service

    body = coop_body("4564654", ("acct-77", "user"), [("m-1", "image")])
    assert coop_post(body).status_code == 200
    real = coop_service.receipt_for
    looked: list[str] = []

    def first_look_misses(report_id: str) -> Any:
        looked.append(report_id)
        return None if len(looked) == 1 else real(report_id)

    monkeypatch.setattr(coop_service, "receipt_for", first_look_misses)

    response = coop_post(body)

    assert response.status_code == 200 and response["Idempotent-Replayed"] == "true"
    assert len(looked) == 2  # missed, then found after the unique index refused the second
    assert Escalation.objects.count() == 1 and EvidenceItem.objects.count() == 1
    assert AuditEvent.objects.filter(escalation__isnull=False).count() == 1


# --- refusals: 4xx, nothing written, logged, counted ------------------------------------------------


def refused(response: Any, status: int, reason: str) -> bool:
    return response.status_code == status and response.json()["reason"] == reason and nothing_written()


def test_a_call_without_a_signature_is_refused(coop_post: Any, coop_key_setting: str, caplog: Any) -> None:
    assert refused(coop_post(coop_body(), signature=None), 401, "unsigned")
    assert refused(coop_post(coop_body(), signature="not base64!"), 401, "unsigned")
    assert coop_count("unsigned") == 2
    assert "coop call refused" in caplog.text


def test_a_body_changed_after_signing_is_refused(coop_post: Any, coop_key_setting: str, coop_private_key: Any) -> None:
    body = coop_body("4564654")
    signature = coop_sign(coop_private_key, body)
    tampered = body.replace(b"4564654", b"4564655")
    assert refused(coop_post(tampered, signature=signature), 401, "bad_signature")
    # The same JSON written another way (spaces) is other bytes: Coop's signature covers the bytes.
    spaced = json.dumps(json.loads(body)).encode()
    assert refused(coop_post(spaced, signature=signature), 401, "bad_signature")
    assert coop_count("bad_signature") == 2


def test_a_call_signed_with_a_key_we_do_not_know_is_refused(
    coop_post: Any, coop_key_setting: str, other_private_key: Any
) -> None:
    body = coop_body()
    assert refused(coop_post(body, signature=coop_sign(other_private_key, body)), 401, "bad_signature")


def test_with_no_key_configured_every_call_is_refused(coop_post: Any, settings: Any) -> None:
    settings.COOP_PUBLIC_KEY = ""
    assert refused(coop_post(coop_body()), 401, "no_key")
    assert coop_count("no_key") == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"user": ', "malformed"),
        (b"\xff\xfe{}", "malformed"),
        (b"[]", "invalid"),
        (b'{"user":{"id":"a","typeId":"u"},"reportedMedia":[]}', "invalid"),
        (b'{"reportId":"1","reportedMedia":[]}', "invalid"),
        (b'{"reportId":"1","user":{"id":"a","typeId":"u"}}', "invalid"),
        (b'{"reportId":"12a","reportedMedia":[],"user":{"id":"a","typeId":"u"}}', "invalid"),
        (b'{"reportId":"","reportedMedia":[],"user":{"id":"a","typeId":"u"}}', "invalid"),
        (b'{"reportId":1234,"reportedMedia":[],"user":{"id":"a","typeId":"u"}}', "invalid"),
        (b'{"reportId":"0","reportedMedia":[],"user":{"id":"a","typeId":"u"}}', "invalid"),
        (b'{"reportId":"\xd9\xa1\xd9\xa2","reportedMedia":[],"user":{"id":"a","typeId":"u"}}', "invalid"),
        (b'{"reportId":"1","reportedMedia":[],"user":{"id":"","typeId":"u"}}', "invalid"),
        (b'{"reportId":"1","reportedMedia":[{"id":"m"}],"user":{"id":"a","typeId":"u"}}', "invalid"),
        (b'{"reportId":"1","reportedMedia":{},"user":{"id":"a","typeId":"u"}}', "invalid"),
        (b'{"extra":1,"reportId":"1","reportedMedia":[],"user":{"id":"a","typeId":"u"}}', "invalid"),
        (
            b'{"reportId":"1","reportedMedia":[],"user":{"id":"data:image/png;base64,iVBORw0KGgo=","typeId":"u"}}',
            "invalid",
        ),
    ],
)
def test_a_signed_body_that_is_not_coops_request_is_refused(
    coop_post: Any, coop_key_setting: str, body: bytes, reason: str
) -> None:
    response = coop_post(body)
    assert refused(response, 400, reason), response.content
    assert coop_count(reason) == 1


def test_an_oversized_body_is_refused_before_its_signature_is_read(
    coop_post: Any, coop_key_setting: str, settings: Any
) -> None:
    settings.COOP_MAX_BODY_BYTES = 300
    small = coop_body(media=[("m", "image")])
    large = coop_body(media=[(f"media-{i}", "image") for i in range(20)])
    assert len(small) <= 300 < len(large)
    assert refused(coop_post(large, signature=None), 413, "too_large")
    assert coop_post(small).status_code == 200
    assert coop_count("too_large") == 1


def test_only_post_is_answered(coop_key_setting: str) -> None:
    assert Client().get(URL).status_code == 405
    assert nothing_written()


def test_an_account_named_like_coops_that_can_sign_in_is_not_acted_as(
    coop_post: Any, coop_key_setting: str, make_user: Any
) -> None:
    make_user("coop", "moderator")
    response = coop_post(coop_body())
    assert response.status_code == 503 and nothing_written()
    assert coop_count("misconfigured") == 1


# --- keys, CSRF and sessions ------------------------------------------------------------------------


def test_the_key_coop_shows_on_one_line_works_from_the_setting_read_at_each_call(
    coop_post: Any, coop_private_key: Any, other_private_key: Any, settings: Any
) -> None:
    from tests.integrations.coop.conftest import coop_pem

    settings.COOP_PUBLIC_KEY = coop_pem(other_private_key)
    assert coop_post(coop_body("1")).status_code == 401
    # An environment variable often carries the newlines as "\n": read as newlines.
    settings.COOP_PUBLIC_KEY = coop_pem(coop_private_key).replace("\n", "\\n")
    assert coop_post(coop_body("1")).status_code == 200


def test_keys_an_admin_pasted_verify_and_two_at_once_allow_a_rotation(
    coop_post: Any, coop_private_key: Any, other_private_key: Any, settings: Any, make_user: Any
) -> None:
    from escalations.integrations.coop_keys import save_coop_key
    from escalations.models import CoopPublicKey
    from tests.integrations.coop.conftest import coop_pem

    settings.COOP_PUBLIC_KEY = ""
    admin = make_user("root")
    admin.is_staff = True
    admin.save()
    save_coop_key(actor=admin, key=CoopPublicKey(name="Coop (old)", key_text=coop_pem(other_private_key)))
    save_coop_key(actor=admin, key=CoopPublicKey(name="Coop (new)", key_text=coop_jwk(coop_private_key)))

    first, second = coop_body("1"), coop_body("2", ("acct-2", "user"))
    assert coop_post(first).status_code == 200
    assert coop_post(second, signature=coop_sign(other_private_key, second)).status_code == 200
    old = CoopPublicKey.objects.get(name="Coop (old)")
    old.is_active = False
    save_coop_key(actor=admin, key=old)
    third = coop_body("3", ("acct-3", "user"))
    assert coop_post(third, signature=coop_sign(other_private_key, third)).status_code == 401


def test_no_csrf_token_and_no_session_are_needed_nor_enough(coop_post: Any, coop_key_setting: str, lead: Any) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert coop_post(coop_body("1"), client=strict).status_code == 200
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(lead)
    # A lead's session is no credential here: without Coop's signature, refused.
    assert coop_post(coop_body("2"), signature=None, client=signed_in).status_code == 401


def test_media_beyond_the_evidence_limit_stay_on_the_receipt(
    coop_post: Any, coop_key_setting: str, settings: Any
) -> None:
    settings.EVIDENCE_ITEMS_MAX = 2
    coop_post(coop_body(media=[("m-1", "image"), ("m-2", "image"), ("m-3", "video")]))
    assert EvidenceItem.objects.count() == 2
    assert CoopReceipt.objects.get().media == [["m-1", "image"], ["m-2", "image"], ["m-3", "video"]]
    assert (
        "1 more already recorded or beyond EVIDENCE_ITEMS_MAX"
        in AuditEvent.objects.get(escalation__isnull=False).reason
    )


def test_metrics_show_accepted_and_refused_calls(coop_post: Any, coop_key_setting: str, settings: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    coop_post(coop_body("1"))
    coop_post(coop_body("1"))
    coop_post(coop_body("2"), signature=None)
    settings.METRICS_TOKEN = "t0ken-for-the-test"
    settings.METRICS_ALLOWED_IPS = []
    page = Client().get("/metrics", headers={"Authorization": "Bearer t0ken-for-the-test"})
    found = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(page.content.decode())
        if family.name == "escalations_coop_calls"
        for sample in family.samples
        if sample.name == "escalations_coop_calls_total"
    }
    assert (found["created"], found["duplicate"], found["unsigned"], found["bad_signature"]) == (1, 1, 1, 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_calls_at_the_same_moment_with_one_report_id_record_it_once(
    coop_private_key: Any, coop_key_setting: str
) -> None:
    """Coop retries quickly; two of its calls may overlap. Each thread has its own connection."""
    import threading

    from django.db import connection

    body = coop_body("4564654", ("acct-77", "user"), [("m-1", "image"), ("m-2", "image")])
    signature = coop_sign(coop_private_key, body)
    start = threading.Barrier(4)
    answers: list[tuple[int, bytes]] = []

    def call() -> None:
        try:
            start.wait()
            response = Client().post(URL, body, content_type="text/plain", HTTP_COOP_SIGNATURE=signature)
            answers.append((response.status_code, response.content))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _ in answers] == [200] * 4
    assert len({content for _, content in answers}) == 1
    assert Escalation.objects.count() == 1 and CoopReceipt.objects.count() == 1
    assert EvidenceItem.objects.count() == 2
    assert AuditEvent.objects.filter(escalation__isnull=False).count() == 1


def test_the_api_and_the_page_show_coops_items_as_id_and_type_only(
    coop_post: Any, coop_key_setting: str, clock: Any, lead: Any, client_for: Any
) -> None:
    coop_post(coop_body("4564654", ("acct-77", "user"), [("m-1", "image")]))
    esc = Escalation.objects.get()
    client = client_for(lead)
    listed = client.get(f"/api/v1/escalations/{esc.pk}/evidence-items/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [(r["reference"], r["item_type"], r["digest"], r["size_bytes"]) for r in rows] == [
        ("m-1", "image", "", None)
    ]
    page = client.get(f"/escalations/{esc.pk}/").content.decode()
    assert "(image, from Coop)" in page


def test_a_bad_incident_type_setting_is_ours_to_fix_and_writes_nothing(
    coop_post: Any, coop_key_setting: str, settings: Any
) -> None:
    settings.COOP_INCIDENT_TYPE = "csam"
    response = coop_post(coop_body())
    assert response.status_code == 503 and response.json()["reason"] == "misconfigured"
    assert nothing_written() and not get_user_model().objects.filter(username="coop").exists()
