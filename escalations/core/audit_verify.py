"""Walk every chain of the audit trail and the access log and name what is broken.

A row is verified when its payload digest matches what it says (or, after an approved redaction,
the digest that redaction recorded for it), its number follows the row before it, its chain digest
follows from that row's, it belongs to the chain it is filed in, and it is not dated before the row
before it (beyond AUDIT_CHAIN_CLOCK_SKEW_SECONDS: each writer reads the clock just before it waits
for the chain). Each chain must end where its head (ChainHead, a table a TRUNCATE of the rows does
not reach) says; and no log may hold fewer rows than the previous check counted, which notices rows
removed together with their heads. Rows are streamed in (chain, seq) order alongside the heads, so
memory stays flat however long the trail is: a million audit events take about 30 s and 100 MB
(PostgreSQL, 2 shared cores).

What is found:
- an edited row: "ESC-000123 event #7 (id 991): payload digest mismatch (the row was edited)";
- a row rewritten other than by an approved redaction's own marker: every marker in the trail must be
  exactly that of an approved request (decided by someone other than its requester, its marker built
  from its own key and approval date) whose redaction event names the row; never under a key that is
  not free text (redaction_text.LOCKED_KEYS); and a row a redaction names must hold its marker;
- a deleted row: the next row says "#7 is missing before it";
- rows removed at the end, or a TRUNCATE: the head says more rows than there are;
- a forged row inserted with the triggers off: its chain digest does not follow, or it lies beyond
  the head; one inserted through the triggers with an old date: dated before the row before it.

Each check is recorded (AuditVerification, append-only) with a digest over every head, and logged:
the logs, kept where the database's owner cannot rewrite them, are the anchor against someone who
rewrites a whole chain and its head.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.utils import timezone

from escalations.core.people import User
from escalations.core.redaction_text import LOCKED_KEYS
from escalations.models import (
    AccessLog,
    AuditAction,
    AuditBreakAcknowledgement,
    AuditEvent,
    AuditVerification,
    ChainHead,
    ChainLog,
    RedactionRequest,
    SweepHeartbeat,
    audit_digest,
    format_key,
)

log = logging.getLogger(__name__)

CHUNK = 10_000
# Breaks kept on the verification row (the command prints them all).
KEPT_BREAKS = 50
HEARTBEAT = "audit-verify"
# A check that started this long ago without finishing (its process died) may be started again.
CLAIM_TIMEOUT = timedelta(hours=1)


@dataclass(frozen=True)
class Break:
    where: str
    problem: str
    log: str = ChainLog.AUDIT

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class Tally:
    rows: int = 0
    verified: int = 0
    broken: int = 0


@dataclass
class Result:
    audit: Tally = field(default_factory=Tally)
    access: Tally = field(default_factory=Tally)
    chains: int = 0
    breaks: list[Break] = field(default_factory=list)
    # Breaks an admin acknowledged (verifyaudit --acknowledge): listed, not counted as broken.
    acknowledged: list[Break] = field(default_factory=list)
    heads_digest: str = ""

    @property
    def ok(self) -> bool:
        return not self.breaks

    def lines(self) -> list[str]:
        lines = []
        for tally, log, first in (
            (self.audit, ChainLog.AUDIT, "audit chain: events"),
            (self.access, ChainLog.ACCESS, "access log chain: rows"),
        ):
            line = f"{first}={tally.rows} verified={tally.verified} broken={tally.broken}"
            known = sum(1 for b in self.acknowledged if b.log == log)
            lines.append(f"{line} acknowledged={known}" if known else line)
        return lines


@dataclass(frozen=True)
class _Log:
    log: str
    noun: str  # one row, as a break names it
    rows: Callable[[], Iterable[tuple[Any, ...]]]
    chain_of: Callable[[tuple[Any, ...]], int]
    payload_of: Callable[[tuple[Any, ...]], str]
    # The row's text a redaction may have rewritten, as (key, text): the key of the event's changes
    # it sits under (None for the reason, the query).
    texts: Callable[[tuple[Any, ...]], Iterator[tuple[str | None, str]]]


@dataclass
class _Redactions:
    """What approved redactions rewrote: (log, row id) -> the row's payload digest after it, and the
    markers each such row may hold (those of the approved requests that name it)."""

    digests: dict[tuple[str, int], str] = field(default_factory=dict)
    markers: dict[tuple[str, int], set[str]] = field(default_factory=dict)


# Anything that reads like a redaction's marker; only the marker of an approved request that names
# the row may stand in it.
_MARKER_LIKE = re.compile(r"\[redacted [^\]]*\]")
_MARKER_PARTS = re.compile(r"^\[redacted (\d{4}-\d{2}-\d{2}) by [^\]]+: (RR-\d+)\]$")


def _strings(value: Any, key: str | None) -> Iterator[tuple[str | None, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for inner_key, item in value.items():
            # A key that is never free text names itself; under a free-text key, the free-text key.
            inner = inner_key if inner_key in LOCKED_KEYS or key is None else key
            yield from _strings(item, inner)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)


def _audit_texts(row: tuple[Any, ...]) -> Iterator[tuple[str | None, str]]:
    action, changes, reason = row[8], row[9], row[10]
    if action == AuditAction.REDACTED and isinstance(changes, dict):
        # The act itself names its marker (checked against its request in _redactions).
        changes = {key: value for key, value in changes.items() if key != "marker"}
    yield from _strings(changes, None)
    if isinstance(reason, str):
        yield None, reason


def _access_texts(row: tuple[Any, ...]) -> Iterator[tuple[str | None, str]]:
    if isinstance(row[10], str):
        yield None, row[10]


# Every row is read as (id, chain, seq, payload_digest, chain_digest, at, *payload fields).
_AUDIT_FIELDS = ("escalation_id", "actor_id", "action", "changes", "reason", "version", "via")
_ACCESS_FIELDS = ("user_id", "kind", "escalation_id", "what", "query", "ip_address", "via")
_HEAD = ("id", "chain", "seq", "payload_digest", "chain_digest", "at")


def _audit_payload(row: tuple[Any, ...]) -> str:
    escalation_id, actor_id, action, changes, reason, version, via = row[6:]
    return audit_digest.audit_payload_digest(
        escalation_id=escalation_id,
        actor_id=actor_id,
        at=row[5],
        action=action,
        changes=changes,
        reason=reason,
        version=version,
        via=via,
    )


def _access_payload(row: tuple[Any, ...]) -> str:
    user_id, kind, escalation_id, what, query, ip_address, via = row[6:]
    if ip_address is not None:
        ip_address = str(ip_address)
    return audit_digest.access_payload_digest(
        user_id=user_id,
        at=row[5],
        kind=kind,
        escalation_id=escalation_id,
        what=what,
        query=query,
        ip_address=ip_address,
        via=via,
    )


def _stream(table: str, columns: tuple[str, ...], json_column: int | None) -> Iterator[tuple[Any, ...]]:
    """Every row of `table` in (chain, seq) order, through a server-side cursor where the database
    has one, without the ORM's per-row conversions (they cost more than the digests): the time
    column made an aware datetime, the JSON column parsed."""
    from django.db import connection

    sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY chain, seq"  # noqa: S608 (our own names)
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql)
        while rows := cursor.fetchmany(CHUNK):
            for row in rows:
                values = list(row)
                at = values[5]
                if isinstance(at, str):
                    at = datetime.fromisoformat(at)
                # Django keeps UTC on SQLite without an offset.
                values[5] = at.replace(tzinfo=UTC) if at.tzinfo is None else at
                if json_column is not None and isinstance(values[json_column], str | bytes):
                    values[json_column] = json.loads(values[json_column])
                yield tuple(values)


def _logs() -> tuple[_Log, _Log]:
    return (
        _Log(
            ChainLog.AUDIT,
            "event",
            lambda: _stream(AuditEvent._meta.db_table, (*_HEAD, *_AUDIT_FIELDS), len(_HEAD) + 3),
            lambda row: audit_digest.audit_chain_of(row[6], row[7]),
            _audit_payload,
            _audit_texts,
        ),
        _Log(
            ChainLog.ACCESS,
            "access-log row",
            lambda: _stream(AccessLog._meta.db_table, (*_HEAD, *_ACCESS_FIELDS), None),
            lambda row: audit_digest.access_chain_of(row[8], row[6]),
            _access_payload,
            _access_texts,
        ),
    )


class _Names:
    """How a break names a chain: ESC-000123, or a person's rows about no escalation."""

    def __init__(self) -> None:
        self.usernames: dict[int, str] = {}

    def chain(self, chain: int) -> str:
        if chain > 0:
            return format_key(chain)
        if chain == 0:
            return "the system's rows"
        user_id = -chain
        if user_id not in self.usernames:
            user = get_user_model().objects.filter(pk=user_id).first()
            self.usernames[user_id] = user.get_username() if user else f"user #{user_id}"
        return f"{self.usernames[user_id]}'s rows about no escalation"


