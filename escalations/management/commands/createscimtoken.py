"""`manage.py createscimtoken NAME`: a SCIM bearer token for an identity provider, printed once (only
its hash is stored). Audited as created by no one (a command has no signed-in person)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from escalations.accounts import scim_tokens


class Command(BaseCommand):
    help = "Create a SCIM bearer token (printed once) for an identity provider's provisioning."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who uses it, e.g. 'Okta production'.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            token, raw = scim_tokens.create_token(actor=None, name=name)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stderr.write(f"SCIM token {token.name!r} created. It is shown once; store it in the provider now.")
        self.stdout.write(raw)
