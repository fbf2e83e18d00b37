"""Evidence items per escalation are capped (EVIDENCE_ITEMS_MAX): rows of hex digests are text that
anyone recording evidence writes, and without a cap they could carry anything in quantity. The item
past the cap is refused with a message that says why and what to do; nothing is written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from escalations.legal import services as legal_services
from escalations.models import AuditEvent, EvidenceItem


def _add(actor: Any, esc: Any, n: int) -> EvidenceItem:
    return legal_services.add_evidence_item(
        actor=actor,
        escalation_id=esc.pk,
        version=None,
        reference=f"evidence-store://case/81/item/{n}",
        hash_algorithm="sha256",
        digest=f"{n:064x}",
        size_bytes=1024,
    )


@pytest.fixture
def reported(make_escalation: Any, moderator: Any) -> Any:
    now = timezone.now()
    return make_escalation(knowledge_at=now - timedelta(hours=3), reported_at=now - timedelta(hours=2))


def test_the_cap_is_200_by_default(settings: Any) -> None:
    assert settings.EVIDENCE_ITEMS_MAX == 200


def test_an_item_past_the_cap_is_refused_and_nothing_is_written(settings: Any, reported: Any, moderator: Any) -> None:
    settings.EVIDENCE_ITEMS_MAX = 3
    for n in range(3):
        _add(moderator, reported, n)
    items, events = EvidenceItem.objects.count(), AuditEvent.objects.count()
    reported.refresh_from_db()
    version = reported.version
    with pytest.raises(ValidationError) as exc:
        _add(moderator, reported, 4)
    assert " ".join(exc.value.messages) == (
        f"{reported.key} already has 3 evidence items, the most one escalation holds (EVIDENCE_ITEMS_MAX). Keep "
        "the rest in the evidence store under one reference and record that as one item, or ask an admin to "
        "raise the limit."
    )
    assert (EvidenceItem.objects.count(), AuditEvent.objects.count()) == (items, events)
    reported.refresh_from_db()
    assert reported.version == version


def test_the_page_says_so(settings: Any, reported: Any, moderator: Any, client_for: Any) -> None:
    settings.EVIDENCE_ITEMS_MAX = 1
    _add(moderator, reported, 1)
    reported.refresh_from_db()
    response = client_for(moderator).post(
        f"/escalations/{reported.pk}/evidence/",
        {
            "version": reported.version,
            "reference": "evidence-store://case/81/item/9",
            "hash_algorithm": "sha256",
            "digest": "ab" * 32,
            "size_bytes": "10",
        },
    )
    assert response.status_code == 200
    assert "already has 1 evidence item, the most one escalation holds" in response.content.decode()
    assert EvidenceItem.objects.count() == 1
