"""Need-to-know: record every page that shows escalations (an escalation's page and its action
forms, the compliance report, the dashboard's lists, legal requests) and every export, in the
request that made it, as one INSERT into AccessLog; and the read side of /access-log/.

Who reads what is decided elsewhere (escalations.core.selectors.visible_to); this module only remembers
that it happened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from escalations.models import AccessKind, AccessLog, Escalation

MAX_QUERY_CHARS = 2000


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR as the server saw it (behind a proxy: the proxy, unless it rewrites it)."""
    raw = (request.META.get("REMOTE_ADDR") or "").strip()
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _via(request: HttpRequest) -> str:
    token = getattr(request, "auth", None)
    name = getattr(token, "name", None)
    return f"token:{name}"[:120] if name else ""


def record(
    request: HttpRequest,
    *,
    kind: str,
    what: str,
    escalation: Escalation | int | None = None,
    query: str = "",
    at: datetime | None = None,
) -> AccessLog:
    """One INSERT: no read before it, no transaction of its own (it joins the request's)."""
    escalation_id = escalation.pk if isinstance(escalation, Escalation) else escalation
    user: Any = request.user
    return AccessLog.objects.create(
        user_id=user.pk,
        at=at or timezone.now(),
        kind=kind,
        escalation_id=escalation_id,
        what=what[:200],
        query=query[:MAX_QUERY_CHARS],
        ip_address=client_ip(request),
        via=_via(request),
    )


def viewed(request: HttpRequest, escalation: Escalation | int, what: str = "detail") -> AccessLog:
    return record(request, kind=AccessKind.VIEWED, what=what, escalation=escalation)


def viewed_many(request: HttpRequest, escalation_ids: Iterable[int], what: str, query: str = "") -> list[AccessLog]:
    """One row per escalation a page shows (each once, in the order given), so that an auditor finds
    every page that showed an escalation by filtering on it. No read before; one INSERT statement
    (SQLite splits it at its 999 parameters a statement: 111 rows), bounded by what one page shows.
    The rows returned have no pk."""
    unique = list(dict.fromkeys(escalation_ids))
    if not unique:
        return []
    user: Any = request.user
    at = timezone.now()
    ip_address, via = client_ip(request), _via(request)
    rows = [
        AccessLog(
            user_id=user.pk,
            at=at,
            kind=AccessKind.VIEWED,
            escalation_id=pk,
            what=what[:200],
            query=query[:MAX_QUERY_CHARS],
            ip_address=ip_address,
            via=via,
        )
        for pk in unique
    ]
    AccessLog.objects.append_many(rows)
    return rows


def exported(request: HttpRequest, export: str, query: str, escalation: Escalation | None = None) -> AccessLog:
    return record(request, kind=AccessKind.EXPORTED, what=export, escalation=escalation, query=query)


def entries() -> QuerySet[AccessLog]:
    return AccessLog.objects.select_related("user").order_by("-at", "-pk")
