"""Evidence packs: one escalation's (page and signed JSON) and a period's, signed with the deployment's
Ed25519 key and checked by `manage.py verifypack`."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.core import pack_signing, services
from escalations.legal import authority_services
from escalations.legal import services as legal_services
from escalations.models import AccessLog, AuditAction, AuditEvent, Escalation
from escalations.models.legal import Destination, EvidenceItem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded_rules")]
CLOCK_START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def _download(client: Any, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Disposition"].startswith("attachment;")
    return json.loads(response.content)


def _reported(make_escalation: Any, lead: Any, clock: Any) -> Any:
    esc = make_escalation(knowledge_at=CLOCK_START - timedelta(hours=30), reported_at=CLOCK_START - timedelta(hours=2))
    services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=lead)
    return esc


def test_escalation_pack_holds_the_record_deadlines_trail_and_access_log(
    clock: Any, client_for: Any, lead: Any, auditor: Any, make_escalation: Any
) -> None:
    esc = _reported(make_escalation, lead, clock)
    client_for(lead).get(f"/escalations/{esc.pk}/")  # a read the access log keeps

    document = _download(client_for(auditor), f"/escalations/{esc.pk}/evidence-pack/?format=json")
    pack = document["pack"]

    assert pack["kind"] == "escalation" and pack["generated_by"] == "aud"
    assert pack["escalation"]["key"] == esc.key
    assert pack["escalation"]["knowledge_at"] == "2025-06-01T06:00:00Z"
    assert pack["escalation"]["cybertipline_report_id"] == esc.cybertipline_report_id
    report = next(d for d in pack["deadlines"] if d["kind"] == "report")
    # Reported 28 hours after knowledge against a 24-hour target: met, but late.
    assert report["outcome"] == "met late"
    assert "2258A" in report["citation"] and report["platform_target"] is True
    end = next(d for d in pack["deadlines"] if d["kind"] == "preservation_end")
    assert end["due_at"] == "2026-06-02T10:00:00Z" and end["outcome"] == "not yet due"
    assert "2258A(h)" in end["citation"] and end["platform_target"] is False
    # The dated rule version it was judged by (the seeded 2258A(h) one year after the REPORT Act).
    judged = end["judged_by"]
    assert judged and all(j["version"] >= 1 and j["citation"] for j in judged)
    assert any("2258A" in j["citation"] for j in judged)
    assert {j["code"] for j in pack["rules_judged_by"]} >= {j["code"] for j in judged}

    actions = [e["action"] for e in pack["audit_trail"]["events"]]
    assert actions[:3] == [AuditAction.CREATED, AuditAction.REPORT_RECORDED, AuditAction.ASSIGNED]
    # The pack holds its own making, in the trail and in the access log.
    assert actions[-1] == AuditAction.EXPORTED
    assert pack["audit_trail"]["events"][-1]["changes"]["export"] == f"{esc.key}-evidence-pack.json"
    events = list(AuditEvent.objects.filter(escalation=esc).order_by("seq"))
    assert [e["chain_digest"] for e in pack["audit_trail"]["events"]] == [e.chain_digest for e in events]
    assert pack["audit_trail"]["chain_head"]["digest"] == events[-1].chain_digest
    readers = [(r["reader"], r["kind"]) for r in pack["access_log"]["rows"]]
    assert ("leader", "viewed") in readers and ("aud", "exported") in readers

    assert pack_signing.verify(document, pack_signing.deployment_public_key()).ok


def test_the_printable_page_shows_the_pack_and_its_key(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    esc = _reported(make_escalation, lead, clock)
    response = client_for(lead).get(f"/escalations/{esc.pk}/evidence-pack/")
    page = response.content.decode()
    assert response.status_code == 200
    assert f"Evidence pack: {esc.key}" in page
    assert pack_signing.fingerprint(pack_signing.deployment_public_key()) in page
    assert "18 U.S.C. 2258A(h)(1)" in page and "met late" in page
    assert "Download signed pack (JSON)" in page
    # The escalation's page links to it for those who may take it.
    assert f"/escalations/{esc.pk}/evidence-pack/" in client_for(lead).get(f"/escalations/{esc.pk}/").content.decode()


def test_moderators_and_people_without_a_role_get_no_pack(
    clock: Any, client_for: Any, moderator: Any, nobody: Any, lead: Any, make_escalation: Any
) -> None:
    esc = _reported(make_escalation, lead, clock)
    exports_before = AuditEvent.objects.filter(action=AuditAction.EXPORTED).count()
    for user in (moderator, nobody):
        assert client_for(user).get(f"/escalations/{esc.pk}/evidence-pack/?format=json").status_code == 403
    assert client_for(None).get(f"/escalations/{esc.pk}/evidence-pack/").status_code == 302
    assert client_for(lead).get("/escalations/999999/evidence-pack/").status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.EXPORTED).count() == exports_before


def test_a_pack_costs_the_same_queries_whatever_its_length(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    short = _reported(make_escalation, lead, clock)
    long = _reported(make_escalation, lead, clock)
    for n in range(12):
        EvidenceItem.objects.create(
            escalation=long,
            reference=f"store://case/{n}",
            hash_algorithm="sha256",
            digest=f"{n:064x}",
            size_bytes=100 + n,
            is_context=False,
            preserved_by=lead,
            preserved_at=CLOCK_START,
        )
        client_for(lead).get(f"/escalations/{long.pk}/")
    client = client_for(lead)
    # The session's first request writes it: not part of the pack's cost.
    client.get(f"/escalations/{short.pk}/")

    def queries(esc: Any) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/escalations/{esc.pk}/evidence-pack/?format=json").status_code == 200
        return len(ctx.captured_queries)

    assert queries(long) == queries(short)


def test_verifypack_accepts_the_download_and_refuses_any_change(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any, tmp_path: Path
) -> None:
    esc = _reported(make_escalation, lead, clock)
    document = _download(client_for(lead), f"/escalations/{esc.pk}/evidence-pack/?format=json")
    good = tmp_path / "pack.json"
    # Re-indented, keys in another order: still the same pack.
    good.write_text(json.dumps(document, indent=None, sort_keys=False))
    call_command("verifypack", str(good))

    changed = copy.deepcopy(document)
    changed["pack"]["escalation"]["reported_at"] = "2025-06-01T07:00:00Z"  # moved inside the target
    bad = tmp_path / "changed.json"
    bad.write_text(json.dumps(changed))
    with pytest.raises(CommandError, match="changed after signing"):
        call_command("verifypack", str(bad))

    # Re-signed by someone else's key, carrying that key: refused, the carried key is never believed.
    forger = Ed25519PrivateKey.generate()
    forged = copy.deepcopy(changed)
    forged["signature"]["public_key"] = base64.b64encode(forger.public_key().public_bytes_raw()).decode()
    forged["signature"]["value"] = base64.b64encode(forger.sign(pack_signing.canonical_json(forged["pack"]))).decode()
    forged_path = tmp_path / "forged.json"
    forged_path.write_text(json.dumps(forged))
    with pytest.raises(CommandError, match="another key"):
        call_command("verifypack", str(forged_path))

    not_json = tmp_path / "not.json"
    not_json.write_text("{")
    with pytest.raises(CommandError, match="not a readable JSON file"):
        call_command("verifypack", str(not_json))


def test_without_a_signing_key_no_pack_is_made(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any, settings: Any
) -> None:
    esc = _reported(make_escalation, lead, clock)
    settings.EVIDENCE_PACK_SIGNING_KEY = ""
    settings.EVIDENCE_PACK_SIGNING_KEY_FILE = ""
    before = AuditEvent.objects.filter(action=AuditAction.EXPORTED).count()
    response = client_for(lead).get(f"/escalations/{esc.pk}/evidence-pack/?format=json")
    assert response.status_code == 503
    assert "EVIDENCE_PACK_SIGNING_KEY" in response.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.EXPORTED).count() == before


def test_period_pack_lists_the_reports_escalations_with_outcomes(
    clock: Any, client_for: Any, lead: Any, auditor: Any, make_escalation: Any
) -> None:
    on_time = make_escalation(
        knowledge_at=CLOCK_START - timedelta(days=3), reported_at=CLOCK_START - timedelta(days=2, hours=1)
    )
    late = _reported(make_escalation, lead, clock)
    outside = make_escalation(knowledge_at=CLOCK_START - timedelta(days=90))
    document = _download(client_for(auditor), "/reports/compliance/evidence-pack/?start=2025-05-25&end=2025-06-02")
    pack = document["pack"]
    keys = [row["key"] for row in pack["escalations"]]
    assert keys == [on_time.key, late.key] and outside.key not in keys
    outcomes = {
        row["key"]: next(d["outcome"] for d in row["deadlines"] if d["kind"] == "report") for row in pack["escalations"]
    }
    assert outcomes == {on_time.key: "met", late.key: "met late"}
    assert pack["summary"]["escalations"] == 2
    assert all(row["audit_chain_head"]["seq"] >= 2 for row in pack["escalations"])
    assert pack_signing.verify(document, pack_signing.deployment_public_key()).ok
    assert AccessLog.objects.filter(what__endswith="evidence-pack.json", user=auditor).exists()


def test_period_pack_refuses_a_bad_period_naming_the_field(client_for: Any, lead: Any) -> None:
    response = client_for(lead).get("/reports/compliance/evidence-pack/?start=2025-13-01&end=2025-06-02")
    assert response.status_code == 400
    assert "Start: enter a date as YYYY-MM-DD." in response.content.decode()


def test_evidence_items_are_in_the_pack(clock: Any, client_for: Any, lead: Any, make_escalation: Any) -> None:
    esc = _reported(make_escalation, lead, clock)
    EvidenceItem.objects.create(
        escalation=esc,
        reference="store://case/1",
        hash_algorithm="sha256",
        digest="ab" * 32,
        size_bytes=1234,
        is_context=False,
        preserved_by=lead,
        preserved_at=CLOCK_START,
    )
    pack = _download(client_for(lead), f"/escalations/{esc.pk}/evidence-pack/?format=json")["pack"]
    assert pack["evidence_items"] == [
        {
            "reference": "store://case/1",
            "hash_algorithm": "sha256",
            "digest": "ab" * 32,
            "size_bytes": 1234,
            "is_context": False,
            "preserved_by": "leader",
            "preserved_at": "2025-06-02T12:00:00Z",
        }
    ]


def test_escalation_pack_holds_what_it_owes_each_authority_with_its_rule_and_filing(
    clock: Any, client_for: Any, lead: Any, auditor: Any, make_escalation: Any
) -> None:
    # After the UK's duty came into force (7 April 2026): the NCA is owed a dated report.
    clock.move_to(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    esc = make_escalation(knowledge_at=datetime(2026, 5, 4, 7, 0, tzinfo=UTC))
    esc = authority_services.answer_triage(
        actor=lead, escalation_id=esc.pk, version=esc.version, answers={"uk_linked": True}
    )
    nca = Destination.objects.get(code="nca")

    (due,) = _download(client_for(auditor), f"/escalations/{esc.pk}/evidence-pack/?format=json")["pack"]["authorities"]
    assert (due["authority"], due["state"], due["reference"], due["filed_at"]) == ("nca", "due", "", None)
    assert due["due_at"] is not None and due["outcome"] == "not yet due"
    assert due["rule"]["citation"].startswith("Online Safety Act 2023")

    legal_services.report_to_destination(
        actor=lead,
        escalation_id=esc.pk,
        version=None,
        destination_id=nca.pk,
        reported_at=datetime(2026, 5, 4, 8, 30, tzinfo=UTC),
        report_id="NCA-REF-77",
    )
    (filed,) = _download(client_for(auditor), f"/escalations/{esc.pk}/evidence-pack/?format=json")["pack"][
        "authorities"
    ]
    assert (filed["state"], filed["reference"], filed["filed_at"]) == ("filed", "NCA-REF-77", "2026-05-04T08:30:00Z")
    assert filed["outcome"] == "met"
    page = client_for(auditor).get(f"/escalations/{esc.pk}/evidence-pack/")
    assert b"NCA-REF-77" in page.content and b"Online Safety Act 2023" in page.content


def test_the_printable_pack_lists_annotations_in_words_not_as_a_python_list(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    esc = _reported(make_escalation, lead, clock)
    Escalation.objects.filter(pk=esc.pk).update(ncmec_annotations="sextortion,spam")
    page = client_for(lead).get(f"/escalations/{esc.pk}/evidence-pack/").content.decode()
    assert "<dd>sextortion, spam</dd>" in page
    assert "[&#x27;sextortion&#x27;" not in page
