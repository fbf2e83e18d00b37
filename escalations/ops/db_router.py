"""A read replica for the dashboard and the exports (DATABASE_REPLICA_URL).

Those are the heaviest reads and they tolerate a replica's lag of a few seconds; everything else
(sign-in, sessions, pages that act, the sweep) reads the primary, which is always current. So the
replica is used only while ReplicaReadsMiddleware has marked the request, and only for this app's own
tables: sessions, users, lockouts and devices are read from the primary even then (a session written
a moment ago on the primary may not have reached the replica). Writes always go to the primary: an
export's audit event is written there while its rows are read from the replica.

The flag lives in a context variable, set at the start of each request (never inherited from the
previous one on the same thread) and cleared when the response is closed (a streamed export is read
after the view returned).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import request_finished

REPLICA = "replica"
# The URL names whose GET requests read from the replica, and any GET with ?_export= (every table's
# CSV/XLSX export). Settable (REPLICA_URL_NAMES) so an operator can narrow it.
DEFAULT_REPLICA_URL_NAMES = ("dashboard", "compliance_report", "escalations:audit_csv")

use_replica: contextvars.ContextVar[bool] = contextvars.ContextVar("use_replica", default=False)


class ReplicaRouter:
    """Reads of this app's models, users and groups go to the replica while the request is marked."""

    app_labels = frozenset({"escalations", "auth"})

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        if use_replica.get() and model._meta.app_label in self.app_labels:  # type: ignore[attr-defined]
            return REPLICA
        return None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The replica holds the same rows as the primary: objects read from either may be related.
        if {obj1._state.db, obj2._state.db} <= {"default", REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        # The replica follows the primary by replication; migrate never writes to it.
        return False if db == REPLICA else None


def reads_from_replica(request: Any) -> bool:
    """Whether this request's reads of our tables may come from the replica."""
    if request.method not in ("GET", "HEAD") or REPLICA not in settings.DATABASES:
        return False
    if "_export" in request.GET:
        return True
    match = getattr(request, "resolver_match", None)
    names = getattr(settings, "REPLICA_URL_NAMES", DEFAULT_REPLICA_URL_NAMES)
    return match is not None and match.view_name in names


class ReplicaReadsMiddleware:
    """Marks the dashboard's and the exports' requests (after URL resolution, so that the view's name
    is known; after sign-in, whose reads stay on the primary)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        use_replica.set(False)
        return self.get_response(request)

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        use_replica.set(reads_from_replica(request))


def _request_finished(**_: Any) -> None:
    use_replica.set(False)


request_finished.connect(_request_finished, dispatch_uid="escalations_replica_reads_finished")
