"""Real processes on loopback, shared by the end-to-end reminder test (tests/integration) and the fault
soak (tests/faults): service probes, an aiosmtpd sink that counts what it accepted, the Celery worker
and beat under the production settings, polling with deadlines, and the database as the worker left it.

What the sink counts: a message counts as delivered only when the handler returns its 250 with the
client still connected. aiosmtpd cancels the handler when the client's connection drops, so a held
message ends in `aborted` (CancelledError, or a closed transport seen after the pause), never in
`accepted`. This is the SMTP meaning of "accepted": a client killed before the 250 cannot know the
message went through, and a real server would not deliver it either.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]


# --- services ------------------------------------------------------------------------------------


def redis_problem(url: str, hint: str = "start redis-server or set E2E_REDIS_URL") -> str:
    """'' when Redis answers PING at `url`, else why not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        socket.create_connection((host, port), timeout=2).close()
        import redis

        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"no Redis at {host}:{port} ({exc.__class__.__name__}: {exc}); {hint}"
    return ""


def postgres_problem(url: str, hint: str = "set E2E_POSTGRES_URL") -> str:
    """'' when PostgreSQL accepts a connection at `url`, else why not."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"no PostgreSQL at {host_port(url)} ({exc.__class__.__name__}: {first_line}); {hint}"
    return ""


def host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


def database_url(admin_url: str, name: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


def admin_sql(admin_url: str, template: LiteralString, database: str) -> None:
    """Run `template` with {} replaced by the quoted database name, outside a transaction."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL(template).format(sql.Identifier(database)))


def drop_database(admin_url: str, name: str) -> None:
    try:
        admin_sql(admin_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    except Exception as exc:  # cleanup must not hide the test's own result
        print(f"could not drop database {name}: {exc}", file=sys.stderr)


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new database named `prefix` plus a random suffix, dropped afterwards; yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin_sql(admin_url, "CREATE DATABASE {}", name)
    try:
        yield database_url(admin_url, name)
    finally:
        drop_database(admin_url, name)


@dataclass(frozen=True)
class Roles:
    """A database owned by one role, with a second role that may only connect: production's two
    database roles (docs/deploy.md, "Database roles")."""

    database: str
    owner: str
    app: str
    owner_url: str  # DATABASE_MIGRATE_URL
    app_url: str  # DATABASE_URL


def _role_url(admin_url: str, role: str, password: str, database: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(
        parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port or 5432}", path=f"/{database}")
    )


@contextmanager
def scratch_roles(admin_url: str, prefix: str) -> Iterator[Roles]:
    """A new database owned by a new owner role, and a new app role that may only connect to it, as
    docs/deploy.md has an operator make them; all dropped afterwards."""
    import psycopg
    from psycopg import sql

    suffix = secrets.token_hex(4)
    roles = {"owner": f"{prefix}_owner_{suffix}", "app": f"{prefix}_app_{suffix}"}
    passwords = {name: secrets.token_hex(12) for name in roles}
    database = f"{prefix}_{suffix}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        for name, role in roles.items():
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(passwords[name]))
            )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(roles["owner"]))
        )
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(roles["app"]))
        )
    try:
        yield Roles(
            database=database,
            owner=roles["owner"],
            app=roles["app"],
            owner_url=_role_url(admin_url, roles["owner"], passwords["owner"], database),
            app_url=_role_url(admin_url, roles["app"], passwords["app"], database),
        )
    finally:
        drop_database(admin_url, database)
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                for role in roles.values():
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        except Exception as exc:  # cleanup must not hide the test's own result
            print(f"could not drop roles {sorted(roles.values())}: {exc}", file=sys.stderr)


# What the app's role must be able to do after `migrate`, and what it must not (escalations.ops.db_roles):
# (table, privilege, expected).
APP_ROLE_RIGHTS = (
    ("escalations_escalation", "SELECT", True),
    ("escalations_escalation", "INSERT", True),
    ("escalations_escalation", "UPDATE", True),
    ("escalations_auditevent", "SELECT", True),
    ("escalations_auditevent", "INSERT", True),
    ("escalations_auditevent", "UPDATE", False),
    ("escalations_auditevent", "DELETE", False),
    ("escalations_auditevent", "TRUNCATE", False),
    ("escalations_accesslog", "INSERT", True),
    ("escalations_accesslog", "UPDATE", False),
    ("escalations_chainhead", "SELECT", True),
    ("escalations_chainhead", "INSERT", False),
)


def app_role_problems(admin_url: str, roles: Roles) -> list[str]:
    """How the app role's rights on the migrated database differ from APP_ROLE_RIGHTS (none: [])."""
    import psycopg

    problems = []
    with psycopg.connect(database_url(admin_url, roles.database), autocommit=True, connect_timeout=5) as conn:
        for table, privilege, expected in APP_ROLE_RIGHTS:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()
            if not (exists and exists[0]):
                problems.append(f"{table} does not exist (not migrated)")
                continue
            row = conn.execute("SELECT has_table_privilege(%s, %s, %s)", [roles.app, table, privilege]).fetchone()
            allowed = bool(row and row[0])
            if allowed != expected:
                problems.append(f"{roles.app} {'may' if allowed else 'may not'} {privilege} {table}")
    return problems


