"""A realistic data set, written with COPY: escalations with the values the services would have
written, and their audit events.

Shape (per 1,000,000 rows; every share scales with BENCH_ROWS):
- knowledge times spread evenly over the last 455 days (a year and a quarter, so that the oldest
  reports' one-year preservation period has ended and most of those escalations are closed), ids in
  logging order;
- 5 % urgent; incident types weighted towards child pornography, as CyberTipline reports are;
- time to report: log-normal, median 9 h for standard (about 12 % after the 24 h target, each with
  a breach reason), median 25 min for urgent; a report not yet due at the generation moment leaves
  the escalation open, so a few thousand are open, as in a live queue (with 0.05 % stuck open for
  months, and 3 % dismissed after review);
- preservation confirmed a few hours after the report (0.2 % never confirmed);
- after the preservation year, a lead decides within 3 weeks: closed, after a two-lead release
  (75 %) or with the evidence retained voluntarily; until then "reported";
- 300 staff: 260 moderators, 30 leads, 10 auditors; each escalation assigned to one of them (a
  skewed load), 1 % unassigned.

The stored deadline columns come from escalations.policy.stored_columns (exactly what the services
store), and next_reminder_at is what a sweep at the generation moment leaves (policy.next_reminder_at):
a sweep at that moment has nothing due. Audit events are the ones the services write, with the same
`changes` (created, report recorded, preservation confirmed, dismissed, release requested and
approved, closed). Reminder and delivery history is not generated: the sweep reads the pending
deliveries through a partial index (delivery_pending) whose size follows the work to do, not history.

COPY runs with session_replication_role = replica (superuser), which skips the foreign-key triggers
for rows that are consistent by construction, and without the escalation table's secondary indexes,
which are built again afterwards; then VACUUM ANALYZE, as autovacuum would have left a live table.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from escalations import policy
from escalations.core.permissions import AUDITOR, LEAD, MODERATOR
from escalations.models import AuditAction, AuditEvent, BreachReason, ChainHead, Escalation, IncidentType, audit_digest

from .database import GENERATOR_VERSION, META_TABLE

SPAN = timedelta(days=455)
MODERATORS, LEADS, AUDITORS = 260, 30, 10
ADMIN_USERNAME = "bench-admin"
URGENT_SHARE = 0.05
DISMISSED_SHARE = 0.03
STUCK_SHARE = 0.0005
UNCONFIRMED_SHARE = 0.002
UNASSIGNED_SHARE = 0.01
RELEASED_SHARE = 0.75
INCIDENT_WEIGHTS = {
    IncidentType.CHILD_PORNOGRAPHY: 85,
    IncidentType.ONLINE_ENTICEMENT: 8,
    IncidentType.UNSOLICITED_OBSCENE_MATERIAL: 3,
    IncidentType.CHILD_SEX_TRAFFICKING: 1.5,
    IncidentType.CHILD_SEXUAL_MOLESTATION: 1.5,
    IncidentType.MISLEADING_WORDS_OR_IMAGES: 0.5,
    IncidentType.MISLEADING_DOMAIN_NAME: 0.3,
    IncidentType.CHILD_SEX_TOURISM: 0.2,
}
BREACH_WEIGHTS = {
    BreachReason.VOLUME: 35,
    BreachReason.NEEDED_REVIEW: 25,
    BreachReason.STAFFING: 15,
    BreachReason.LOGGED_LATE: 10,
    BreachReason.HANDOFF: 8,
    BreachReason.TOOLING: 5,
    BreachReason.OTHER: 2,
}
URGENT_REASON = "Live contact with a minor; threat of an in-person meeting."
NOTE = "Flagged by hash match; account suspended."
DISMISS_REASON = "Adult content after review; not reportable."
RELEASE_REASON = "Preservation period over; no open legal process."
RETAIN_REASON = "Retained voluntarily: pattern under internal investigation."
CLOSE_REASON = "Preservation period over; evidence released."


@dataclass(slots=True)
class Facts:
    """What escalations.policy reads from an escalation (policy.EscalationFacts)."""

    priority: str
    status: str
    knowledge_at: datetime
    reported_at: datetime | None = None
    preservation_confirmed_at: datetime | None = None


@dataclass(frozen=True)
class Staff:
    moderators: list[tuple[int, str]]
    leads: list[tuple[int, str]]
    admin_id: int


def make_staff() -> Staff:
    """300 people in the three groups (unusable passwords: the bench signs in with force_login), and
    a superuser for the admin changelist."""
    user_model = get_user_model()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in (MODERATOR, LEAD, AUDITOR)}
    wanted = (
        [(f"mod{i:03d}", MODERATOR) for i in range(1, MODERATORS + 1)]
        + [(f"lead{i:02d}", LEAD) for i in range(1, LEADS + 1)]
        + [(f"auditor{i:02d}", AUDITOR) for i in range(1, AUDITORS + 1)]
    )
    with transaction.atomic():
        unsaved = [user_model(username=name, email=f"{name}@example.org") for name, _ in wanted]
        for person in unsaved:
            person.set_unusable_password()
        users = user_model.objects.bulk_create(unsaved)
        through = user_model.groups.through
        through.objects.bulk_create(
            [through(user_id=user.pk, group_id=groups[role].pk) for user, (_, role) in zip(users, wanted, strict=True)]
        )
        admin = user_model.objects.create_superuser(ADMIN_USERNAME, f"{ADMIN_USERNAME}@example.org", None)
    by_role: dict[str, list[tuple[int, str]]] = {MODERATOR: [], LEAD: [], AUDITOR: []}
    for user, (name, role) in zip(users, wanted, strict=True):
        by_role[role].append((user.pk, name))
    return Staff(moderators=by_role[MODERATOR], leads=by_role[LEAD], admin_id=admin.pk)


def _iso(value: datetime | None) -> str | None:
    # write_frame._audit_value: ISO 8601 in UTC.
    return None if value is None else value.astimezone(UTC).isoformat()


def _lognormal_seconds(rng: random.Random, median: timedelta, sigma: float) -> timedelta:
    return timedelta(seconds=median.total_seconds() * math.exp(rng.gauss(0.0, sigma)))


class Writer:
    """Builds each escalation and its audit events, and hands them to COPY as rows."""

    def __init__(self, rows: int, seed: int, now: datetime, staff: Staff):
        self.rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
        self.rows = rows
        self.now = now
        self.start = now - SPAN
        self.staff = staff
        self.cfg = policy.PolicyConfig.from_settings()
        self.columns = [str(f.column) for f in Escalation._meta.concrete_fields]
        self.defaults: dict[str, Any] = {str(f.column): f.get_default() for f in Escalation._meta.concrete_fields}
        self.audit_columns = [str(f.column) for f in AuditEvent._meta.concrete_fields]
        # A skewed load: the k-th moderator carries about 1/(k + 20) of the work; leads take a few.
        people = staff.moderators + staff.leads
        self.assignees = people
        self.assignee_weights = [1 / (k + 20) for k in range(len(staff.moderators))] + [0.002] * len(staff.leads)
        self.incidents = list(INCIDENT_WEIGHTS)
        self.incident_weights = list(INCIDENT_WEIGHTS.values())
        self.breaches = list(BREACH_WEIGHTS)
        self.breach_weights = list(BREACH_WEIGHTS.values())
        self.audit_id = 0
        self.statuses: Counter[str] = Counter()
        # The escalation whose chain the events are being written to: its last number and digest
        # (COPY in replica mode skips the insert trigger that chains them in the product).
        self.chain: tuple[int, int, str] = (0, 0, audit_digest.GENESIS)

    def _event(
        self, esc_id: int, actor: int | None, at: datetime, action: str, changes: dict[str, Any], version: int
    ) -> tuple[Any, ...]:
        self.audit_id += 1
        row: dict[str, Any] = {
            "id": self.audit_id,
            "escalation_id": esc_id,
            "actor_id": actor,
            "at": at,
            "action": action,
            "changes": json.dumps(changes),
            "reason": "",
            "version": version,
            "via": "",
        }
        if action in (AuditAction.DISMISSED, AuditAction.CLOSED, AuditAction.RELEASE_REQUESTED):
            row["reason"] = changes.get("status_reason", [None, RELEASE_REASON])[1]
        chain, seq, previous = self.chain if self.chain[0] == esc_id else (esc_id, 0, audit_digest.GENESIS)
        payload = audit_digest.audit_payload_digest(
            escalation_id=esc_id,
            actor_id=actor,
            at=at,
            action=str(action),
            changes=audit_digest.json_safe(changes),
            reason=row["reason"],
            version=version,
            via="",
        )
        seq += 1
        self.chain = (chain, seq, audit_digest.link(previous, seq, payload))
        row.update(chain=chain, seq=seq, payload_digest=payload, chain_digest=self.chain[2])
        return tuple(row[c] for c in self.audit_columns)

    def escalation(self, index: int) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        """The index-th escalation (ids in logging order) and its audit events."""
        rng, now, cfg = self.rng, self.now, self.cfg
        esc_id = index + 1
        knowledge_at = self.start + SPAN * ((index + rng.random()) / self.rows)
        urgent = rng.random() < URGENT_SHARE
        priority = policy.URGENT if urgent else policy.STANDARD
        incident = rng.choices(self.incidents, self.incident_weights)[0]
        assignee = None if rng.random() < UNASSIGNED_SHARE else rng.choices(self.assignees, self.assignee_weights)[0]
        creator = assignee if assignee is not None and rng.random() < 0.8 else rng.choice(self.staff.moderators)
        if urgent:
            to_report = _lognormal_seconds(rng, timedelta(minutes=25), 0.7)
        else:
            to_report = _lognormal_seconds(rng, timedelta(hours=9), 0.85)
        # Logged a few minutes after knowledge (never after the report).
        created_at = min(knowledge_at + min(_lognormal_seconds(rng, timedelta(minutes=8), 0.8), to_report / 2), now)
        fate = rng.random()
        dismissed = fate < DISMISSED_SHARE
        stuck = DISMISSED_SHARE <= fate < DISMISSED_SHARE + STUCK_SHARE
        values: dict[str, Any] = dict(self.defaults)
        values.update(
            id=esc_id,
            platform_reference=f"content:{rng.getrandbits(40)}",
            account_reference=f"account:{rng.randrange(max(self.rows // 3, 1))}" if rng.random() < 0.6 else "",
            incident_type=str(incident),
            priority=priority,
            urgent_reason=URGENT_REASON if urgent else "",
            knowledge_at=knowledge_at,
            notes=NOTE if rng.random() < 0.1 else "",
            is_test=rng.random() < 0.0005,
            assignee_id=assignee[0] if assignee else None,
            created_by_id=creator[0],
            created_at=created_at,
        )
        facts = Facts(priority=priority, status=policy.OPEN, knowledge_at=knowledge_at)
        actor = assignee or creator
        events: list[tuple[Any, ...]] = []
        version = 1
        created_changes: dict[str, Any] = {
            "platform_reference": [None, values["platform_reference"]],
            "incident_type": [None, values["incident_type"]],
            "priority": [None, priority],
            "knowledge_at": [None, _iso(knowledge_at)],
            "status": [None, policy.OPEN],
            "report_due_at": [None, _iso(policy.escalation_report_due_at(facts, cfg))],
        }
        if values["is_test"]:
            created_changes["is_test"] = [None, True]
        if urgent:
            created_changes["urgent_reason"] = [None, URGENT_REASON]
        if values["notes"]:
            created_changes["notes"] = [None, NOTE]
        if values["account_reference"]:
            created_changes["account_reference"] = [None, values["account_reference"]]
        if assignee:
            created_changes["assignee"] = [None, assignee[1]]
        events.append(self._event(esc_id, creator[0], created_at, AuditAction.CREATED, created_changes, version))
        last_at = created_at

        dismissed_at = knowledge_at + timedelta(hours=rng.uniform(2, 48))
        reported_at = knowledge_at + to_report
        if dismissed and dismissed_at <= now:
            lead = rng.choice(self.staff.leads)
            facts.status = policy.DISMISSED
            values.update(status=policy.DISMISSED, status_reason=DISMISS_REASON)
            version += 1
            changes = {"status": [policy.OPEN, policy.DISMISSED], "status_reason": [None, DISMISS_REASON]}
            events.append(self._event(esc_id, lead[0], dismissed_at, AuditAction.DISMISSED, changes, version))
            last_at = dismissed_at
        elif not dismissed and not stuck and reported_at <= now:
            version, last_at = self._reported(values, facts, events, esc_id, actor, reported_at, version)
        values.update(policy.stored_columns(facts, cfg))
        # What the sweep leaves at `now`: everything due so far recorded, the next look scheduled.
        values["next_reminder_at"] = policy.next_reminder_at(facts, cfg, now)
        values["version"] = version
        values["updated_at"] = last_at
        self.statuses[facts.status] += 1
        return tuple(values[c] for c in self.columns), events

    def _reported(
        self,
        values: dict[str, Any],
        facts: Facts,
        events: list[tuple[Any, ...]],
        esc_id: int,
        actor: tuple[int, str],
        reported_at: datetime,
        version: int,
    ) -> tuple[int, datetime]:
        rng, now, cfg = self.rng, self.now, self.cfg
        due = policy.escalation_report_due_at(facts, cfg)
        facts.reported_at = reported_at
        facts.status = policy.REPORTED
        report_id = str(160_000_000 + esc_id)
        values.update(status=policy.REPORTED, reported_at=reported_at, cybertipline_report_id=report_id)
        changes: dict[str, Any] = {
            "reported_at": [None, _iso(reported_at)],
            "cybertipline_report_id": [None, report_id],
            "status": [policy.OPEN, policy.REPORTED],
            "preservation_confirm_due_at": [None, _iso(policy.preservation_confirm_due_at(reported_at, cfg))],
            "preserve_until": [None, _iso(policy.preservation_end(reported_at, cfg))],
        }
        if reported_at > due:
            reason = rng.choices(self.breaches, self.breach_weights)[0]
            values["breach_reason"] = str(reason)
            changes["breach_reason"] = [None, str(reason)]
            if reason == BreachReason.OTHER:
                values["breach_note"] = "NCMEC portal maintenance window."
                changes["breach_note"] = [None, values["breach_note"]]
        version += 1
        events.append(self._event(esc_id, actor[0], reported_at, AuditAction.REPORT_RECORDED, changes, version))
        last_at = reported_at

        confirmed_at = reported_at + _lognormal_seconds(rng, timedelta(hours=3), 1.0)
        if rng.random() >= UNCONFIRMED_SHARE and confirmed_at <= now:
            location = f"evidence-store://{reported_at:%Y}/{esc_id}"
            facts.preservation_confirmed_at = confirmed_at
            values.update(
                preservation_confirmed_at=confirmed_at,
                preservation_confirmed_by_id=actor[0],
                preservation_location=location,
            )
            version += 1
            changes = {
                "preservation_confirmed_at": [None, _iso(confirmed_at)],
                "preservation_confirmed_by": [None, actor[1]],
                "preservation_location": [None, location],
            }
            events.append(
                self._event(esc_id, actor[0], confirmed_at, AuditAction.PRESERVATION_CONFIRMED, changes, version)
            )
            last_at = confirmed_at

        end = policy.preservation_end(reported_at, cfg)
        decided_at = end + timedelta(days=rng.uniform(0.2, 21))
        if decided_at > now:
            return version, last_at
        first, second = rng.sample(self.staff.leads, 2)
        if rng.random() < RELEASED_SHARE:
            requested_at = decided_at - timedelta(hours=rng.uniform(12, 48))
            requested_at = max(requested_at, end + timedelta(minutes=5))
            released_at = requested_at + timedelta(hours=rng.uniform(0.5, 10))
            decided_at = released_at + timedelta(minutes=rng.uniform(1, 60))
            values.update(
                release_requested_at=requested_at,
                release_requested_by_id=first[0],
                released_at=released_at,
                released_by_id=second[0],
            )
            version += 1
            changes = {"release_requested_at": [None, _iso(requested_at)], "release_requested_by": [None, first[1]]}
            events.append(self._event(esc_id, first[0], requested_at, AuditAction.RELEASE_REQUESTED, changes, version))
            version += 1
            changes = {"released_at": [None, _iso(released_at)], "released_by": [None, second[1]]}
            events.append(self._event(esc_id, second[0], released_at, AuditAction.RELEASED, changes, version))
            last_at = released_at
            decision = CLOSE_REASON
        else:
            decision = RETAIN_REASON
        if decided_at > now:
            return version, last_at
        facts.status = policy.CLOSED
        values.update(status=policy.CLOSED, status_reason=decision)
        version += 1
        changes = {"status": [policy.REPORTED, policy.CLOSED], "status_reason": [None, decision]}
        events.append(self._event(esc_id, second[0], decided_at, AuditAction.CLOSED, changes, version))
        return version, decided_at


def _secondary_indexes(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the table's indexes that back no constraint."""
    rows = conn.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
        ORDER BY i.relname
        """,
        [table],
    ).fetchall()
    return [(name, definition) for name, definition in rows]


def _connect(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url)
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    return conn


def generate(url: str, rows: int, seed: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fill the (migrated, empty) database at `url` with `rows` escalations and their audit events;
    returns what was made (also stored in the bench_meta table)."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    staff = make_staff()
    writer = Writer(rows, seed, now, staff)
    esc_table, audit_table = Escalation._meta.db_table, AuditEvent._meta.db_table
    with _connect(url) as esc_conn, _connect(url) as audit_conn, _connect(url) as head_conn:
        indexes = _secondary_indexes(esc_conn, esc_table) + _secondary_indexes(audit_conn, audit_table)
        for name, _ in indexes:
            esc_conn.execute(f'DROP INDEX "{name}"')
        esc_conn.commit()
        esc_columns = ", ".join(f'"{c}"' for c in writer.columns)
        audit_columns = ", ".join(f'"{c}"' for c in writer.audit_columns)
        copy_started = time.perf_counter()
        with (
            esc_conn.cursor().copy(f"COPY {esc_table} ({esc_columns}) FROM STDIN") as esc_copy,
            audit_conn.cursor().copy(f"COPY {audit_table} ({audit_columns}) FROM STDIN") as audit_copy,
            head_conn.cursor().copy(f"COPY {ChainHead._meta.db_table} (log, chain, seq, digest) FROM STDIN") as heads,
        ):
            step = max(rows // 10, 1)
            for index in range(rows):
                row, events = writer.escalation(index)
                esc_copy.write_row(row)
                for event in events:
                    audit_copy.write_row(event)
                heads.write_row(("audit", *writer.chain))
                if (index + 1) % step == 0:
                    log(f"  {index + 1:,} escalations, {writer.audit_id:,} audit events")
        esc_conn.commit()
        audit_conn.commit()
        head_conn.commit()
        copied = time.perf_counter() - copy_started
        index_started = time.perf_counter()
        for _, definition in indexes:
            esc_conn.execute(definition)
        for table in (esc_table, audit_table):
            esc_conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
        esc_conn.commit()
        indexed = time.perf_counter() - index_started
    vacuum_started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (esc_table, audit_table, "auth_user", "auth_user_groups"):
            conn.execute(f"VACUUM ANALYZE {table}")
    vacuumed = time.perf_counter() - vacuum_started
    meta = {
        "rows": rows,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "generated_at": now.isoformat(),
        "audit_events": writer.audit_id,
        "statuses": dict(sorted(writer.statuses.items())),
        "staff": {"moderators": MODERATORS, "leads": LEADS, "auditors": AUDITORS},
        "seconds": {
            "total": round(time.perf_counter() - started, 1),
            "copy": round(copied, 1),
            "indexes": round(indexed, 1),
            "vacuum_analyze": round(vacuumed, 1),
        },
    }
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key text PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute(
            f"INSERT INTO {META_TABLE} (key, value) VALUES ('dataset', %s) "  # noqa: S608
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [json.dumps(meta)],
        )
    return meta
