"""Catch-up after an outage: 10,000 reminders due at once (no worker ran for a day), then ONE Celery
worker starts; how long until every reminder was delivered in-app and its email accepted by an SMTP
server, and that each was delivered exactly once.

In a database of its own (<BENCH_DATABASE_URL's name>_catchup, made again on every run):
BENCH_CATCHUP_ESCALATIONS open standard escalations (10,000) owned by BENCH_CATCHUP_PEOPLE
moderators (1,000), each with email and in-app notifications on, their knowledge times spread over
the 24 hours before the worker's return (so each one's "report due soon" or "report overdue" is due),
never swept. Then an aiosmtpd sink on loopback (BENCH_CATCHUP_SMTP_PORT, a free port when unset),
and one real worker (`celery -A settings.celery worker --concurrency 1`) under bench.catchup_settings:
the bench's settings with Django's SMTP backend pointed at the sink, and a broker of its own
(kombu's filesystem transport in a temporary folder). The bench sends the sweep's tick as beat
would: at the worker's start and every REMINDER_SWEEP_SECONDS.

The clock runs from the worker's start (its process start-up included) until the last email was
accepted by the sink or the last notification written, whichever is later, once the worker has
finished a sweep with no delivery left pending. Then it waits QUIET_SECONDS for anything late and
counts, per (recipient, escalation): the items of every accepted email (a digest counts per line)
and of every in-app notification. Any lost or doubled item fails the run.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from . import database, machine
from .config import ROOT, Config, _int, database_name, with_database

TARGET_SECONDS = 120.0
QUIET_SECONDS = 5.0
TIMEOUT_SECONDS = 900.0
# One line of a message per reminder (escalations/reminders/channels.py Item.line).
# (its Acknowledge link's line, "ESC-000001: https://...", is not one).
ITEM_LINE = re.compile(r"^(?:TEST )?(?:URGENT )?(ESC-\d+): .*\(deadline ", re.MULTILINE)


def log(message: str) -> None:
    print(f"bench: catch-up: {message}", file=sys.stderr, flush=True)


class Sink:
    """aiosmtpd handler: keeps each accepted message's bytes and when it came; parsed afterwards, so
    that the sink costs the shared machine as little as possible while the worker runs."""

    def __init__(self) -> None:
        self.accepted: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.accepted.append((time.time(), envelope.original_content or envelope.content))
        return "250 2.0.0 Message accepted for delivery"

    def snapshot(self) -> list[tuple[float, bytes]]:
        with self._lock:
            return list(self.accepted)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seed(url: str, escalations: int, people: int) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    args = json.dumps({"escalations": escalations, "people": people})
    done = subprocess.run(  # noqa: S603 - our own module, with our own interpreter
        [sys.executable, "-m", "bench.catchup_seed", args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: catch-up: seeding failed ({done.returncode}): {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _broker(folder: Path) -> Any:
    from celery import Celery

    app = Celery("catchup-ticks", broker="filesystem://")
    app.conf.broker_transport_options = transport_options(folder)
    return app


def transport_options(folder: Path) -> dict[str, Any]:
    """kombu's filesystem transport in `folder` (the worker's settings read the same folder)."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "control_folder": str(folder / "control"),
    }


def _state(conn: psycopg.Connection[Any], started_wall: float) -> tuple[int, bool]:
    """(deliveries pending, whether a sweep finished after the worker's start)."""
    pending = conn.execute(
        "SELECT count(*) FROM escalations_delivery WHERE sent_at IS NULL AND cancelled_at IS NULL"
    ).fetchone()
    row = conn.execute("SELECT max(last_finished_at) FROM escalations_sweepheartbeat").fetchone()
    finished = row is not None and row[0] is not None and row[0].timestamp() >= started_wall
    return (pending[0] if pending else 0), finished


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _items(text: str) -> list[str]:
    return ITEM_LINE.findall(text)


def _emails(received: list[tuple[float, bytes]]) -> tuple[Counter[tuple[str, str]], Counter[str], int]:
    """(items per (address, key), copies per Message-ID, messages)."""
    items: Counter[tuple[str, str]] = Counter()
    ids: Counter[str] = Counter()
    for _, raw in received:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        ids[str(msg.get("Message-ID", ""))] += 1
        if ids[str(msg.get("Message-ID", ""))] > 1:
            continue  # the same message again: a mail system drops it (counted apart)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        to = str(msg.get("To", "")).lower()
        for key in _items(text):
            items[(to, key)] += 1
    return items, ids, len(received)


def _in_app(conn: psycopg.Connection[Any]) -> tuple[Counter[tuple[str, str]], int, float]:
    """(items per (address, key), notifications, when the last one was written)."""
    items: Counter[tuple[str, str]] = Counter()
    rows = conn.execute(
        "SELECT u.email, n.body, n.created_at FROM escalations_notification n JOIN auth_user u ON u.id = n.user_id"
    ).fetchall()
    last = 0.0
    for address, body, created_at in rows:
        last = max(last, created_at.timestamp())
        for key in _items(body):
            items[(address.lower(), key)] += 1
    return items, len(rows), last


def _check(expected: set[tuple[str, str]], got: Counter[tuple[str, str]]) -> dict[str, int]:
    return {
        "items": sum(got.values()),
        "lost": len(expected - set(got)),
        "doubled": sum(n - 1 for n in got.values() if n > 1),
        "unexpected": len(set(got) - expected),
    }


