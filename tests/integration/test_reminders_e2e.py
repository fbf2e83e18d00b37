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

What the sink counts (tests/processes.py): a message counts as delivered only when the handler
returns its 250 with the client still connected; the held message ends in `aborted`, never in
`accepted`.

Not pytest-django's test database: the worker and beat are separate processes, and production runs
them on PostgreSQL, so the test creates its own database and drops it at the end. Skips (or fails
under REQUIRE_SERVICES) when Redis or PostgreSQL is unreachable. E2E_REDIS_URL (default
redis://127.0.0.1:6379/9, a database number this test flushes) and E2E_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/postgres, a maintenance connection that may create databases)
point it elsewhere.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import skip_unless
from tests.processes import (
    WORKER_ARGS,
    Procs,
    Sink,
    beat_args,
    doubled_notifications,
    email_deliveries,
    poll,
    postgres_problem,
    prod_env,
    redis_problem,
    scratch_database,
    smtp_sink,
    wait_for,
)

pytestmark = pytest.mark.integration

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


SEED = """
import json
from datetime import timedelta
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from escalations.core import services
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
    skip_unless(not (why := redis_problem(REDIS_URL)), "redis", why)
    skip_unless(not (why := postgres_problem(POSTGRES_URL)), "postgres", why)


@pytest.fixture
def e2e_database(services_up: None) -> Iterator[str]:
    with scratch_database(POSTGRES_URL, "escalations_e2e") as url:
        yield url


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
    handler = Sink(hold_seconds=HOLD_SECONDS, hold_marker=STALL_MARKER)
    with smtp_sink(handler) as port:
        yield handler, port


def test_overdue_email_survives_worker_sigkill_once(
    e2e_database: str, broker: str, sink: tuple[Sink, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test_started = time.monotonic()
    smtp, smtp_port = sink
    env = prod_env(
        database_url=e2e_database,
        broker_url=broker,
        smtp_port=smtp_port,
        REMINDER_SWEEP_SECONDS=str(SWEEP_SECONDS),
        REMINDER_CLAIM_LEASE_SECONDS=str(LEASE_SECONDS),
        URGENT_REPORT_TARGET_HOURS=repr(TARGET_SECONDS / 3600),
    )
    procs = Procs(env=env, logs=tmp_path)
    try:
        procs.manage("migrate", "--noinput")
        seeded = procs.manage("shell", "-c", SEED % {"passes_after": TARGET_PASSES_AFTER}).strip().splitlines()[-1]
        target_at = float(json.loads(seeded)["report_due_at"])

        worker = procs.start("worker-1", *WORKER_ARGS, "-n", "e2e-1@%h")
        procs.start("beat", *beat_args(tmp_path))

        # The worker is inside smtplib, waiting for the 250 of the overdue email: kill it there.
        wait_for("the first overdue email to reach the sink", smtp.holding.is_set, TARGET_PASSES_AFTER + 60, procs)
        killed_at = datetime.now(UTC)
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
        wait_for("the sink to see the killed client go", lambda: bool(smtp.snapshot()[1]), HOLD_SECONDS + 5, procs)

        # Killed mid-delivery: the row is claimed and not sent, and no attempt was recorded for it.
        interrupted = [d for d in email_deliveries(e2e_database) if d.kind == "report_overdue" and d.claimed_until]
        assert interrupted, "the killed sweep had claimed no overdue email"
        assert all(d.sent_at is None and d.attempts == 0 for d in interrupted), interrupted
        interrupted_pks = {d.pk for d in interrupted}

        procs.start("worker-2", *WORKER_ARGS, "-n", "e2e-2@%h")

        def all_sent() -> bool:
            rows = email_deliveries(e2e_database)
            overdue = {d.to for d in rows if d.kind == "report_overdue" and d.sent_at}
            got = {to for r in smtp.snapshot()[0] if STALL_MARKER in r.subject for to in r.to}
            wanted = {"moderator@e2e.example.org", "lead@e2e.example.org"}
            return wanted <= overdue and wanted <= got and all(d.sent_at for d in rows)

        # No failure on timeout here: the summary line below then shows what was lost.
        arrived = poll(all_sent, max(target_at + DELIVERY_DEADLINE - time.time(), 1), procs, interval=0.5)
        arrival = (
            f"overdue delivered {time.time() - target_at:.1f} s after its target"
            if arrived
            else f"overdue NOT delivered within {DELIVERY_DEADLINE} s of its target"
        )
        time.sleep(SETTLE_SECONDS)  # more sweeps: any double would show now
        procs.check_alive()

        rows = email_deliveries(e2e_database)
        accepted, aborted = smtp.snapshot()
        # The lead also hears, once, that the urgent escalation was logged.
        labels = {
            "report_overdue": "Report overdue",
            "report_due_soon": "Report due soon",
            "urgent_logged": "Urgent escalation logged",
        }
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
        assert doubled_notifications(e2e_database) == 0
    except BaseException:
        print(procs.tails(), file=sys.stderr)
        raise
    finally:
        procs.stop_all()
