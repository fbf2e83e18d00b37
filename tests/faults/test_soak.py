"""The fault soak: hundreds of deadlines cross while the processes of several "machines" are SIGKILLed
at random moments, Redis is down for 2 minutes and PostgreSQL restarts; every reminder must arrive
exactly once.

Real processes on loopback, all our own: a PostgreSQL cluster made with initdb (tests/faults/
servers.py), a redis-server, and against those two, as several machines would run them, two web
processes (gunicorn with gunicorn.conf.py), three Celery workers (prefork, CELERY_WORKER_CONCURRENCY
processes each) and two beats, all under settings.prod and started as production starts them
(deploy/container/entrypoint.sh; tests/faults/chaos.py); an aiosmtpd sink and a webhook receiver
that verifies every signature (two people have a webhook besides email and the bell) in this process.
Two beats at once each send every tick: the sweeps they start overlap by design, and their claims
keep each delivery to one of them. Escalations are logged through the services (tests/faults/
seed.py) with small targets (tests/faults/load.py), so that their "due soon", "overdue",
"preservation not confirmed" and "unfinished NCMEC report" reminders fall due at spread-out moments
of the run; meanwhile a pipeline logs more through the API and a lead edits the logged ones, through
either web process (tests/faults/web_load.py). Faults come from a seeded RNG (tests/faults/chaos.py):
SOAK_SEED=<n> replays a run's schedule and load. Worker kills are aimed at a worker inside a delivery
(between its claim and `sent_at`), read from the structured log lines the sweep writes; at least
`mid_sweep_kills` of them must land there.

After the last deadline the soak waits for quiescence (everything expected arrived, nothing pending
in the database, several sweeps with nothing new), then counts:
- expected: every (person, channel, escalation, reminder kind) that policy.reminder_plan calls for
  by the last deadline, from the facts the soak logged, and who hears of each kind;
- delivered: those found at least once in the emails the sink accepted with its 250, the webhook
  requests the receiver verified and accepted, or the in-app notifications; digests count per line;
- lost: expected and never delivered;
- doubled: delivered again under a different Message-ID or webhook-id (or a second notification).
An email or webhook sent again under the same Message-ID or webhook-id is counted apart, as
`same_id_resends`: that is the known at-least-once gap of tests/integration/test_reminders_e2e.py (a
worker killed, or its database gone, after the SMTP server's 250 or the receiver's 2xx and before the
sweep records the delivery sends the same message again once its lease runs out; mail systems drop a
repeated Message-ID, webhook receivers a repeated webhook-id). The assertion is on `lost`
and `doubled`; `same_id_resends` is printed, never hidden, each with the faults that struck between
its copies. The database rows (deliveries and attempts) are cross-checked against the expected set,
and every escalation created through the API exists once (none had a reminder: anything for them
counts as unexpected). Every process's log is kept in test-results/soak/<profile>-<seed>/.

Runs only when SOAK_PROFILE is `short` (.ci/run, within 8 minutes) or `long` (about 25 minutes:
make soak). Needs redis-server and PostgreSQL's initdb/pg_ctl: it skips without them, or fails when
REQUIRE_SERVICES names redis or postgres. TEST_PORTS=<low>-<high> keeps every port it opens in that
range (tests/processes.py).
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest

from escalations import policy
from tests.conftest import skip_unless
from tests.faults.chaos import BEAT, WEB, WORKER, Event, Fleet, plan_faults, run_faults
from tests.faults.load import (
    CFG,
    LEADS,
    PROFILES,
    REDIS_DOWN_SECONDS,
    SETTINGS,
    STEPS_AFTER_TARGET,
    WEBHOOK_TOO,
    EscalationSpec,
    Facts,
    Item,
    Profile,
    Tally,
    at,
    expected_items,
    plan_acks,
    plan_load,
    tally,
    without_acknowledged_steps,
)
from tests.faults.readback import (
    SweepWatch,
    copies,
    database_items,
    held_by_claims,
    last_sweep,
    pending_deliveries,
    query,
)
from tests.faults.servers import PrivatePostgres, PrivateRedis, find_pg_bindir, pg_problem
from tests.faults.web_load import WebLoad, wait_until_serving
from tests.faults.webhook_sink import WebhookSink, webhook_sink
from tests.processes import ROOT, Procs, Sink, free_port, prod_env, scratch_database, smtp_sink

pytestmark = pytest.mark.soak

SWEEP_SECONDS = 2
LEASE_SECONDS = 10  # a killed sweep's claim runs out after this
SEED_LEAD = 25  # seconds from the start of seeding to T0
QUIET_SWEEPS = 4  # sweeps with nothing new, after everything arrived
QUIESCE_TIMEOUT = 240  # seconds after the last deadline
LOGS = ROOT / "test-results" / "soak"
RECOVERY_LIMIT = 90  # after Redis or PostgreSQL is back, a sweep must finish within this many seconds
# The fleet: as on several machines (tests/faults/chaos.py).
WEBS, WORKERS, BEATS = ("web-a", "web-b"), ("worker-a", "worker-b", "worker-c"), ("beat-a", "beat-b")
WORKER_CONCURRENCY = 2
SWEEP_BATCH = 50  # a backlog takes several claims, shared by the sweeps running at once
START_TIMEOUT = 120  # seconds for the web processes to serve


def say(line: str) -> None:
    """Progress, straight to the terminal under -s (capsys would otherwise hold it)."""
    print(f"soak: {line}", file=sys.__stdout__, flush=True)


def _profile() -> Profile:
    name = os.environ.get("SOAK_PROFILE", "")
    if not name:
        pytest.skip("fault soak: set SOAK_PROFILE=short or long (make soak, or .ci/run's short form)")
    if name not in PROFILES:
        pytest.fail(f"SOAK_PROFILE={name!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


@dataclass
class Outcome:
    """What the run did and found."""

    redis_down: float = 0.0
    redis_down_at: float = 0.0  # epoch
    redis_up_at: float = 0.0  # epoch
    pg_down_at: float = 0.0  # epoch
    pg_up_at: float = 0.0  # epoch
    result: Tally = field(default_factory=Tally)
    recorded: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False
    emails: int = 0
    webhooks: int = 0
    refused_webhooks: list[str] = field(default_factory=list)
    redis_recovery: float | None = None
    pg_recovery: float | None = None
    max_late: float = 0.0
    web: WebLoad | None = None
    web_copies: dict[str, int] = field(default_factory=dict)  # reference -> escalations with it
    ticks: dict[str, int] = field(default_factory=dict)  # beat -> ticks it sent
    sweeps: dict[str, int] = field(default_factory=dict)  # worker -> claims its sweeps made
    acks: dict[int, float] = field(default_factory=dict)  # escalation id -> when it was acknowledged
    # Steps acknowledged too close to their moment to know whether they went: at most once each.
    maybe: set[Item] = field(default_factory=set)
    silenced: int = 0  # steps that must not go: acknowledged before they fell due


def test_reminders_survive_faults_exactly_once(capsys: pytest.CaptureFixture[str]) -> None:
    profile = _profile()
    redis_binary = shutil.which("redis-server")
    skip_unless(redis_binary is not None, "redis", "no redis-server on PATH (apt-get install redis-server)")
    skip_unless(not (why := pg_problem()), "postgres", why)
    bindir = find_pg_bindir()
    assert redis_binary is not None and bindir is not None
    seed = int(os.environ.get("SOAK_SEED") or secrets.randbelow(1_000_000))
    rng = random.Random(seed)
    with capsys.disabled():
        print(f"\nsoak: profile={profile.name} seed={seed} (SOAK_SEED={seed} replays it)", flush=True)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: one line per SMTP command
    # Logs of every process, kept after the run (pytest's own tmp_path rotates away within hours).
    logs = LOGS / f"{profile.name}-{seed}"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    started = time.monotonic()
    out = Outcome()

    with ExitStack() as stack:
        pg = PrivatePostgres(bindir)
        stack.callback(pg.close)
        pg.start()
        redis = PrivateRedis(redis_binary, logs)
        stack.callback(redis.close)
        redis.start()
        sink = Sink()
        smtp_port = stack.enter_context(smtp_sink(sink))
        from escalations.reminders.webhook_signing import new_secret

        hooks = stack.enter_context(webhook_sink(WebhookSink(secrets={name: new_secret() for name in WEBHOOK_TOO})))
        db_url = stack.enter_context(scratch_database(pg.admin_url, "soak"))
        env = prod_env(
            database_url=db_url,
            broker_url=redis.url,
            smtp_port=smtp_port,
            REMINDER_SWEEP_SECONDS=str(SWEEP_SECONDS),
            REMINDER_CLAIM_LEASE_SECONDS=str(LEASE_SECONDS),
            REMINDER_SWEEP_BATCH=str(SWEEP_BATCH),
            CELERY_WORKER_CONCURRENCY=str(WORKER_CONCURRENCY),
            WEBHOOK_ALLOW_HTTP_LOOPBACK="true",
            # Production's format: the aimed kills read the sweep's claim lines from it.
            LOG_FORMAT="json",
            # Shared by the web processes (API throttles), as production has it.
            CACHE_URL=redis.url.rsplit("/", 1)[0] + "/1",
            WEB_CONCURRENCY="2",
            GUNICORN_THREADS="2",
            **SETTINGS,
        )
        procs = Procs(env=env, logs=logs)
        say(
            f"private PostgreSQL on 127.0.0.1:{pg.port}, Redis on 127.0.0.1:{redis.port}, SMTP sink on {smtp_port},"
            f" webhook receiver on {hooks.port}"
        )
        procs.manage("migrate", "--noinput", timeout=300)

        # The load, anchored at T0; then the fleet, before any deadline crosses.
        t0 = time.time() + SEED_LEAD
        events = plan_faults(profile, rng)
        specs = plan_load(profile, rng, t0)
        payload = json.dumps(
            {
                "escalations": [spec.__dict__ for spec in specs],
                "webhooks": {name: [hooks.url_for(name), hooks.secrets[name]] for name in WEBHOOK_TOO},
            }
        )
        seeded = procs.manage("shell", "-c", "from tests.faults.seed import main; main()", stdin=payload, timeout=300)
        answer = json.loads(seeded.strip().splitlines()[-1])
        created = answer["created"]
        keys = {row["ref"]: row["key"] for row in created}
        for spec, row in zip(specs, created, strict=True):
            _check_target(spec, row)
        say(f"{len(specs)} escalations logged, T0 in {t0 - time.time():.0f}s; {len(events)} faults planned")

        fleet = Fleet(env=env, logs=logs, t0=t0, held=lambda tokens: held_by_claims(db_url, tokens))
        fleet.rng.seed(seed)
        web_ports = {name: free_port() for name in WEBS}
        for name in WEBS:
            fleet.add(
                name, WEB, {"PORT": str(web_ports[name]), "PROMETHEUS_MULTIPROC_DIR": str(logs / f"{name}-metrics")}
            )
        for name in WORKERS:
            fleet.add(name, WORKER)
        for name in BEATS:
            # Each beat on its own machine: a schedule file of its own.
            fleet.add(name, BEAT, {"CELERY_BEAT_SCHEDULE": str(logs / f"{name}-celerybeat-schedule")})
        stack.callback(fleet.stop)
        fleet.start_all()
        fleet_started = time.time()
        watch = SweepWatch(db_url)
        watch.start()
        stack.callback(watch.stop)
        wait_until_serving(web_ports, START_TIMEOUT)
        pool = {slot.name: len(_pool(slot)) for slot in fleet.of(WORKER)}
        say(f"fleet up: web {web_ports}, workers {pool} (processes each), beats {len(BEATS)}")
        web = out.web = WebLoad(web_ports, answer["token"], [row["id"] for row in created], random.Random(seed))
        web.start()
        stack.callback(web.stop)
        # A lead acknowledges some urgent reports between their target and their first step.
        ack_plan = plan_acks(specs, {row["ref"]: row["id"] for row in created}, random.Random(seed + 1))
        ack_proc = _start_acks(env, logs, ack_plan)
        stack.callback(ack_proc.kill)

        def redis_stop(event: Event) -> None:
            out.redis_down_at = time.time()
            redis.stop()
            out.redis_down = -time.monotonic()

        def redis_start(event: Event) -> None:
            # The outage is promised to last REDIS_DOWN_SECONDS from the moment Redis was really gone;
            # the start was planned from the moment the stop began, so a slow shutdown (or a late
            # event) would otherwise shorten it by a few milliseconds.
            time.sleep(max(0.0, REDIS_DOWN_SECONDS - (out.redis_down + time.monotonic())))
            out.redis_down += time.monotonic()
            redis.start()
            out.redis_up_at = time.time()

        def pg_restart(event: Event) -> None:
            out.pg_down_at = time.time()
            pg.restart(event.pause)
            out.pg_up_at = time.time()
            say(f"PostgreSQL was down {event.pause:.1f}s")

        try:
            run_faults(
                events, fleet, {"redis-stop": redis_stop, "redis-start": redis_start, "pg-restart": pg_restart}, say
            )
            # The horizon reaches the escalation steps of the last urgent targets (STEPS_AFTER_TARGET).
            horizon = at(t0 + profile.cross_to) + STEPS_AFTER_TARGET
            expected = expected_items(specs, keys, horizon)
            out.acks = _acks_done(ack_proc, logs)
            ids = {row["ref"]: row["id"] for row in created}
            expected, out.maybe, out.silenced = without_acknowledged_steps(expected, specs, keys, ids, out.acks)
            out.quiet = _quiesce(db_url, sink, hooks, fleet, expected, horizon.timestamp() + QUIESCE_TIMEOUT)
            web.stop()
            arrived = copies(db_url, sink, hooks)
            out.result = tally(expected, arrived, maybe=out.maybe)
            out.recorded = database_items(db_url, {row["id"]: row["key"] for row in created})
            out.emails = len(sink.snapshot()[0])
            accepted_hooks, out.refused_webhooks = hooks.snapshot()
            out.webhooks = len(accepted_hooks)
            out.redis_recovery = watch.first_after(out.redis_up_at)
            out.pg_recovery = watch.first_after(out.pg_up_at)
            out.web_copies = dict(
                query(
                    db_url,
                    "SELECT platform_reference, count(*) FROM escalations_escalation"
                    " WHERE platform_reference LIKE 'soak-web-%' GROUP BY platform_reference",
                )
            )
            out.ticks = {
                slot.name: sum(
                    1 for line in fleet.lines(slot) if str(line.get("message", "")).startswith("Scheduler: Sending due")
                )
                for slot in fleet.of(BEAT)
            }
            out.sweeps = {slot.name: sum(w.claims for w in _watches(fleet, slot)) for slot in fleet.of(WORKER)}
            # From falling due (or from the start, for what fell due before the workers ran) to arrival.
            first: dict[Item, float] = {}
            for copy in arrived:
                first[copy.item] = min(first.get(copy.item, copy.at), copy.at)
            out.max_late = max(
                (first[item] - max(due.timestamp(), fleet_started) for item, due in expected.items() if item in first),
                default=0.0,
            )
        except BaseException:
            print(procs.tails(60), file=sys.stderr)
            print(pg.tail(), file=sys.stderr)
            raise
        duration = time.monotonic() - started

    _report_and_check(profile, seed, out, fleet, pg, expected, duration, capsys, ack_plan)


def _start_acks(env: dict[str, str], logs: Any, plan: list[tuple[int, float]]) -> Any:
    """The acknowledging lead (tests/faults/acks.py), in a process of its own; its lines in acks.log."""
    import subprocess

    out = (logs / "acks.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", "from tests.faults.acks import main; main()"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=out,
        stderr=(logs / "acks.err").open("wb"),
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"actor": LEADS[0], "acks": plan}).encode())
    proc.stdin.close()
    return proc


def _acks_done(proc: Any, logs: Any) -> dict[int, float]:
    """escalation id -> when its acknowledgement committed, once the process has made them all."""
    proc.wait(timeout=180)
    done = {}
    for line in (logs / "acks.log").read_text().splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            done[row["id"]] = row["at"]
    return done


def _pool(slot: Any) -> list[int]:
    """The worker's pool processes (children of its main process)."""
    from tests.faults.chaos import _group

    return [pid for pid in _group(slot.proc.pid) if pid != slot.proc.pid] if slot.proc is not None else []


