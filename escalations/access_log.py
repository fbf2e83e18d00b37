"""Need-to-know (issue 7): record every read of an escalation's detail and every export, in the
request that made it, as one INSERT into AccessLog; and the read side of /access-log/.

Who reads what is decided elsewhere (escalations.selectors.visible_to); this module only remembers
that it happened.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .models import AccessKind, AccessLog, Escalation

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


def exported(request: HttpRequest, export: str, query: str, escalation: Escalation | None = None) -> AccessLog:
    return record(request, kind=AccessKind.EXPORTED, what=export, escalation=escalation, query=query)


def entries() -> QuerySet[AccessLog]:
    return AccessLog.objects.select_related("user").order_by("-at", "-pk")
