"""The faults and the fleet they strike. The fleet is what several machines would run against one
PostgreSQL and one Redis: web processes (gunicorn with gunicorn.conf.py), Celery workers (the prefork
pool, CELERY_WORKER_CONCURRENCY processes each) and beats, each started as production starts it
(deploy/container/entrypoint.sh web|worker|beat) in a process group of its own, so that a kill
(SIGKILL to the group) takes a whole "machine" down at once: a gunicorn master with its workers, a
Celery worker with its pool.

The schedule comes from a seeded RNG: kills of each kind at random moments (outside a quiet period
around the Redis outage), random restart delays, one Redis outage, one PostgreSQL restart. A worker
kill is aimed: from its moment it watches the workers' log lines for one that is inside a delivery
(the sweep logged "reminder deliveries claimed" and not yet "reminder claim done" for that claim)
and kills that worker; when none is within AIM_SECONDS, a random one. A kill counts as mid-sweep when
the dead worker's last lines left a claim open and the database shows that claim still holding
deliveries not recorded as sent: the kill landed between the claim and `sent_at`.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.load import Profile
from tests.processes import ROOT

WEB = "web"
WORKER = "worker"
BEAT = "beat"
ROLES = (WEB, WORKER, BEAT)
ENTRYPOINT = ROOT / "deploy" / "container" / "entrypoint.sh"
RESTART_DELAY = (0.5, 4.0)  # seconds from a kill to the restart, drawn per kill
# Between two planned kills of one kind: with three workers (two webs, two beats) and restarts
# within RESTART_DELAY, most of each kind is up at any moment.
KILL_GAP = {WORKER: 4.0, BEAT: 9.0, WEB: 9.0}
PG_DOWN = (2.0, 6.0)  # seconds PostgreSQL stays down
AIM_SECONDS = 8.0  # how long a worker kill waits for a worker inside a delivery
AIM_POLL = 0.02

BROKER_LOST = "consumer: Connection to broker lost."
UNRECOVERABLE = "Unrecoverable error: AttributeError(\"'NoneType' object has no attribute 'hostname'\")"
TASK_ENDED = re.compile(r"^Task \S+\[([0-9a-f-]+)\] (?:succeeded|raised|failed|retry|INTERNAL ERROR)")


@dataclass(order=True)
class Event:
    at: float  # seconds after T0
    action: str  # kill, start, redis-stop, redis-start, pg-restart
    role: str = ""  # kill: a role; start: a slot's name
    pause: float = 0.0  # kill: restart this long after; pg-restart: seconds down


def spread(rng: random.Random, n: int, segments: list[tuple[float, float]], gap: float) -> list[float]:
    """`n` random moments within `segments`, at least `gap` apart: uniform over every such choice on
    the segments laid end to end (the usual trick: draw in the length left after the gaps, sort,
    and push the i-th one on by i gaps)."""
    segments = [(start, end) for start, end in segments if end > start]
    length = sum(end - start for start, end in segments)
    slack = length - (n - 1) * gap
    assert slack > 0, (n, segments, gap)
    virtual = [x + i * gap for i, x in enumerate(sorted(rng.uniform(0, slack) for _ in range(n)))]
    moments = []
    for x in virtual:
        for start, end in segments:
            if x <= end - start:
                moments.append(start + x)
                break
            x -= end - start
    return moments


def plan_faults(profile: Profile, rng: random.Random) -> list[Event]:
    """The profile's kills of each role at random moments from 10 s after T0 to 10 s after the last
    crossing, none from 10 s before the Redis outage to 40 s after it (the fleet must find Redis
    again by itself), except `profile.outage_kills` of a worker early in the outage (it starts again
    while the broker is down); then the outage and the PostgreSQL restart at the profile's moments."""
    quiet = (profile.redis_down_at - 10, profile.redis_up_at + 40)
    segments = [(10, quiet[0]), (quiet[1], profile.cross_to + 10)]
    planned: list[tuple[float, str]] = []
    for role, count in ((WORKER, profile.worker_kills - profile.outage_kills), (BEAT, profile.beat_kills)):
        planned += [(t, role) for t in spread(rng, count, segments, KILL_GAP[role])]
    planned += [(t, WEB) for t in spread(rng, profile.web_kills, segments, KILL_GAP[WEB])]
    if profile.outage_kills:
        early = (profile.redis_down_at + 10, profile.redis_down_at + 60)
        planned += [(t, WORKER) for t in spread(rng, profile.outage_kills, [early], KILL_GAP[WORKER])]
    events = [Event(t, "kill", role, rng.uniform(*RESTART_DELAY)) for t, role in planned]
    events.append(Event(profile.redis_down_at, "redis-stop"))
    events.append(Event(profile.redis_up_at, "redis-start"))
    events.append(Event(profile.pg_restart_at, "pg-restart", pause=rng.uniform(*PG_DOWN)))
    return sorted(events)