def _watches(fleet: Fleet, slot: Any) -> list[Any]:
    """A LogWatch over each of the slot's logs, read to the end."""
    from tests.faults.chaos import LogWatch

    watches = [LogWatch(path) for path in slot.logs]
    for w in watches:
        w.poll()
    return watches


def _report_and_check(
    profile: Profile,
    seed: int,
    out: Outcome,
    fleet: Fleet,
    pg: PrivatePostgres,
    expected: dict[Item, Any],
    duration: float,
    capsys: pytest.CaptureFixture[str],
    ack_plan: list[tuple[int, float]],
) -> None:
    result, recorded = out.result, out.recorded
    web = out.web
    assert web is not None
    kills = len(fleet.kills)
    line = (
        f"soak: profile={profile.name} seed={seed} web={len(WEBS)} workers={len(WORKERS)}"
        f" (concurrency {WORKER_CONCURRENCY}) beats={len(BEATS)} kills={kills} (worker={fleet.count(WORKER)}"
        f" beat={fleet.count(BEAT)} web={fleet.count(WEB)}) worker kills mid-sweep={fleet.mid_sweep}"
        f" redis_down={out.redis_down:.0f}s pg_restarts={pg.restarts}"
        f" expected={result.expected} delivered={result.delivered} lost={result.lost} doubled={result.doubled}"
        f" acks={len(out.acks)} steps_silenced={out.silenced} steps_unsure={len(out.maybe)}"
        f" duration={duration:.0f}s"
    )

    def secs(value: float | None) -> str:
        return "never" if value is None else f"{value:.0f}s"

    doubled_creates = {ref: n for ref, n in out.web_copies.items() if n > 1}
    missing_creates = sorted(set(web.created) - set(out.web_copies))
    details = (
        f"soak: same_id_resends={result.same_id_resends} unexpected={result.unexpected}"
        f" held by killed claims={sum(k.held for k in fleet.kills)}"
        f" emails={out.emails} webhooks={out.webhooks} refused_webhooks={len(out.refused_webhooks)}"
        f" max_late={out.max_late:.0f}s first sweep after redis={secs(out.redis_recovery)}"
        f" after postgres={secs(out.pg_recovery)} quiet={out.quiet}"
        f" | db: missing={len(set(expected) - recorded['items'])} extra={len(recorded['items'] - set(expected))}"
        f" unsent={recorded['unsent']} multi_ok={recorded['multi_ok']} failed_attempts={recorded['failed']}"
        f" cancelled={sum(recorded['cancelled'].values())} | unexpected_exits={len(fleet.unexpected_exits)}"
        f" worker exits on broker loss={len(fleet.broker_loss_exits)} (celery's, restarted)"
    )
    answers = " ".join(f"{key.replace(' ', ':')}={n}" for key, n in sorted(web.answers.items()))
    fleet_line = (
        f"soak: web: creates answered={len(web.created)} unanswered={len(web.unanswered)}"
        f" doubled={len(doubled_creates)} missing={len(missing_creates)} edits={web.edits} refused={len(web.refused)}"
        f" | answers {answers} | beat ticks {out.ticks} | worker claims {out.sweeps}"
    )
    with capsys.disabled():
        print(f"\n{line}\n{details}\n{fleet_line}\nsoak: logs in {LOGS}", flush=True)
        for problem in (
            [f"lost: {item}" for item in result.lost_items[:20]]
            + [_repeat(item, ids, times, fleet, out) for item, ids, times in result.repeated[:20]]
            + [f"unexpected: {item}" for item in result.unexpected_items[:20]]
            + [f"cancelled: {n} x {why}" for why, n in recorded["cancelled"].items()]
            + [f"webhook refused by the receiver: {why}" for why in out.refused_webhooks[:20]]
            + [f"API request refused: {why}" for why in web.refused[:20]]
            + [f"created twice through the API: {ref} x {n}" for ref, n in doubled_creates.items()]
            + [f"answered 201 but not in the database: {ref}" for ref in missing_creates[:20]]
            + fleet.unexpected_exits
            + [f"celery exited on losing Redis (restarted): {what}" for _, what in fleet.broker_loss_exits]
        ):
            print(f"soak: {problem}", flush=True)

    assert result.lost == 0 and result.doubled == 0, line
    assert result.unexpected == 0, details
    assert not out.refused_webhooks, details
    assert recorded["items"] - out.maybe == set(expected), details
    # The only cancellations allowed: a step recorded just before its acknowledgement.
    acknowledged = "Someone acknowledged the reminder before this step went out."
    assert recorded["unsent"] == 0, details
    assert all(why.endswith(acknowledged) for why in recorded["cancelled"]), details
    assert len(out.acks) == len(ack_plan), (out.acks, ack_plan)
    assert not fleet.unexpected_exits, fleet.unexpected_exits
    # Celery's crash on losing the broker (Fleet._celery_broker_loss_crash) only while Redis is gone.
    outage = (out.redis_down_at, out.redis_up_at)
    assert all(outage[0] <= at <= outage[1] for at, _ in fleet.broker_loss_exits), (outage, fleet.broker_loss_exits)
    assert kills >= profile.kills and fleet.mid_sweep >= profile.mid_sweep_kills, line
    assert out.redis_down >= REDIS_DOWN_SECONDS and pg.restarts == 1, line
    for recovery in (out.redis_recovery, out.pg_recovery):
        assert recovery is not None and recovery <= RECOVERY_LIMIT, details
    assert out.quiet, details
    # The web processes served the whole time: each answered, nothing created twice or lost, no
    # request refused; every beat sent ticks and every worker swept.
    assert all(n > 0 for n in web.ok_by_web().values()) and web.edits > 0, fleet_line
    assert not doubled_creates and not missing_creates and not web.refused, fleet_line
    assert all(n > 0 for n in out.ticks.values()) and all(n > 0 for n in out.sweeps.values()), fleet_line


