"""`python manage.py verifypack FILE`: whether an evidence pack is exactly as this deployment signed it.
Exit status 0 when it is, 1 when it is not (changed, signed by another key, not a pack)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from escalations.core import pack_signing


class Command(BaseCommand):
    help = "Check an evidence pack's Ed25519 signature against this deployment's key (or --public-key)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The pack as downloaded (JSON).")
        parser.add_argument(
            "--public-key",
            help="Trust this public key (a PEM file, or the base64 of its 32 bytes) instead of this deployment's.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"{path}: not a readable JSON file ({exc})") from exc
        trusted_text = options.get("public_key")
        try:
            if trusted_text:
                key_path = Path(trusted_text)
                trusted = pack_signing.load_public_key(key_path.read_text() if key_path.exists() else trusted_text)
            else:
                trusted = pack_signing.deployment_public_key()
        except (ValueError, pack_signing.SigningKeyMissing) as exc:
            raise CommandError(f"No key to check against: {exc}") from exc
        verdict = pack_signing.verify(document, trusted)
        if not verdict.ok:
            raise CommandError(f"{path}: NOT VALID: {verdict.reason}")
        pack = document["pack"]
        subject = pack.get("escalation", {}).get("key") if pack.get("kind") == "escalation" else pack.get("period")
        self.stdout.write(
            f"{path}: valid: {pack.get('kind')} pack of {subject}, generated {pack.get('generated_at')} by "
            f"{pack.get('generated_by')}, signed by key {verdict.fingerprint}"
        )
