"""End to end, with real processes on loopback: Redis as the broker, a real Celery worker and a
separate beat, a fresh PostgreSQL database, the production settings sending real SMTP to an
aiosmtpd sink in this process.

An urgent escalation's report target passes about 15 s after it is created. The sink holds the
first "Report overdue" message after it has received the whole DATA and before it answers 250;
while it holds it, the worker is killed with SIGKILL, so the message was never accepted. The worker
is restarted; once the killed sweep's claim lease (REMINDER_CLAIM_LEASE_SECONDS) has run out, a
later beat tick delivers the reminder again. The test then waits a few more sweeps and checks that
every email the database asked for (the "due soon" one to the assignee, the overdue one to the
assignee and to the lead) arrived exactly once and is recorded as sent exactly once.

Not covered, by design: a worker killed after the server's 250 and before the sweep records the
delivery sends that email again once the lease runs out (email is at-least-once at that point).

What the sink counts: a message counts as delivered only when the handler returns its 250 with the
client still connected. aiosmtpd cancels the handler when the client's connection drops, so the
held message ends in `aborted` (CancelledError, or a closed transport seen after the pause), never
in `accepted`. This is the SMTP meaning of "accepted": a client killed before the 250 cannot know
the message went through, and a real server would not deliver it either.

Not pytest-django's test database: the worker and beat are separate processes, and production runs
them on PostgreSQL, so the test creates its own database and drops it at the end. Skips (or fails
under REQUIRE_SERVICES) when Redis or PostgreSQL is unreachable. E2E_REDIS_URL (default
redis://127.0.0.1:6379/9, a database number this test flushes) and E2E_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/postgres, a maintenance connection that may create databases)
point it elsewhere.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import skip_unless

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/9")
POSTGRES_URL = os.environ.get("E2E_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

SWEEP_SECONDS = 2  # beat ticks
LEASE_SECONDS = 8  # a killed sweep's claim expires after this
TARGET_SECONDS = 60  # the urgent report target (URGENT_REPORT_TARGET_HOURS, as hours)
TARGET_PASSES_AFTER = 15  # seconds after the escalation is created
HOLD_SECONDS = 3  # the sink holds the first overdue message this long before answering
DELIVERY_DEADLINE = 90  # the overdue email must arrive within this many seconds of the target
SETTLE_SECONDS = 5 * SWEEP_SECONDS  # sweeps watched after delivery, for doubles
STALL_MARKER = "Report overdue"


# --- services ------------------------------------------------------------------------------------


def _redis_problem(url: str) -> str:
    """'' when Redis answers PING at `url`, else why not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        socket.create_connection((host, port), timeout=2).close()
        import redis

        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"no Redis at {host}:{port} ({exc.__class__.__name__}: {exc}); start redis-server or set E2E_REDIS_URL"
    return ""


def _postgres_problem(url: str) -> str:
    """'' when PostgreSQL accepts a connection at `url`, else why not."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"no PostgreSQL at {_safe(url)} ({exc.__class__.__name__}: {first_line}); set E2E_POSTGRES_URL"
    return ""


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


def _database_url(admin_url: str, name: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


def _admin_sql(template: LiteralString, database: str) -> None:
    """Run `template` with {} replaced by the quoted database name, outside a transaction."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL(template).format(sql.Identifier(database)))


def _drop_database(name: str) -> None:
    try:
        _admin_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    except Exception as exc:  # cleanup must not hide the test's own result
        print(f"e2e: could not drop database {name}: {exc}", file=sys.stderr)


# --- the SMTP sink -------------------------------------------------------------------------------


@dataclass
class Received:
    message_id: str
    subject: str
    to: tuple[str, ...]
    at: float


