"""Coop's public keys in the admin: admins only, checked when pasted (PEM or JWK, public, RSA of at
least 2048 bits), audited with the key's fingerprint, deactivated rather than deleted."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from escalations.integrations.coop_keys import save_coop_key
from escalations.integrations.coop_signature import BadPublicKey, load_public_key
from escalations.models import AuditAction, AuditEvent, CoopPublicKey
from tests.integrations.coop.conftest import coop_jwk, coop_pem

pytestmark = pytest.mark.django_db
ADD = "/admin/escalations/cooppublickey/add/"


@pytest.fixture
def admin_client(client_for: Any) -> Any:
    return client_for(get_user_model().objects.create_superuser("root", "root@example.org", "root-pass-123456"))


def test_an_admin_pastes_coops_pem_and_the_addition_is_audited(admin_client: Any, coop_private_key: Any) -> None:
    response = admin_client.post(
        ADD, {"name": "Coop production", "key_text": coop_pem(coop_private_key), "is_active": "on"}
    )
    assert response.status_code == 302
    key = CoopPublicKey.objects.get()
    assert key.fingerprint == load_public_key(coop_jwk(coop_private_key)).fingerprint  # PEM and JWK: one key
    event = AuditEvent.objects.get(action=AuditAction.COOP_KEY_ADDED)
    assert event.actor is not None and event.actor.get_username() == "root"
    assert event.changes == {"coop_key": "Coop production", "fingerprint": key.fingerprint, "active": True}
    assert "BEGIN PUBLIC KEY" not in str(event.changes)


def test_a_private_key_or_garbage_is_refused_with_the_reason(admin_client: Any, coop_private_key: Any) -> None:
    private_pem = coop_private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    for text, why in [
        (private_pem, "never the private one"),
        ("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----", "can&#x27;t be read"),
        ('{"kty": "EC", "crv": "P-256"}', "must be RSA"),
    ]:
        response = admin_client.post(ADD, {"name": "x", "key_text": text, "is_active": "on"})
        assert response.status_code == 200 and why in response.content.decode(), text
    assert (
        not CoopPublicKey.objects.exists() and not AuditEvent.objects.filter(action=AuditAction.COOP_KEY_ADDED).exists()
    )


def test_weak_or_non_rsa_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the weak key is the point)
    with pytest.raises(BadPublicKey, match="1024 bits"):
        load_public_key(coop_pem(weak))
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(BadPublicKey, match="RSA"):
        load_public_key(ec_pem)


def test_only_admins_manage_keys(client_for: Any, lead: Any, coop_private_key: Any) -> None:
    assert client_for(lead).get(ADD).status_code in (302, 403)
    with pytest.raises(PermissionDenied):
        save_coop_key(actor=lead, key=CoopPublicKey(name="x", key_text=coop_pem(coop_private_key)))
    assert not CoopPublicKey.objects.exists()


def test_a_key_is_deactivated_not_deleted(admin_client: Any, coop_private_key: Any) -> None:
    admin_client.post(ADD, {"name": "Coop", "key_text": coop_pem(coop_private_key), "is_active": "on"})
    key = CoopPublicKey.objects.get()
    assert admin_client.get(f"/admin/escalations/cooppublickey/{key.pk}/delete/").status_code == 403
    admin_client.post(f"/admin/escalations/cooppublickey/{key.pk}/change/", {"name": "Coop", "key_text": key.key_text})
    key.refresh_from_db()
    assert key.is_active is False
    assert AuditEvent.objects.get(action=AuditAction.COOP_KEY_CHANGED).changes["active"] is False