def _span(first: int, last: int, noun: str) -> str:
    return f"#{first} is" if first == last else f"#{first} to #{last} ({last - first + 1} {noun}s) are"


def _own_marker(request: RedactionRequest) -> bool:
    """Is the request's marker the one format built from the request itself (its key and approval
    date), as the database checked when it was approved?"""
    parts = _MARKER_PARTS.match(request.marker or "")
    approved_at = request.approved_at
    if parts is None or approved_at is None:
        return False
    return parts.group(1) == f"{approved_at.astimezone(UTC):%Y-%m-%d}" and parts.group(2) == request.key


def _redactions(result: Result, names: _Names) -> _Redactions:
    """What approved redactions rewrote. A redaction event that names no request approved by an admin
    other than its requester, with its own marker, is a break."""
    approved = {
        request.pk: request
        for request in RedactionRequest.objects.filter(approved_at__isnull=False, approved_by__isnull=False).exclude(
            approved_by=F("requested_by")
        )
        if _own_marker(request)
    }
    found = _Redactions()
    events = (
        AuditEvent.objects.filter(action=AuditAction.REDACTED)
        .order_by("at", "pk")
        .values_list("pk", "chain", "seq", "changes")
    )
    for pk, chain, seq, changes in events:
        details = changes if isinstance(changes, dict) else {}
        request = approved.get(details.get("request_id"))  # type: ignore[arg-type]
        if request is None or details.get("marker") != request.marker:
            result.breaks.append(
                Break(
                    f"{names.chain(chain)} event #{seq} (id {pk})",
                    f"a redaction that names {details.get('request', 'no request')}, which no admin other than "
                    "its requester approved with its own marker",
                )
            )
            continue
        for log_name, key in ((ChainLog.AUDIT, "audit_events"), (ChainLog.ACCESS, "access_log")):
            for row_id, digest in (details.get(key) or {}).items():
                found.digests[(log_name, int(row_id))] = digest
                found.markers.setdefault((log_name, int(row_id)), set()).add(request.marker)
    return found