@dataclass
class Sink:
    """aiosmtpd handler: records what it accepted; holds the first overdue message before its 250."""

    hold_seconds: float
    accepted: list[Received] = field(default_factory=list)
    aborted: list[Received] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    _held: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        got = Received(
            message_id=str(msg.get("Message-ID", "")),
            subject=str(msg.get("Subject", "")),
            to=tuple(sorted(addr.lower() for addr in envelope.rcpt_tos)),
            at=time.time(),
        )
        with self._lock:
            hold = not self._held and STALL_MARKER in got.subject
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Procs:
    env: dict[str, str]
    logs: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_files: list[Path] = field(default_factory=list)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
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

    def manage(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
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


def _poll(check: Callable[[], bool], timeout: float, procs: Procs, interval: float = 0.25) -> bool:
    """Poll `check` until true (True) or `timeout` seconds passed (False). Fails when a process died."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return True
        procs.check_alive()
        time.sleep(interval)
    return check()


def _wait_for(what: str, check: Callable[[], bool], timeout: float, procs: Procs) -> None:
    if not _poll(check, timeout, procs):
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


def _email_deliveries(db_url: str) -> list[EmailDelivery]:
    import psycopg

    with psycopg.connect(db_url, connect_timeout=5) as conn:
        rows = conn.execute(
            """
            SELECT d.id, lower(u.email), r.kind, d.sent_at, d.claimed_until, d.attempts,
                   (SELECT count(*) FROM escalations_deliveryattempt a WHERE a.delivery_id = d.id AND a.ok),
                   (SELECT count(*) FROM escalations_deliveryattempt a WHERE a.delivery_id = d.id AND NOT a.ok)
            FROM escalations_delivery d
            JOIN escalations_reminder r ON r.id = d.reminder_id
            JOIN auth_user u ON u.id = d.recipient_id
            WHERE d.channel = 'email' AND d.cancelled_at IS NULL
            ORDER BY d.id
            """
        ).fetchall()
    return [EmailDelivery(*row) for row in rows]


def _doubled_notifications(db_url: str) -> int:
    import psycopg

    with psycopg.connect(db_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM escalations_notification"
            " GROUP BY user_id, title, body HAVING count(*) > 1) AS d"
        ).fetchone()
    return int(row[0]) if row else 0


SEED = """
import json
from datetime import timedelta
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from escalations import services
from escalations.models import IncidentType, Priority

User = get_user_model()
moderator = User.objects.create_user("e2e-moderator", email="moderator@e2e.example.org")
moderator.groups.add(Group.objects.get(name="moderator"))
lead = User.objects.create_user("e2e-lead", email="lead@e2e.example.org")
lead.groups.add(Group.objects.get(name="lead"))
target = timedelta(hours=settings.URGENT_REPORT_TARGET_HOURS)
esc = services.create_escalation(
    actor=moderator,
    data={
        "platform_reference": "ticket-e2e-1",
        "incident_type": IncidentType.ONLINE_ENTICEMENT,
        "priority": Priority.URGENT,
        "urgent_reason": "End-to-end test: the target passes during the test.",
        "knowledge_at": timezone.now() + timedelta(seconds=%(passes_after)d) - target,
    },
)
print(json.dumps({"key": esc.key, "report_due_at": esc.report_due_at.timestamp()}))
"""


# --- the test ------------------------------------------------------------------------------------


@pytest.fixture
def services_up() -> None:
    skip_unless(not (why := _redis_problem(REDIS_URL)), "redis", why)
    skip_unless(not (why := _postgres_problem(POSTGRES_URL)), "postgres", why)


@pytest.fixture
def e2e_database(services_up: None) -> Iterator[str]:
    name = f"escalations_e2e_{secrets.token_hex(4)}"
    _admin_sql("CREATE DATABASE {}", name)
    try:
        yield _database_url(POSTGRES_URL, name)
    finally:
        _drop_database(name)


@pytest.fixture
def broker(services_up: None) -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()  # the killed worker's unacknowledged tick would otherwise linger for an hour
        client.close()


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    from aiosmtpd.controller import Controller

    handler = Sink(hold_seconds=HOLD_SECONDS)
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_overdue_email_survives_worker_sigkill_once(
    e2e_database: str, broker: str, sink: tuple[Sink, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test_started = time.monotonic()
    smtp, smtp_port = sink
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REQUIRE_SERVICES"))}
    env.update(
        DJANGO_SETTINGS_MODULE="settings.prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DATABASE_URL=e2e_database,
        CELERY_BROKER_URL=broker,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        REMINDER_SWEEP_SECONDS=str(SWEEP_SECONDS),
        REMINDER_CLAIM_LEASE_SECONDS=str(LEASE_SECONDS),
        URGENT_REPORT_TARGET_HOURS=repr(TARGET_SECONDS / 3600),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    procs = Procs(env=env, logs=tmp_path)
    worker_args = ("worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle")
    try:
        procs.manage("migrate", "--noinput")
        seeded = procs.manage("shell", "-c", SEED % {"passes_after": TARGET_PASSES_AFTER}).strip().splitlines()[-1]
        target_at = float(json.loads(seeded)["report_due_at"])

        worker = procs.start("worker-1", *worker_args, "-n", "e2e-1@%h")
        procs.start(
            "beat",
            "beat",
            "--loglevel=INFO",
            f"--schedule={tmp_path / 'celerybeat-schedule'}",
            f"--pidfile={tmp_path / 'beat.pid'}",
        )

        # The worker is inside smtplib, waiting for the 250 of the overdue email: kill it there.
        _wait_for("the first overdue email to reach the sink", smtp.holding.is_set, TARGET_PASSES_AFTER + 60, procs)
        killed_at = datetime.now(UTC)
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
        _wait_for("the sink to see the killed client go", lambda: bool(smtp.snapshot()[1]), HOLD_SECONDS + 5, procs)

        # Killed mid-delivery: the row is claimed and not sent, and no attempt was recorded for it.
        interrupted = [d for d in _email_deliveries(e2e_database) if d.kind == "report_overdue" and d.claimed_until]
        assert interrupted, "the killed sweep had claimed no overdue email"
        assert all(d.sent_at is None and d.attempts == 0 for d in interrupted), interrupted
        interrupted_pks = {d.pk for d in interrupted}

        procs.start("worker-2", *worker_args, "-n", "e2e-2@%h")

        def all_sent() -> bool:
            rows = _email_deliveries(e2e_database)
            overdue = {d.to for d in rows if d.kind == "report_overdue" and d.sent_at}
            got = {to for r in smtp.snapshot()[0] if STALL_MARKER in r.subject for to in r.to}
            wanted = {"moderator@e2e.example.org", "lead@e2e.example.org"}
            return wanted <= overdue and wanted <= got and all(d.sent_at for d in rows)

        # No failure on timeout here: the summary line below then shows what was lost.
        arrived = _poll(all_sent, max(target_at + DELIVERY_DEADLINE - time.time(), 1), procs, interval=0.5)
        arrival = (
            f"overdue delivered {time.time() - target_at:.1f} s after its target"
            if arrived
            else f"overdue NOT delivered within {DELIVERY_DEADLINE} s of its target"
        )
        time.sleep(SETTLE_SECONDS)  # more sweeps: any double would show now
        procs.check_alive()

        rows = _email_deliveries(e2e_database)
        accepted, aborted = smtp.snapshot()
        labels = {"report_overdue": "Report overdue", "report_due_soon": "Report due soon"}
        expected = Counter((d.to, labels[d.kind]) for d in rows)
        received = Counter(
            (to, label) for r in accepted for to in r.to for label in labels.values() if label in r.subject
        )
        lost = sum(max(0, n - received[key]) for key, n in expected.items())
        doubled = sum(max(0, n - expected[key]) for key, n in received.items())
        unexpected = len(accepted) - sum(received.values())
        delivered = sum(min(n, received[key]) for key, n in expected.items())
        line = (
            f"e2e reminders: expected={sum(expected.values())} delivered={delivered} lost={lost} doubled={doubled}"
            f" (killed mid-DATA={len(aborted)}, {arrival},"
            f" test {time.monotonic() - test_started:.0f} s)"
        )
        with capsys.disabled():
            print(f"\n{line}")

        assert arrived, line
        assert expected[("moderator@e2e.example.org", "Report overdue")] == 1
        assert expected[("lead@e2e.example.org", "Report overdue")] == 1
        assert lost == 0 and doubled == 0 and unexpected == 0, (line, accepted)
        assert len(aborted) == 1 and STALL_MARKER in aborted[0].subject
        # The reminder went out again as a new message (a new Message-ID), not as the same one twice.
        assert len({r.message_id for r in accepted}) == len(accepted)
        for d in rows:
            assert d.sent_at is not None, d
            # Sent once: one successful attempt, nothing failed; the killed attempt left no record.
            assert (d.attempts, d.ok_attempts, d.failed_attempts) == (1, 1, 0), d
            if d.pk in interrupted_pks:
                assert d.sent_at > killed_at, d  # marked sent by a sweep after the kill, not before
        assert _doubled_notifications(e2e_database) == 0
    except BaseException:
        print(procs.tails(), file=sys.stderr)
        raise
    finally:
        procs.stop_all()