def measure(cfg: Config) -> dict[str, Any]:
    escalations = _int("BENCH_CATCHUP_ESCALATIONS", 10_000)
    people = min(_int("BENCH_CATCHUP_PEOPLE", 1_000), escalations)
    url = with_database(cfg.url, database_name(cfg.url) + "_catchup")
    database.drop(url)
    database.create(url)
    log(f"seeding {escalations:,} escalations due at once for {people:,} people in {database_name(url)}")
    seeded = _seed(url, escalations, people)
    expected = {(address, key) for address, key in seeded["expected"]}

    from aiosmtpd.controller import Controller

    sink = Sink()
    port = int(os.environ.get("BENCH_CATCHUP_SMTP_PORT", "") or free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sweep_seconds = float(os.environ.get("REMINDER_SWEEP_SECONDS", "") or 60)
    load_before = machine.loadavg()
    with tempfile.TemporaryDirectory(prefix="bench-catchup-") as tmp, psycopg.connect(url, autocommit=True) as conn:
        folder = Path(tmp)
        ticks = _broker(folder)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.catchup_settings",
            "BENCH_CATCHUP_SMTP_PORT": str(port),
            "BENCH_CATCHUP_BROKER_DIR": str(folder),
        }
        log(f"starting one worker (concurrency 1), SMTP sink on 127.0.0.1:{port}")
        cpu_before = _children_cpu()
        started_wall, started = time.time(), time.perf_counter()
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "settings.celery",
                "worker",
                "--concurrency",
                "1",
                "--loglevel",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
                "-n",
                "catchup@%h",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            next_tick = 0.0
            while True:
                now = time.perf_counter()
                if now - started >= next_tick:
                    # As beat sends it: a tick that waited longer than one interval is dropped.
                    ticks.send_task("escalations.tasks.sweep_reminders", expires=sweep_seconds)
                    next_tick += sweep_seconds
                if worker.poll() is not None:
                    raise SystemExit(f"bench: catch-up: the worker exited ({worker.returncode})")
                pending, finished = _state(conn, started_wall)
                if finished and pending == 0:
                    break
                if now - started > TIMEOUT_SECONDS:
                    raise SystemExit(f"bench: catch-up: {pending} deliveries still pending after {TIMEOUT_SECONDS} s")
                time.sleep(0.25)
            time.sleep(QUIET_SECONDS)
            load_after = machine.loadavg()
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            controller.stop()
        # The worker's processes' CPU time (its pool process's too, which it waited for): what the
        # catch-up costs when it has a core to itself, whatever the shared machine's load.
        worker_cpu = _children_cpu() - cpu_before
        received = sink.snapshot()
        email_items, ids, messages = _emails(received)
        in_app_items, notifications, last_note = _in_app(conn)
        kinds: dict[str, int] = dict(
            conn.execute(
                "SELECT kind || CASE WHEN cancelled_at IS NULL THEN '' ELSE ' (cancelled)' END, count(*) "
                "FROM escalations_reminder GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        stats_row = conn.execute("SELECT last_stats FROM escalations_sweepheartbeat").fetchone()
    last_mail = max((at for at, _ in received), default=0.0)
    seconds = max(last_mail, last_note) - started_wall
    mail, app = _check(expected, email_items), _check(expected, in_app_items)
    result = {
        "escalations": escalations,
        "people": people,
        "seconds": round(seconds, 1),
        "target_seconds": TARGET_SECONDS,
        "met": seconds <= TARGET_SECONDS and not (mail["lost"] or mail["doubled"] or app["lost"] or app["doubled"]),
        "emails": messages,
        "email_message_ids": len(ids),
        "same_id_resends": sum(n - 1 for n in ids.values()),
        "email": mail,
        "notifications": notifications,
        "in_app": app,
        "reminders": kinds,
        "last_sweep": stats_row[0] if stats_row else None,
        "worker_cpu_seconds": round(worker_cpu, 1),
        "load_before": load_before,
        "load_after": load_after,
        "seeded_at": seeded["now"],
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    log(
        f"{escalations:,} reminders in {result['seconds']} s: {messages:,} emails accepted "
        f"({mail['items']:,} items, lost {mail['lost']}, doubled {mail['doubled']}), {notifications:,} "
        f"notifications ({app['items']:,} items, lost {app['lost']}, doubled {app['doubled']}); "
        f"worker CPU {worker_cpu:.1f} s; load {load_before} -> {load_after}"
    )
    problems = [
        f"{channel}: {name} {n}"
        for channel, check in (("email", mail), ("in-app", app))
        for name, n in check.items()
        if name != "items" and n
    ]
    if problems:
        raise SystemExit("bench: catch-up: not exactly once: " + ", ".join(problems))
    return result


def main() -> None:
    """`python -m bench.catchup`: the catch-up alone; its figures join the last run's (BENCH_JSON) and
    docs/benchmarks.md is written again from them when that run exists."""
    from . import report

    cfg = Config.from_env()
    result = measure(cfg)
    print(json.dumps(result, indent=1))
    if cfg.json_path.exists():
        run = json.loads(cfg.json_path.read_text())
        run["catchup"] = result
        cfg.json_path.write_text(json.dumps(run, indent=1, default=str))
        report.write(cfg, run)


if __name__ == "__main__":
    main()