def _marker_problems(spec: _Log, row: tuple[Any, ...], allowed: set[str], rewritten: bool) -> list[str]:
    """Every marker in the row must be that of an approved redaction naming it, never under a key that
    is not free text; a row accepted as rewritten by a redaction must hold its marker."""
    problems: list[str] = []
    held = False
    for key, text in spec.texts(row):
        if "[redacted " not in text:
            continue
        for marker in _MARKER_LIKE.findall(text):
            if key in LOCKED_KEYS:
                problems.append(f"a redaction marker stands for {key}, which is never free text")
            elif marker not in allowed:
                problems.append(f"holds {marker!r}, which no approved redaction naming this {spec.noun} wrote")
            else:
                held = True
    if rewritten and not held:
        problems.append("a redaction names this row, but it holds no marker of that redaction (the row was edited)")
    return problems


def _walk_chain(
    spec: _Log,
    chain: int,
    rows: Iterator[tuple[Any, ...]],
    head: tuple[int, int, str] | None,
    rewritten: _Redactions,
    skew: timedelta,
    tally: Tally,
    names: _Names,
) -> list[Break]:
    breaks: list[Break] = []
    expected, previous, last_seq = 1, audit_digest.GENESIS, 0
    latest: datetime | None = None
    for row in rows:
        row_id, _, seq, payload_digest, chain_digest, at = row[:6]
        tally.rows += 1
        problems: list[str] = []
        belongs = spec.chain_of(row)
        if belongs != chain:
            problems.append(f"filed in this chain but belongs to {names.chain(belongs)}'s")
        if seq > expected:
            problems.append(f"{spec.noun} {_span(expected, seq - 1, spec.noun)} missing before it (deleted)")
        elif seq < expected:
            problems.append(f"a second {spec.noun} numbered #{seq}")
        elif audit_digest.link(previous, seq, payload_digest) != chain_digest:
            problems.append(
                f"chain digest does not follow from {spec.noun} #{seq - 1} (inserted or rewritten outside the chain)"
            )
        computed = spec.payload_of(row)
        through_redaction = computed != payload_digest
        if through_redaction and rewritten.digests.get((spec.log, row_id)) != computed:
            problems.append("payload digest mismatch (the row was edited)")
        problems += _marker_problems(spec, row, rewritten.markers.get((spec.log, row_id), set()), through_redaction)
        if latest is not None and at < latest - skew:
            problems.append(
                f"dated {at:%Y-%m-%d %H:%M:%S}Z, before the {spec.noun} before it ({latest:%Y-%m-%d %H:%M:%S}Z): "
                "back-dated"
            )
        if problems:
            breaks.append(
                Break(f"{names.chain(chain)} {spec.noun} #{seq} (id {row_id})", "; ".join(problems), spec.log)
            )
        else:
            tally.verified += 1
        previous, expected, last_seq = chain_digest, seq + 1, seq
        latest = at if latest is None else max(latest, at)
    where = names.chain(chain)
    if head is None:
        breaks.append(
            Break(
                where, f"{spec.noun}s with no chain head (written while the chain trigger was off, or the head removed)"
            )
        )
    elif head[1] > last_seq:
        gone = _span(last_seq + 1, head[1], spec.noun)
        breaks.append(Break(where, f"the chain head says #{head[1]}: {spec.noun} {gone} gone (deleted or truncated)"))
    elif head[1] < last_seq:
        beyond = _span(head[1] + 1, last_seq, spec.noun)
        breaks.append(
            Break(where, f"{spec.noun} {beyond} beyond the chain head #{head[1]} (written outside the chain)")
        )
    elif head[2] != previous:
        breaks.append(Break(where, f"the chain head's digest differs from {spec.noun} #{last_seq}'s"))
    return breaks


