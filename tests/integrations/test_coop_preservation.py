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
from tests.integrations.conftest import URL, coop_body, coop_jwk, coop_sign

pytestmark = [pytest.mark.integrations, pytest.mark.django_db]

CLOCK_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def coop_count(outcome: str) -> int:
    return counted_figures()[f"metrics:v1:coop:{outcome}"]


def nothing_written() -> bool:
    return not Escalation.objects.exists() and not CoopReceipt.objects.exists() and not EvidenceItem.objects.exists()


# --- accepted ----------------------------------------------------------------------------------------


def test_a_new_report_creates_a_reported_escalation_with_its_media(coop_post: Any, coop_key_setting: str, clock: Any) -> None:
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
