from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "escalations"
    verbose_name = "Escalations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from escalations.core.append_only import ensure_triggers
        from escalations.ops import metrics
        from escalations.web import tables_signature

        tables_signature.install()
        # Delivery attempts and their lateness, counted for /metrics wherever the sweep runs.
        metrics.connect()
        # Signal receivers: the sign-in note and the security events (sign-ins, failures, lockouts,
        # membership and device changes), and the lockout tables' request bodies kept out.
        from escalations.accounts import lockout, security_events, two_factor  # noqa: F401

        security_events.connect_lockout_signal()
        # A person's cached row (production) goes when anything about them that a request reads changes.
        from escalations.accounts import request_context

        request_context.connect()

        # The admin's page for Coop's keys lives with the integration, on the admin's own layer.
        from escalations.integrations import coop_admin

        coop_admin.register()

        # After every migrate, whatever it rebuilt: the audit trail stays append-only.
        post_migrate.connect(ensure_triggers, sender=self, dispatch_uid="escalations_append_only")