def _walk(spec: _Log, rewritten: _Redactions, skew: timedelta, result: Result, names: _Names) -> None:
    tally = result.audit if spec.log == ChainLog.AUDIT else result.access
    digest = hashlib.sha256()
    heads = iter(
        ChainHead.objects.filter(log=spec.log).order_by("chain").values_list("chain", "seq", "digest").iterator(CHUNK)
    )

    def remember(head: tuple[int, int, str]) -> None:
        result.chains += 1
        digest.update(f"{spec.log}|{head[0]}|{head[1]}|{head[2]}\n".encode())

    def orphan(head: tuple[int, int, str]) -> None:
        remember(head)
        if head[1] > 0:
            broken.append(
                Break(
                    names.chain(head[0]),
                    f"the chain head says {head[1]} {spec.noun}s; none is left (deleted or truncated)",
                )
            )

    broken: list[Break] = []
    head = next(heads, None)
    for chain, rows in itertools.groupby(spec.rows(), key=lambda row: row[1]):
        while head is not None and head[0] < chain:
            orphan(head)
            head = next(heads, None)
        mine = head if head is not None and head[0] == chain else None
        if mine is not None:
            remember(mine)
            head = next(heads, None)
        broken += _walk_chain(spec, chain, rows, mine, rewritten, skew, tally, names)
    while head is not None:
        orphan(head)
        head = next(heads, None)
    result.breaks += [Break(b.where, b.problem, spec.log) for b in broken]
    result.heads_digest = hashlib.sha256(f"{result.heads_digest}{digest.hexdigest()}".encode()).hexdigest()


def _compare_with_last_check(result: Result) -> None:
    """Rows removed together with their heads leave chains that look whole: the counts of the
    previous check notice them."""
    last = AuditVerification.objects.order_by("-finished_at", "-pk").first()
    if last is None:
        return
    when = f"{last.finished_at:%Y-%m-%d %H:%M}Z"
    for tally, before, noun in (
        (result.audit, last.events, "audit events"),
        (result.access, last.access_rows, "access-log rows"),
    ):
        if tally.rows < before:
            result.breaks.append(
                Break(
                    noun.capitalize(),
                    f"{before - tally.rows} fewer than the check of {when} counted ({before}, now {tally.rows}): "
                    "rows were removed together with their chain heads",
                    ChainLog.AUDIT if tally is result.audit else ChainLog.ACCESS,
                )
            )


def verify() -> Result:
    """Walk every chain; nothing is written (record() keeps the result)."""
    result = Result()
    names = _Names()
    skew = timedelta(seconds=settings.AUDIT_CHAIN_CLOCK_SKEW_SECONDS)
    rewritten = _redactions(result, names)
    for spec in _logs():
        _walk(spec, rewritten, skew, result, names)
    _compare_with_last_check(result)
    known = set(itertools.chain.from_iterable(AuditBreakAcknowledgement.objects.values_list("breaks", flat=True)))
    result.acknowledged = [b for b in result.breaks if str(b) in known]
    result.breaks = [b for b in result.breaks if str(b) not in known]
    result.audit.broken = sum(1 for b in result.breaks if b.log == ChainLog.AUDIT)
    result.access.broken = sum(1 for b in result.breaks if b.log == ChainLog.ACCESS)
    return result


