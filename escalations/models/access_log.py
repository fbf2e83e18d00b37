"""The access log: who opened or exported which escalation's details, and when. Append-only and chained
like the audit trail, so a read that is denied or hidden is still on record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models

from escalations.models import audit_digest
from escalations.models.escalation import Escalation, format_key


class AccessKind(models.TextChoices):
    VIEWED = "viewed", "Viewed escalation"
    EXPORTED = "exported", "Exported"


class AppendOnlyQuerySet(models.QuerySet["AccessLog"]):
    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        # bulk_create skips save(): digest each row here (the insert trigger chains them).
        rows = list(objs)
        for row in rows:
            row.digest_payload()
        return super().bulk_create(rows, *args, **kwargs)

    def append_many(self, objs: list[AccessLog]) -> None:
        """INSERT `objs` with only the columns the app writes: the chain's columns are the insert
        trigger's (their database defaults stand in until it runs), so a row costs 9 parameters, not
        12, and a page's rows fit one statement under SQLite's 999 (111 rows). The objects get no pk."""
        if not objs:
            return
        from django.db import connections

        connection = connections[self.db]
        fields = [field for field in AccessLog._meta.concrete_fields if field.name in AccessLog.APP_WRITES]
        per_statement = len(objs)
        limit = connection.features.max_query_params
        if connection.vendor == "sqlite" and limit:
            per_statement = max(limit // len(fields), 1)
        table = connection.ops.quote_name(AccessLog._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        for obj in objs:
            obj.digest_payload()
        with connection.cursor() as cursor:
            for start in range(0, len(objs), per_statement):
                chunk = objs[start : start + per_statement]
                params = [
                    field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in chunk for field in fields
                ]
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(chunk))}",  # noqa: S608
                    params,
                )

    def update(self, **kwargs: object) -> int:
        raise PermissionError("the access log is append-only: UPDATE refused")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("the access log is append-only: DELETE refused")


class AccessLog(models.Model):
    """Need-to-know: who read which escalation, or took which export, when, and from where.
    One INSERT in the request that read it (escalations.compliance.access_log); append-only: the model refuses
    updates and deletes, and database triggers (migration 0010) refuse them at a SQL prompt too."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16, choices=AccessKind.choices)
    # Empty for an export of many escalations (a list, the compliance report).
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.PROTECT, related_name="access_log"
    )
    # What was read: "detail" for the page, the export's name ("escalations.csv", "ESC-000001-audit-trail.csv").
    what = models.CharField(max_length=200)
    # The export's filters (the query string), cut to a bounded length.
    query = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # How the reader came when not in person: "token:<name>" for a service token.
    via = models.CharField(max_length=120, blank=True)
    # Chained like AuditEvent: the escalation's chain, or minus the reader's id for a read of no
    # single escalation; set by the database's insert trigger.
    chain = models.BigIntegerField(default=0, db_default=0, editable=False)
    seq = models.BigIntegerField(default=0, db_default=0, editable=False)
    payload_digest = models.CharField(max_length=64, default="", editable=False)
    chain_digest = models.CharField(max_length=64, default="", db_default="", editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    # What the app writes; the rest (the chain's columns) is the insert trigger's.
    APP_WRITES = ("user", "at", "kind", "escalation", "what", "query", "ip_address", "via", "payload_digest")

    class Meta:
        verbose_name = "access log entry"
        verbose_name_plural = "access log entries"
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["user", "at"], name="accesslog_user_at"),
            models.Index(fields=["escalation", "at"], name="accesslog_escalation_at"),
        ]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="accesslog_chain_seq")]

    def __str__(self) -> str:
        subject = format_key(self.escalation_id) if self.escalation_id else self.what
        return f"{self.user_id} {self.kind} {subject} at {self.at:%Y-%m-%d %H:%M:%S}Z"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise PermissionError("the access log is append-only: UPDATE refused")
        self.digest_payload()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def digest_payload(self) -> None:
        """Set payload_digest over what will be stored (before an INSERT)."""
        self.payload_digest = audit_digest.access_payload_digest(
            user_id=self.user_id,
            at=self.at,
            kind=self.kind,
            escalation_id=self.escalation_id,
            what=self.what,
            query=self.query,
            ip_address=self.ip_address,
            via=self.via,
        )

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("the access log is append-only: DELETE refused")

    @property
    def escalation_key(self) -> str:
        return format_key(self.escalation_id) if self.escalation_id else ""