def _repeat(item: Item, ids: list[str], times: list[float], fleet: Fleet, out: Outcome) -> str:
    """One item that arrived more than once, with the faults between its first and last copy."""
    what = "doubled" if len(set(ids)) > 1 else "re-sent under the same Message-ID"
    faults = [f"SIGKILL {k.slot} at +{k.at - fleet.t0:.1f}s" for k in fleet.kills if times[0] - 1 <= k.at <= times[-1]]
    if times[0] - 1 <= out.pg_down_at <= times[-1]:
        faults.append(f"PostgreSQL stopped at +{out.pg_down_at - fleet.t0:.1f}s")
    copies_at = ", ".join(f"+{t - fleet.t0:.1f}s" for t in times)
    return f"{what}: {item} {sorted(set(ids))} at {copies_at}; faults between: {', '.join(faults) or 'none'}"


def _check_target(spec: EscalationSpec, row: dict[str, Any]) -> None:
    """The services stored the report target the load meant (same policy, same numbers)."""
    if spec.reported_at is None:
        meant = policy.escalation_report_due_at(Facts.of(spec), CFG).timestamp()
        assert abs(row["report_due_at"] - meant) < 1, (spec, row)


def _quiesce(
    db_url: str, sink: Sink, hooks: WebhookSink, fleet: Fleet, expected: dict[Item, Any], deadline: float
) -> bool:
    """Wait until every expected item arrived, nothing is pending in the database, and QUIET_SWEEPS
    sweeps finished with nothing new; False if `deadline` (epoch) passed first."""
    wanted = set(expected)
    seen: tuple[int, int, int] | None = None
    sweeps: set[float | None] = set()
    while time.time() < deadline:
        fleet.watch()
        got = copies(db_url, sink, hooks)
        if wanted - {c.item for c in got} or pending_deliveries(db_url):
            seen, sweeps = None, set()
        elif seen != (size := (len(got), len(sink.snapshot()[0]), len(hooks.snapshot()[0]))):
            seen, sweeps = size, {last_sweep(db_url)}
        else:
            sweeps.add(last_sweep(db_url))
            if len(sweeps) > QUIET_SWEEPS:
                return True
        time.sleep(SWEEP_SECONDS / 2)
    return False