def acknowledge(result: Result, *, by: User | None, reason: str) -> AuditBreakAcknowledgement:
    """An admin records that the breaks in `result` were looked into: later checks list them as
    acknowledged and raise nothing for them (new breaks still do). Audited."""
    from django.core.exceptions import PermissionDenied, ValidationError

    from escalations.core import validation
    from escalations.core.permissions import is_admin

    if not is_admin(by):
        raise PermissionDenied("Only an admin (staff) acknowledges breaks in the audit trail.")
    # Typed by a person, so checked like every other text: never file content, a length that a note fits.
    reason = validation.clean_text(reason, "Reason (--reason)", required=True)
    if not result.breaks:
        raise ValidationError("Nothing is broken: there is nothing to acknowledge.")
    breaks = [str(b) for b in result.breaks]
    now = timezone.now()
    AuditEvent.objects.create(
        escalation=None,
        actor=by,
        at=now,
        action=AuditAction.AUDIT_BREAK_ACKNOWLEDGED,
        changes={"breaks": breaks},
        reason=reason,
        version=0,
    )
    return AuditBreakAcknowledgement.objects.create(at=now, by=by, reason=reason, breaks=breaks)


def record(result: Result, *, started_at: datetime, source: str) -> AuditVerification:
    """Keep the result (the banner and /healthz read the latest) and log it."""
    check = AuditVerification.objects.create(
        started_at=started_at,
        finished_at=timezone.now(),
        ok=result.ok,
        events=result.audit.rows,
        events_verified=result.audit.verified,
        access_rows=result.access.rows,
        access_verified=result.access.verified,
        broken=len(result.breaks),
        chains=result.chains,
        first_break=str(result.breaks[0]) if result.breaks else "",
        breaks=[str(b) for b in result.breaks[:KEPT_BREAKS]],
        heads_digest=result.heads_digest,
        source=source,
    )
    extra = {"heads_digest": result.heads_digest, "chains": result.chains}
    if result.ok:
        log.info("%s; heads digest %s", "; ".join(result.lines()), result.heads_digest, extra=extra)
    else:
        log.error("%s; first broken link: %s", "; ".join(result.lines()), result.breaks[0], extra=extra)
    return check


def verify_and_record(source: str) -> tuple[Result, AuditVerification]:
    started_at = timezone.now()
    result = verify()
    return result, record(result, started_at=started_at, source=source)


def run_if_due(now: datetime) -> AuditVerification | None:
    """The sweep's daily check: runs when the last one started AUDIT_VERIFY_HOURS ago or more (or
    never did), claimed with a conditional UPDATE so that two sweeps at once run it once."""
    interval = timedelta(hours=settings.AUDIT_VERIFY_HOURS)
    SweepHeartbeat.objects.get_or_create(name=HEARTBEAT)
    due = Q(last_started_at__isnull=True) | Q(last_started_at__lte=now - interval)
    # A check whose process died after claiming: try again after CLAIM_TIMEOUT, not a day later.
    unfinished = Q(last_started_at__lte=now - CLAIM_TIMEOUT) & (
        Q(last_finished_at__isnull=True) | Q(last_finished_at__lt=F("last_started_at"))
    )
    claimed = SweepHeartbeat.objects.filter(Q(name=HEARTBEAT) & (due | unfinished)).update(last_started_at=now)
    if not claimed:
        return None
    _, check = verify_and_record("sweep")
    SweepHeartbeat.objects.filter(name=HEARTBEAT).update(
        last_finished_at=timezone.now(), last_stats={"ok": check.ok, "broken": check.broken}
    )
    return check


@dataclass(frozen=True)
class State:
    """The latest check, as the banner and /healthz report it."""

    checked_at: datetime | None
    ok: bool | None  # None: never checked
    first_break: str

    @property
    def label(self) -> str:
        return {None: "unverified", True: "ok", False: "broken"}[self.ok]


def latest() -> State:
    row = AuditVerification.objects.order_by("-finished_at", "-pk").values("finished_at", "ok", "first_break").first()
    if row is None:
        return State(None, None, "")
    return State(row["finished_at"], row["ok"], row["first_break"])
