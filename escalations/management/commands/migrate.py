"""Django's migrate, run as the tables' owner when DATABASE_MIGRATE_URL is set.

Production runs the web and the worker as a role that may only INSERT and SELECT the audit trail
(DATABASE_URL); such a role cannot create tables or triggers. With DATABASE_MIGRATE_URL set, this
command connects as that URL's role (the owner) for the migration, then grants DATABASE_URL's role
what the app needs (escalations.ops.db_roles), after every migration. Without it, it is Django's migrate.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS, connections

from escalations.ops import db_roles


class Command(MigrateCommand):
    help = (
        MigrateCommand.help + " With DATABASE_MIGRATE_URL set, connects as that role (the tables' owner) and then "
        "grants DATABASE_URL's role what the app may do."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        url = getattr(settings, "DATABASE_MIGRATE_URL", "")
        alias = options["database"]
        if not url or alias != DEFAULT_DB_ALIAS:
            super().handle(*args, **options)
            return
        with db_roles.as_owner(alias, url) as app_role:
            super().handle(*args, **options)
            connection = connections[alias]
            owner = connection.settings_dict.get("USER")
            if connection.vendor != "postgresql" or not app_role or app_role == owner:
                self.stdout.write("DATABASE_URL and DATABASE_MIGRATE_URL use the same role: nothing to grant.")
                return
            statements = db_roles.grant_app_role(alias, app_role)
            if options["verbosity"] >= 1:
                self.stdout.write(
                    f"Granted role {app_role} the app's privileges ({len(statements)} statements): it may only "
                    "INSERT and SELECT the audit trail, the access log and the integrity checks."
                )
