"""The bench's databases: created when missing, reused when they already hold the data a run asks
for, dropped and made again otherwise. The audit trail is append-only (triggers refuse DELETE), so
a data set is never emptied in place: its database is dropped."""

from __future__ import annotations

import json
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from .config import database_name, with_database

META_TABLE = "bench_meta"
# Bumped whenever the generator's rows change, so that an older data set is made again.
GENERATOR_VERSION = 2  # 2: audit events carry their chain (seq, digests) and chain heads


def _admin(url: str, template: LiteralString, name: str) -> None:
    with psycopg.connect(with_database(url, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL(template).format(sql.Identifier(name)))


def exists(url: str) -> bool:
    with psycopg.connect(with_database(url, "postgres"), autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database_name(url)]).fetchone()
    return row is not None


def create(url: str) -> None:
    _admin(url, "CREATE DATABASE {}", database_name(url))


def drop(url: str) -> None:
    _admin(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", database_name(url))


def read_meta(url: str) -> dict[str, Any] | None:
    """What the generator recorded in this database (None: no data set, or no database)."""
    if not exists(url):
        return None
    with psycopg.connect(url, connect_timeout=5) as conn:
        found = conn.execute("SELECT to_regclass(%s)", [META_TABLE]).fetchone()
        if found is None or found[0] is None:
            return None
        row = conn.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'dataset'").fetchone()  # noqa: S608
    if row is None:
        return None
    value = row[0]
    return value if isinstance(value, dict) else json.loads(value)


def reusable(meta: dict[str, Any] | None, rows: int, seed: int) -> bool:
    return (
        meta is not None
        and meta.get("rows") == rows
        and meta.get("seed") == seed
        and meta.get("generator_version") == GENERATOR_VERSION
    )


def prepare(url: str, rows: int, seed: int, regenerate: bool) -> bool:
    """Make sure a database for `rows` exists; True when it must be (re)generated (it is then new
    and empty), False when it already holds that data set."""
    if not regenerate and reusable(read_meta(url), rows, seed):
        return False
    drop(url)
    create(url)
    return True
