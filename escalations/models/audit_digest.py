"""The digests that chain the audit trail and the access log: pure functions, no ORM, no clock.

Each row carries `payload_digest`, SHA-256 over a canonical JSON of what the row says (written by
the app, from these functions), and `chain_digest`, SHA-256 over the previous row's chain digest in
the same chain, the row's sequence number and its payload digest (written by the database's insert
trigger, escalations.core.append_only, which also keeps the chain's head). The chain covers the payload's
digest, not the payload: a redaction replaces a value in the payload with a marker and leaves both
digests as they were, so the chain stays whole, and the approved redaction (itself a chained audit
event) names the rows it changed and their new payload digests (escalations.core.audit_verify).

The formats are part of the stored data: rows written years ago are verified with them. Change
them only by adding a new format next to these, never by editing these.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

# The first element of every canonical payload: which format the digest was made with.
AUDIT_FORMAT = "audit-event/1"
ACCESS_FORMAT = "access-log/1"
# The chain digest of "the row before the first": the empty string.
GENESIS = ""


def json_safe(value: Any) -> Any:
    """What a JSONField gives back after storing `value`: dates as ISO strings, tuples as lists."""
    return json.loads(DjangoJSONEncoder().encode(value))


def _canonical(values: list[Any]) -> bytes:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _moment(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _ip(value: str | None) -> str | None:
    # PostgreSQL's inet and Python may spell one IPv6 address differently: digest one spelling.
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return str(value)


def audit_payload_digest(
    *,
    escalation_id: int | None,
    actor_id: int | None,
    at: datetime,
    action: str,
    changes: Any,
    reason: str,
    version: int,
    via: str,
) -> str:
    payload = [AUDIT_FORMAT, escalation_id, actor_id, _moment(at), action, changes, reason or "", version, via or ""]
    return hashlib.sha256(_canonical(payload)).hexdigest()


def access_payload_digest(
    *,
    user_id: int,
    at: datetime,
    kind: str,
    escalation_id: int | None,
    what: str,
    query: str,
    ip_address: str | None,
    via: str,
) -> str:
    payload = [ACCESS_FORMAT, user_id, _moment(at), kind, escalation_id, what or "", query or "", _ip(ip_address), via]
    return hashlib.sha256(_canonical(payload)).hexdigest()


def link(previous: str, seq: int, payload_digest: str) -> str:
    """The chain digest of the row numbered `seq` whose predecessor's chain digest is `previous`.
    The database triggers compute the same: sha256(previous || '|' || seq || '|' || payload_digest)."""
    return hashlib.sha256(f"{previous}|{seq}|{payload_digest}".encode()).hexdigest()


def audit_chain_of(escalation_id: int | None, actor_id: int | None) -> int:
    """Which chain an audit event belongs to: its escalation's; for an event about no escalation
    (an export of a list, a change to someone's sign-in) its actor's, as minus the actor's id; 0 for
    the system's. The insert trigger computes the same."""
    if escalation_id is not None:
        return escalation_id
    return -actor_id if actor_id is not None else 0


def access_chain_of(escalation_id: int | None, user_id: int) -> int:
    """The escalation's chain, or for a read of no single escalation the reader's (minus their id)."""
    return escalation_id if escalation_id is not None else -user_id