@dataclass
class LogWatch:
    """Follows one worker's JSON log lines: the claims it holds (token -> task id), opened by
    "reminder deliveries claimed" and closed by "reminder claim done" or by the end of its task."""

    path: Path
    offset: int = 0
    partial: bytes = b""
    open: dict[str, str | None] = field(default_factory=dict)
    claims: int = 0
    sweeps_ended: int = 0

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        for raw in lines:
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # Celery's start-up banner is not a log line
            if not isinstance(line, dict):
                continue
            message = str(line.get("message", ""))
            if message == "reminder deliveries claimed" and line.get("deliveries"):
                self.open[str(line.get("claim_token"))] = line.get("task_id")
                self.claims += 1
            elif message == "reminder claim done":
                self.open.pop(str(line.get("claim_token")), None)
            elif ended := TASK_ENDED.match(message):
                self.sweeps_ended += 1
                for token in [t for t, task in self.open.items() if task == ended.group(1)]:
                    del self.open[token]


@dataclass
class Slot:
    """One machine's process of one role: web-a, worker-b ..., restarted after every kill."""

    name: str
    role: str
    env: dict[str, str]
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log: Path | None = None
    watch: LogWatch | None = None
    logs: list[Path] = field(default_factory=list)


@dataclass
class Kill:
    at: float  # epoch
    slot: str
    role: str
    processes: int  # in the group the SIGKILL took down
    mid_sweep: bool = False
    held: int = 0  # deliveries the dead worker's open claims still held unrecorded


