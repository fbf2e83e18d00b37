"""`python manage.py makepackkey`: a new Ed25519 key for signing evidence packs. The private key goes
to standard output (put it in EVIDENCE_PACK_SIGNING_KEY, a secret); its public key and fingerprint to
standard error, for the auditors."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from django.core.management.base import BaseCommand

from escalations.core import pack_signing


class Command(BaseCommand):
    help = "Print a new Ed25519 private key (PEM) for EVIDENCE_PACK_SIGNING_KEY; its public key to stderr."

    def handle(self, *args: Any, **options: Any) -> None:
        private_pem = pack_signing.new_private_key_pem()
        private = serialization.load_pem_private_key(private_pem.encode(), password=None)
        public = private.public_key()
        assert isinstance(public, pack_signing.Ed25519PublicKey)
        self.stdout.write(private_pem, ending="")
        self.stderr.write(pack_signing.public_key_pem(public), ending="")
        self.stderr.write(f"fingerprint {pack_signing.fingerprint(public)}")
