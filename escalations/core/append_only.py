"""The audit trail and the access log are append-only and chained in the database itself, whatever
code (or person at a SQL prompt) writes to them.

- Every INSERT is chained by a trigger: it numbers the row in its chain (the escalation's; for rows
  about no single escalation, the person's), links it to the previous row's chain digest over the
  payload digest the app wrote (escalations.models.audit_digest), and moves the chain's head
  (escalations_chainhead), whatever `chain`, `seq` and `chain_digest` the INSERT carried. On
  PostgreSQL the trigger function is SECURITY DEFINER, owned by the role that migrates: the app's
  role needs no right to write heads, and has none (escalations.ops.db_roles).
- UPDATE and DELETE are refused, with one exception: an approved redaction (escalations.core.redaction)
  may replace text in `changes` and `reason` (audit events) or `query` (access log) by its marker,
  and nothing else. On PostgreSQL the app reaches that only through escalations_redact_<table>()
  (SECURITY DEFINER, the app role's only way to change a row), which names the request for the
  trigger; the trigger checks that an admin other than the requester approved it, that its marker is
  the one fixed format built from the request row itself ("[redacted <approval date> by <approver>:
  RR-nnnnnn]", so a marker can never spell another value), that the new text is the old with parts
  replaced by that marker (it can only remove, never write) and that no value of a key that is not
  free text (incident type, status, priority, moments, people: redaction_text.LOCKED_KEYS) changed.
  SQLite, the single-user embedded database, checks the same marker, that it appears, that no such key
  changed and that nothing but those columns changed.
- redaction requests (escalations_redactionrequest) are never deleted; one is made pending, decided
  once (approved with its marker, or refused) by someone other than its requester, and is then fixed:
  only its summary of what was rewritten is written, once.
- integrity checks and acknowledged breaks (escalations_auditverification,
  escalations_auditbreakacknowledgement) are plainly append-only.

TRUNCATE is refused by privileges (the app role has none); the heads in their own table say how
many rows there were, so verifyaudit notices one the owner ran.

On SQLite a migration that rebuilds a table (as adding or altering a column often does) silently
drops its triggers, so everything here is (re)created after every `migrate` (apps.py connects
ensure_triggers to post_migrate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from escalations.core.redaction_text import LOCKED_KEYS

HEADS = "escalations_chainhead"
REDACTIONS = "escalations_redactionrequest"


@dataclass(frozen=True)
class Table:
    name: str
    short: str  # used in trigger and function names
    noun: str  # what the refusal calls the rows
    log: str = ""  # ChainLog value when the table is chained
    chain_sql: str = ""  # the chain of NEW, as SQL
    redactable: tuple[str, ...] = ()  # columns an approved redaction may rewrite
    fixed: tuple[str, ...] = ()  # every other column


AUDIT = Table(
    "escalations_auditevent",
    "auditevent",
    "audit events",
    log="audit",
    chain_sql="coalesce(NEW.escalation_id, -NEW.actor_id, 0)",
    redactable=("changes", "reason"),
    fixed=("id", "escalation_id", "actor_id", "at", "action", "version", "via", "chain", "seq", "payload_digest"),
)
ACCESS = Table(
    "escalations_accesslog",
    "accesslog",
    "access log rows",
    log="access",
    chain_sql="coalesce(NEW.escalation_id, -NEW.user_id)",
    redactable=("query",),
    fixed=(
        "id",
        "user_id",
        "at",
        "kind",
        "escalation_id",
        "what",
        "ip_address",
        "via",
        "chain",
        "seq",
        "payload_digest",
    ),
)
VERIFICATION = Table("escalations_auditverification", "auditverification", "integrity checks")
ACKNOWLEDGEMENTS = Table("escalations_auditbreakacknowledgement", "auditbreakack", "acknowledged breaks")
APPEND_ONLY = (AUDIT, ACCESS, VERIFICATION, ACKNOWLEDGEMENTS)


# --- redaction requests ----------------------------------------------------------------------------

# Columns a decision never changes, and those a decision writes.
_REQUEST_FIXED = ("id", "escalation_id", "fields", "reason", "requested_by_id", "requested_at")
_REQUEST_DECISION = ("approved_by_id", "approved_at", "refused_by_id", "refused_at", "refusal_reason", "marker")
_DECIDED_ONCE = (
    "a redaction request is decided once, by someone other than its requester, with its own marker: UPDATE refused"
)
# The username as it may appear in a marker (escalations.core.redaction.marker_for), else "user #<id>".
_PLAIN_NAME_MAX = 60


def _users_table() -> str:
    from django.contrib.auth import get_user_model

    return str(get_user_model()._meta.db_table)


def _sqlite_marker_of(row: str) -> str:
    """The one marker the approved request `row` (NEW, OLD or r) may write, as SQLite computes it."""
    users = _users_table()
    return (
        f"('[redacted ' || strftime('%Y-%m-%d', {row}.approved_at) || ' by ' || "  # noqa: S608 (our own names)
        f"(SELECT CASE WHEN length(u.username) BETWEEN 1 AND {_PLAIN_NAME_MAX} "
        "AND u.username NOT GLOB '*[^A-Za-z0-9@.+_-]*' THEN u.username ELSE 'user #' || u.id END "
        f"FROM {users} u WHERE u.id = {row}.approved_by_id) || ': RR-' || printf('%06d', {row}.id) || ']')"
    )


def _locked_json(column: str, row: str) -> str:
    """The values of LOCKED_KEYS anywhere in `row`.`column` (JSON), as one SQLite string."""
    keys = ", ".join(f"'{key}'" for key in LOCKED_KEYS)
    return (
        f"(SELECT group_concat(t.fullkey || '=' || coalesce(quote(t.value), 'NULL'), '|') "  # noqa: S608
        f"FROM json_tree({row}.{column}) t WHERE t.key IN ({keys}))"
    )


def _sqlite_requests() -> list[str]:
    def same(columns: tuple[str, ...]) -> str:
        return " AND ".join(f"NEW.{c} IS OLD.{c}" for c in columns)

    pending_new = (
        "NEW.approved_at IS NULL AND NEW.approved_by_id IS NULL AND NEW.refused_at IS NULL "
        "AND NEW.refused_by_id IS NULL AND NEW.marker = ''"
    )
    approved_new = (
        "NEW.approved_at IS NOT NULL AND NEW.approved_by_id IS NOT NULL AND NEW.approved_by_id <> NEW.requested_by_id "
        f"AND NEW.refused_at IS NULL AND NEW.refused_by_id IS NULL AND NEW.marker = {_sqlite_marker_of('NEW')}"
    )
    refused_new = (
        "NEW.refused_at IS NOT NULL AND NEW.refused_by_id IS NOT NULL AND NEW.refused_by_id <> NEW.requested_by_id "
        "AND NEW.approved_at IS NULL AND NEW.approved_by_id IS NULL AND NEW.marker = ''"
    )
    old_pending = "OLD.approved_at IS NULL AND OLD.refused_at IS NULL"
    allowed = (
        f"({old_pending} AND {same(_REQUEST_FIXED)} AND (({pending_new}) OR ({approved_new}) OR ({refused_new})))"
        f" OR (NOT ({old_pending}) AND {same((*_REQUEST_FIXED, *_REQUEST_DECISION))} "
        "AND json(OLD.summary) = json('{}'))"
    )
    return [
        "DROP TRIGGER IF EXISTS redactionrequest_insert;",
        "DROP TRIGGER IF EXISTS redactionrequest_update;",
        f"""CREATE TRIGGER IF NOT EXISTS redactionrequest_no_delete BEFORE DELETE ON {REDACTIONS}
           BEGIN SELECT RAISE(ABORT, 'redaction requests are kept: DELETE refused'); END;""",
        f"""CREATE TRIGGER redactionrequest_insert BEFORE INSERT ON {REDACTIONS} WHEN NOT ({pending_new})
           BEGIN SELECT RAISE(ABORT, 'a redaction request is made pending: INSERT of a decided one refused'); END;""",
        f"""CREATE TRIGGER redactionrequest_update BEFORE UPDATE ON {REDACTIONS} WHEN NOT ({allowed})
           BEGIN SELECT RAISE(ABORT, '{_DECIDED_ONCE}'); END;""",
    ]


# --- SQLite ----------------------------------------------------------------------------------------


def _sqlite_same(columns: tuple[str, ...]) -> str:
    return " AND ".join(f"NEW.{c} IS OLD.{c}" for c in columns)


def _sqlite(table: Table, chained: bool) -> list[str]:
    refuse_update = f"SELECT RAISE(ABORT, '{table.noun} are append-only: UPDATE refused');"
    statements = [
        f"DROP TRIGGER IF EXISTS {table.short}_no_update;",
        f"DROP TRIGGER IF EXISTS {table.short}_chain;",
        f"""CREATE TRIGGER IF NOT EXISTS {table.short}_no_delete BEFORE DELETE ON {table.name}
           BEGIN SELECT RAISE(ABORT, '{table.noun} are append-only: DELETE refused'); END;""",
    ]
    if not (chained and table.log):
        statements.append(
            f"CREATE TRIGGER {table.short}_no_update BEFORE UPDATE ON {table.name} BEGIN {refuse_update} END;"
        )
        return statements
    payload = (*table.fixed, *table.redactable)
    # The insert trigger's own UPDATE of the row it chained: only the chain columns, and only to the
    # values of the chain's head, which the trigger has just moved to this row.
    new_chain = table.chain_sql
    sealing = (
        f"NEW.chain = {new_chain} AND EXISTS (SELECT 1 FROM {HEADS} h WHERE h.log = '{table.log}' "  # noqa: S608
        "AND h.chain = NEW.chain AND h.seq = NEW.seq AND h.digest = NEW.chain_digest) AND "
        f"{_sqlite_same(tuple(c for c in payload if c not in ('chain', 'seq')))}"
    )
    marker_written = " AND ".join(f"(NEW.{c} IS OLD.{c} OR instr(NEW.{c}, r.marker) > 0)" for c in table.redactable)
    locked = " AND ".join(
        f"{_locked_json(c, 'NEW')} IS {_locked_json(c, 'OLD')}" for c in table.redactable if c == "changes"
    )
    redaction = (
        f"{_sqlite_same((*table.fixed, 'chain_digest'))} AND EXISTS (SELECT 1 FROM {REDACTIONS} r "  # noqa: S608
        "WHERE r.approved_at IS NOT NULL AND r.approved_by_id IS NOT NULL AND r.approved_by_id <> r.requested_by_id "
        f"AND r.marker = {_sqlite_marker_of('r')} "
        "AND (OLD.escalation_id IS NULL OR r.escalation_id = OLD.escalation_id) "
        f"AND {marker_written}){' AND ' + locked if locked else ''}"
    )
    chain = table.chain_sql
    head = f"log = '{table.log}' AND chain = {chain}"
    statements += [
        f"""CREATE TRIGGER {table.short}_no_update BEFORE UPDATE ON {table.name}
           WHEN NOT (({sealing}) OR ({redaction}))
           BEGIN {refuse_update} END;""",
        # SHA256() is the function Django registers on every SQLite connection it opens; a session
        # without it (the sqlite3 shell) cannot insert here at all.
        f"""CREATE TRIGGER {table.short}_chain AFTER INSERT ON {table.name}
           BEGIN
             INSERT INTO {HEADS} (log, chain, seq, digest) VALUES ('{table.log}', {chain}, 0, '')
               ON CONFLICT (log, chain) DO NOTHING;
             UPDATE {HEADS} SET seq = seq + 1, digest = SHA256(digest || '|' || (seq + 1) || '|' || NEW.payload_digest)
               WHERE {head};
             UPDATE {table.name} SET chain = {chain},
               seq = (SELECT seq FROM {HEADS} WHERE {head}),
               chain_digest = (SELECT digest FROM {HEADS} WHERE {head})
               WHERE id = NEW.id;
           END;""",  # noqa: S608 (built from this module's constants, never from input)
    ]
    return statements


# --- PostgreSQL ------------------------------------------------------------------------------------

# Is `new` the text `old` with some parts replaced by `marker`? The parts of `new` between markers
# must appear in `old` in order, the first at its start and the last at its end: a rewrite that
# passes can only have removed text.
_PG_ONLY_REMOVED = """
CREATE OR REPLACE FUNCTION escalations_only_removed(old text, new text, marker text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  parts text[];
  n int;
  pos int;
  idx int;
BEGIN
  IF new IS NOT DISTINCT FROM old THEN RETURN true; END IF;
  IF old IS NULL OR new IS NULL OR coalesce(marker, '') = '' OR strpos(new, marker) = 0 THEN
    RETURN false;
  END IF;
  parts := string_to_array(new, marker);
  n := array_length(parts, 1);
  IF left(old, length(parts[1])) <> parts[1] THEN RETURN false; END IF;
  pos := length(parts[1]) + 1;
  FOR i IN 2 .. n - 1 LOOP
    idx := strpos(substr(old, pos), parts[i]);
    IF idx = 0 THEN RETURN false; END IF;
    pos := pos + idx - 1 + length(parts[i]);
  END LOOP;
  RETURN length(old) - pos + 1 >= length(parts[n]) AND right(old, length(parts[n])) = parts[n];
END;
$$;
"""

# Is the JSON `new` the JSON `old` with only text replaced by `marker` (escalations_only_removed on
# every string), the same keys and lengths, no number, flag or null changed, and nothing changed
# under a key of `locked` (choices, moments, people: never free text)?
_PG_JSON_ONLY_REMOVED = """
CREATE OR REPLACE FUNCTION escalations_json_only_removed(old jsonb, new jsonb, marker text, locked text[])
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  k text;
BEGIN
  IF new IS NOT DISTINCT FROM old THEN RETURN true; END IF;
  IF old IS NULL OR new IS NULL OR jsonb_typeof(old) <> jsonb_typeof(new) THEN RETURN false; END IF;
  IF jsonb_typeof(old) = 'object' THEN
    IF (SELECT array_agg(x ORDER BY x) FROM jsonb_object_keys(old) x)
       IS DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM jsonb_object_keys(new) x) THEN
      RETURN false;
    END IF;
    FOR k IN SELECT jsonb_object_keys(old) LOOP
      IF (old -> k) IS DISTINCT FROM (new -> k) THEN
        IF k = ANY(locked) OR NOT escalations_json_only_removed(old -> k, new -> k, marker, locked) THEN
          RETURN false;
        END IF;
      END IF;
    END LOOP;
    RETURN true;
  ELSIF jsonb_typeof(old) = 'array' THEN
    IF jsonb_array_length(old) <> jsonb_array_length(new) THEN RETURN false; END IF;
    FOR i IN 0 .. jsonb_array_length(old) - 1 LOOP
      IF NOT escalations_json_only_removed(old -> i, new -> i, marker, locked) THEN RETURN false; END IF;
    END LOOP;
    RETURN true;
  ELSIF jsonb_typeof(old) = 'string' THEN
    RETURN escalations_only_removed(old #>> '{}', new #>> '{}', marker);
  END IF;
  RETURN false;
END;
$$;
"""


def _pg_marker_of() -> str:
    """The one marker an approved request may write, built from the request's own id, approval date
    and approver (escalations.core.redaction.marker_for): free text can never pass for it."""
    return f"""
CREATE OR REPLACE FUNCTION escalations_redaction_marker_of(p_id bigint, p_approved_at timestamptz, p_approver bigint)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT '[redacted ' || to_char(p_approved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' by '
      || CASE WHEN u.username ~ '^[A-Za-z0-9@.+_-]{{1,{_PLAIN_NAME_MAX}}}$' THEN u.username ELSE 'user #' || u.id END
      || ': RR-' || CASE WHEN p_id < 1000000 THEN lpad(p_id::text, 6, '0') ELSE p_id::text END || ']'
    FROM {_users_table()} u WHERE u.id = p_approver
$$;
"""  # noqa: S608


# The marker of the approved redaction the current transaction names (set only by the
# escalations_redact_* functions), for a row of `escalation` (NULL: a row about no escalation).
_PG_REDACTION_MARKER = f"""
CREATE OR REPLACE FUNCTION escalations_redaction_marker(row_escalation bigint) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT r.marker FROM {REDACTIONS} r
   WHERE r.id = nullif(current_setting('escalations.redaction_request', true), '')::bigint
     AND r.approved_at IS NOT NULL AND r.approved_by_id IS NOT NULL
     AND r.approved_by_id <> r.requested_by_id AND r.marker <> ''
     AND r.marker = escalations_redaction_marker_of(r.id, r.approved_at, r.approved_by_id)
     AND (row_escalation IS NULL OR r.escalation_id = row_escalation)
$$;
"""  # noqa: S608


def _pg_requests() -> list[str]:
    def same(columns: tuple[str, ...]) -> str:
        return f"{_pg_row('NEW', columns)} IS NOT DISTINCT FROM {_pg_row('OLD', columns)}"

    pending_new = (
        "NEW.approved_at IS NULL AND NEW.approved_by_id IS NULL AND NEW.refused_at IS NULL "
        "AND NEW.refused_by_id IS NULL AND NEW.marker = ''"
    )
    approved_new = (
        "NEW.approved_at IS NOT NULL AND NEW.approved_by_id IS NOT NULL AND NEW.approved_by_id <> NEW.requested_by_id "
        "AND NEW.refused_at IS NULL AND NEW.refused_by_id IS NULL "
        "AND NEW.marker IS NOT DISTINCT FROM "
        "escalations_redaction_marker_of(NEW.id, NEW.approved_at, NEW.approved_by_id)"
    )
    refused_new = (
        "NEW.refused_at IS NOT NULL AND NEW.refused_by_id IS NOT NULL AND NEW.refused_by_id <> NEW.requested_by_id "
        "AND NEW.approved_at IS NULL AND NEW.approved_by_id IS NULL AND NEW.marker = ''"
    )
    return [
        f"""CREATE OR REPLACE FUNCTION escalations_redactionrequest_guard() RETURNS trigger
           LANGUAGE plpgsql AS $$
           BEGIN
             IF TG_OP = 'DELETE' THEN
               RAISE EXCEPTION 'redaction requests are kept: DELETE refused' USING ERRCODE = 'insufficient_privilege';
             ELSIF TG_OP = 'INSERT' THEN
               IF {pending_new} THEN RETURN NEW; END IF;
               RAISE EXCEPTION 'a redaction request is made pending: INSERT of a decided one refused'
                 USING ERRCODE = 'insufficient_privilege';
             END IF;
             IF OLD.approved_at IS NULL AND OLD.refused_at IS NULL THEN
               IF {same(_REQUEST_FIXED)} AND (({pending_new}) OR ({approved_new}) OR ({refused_new})) THEN
                 RETURN NEW;
               END IF;
             ELSIF {same((*_REQUEST_FIXED, *_REQUEST_DECISION))} AND OLD.summary = '{{}}'::jsonb THEN
               RETURN NEW;  -- the summary of what the approval rewrote, written once
             END IF;
             RAISE EXCEPTION '{_DECIDED_ONCE}' USING ERRCODE = 'insufficient_privilege';
           END;
           $$;""",
        f"""CREATE OR REPLACE TRIGGER redactionrequest_guard BEFORE INSERT OR UPDATE OR DELETE ON {REDACTIONS}
           FOR EACH ROW EXECUTE FUNCTION escalations_redactionrequest_guard();""",
    ]


def _pg_row(prefix: str, columns: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"{prefix}.{c}" for c in columns) + ")"


def _postgresql(table: Table, chained: bool, schema: str) -> list[str]:
    refuse = (
        f"RAISE EXCEPTION '{table.noun} are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';"
    )
    if not (chained and table.log):
        return [
            f"""CREATE OR REPLACE FUNCTION escalations_{table.short}_refuse() RETURNS trigger AS $$
               BEGIN
                 {refuse}
               END;
               $$ LANGUAGE plpgsql;""",
            f"""CREATE OR REPLACE TRIGGER {table.short}_append_only BEFORE UPDATE OR DELETE ON {table.name}
               FOR EACH ROW EXECUTE FUNCTION escalations_{table.short}_refuse();""",
        ]
    fixed = (*table.fixed, "chain_digest")
    locked = "ARRAY[" + ", ".join(f"'{key}'" for key in LOCKED_KEYS) + "]::text[]"
    removed = " AND ".join(
        f"escalations_json_only_removed(OLD.{c}, NEW.{c}, marker, {locked})"
        if c == "changes"
        else f"escalations_only_removed(OLD.{c}::text, NEW.{c}::text, marker)"
        for c in table.redactable
    )
    definer = f"SECURITY DEFINER SET search_path = {schema}, pg_temp"
    head = f"log = '{table.log}' AND chain = chain_key"
    params = ", ".join(f"p_{c} {'jsonb' if c == 'changes' else 'text'}" for c in table.redactable)
    assignments = ", ".join(f"{c} = p_{c}" for c in table.redactable)
    return [
        f"""CREATE OR REPLACE FUNCTION escalations_{table.short}_refuse() RETURNS trigger AS $$
           DECLARE
             marker text;
           BEGIN
             IF TG_OP = 'UPDATE' THEN
               marker := escalations_redaction_marker(OLD.escalation_id);
               IF marker IS NOT NULL
                  AND {_pg_row("NEW", fixed)} IS NOT DISTINCT FROM {_pg_row("OLD", fixed)}
                  AND {removed} THEN
                 RETURN NEW;
               END IF;
             END IF;
             {refuse}
           END;
           $$ LANGUAGE plpgsql;""",
        f"""CREATE OR REPLACE TRIGGER {table.short}_append_only BEFORE UPDATE OR DELETE ON {table.name}
           FOR EACH ROW EXECUTE FUNCTION escalations_{table.short}_refuse();""",
        f"""CREATE OR REPLACE FUNCTION escalations_{table.short}_chain() RETURNS trigger
           LANGUAGE plpgsql {definer} AS $$
           DECLARE
             chain_key bigint := {table.chain_sql};
             head_seq bigint;
             head_digest text;
           BEGIN
             SELECT seq, digest INTO head_seq, head_digest FROM {HEADS} WHERE {head} FOR UPDATE;
             IF NOT FOUND THEN
               INSERT INTO {HEADS} (log, chain, seq, digest) VALUES ('{table.log}', chain_key, 0, '')
                 ON CONFLICT (log, chain) DO NOTHING;
               SELECT seq, digest INTO head_seq, head_digest FROM {HEADS} WHERE {head} FOR UPDATE;
             END IF;
             NEW.chain := chain_key;
             NEW.seq := head_seq + 1;
             NEW.chain_digest := encode(sha256(convert_to(
               head_digest || '|' || NEW.seq::text || '|' || coalesce(NEW.payload_digest, ''), 'UTF8')), 'hex');
             UPDATE {HEADS} SET seq = NEW.seq, digest = NEW.chain_digest WHERE {head};
             RETURN NEW;
           END;
           $$;""",  # noqa: S608
        f"REVOKE ALL ON FUNCTION escalations_{table.short}_chain() FROM PUBLIC;",
        f"""CREATE OR REPLACE TRIGGER {table.short}_chain BEFORE INSERT ON {table.name}
           FOR EACH ROW EXECUTE FUNCTION escalations_{table.short}_chain();""",
        # The app role's one way to change a row: an approved redaction's rewrite, checked by the
        # trigger above. The setting it leaves behind is cleared, so nothing later in the
        # transaction rides on it.
        f"""CREATE OR REPLACE FUNCTION escalations_redact_{table.short}(p_request bigint, p_id bigint, {params})
           RETURNS void LANGUAGE plpgsql {definer} AS $$
           BEGIN
             PERFORM set_config('escalations.redaction_request', p_request::text, true);
             UPDATE {table.name} SET {assignments} WHERE id = p_id;
             IF NOT FOUND THEN
               RAISE EXCEPTION 'no row % in {table.name}', p_id;
             END IF;
             PERFORM set_config('escalations.redaction_request', '', true);
           END;
           $$;""",  # noqa: S608
        f"REVOKE ALL ON FUNCTION escalations_redact_{table.short}(bigint, bigint, {_pg_types(table)}) FROM PUBLIC;",
    ]


def _pg_types(table: Table) -> str:
    return ", ".join("jsonb" if c == "changes" else "text" for c in table.redactable)


def redact_function(table: Table) -> str:
    """The signature the app role is granted EXECUTE on (escalations.ops.db_roles)."""
    return f"escalations_redact_{table.short}(bigint, bigint, {_pg_types(table)})"


def _quote(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


def _is_chained(connection: BaseDatabaseWrapper, tables: set[str], table: Table) -> bool:
    """Before the migration that adds the chains (a database migrated back), only refuse."""
    if not table.log or HEADS not in tables or REDACTIONS not in tables:
        return False
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, table.name)}
    return "chain_digest" in columns


def ensure_triggers(using: str = "default", **kwargs: Any) -> None:
    connection = connections[using]
    if connection.vendor not in ("sqlite", "postgresql"):
        return
    tables = set(connection.introspection.table_names())
    statements: list[str] = []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schema = _quote(connection, cursor.fetchone()[0])
        statements += [_PG_ONLY_REMOVED, _PG_JSON_ONLY_REMOVED]
        if REDACTIONS in tables:
            statements += [_pg_marker_of(), _PG_REDACTION_MARKER, *_pg_requests()]
    elif REDACTIONS in tables:
        statements += _sqlite_requests()
    for table in APPEND_ONLY:
        if table.name not in tables:
            continue
        chained = _is_chained(connection, tables, table)
        if connection.vendor == "sqlite":
            statements += _sqlite(table, chained)
        else:
            statements += _postgresql(table, chained, schema)
    with connection.cursor() as cursor:
        for sql in statements:
            # params=None: run the SQL as written; with params, psycopg reads the % in RAISE as a placeholder.
            cursor.execute(sql, None)


def drop_chains(using: str = "default") -> None:
    """Undo the chains' triggers and functions (a migration taken back): plain refusal stays."""
    connection = connections[using]
    with connection.cursor() as cursor:
        for table in (AUDIT, ACCESS):
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table.short}_chain;", None)
            elif connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table.short}_chain ON {table.name};", None)
                cursor.execute(f"DROP FUNCTION IF EXISTS escalations_{table.short}_chain();", None)
                cursor.execute(f"DROP FUNCTION IF EXISTS {redact_function(table)};", None)
        for table in (AUDIT, ACCESS):
            plain = _sqlite(table, False) if connection.vendor == "sqlite" else _postgresql(table, False, "")
            for sql in plain:
                cursor.execute(sql, None)
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS escalations_redaction_marker(bigint);", None)