_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on: any the system gives, or one of TEST_PORTS ("8700-8799"),
    for machines where several runs share the ports and each keeps to its own range."""
    wanted = os.environ.get("TEST_PORTS", "").strip()
    if not wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    low, _, high = wanted.partition("-")
    candidates = list(range(int(low), int(high or low) + 1))
    random.shuffle(candidates)
    for port in candidates:
        if port in _GIVEN:  # handed out earlier, perhaps not listening yet
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    raise AssertionError(f"no free port in TEST_PORTS={wanted}")


# --- the SMTP sink -------------------------------------------------------------------------------


@dataclass
class Received:
    message_id: str
    subject: str
    to: tuple[str, ...]
    at: float
    text: str = ""  # the text/plain body


@dataclass
class Sink:
    """aiosmtpd handler: records what it accepted. With `hold_marker`, it holds the first message
    whose subject contains it for `hold_seconds` before its 250 (and sets `holding`)."""

    hold_seconds: float = 0.0
    hold_marker: str | None = None
    accepted: list[Received] = field(default_factory=list)
    aborted: list[Received] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    _held: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        got = Received(
            message_id=str(msg.get("Message-ID", "")),
            subject=str(msg.get("Subject", "")),
            to=tuple(sorted(addr.lower() for addr in envelope.rcpt_tos)),
            at=time.time(),
            text=body.get_content() if body is not None else "",
        )
        with self._lock:
            hold = not self._held and self.hold_marker is not None and self.hold_marker in got.subject
            self._held = self._held or hold
        if hold:
            self.holding.set()
            try:
                await asyncio.sleep(self.hold_seconds)
            except asyncio.CancelledError:  # aiosmtpd cancels the handler when the client drops
                with self._lock:
                    self.aborted.append(got)
                raise
            if server.transport is None or server.transport.is_closing():
                with self._lock:
                    self.aborted.append(got)
                return "421 4.4.2 Client gone before the reply; message not accepted"
        with self._lock:
            self.accepted.append(got)
        return "250 2.0.0 Message accepted for delivery"

    def snapshot(self) -> tuple[list[Received], list[Received]]:
        with self._lock:
            return list(self.accepted), list(self.aborted)


@contextmanager
def smtp_sink(handler: Sink) -> Iterator[int]:
    """Serve `handler` on a free loopback port (yielded) for the duration."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


# --- processes -----------------------------------------------------------------------------------


def prod_env(*, database_url: str, broker_url: str, smtp_port: int, **settings: str) -> dict[str, str]:
    """The environment of a worker or beat under settings.prod, sending SMTP to the sink; `settings`
    adds or overrides variables (REMINDER_SWEEP_SECONDS, target hours ...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REQUIRE_SERVICES"))}
    env.update(
        DJANGO_SETTINGS_MODULE="settings.prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        LOG_LEVEL="INFO",
        # Lines end with the message (the soak reads whether a worker's last sweep line is "received").
        LOG_FORMAT="text",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


WORKER_ARGS = ("worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle")


def beat_args(state_dir: Path) -> tuple[str, ...]:
    return (
        "beat",
        "--loglevel=INFO",
        f"--schedule={state_dir / 'celerybeat-schedule'}",
        f"--pidfile={state_dir / 'beat.pid'}",
    )


@dataclass
class Procs:
    env: dict[str, str]
    logs: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_files: list[Path] = field(default_factory=list)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """`celery -A settings <args>`, its output in logs/<name>.log."""
        log = self.logs / f"{name}.log"
        self.log_files.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "settings", *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.running.append(proc)
        return proc

    def manage(self, *args: str, timeout: float = 120, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=stdin,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def check_alive(self) -> None:
        for proc in self.running:
            if proc.returncode is None and proc.poll() is not None:
                raise AssertionError(f"{proc.args!r} exited early with {proc.returncode}")

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.running:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def tails(self, lines: int = 40) -> str:
        out = []
        for log in self.log_files:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            out.append(f"--- {log.name} (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


def poll(check: Callable[[], bool], timeout: float, procs: Procs, interval: float = 0.25) -> bool:
    """Poll `check` until true (True) or `timeout` seconds passed (False). Fails when a process died."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return True
        procs.check_alive()
        time.sleep(interval)
    return check()


def wait_for(what: str, check: Callable[[], bool], timeout: float, procs: Procs) -> None:
    if not poll(check, timeout, procs):
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- the database as the worker left it ------------------------------------------------------------


@dataclass(frozen=True)
class EmailDelivery:
    pk: int
    to: str
    kind: str
    sent_at: datetime | None
    claimed_until: datetime | None
    attempts: int
    ok_attempts: int
    failed_attempts: int


# The end of a query over deliveries (d) with their reminder (r) and recipient (u): after the columns
# it picks, how many attempts of each succeeded and failed, then FROM and the joins.
DELIVERIES_WITH_ATTEMPTS = """
       (SELECT count(*) FROM escalations_deliveryattempt a WHERE a.delivery_id = d.id AND a.ok),
       (SELECT count(*) FROM escalations_deliveryattempt a WHERE a.delivery_id = d.id AND NOT a.ok)
FROM escalations_delivery d
JOIN escalations_reminder r ON r.id = d.reminder_id
JOIN auth_user u ON u.id = d.recipient_id
"""


def email_deliveries(db_url: str) -> list[EmailDelivery]:
    import psycopg

    with psycopg.connect(db_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT d.id, lower(u.email), r.kind, d.sent_at, d.claimed_until, d.attempts,"
            + DELIVERIES_WITH_ATTEMPTS
            + "WHERE d.channel = 'email' AND d.cancelled_at IS NULL ORDER BY d.id"
        ).fetchall()
    return [EmailDelivery(*row) for row in rows]


def doubled_notifications(db_url: str) -> int:
    import psycopg

    with psycopg.connect(db_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM escalations_notification"
            " GROUP BY user_id, title, body HAVING count(*) > 1) AS d"
        ).fetchone()
    return int(row[0]) if row else 0