@dataclass
class Fleet:
    """The soak's processes. A process that exits without being killed is an app bug: it is recorded
    (with the time) and restarted, so the run goes on and the summary shows it."""

    env: dict[str, str]
    logs: Path
    t0: float
    held: Callable[[list[str]], int | None]  # unrecorded deliveries of these claims (None: no database)
    slots: list[Slot] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    broker_loss_exits: list[tuple[float, str]] = field(default_factory=list)  # (epoch, what)
    rng: random.Random = field(default_factory=random.Random)

    def add(self, name: str, role: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Slot:
        slot = Slot(name, role, env or {}, args)
        self.slots.append(slot)
        return slot

    def of(self, role: str) -> list[Slot]:
        return [slot for slot in self.slots if slot.role == role]

    def start(self, slot: Slot) -> None:
        slot.starts += 1
        slot.log = self.logs / f"{slot.name}-{slot.starts}.log"
        slot.logs.append(slot.log)
        args = slot.args
        if slot.role == WORKER:
            args = (*args, "--hostname", f"{slot.name}-{slot.starts}@%h")
        with slot.log.open("wb") as out:
            slot.proc = subprocess.Popen(
                [str(ENTRYPOINT), slot.role, *args],
                cwd=ROOT,
                env={**self.env, **slot.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: one SIGKILL takes the whole "machine"
            )
        slot.watch = LogWatch(slot.log) if slot.role == WORKER else None

    def start_all(self) -> None:
        for slot in self.slots:
            self.start(slot)

    def running(self, role: str) -> list[Slot]:
        return [slot for slot in self.of(role) if slot.proc is not None and slot.proc.poll() is None]

    def kill(self, role: str, deadline: float) -> Kill | None:
        """Kill one running process of `role` (a worker: aimed, until `deadline` at the latest)."""
        slot = self._aim(deadline) if role == WORKER else None
        if slot is None:
            candidates = self.running(role)
            if not candidates:
                return None
            slot = self.rng.choice(candidates)
        assert slot.proc is not None
        group = _group(slot.proc.pid)
        os.killpg(slot.proc.pid, signal.SIGKILL)
        slot.proc.wait(timeout=30)
        _wait_group_gone(slot.proc.pid)
        kill = Kill(time.time(), slot.name, role, len(group))
        if slot.watch is not None:
            slot.watch.poll()  # the dead worker's last lines
            if slot.watch.open:
                held = self.held(list(slot.watch.open))
                kill.held = held or 0
                # Unknown (PostgreSQL restarting): the log alone says it died holding a claim.
                kill.mid_sweep = held is None or held > 0
        slot.proc = None
        self.kills.append(kill)
        return kill

    def _aim(self, deadline: float) -> Slot | None:
        """A running worker inside a delivery, as soon as one is (None by `deadline`)."""
        while True:
            workers = self.running(WORKER)
            self.rng.shuffle(workers)
            for slot in workers:
                assert slot.watch is not None
                slot.watch.poll()
                if slot.watch.open:
                    return slot
            if time.time() >= deadline:
                return None
            time.sleep(AIM_POLL)

    def watch(self) -> None:
        """Restart what exited by itself, as systemd (Restart=always) and compose (unless-stopped) do."""
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is not None:
                what = (
                    f"{slot.name}-{slot.starts} (pid {slot.proc.pid}) exited by itself with {slot.proc.returncode}"
                    f" at +{time.time() - self.t0:.0f}s"
                )
                if slot.role == WORKER and self._celery_broker_loss_crash(slot):
                    self.broker_loss_exits.append((time.time(), what))
                else:
                    self.unexpected_exits.append(what)
                # What is left of the group goes with it, as a container's processes end with its
                # first one (and systemd stops the unit's remaining processes).
                _signal_group(slot.proc.pid, signal.SIGKILL)
                slot.proc = None
                self.start(slot)

    def _celery_broker_loss_crash(self, slot: Slot) -> bool:
        """Celery's own failure (celery 5.7, kombu 5.7, prefork pool): a worker that loses Redis while
        a sweep's message is unacknowledged closes the dead connection, kombu's redis channel tries to
        restore the unacknowledged message through it and raises AttributeError ('NoneType' object
        has no attribute 'hostname'), which Celery treats as unrecoverable: the worker exits with 1
        and its supervisor starts it again. Only that exact sequence, with no reconnection after it."""
        assert slot.log is not None
        lines = self.lines_of(slot.log)
        lost = [i for i, line in enumerate(lines) if str(line.get("message", "")).startswith(BROKER_LOST)]
        crash = [
            i
            for i, line in enumerate(lines)
            if line.get("level") == "CRITICAL"
            and str(line.get("message", "")).startswith(UNRECOVERABLE)
            and "restore_unacked" in str(line.get("exc_info", ""))
        ]
        if not (lost and crash) or crash[-1] < lost[-1]:
            return False
        # The pool may finish the sweep it was running; the worker never got going again.
        return not any(str(line.get("message", "")).startswith("Connected to") for line in lines[crash[-1] :])

    def by_name(self, name: str) -> Slot:
        return next(slot for slot in self.slots if slot.name == name)

    def count(self, role: str) -> int:
        return sum(1 for kill in self.kills if kill.role == role)

    @property
    def mid_sweep(self) -> int:
        return sum(1 for kill in self.kills if kill.mid_sweep)

    def lines(self, slot: Slot) -> list[dict[str, Any]]:
        """Every JSON line of every log the slot's processes wrote."""
        return [line for path in slot.logs for line in self.lines_of(path)]

    @staticmethod
    def lines_of(path: Path) -> list[dict[str, Any]]:
        found = []
        for raw in path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                found.append(line)
        return found

    def stop(self) -> None:
        """SIGTERM to each group (gunicorn and Celery shut down cleanly on it), then SIGKILL."""
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is None:
                _signal_group(slot.proc.pid, signal.SIGTERM)
        for slot in self.slots:
            if slot.proc is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                slot.proc.wait(timeout=20)
            _signal_group(slot.proc.pid, signal.SIGKILL)
            slot.proc.wait(timeout=10)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group(pgid: int) -> list[int]:
    """The pids of process group `pgid` (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after its end.
        fields = stat[stat.rfind(")") + 2 :].split()
        # A zombie is already dead: only its parent's reaping (init's, here) is left.
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _wait_group_gone(pgid: int, timeout: float = 10) -> None:
    """Until no process of the group is left (a SIGKILLed pool's children are reaped by init)."""
    deadline = time.monotonic() + timeout
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def run_faults(
    events: list[Event], fleet: Fleet, actions: dict[str, Callable[[Event], None]], say: Callable[[str], None]
) -> None:
    """Play `events` at their moments (seconds after fleet.t0), restarting each killed process after
    its pause; between events, watch the fleet. `actions` does the server faults. A worker kill aims
    until the next server fault at the latest, never delaying it."""
    queue = list(events)
    heapq.heapify(queue)
    while queue:
        event = heapq.heappop(queue)
        while (left := fleet.t0 + event.at - time.time()) > 0:
            fleet.watch()
            time.sleep(min(left, 0.2))
        fleet.watch()
        if event.action == "kill":
            next_fault = min((e.at for e in queue if e.action not in ("kill", "start")), default=float("inf"))
            deadline = min(time.time() + AIM_SECONDS, fleet.t0 + next_fault - 1)
            kill = fleet.kill(event.role, deadline)
            if kill is not None:
                late = kill.at - fleet.t0
                what = " inside a delivery" if kill.mid_sweep else ""
                processes = f"{kill.processes} processes"
                say(f"+{late:.0f}s SIGKILL {kill.slot} ({processes}){what}, restart in {event.pause:.1f}s")
                heapq.heappush(queue, Event(late + event.pause, "start", kill.slot))
        elif event.action == "start":
            fleet.start(fleet.by_name(event.role))
        else:
            say(f"+{event.at:.0f}s {event.action}")
            actions[event.action](event)


def role_counts(kills: list[Kill]) -> Counter[str]:
    return Counter(kill.role for kill in kills)
