"""The faults: a schedule drawn from a seeded RNG (SIGKILLs of the worker and beat with random restart
delays, one Redis outage, one PostgreSQL restart), and the fleet of Celery processes it strikes."""

from __future__ import annotations

import heapq
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.load import Profile
from tests.processes import WORKER_ARGS, Procs, beat_args

WORKER = "worker"
BEAT = "beat"
RESTART_DELAY = (0.5, 4.0)  # seconds from a kill to the restart, drawn per kill
KILL_GAP = RESTART_DELAY[1] + 2  # between two kills: the killed process is always back first
PG_DOWN = (2.0, 6.0)  # seconds PostgreSQL stays down


@dataclass(order=True)
class Event:
    at: float  # seconds after T0
    action: str  # kill, start, redis-stop, redis-start, pg-restart
    role: str = ""
    pause: float = 0.0  # kill: restart this long after; pg-restart: seconds down


def spread(rng: random.Random, n: int, segments: list[tuple[float, float]], gap: float) -> list[float]:
    """`n` random moments within `segments`, at least `gap` apart: uniform over every such choice on
    the segments laid end to end (the usual trick: draw in the length left after the gaps, sort,
    and push the i-th one on by i gaps)."""
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
    """`profile.kills` kills at random moments from 10 s after T0 to 10 s after the last crossing,
    60% of them the worker's, none from 10 s before the Redis outage to 40 s after it, except
    `profile.outage_kills` of the worker early in the outage; then the outage and the PostgreSQL
    restart at the profile's moments."""
    quiet = (profile.redis_down_at - 10, profile.redis_up_at + 40)
    moments = spread(
        rng, profile.kills - profile.outage_kills, [(10, quiet[0]), (quiet[1], profile.cross_to + 10)], KILL_GAP
    )
    workers = round(profile.kills * 0.6) - profile.outage_kills
    roles = [WORKER] * workers + [BEAT] * (len(moments) - workers)
    rng.shuffle(roles)
    if profile.outage_kills:
        early = (profile.redis_down_at + 10, profile.redis_down_at + 60)
        moments += spread(rng, profile.outage_kills, [early], KILL_GAP)
        roles += [WORKER] * profile.outage_kills
    events = [Event(t, "kill", role, rng.uniform(*RESTART_DELAY)) for t, role in zip(moments, roles, strict=True)]
    events.append(Event(profile.redis_down_at, "redis-stop"))
    events.append(Event(profile.redis_up_at, "redis-start"))
    events.append(Event(profile.pg_restart_at, "pg-restart", pause=rng.uniform(*PG_DOWN)))
    return sorted(events)


@dataclass
class Fleet:
    """One solo-pool worker and one beat, each restarted after every kill. A process that exits
    without being killed is an app bug: it is recorded (with the time) and restarted, so the run goes
    on and the summary shows it."""

    procs: Procs
    state_dir: Path
    t0: float
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    unexpected_exits: list[str] = field(default_factory=list)
    kill_log: list[tuple[float, str]] = field(default_factory=list)  # (epoch, role) of each kill
    mid_sweep: int = 0  # worker kills that struck while a sweep was running (its log says so)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(self, role: str) -> None:
        self.starts[role] += 1
        n = self.starts[role]
        args = (*WORKER_ARGS, "-n", f"soak-{n}@%h") if role == WORKER else beat_args(self.state_dir)
        self.running[role] = self.procs.start(f"{role}-{n}", *args)
        self.logs[role] = self.procs.log_files[-1]

    def kill(self, role: str) -> bool:
        proc = self.running.pop(role, None)
        if proc is None:
            return False
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            self.kill_log.append((time.time(), role))
            self.kills[role] += 1
            self.mid_sweep += role == WORKER and self._in_sweep(self.logs[role])
            return True
        self._unexpected(role, proc)
        return False

    @staticmethod
    def _in_sweep(log: Path) -> bool:
        """The worker's last word on a sweep task was that it received one (not that it finished)."""
        lines = [line for line in log.read_text(errors="replace").splitlines() if "sweep_reminders[" in line]
        return bool(lines) and lines[-1].rstrip().endswith(" received")

    def watch(self) -> None:
        for role, proc in list(self.running.items()):
            if proc.poll() is not None:
                del self.running[role]
                self._unexpected(role, proc)
                self.start(role)

    def _unexpected(self, role: str, proc: subprocess.Popen[bytes]) -> None:
        self.unexpected_exits.append(
            f"{role}-{self.starts[role]} (pid {proc.pid}) exited by itself with {proc.returncode}"
            f" at +{time.time() - self.t0:.0f}s"
        )

    def stop(self) -> None:
        self.procs.stop_all()


def run_faults(
    events: list[Event], fleet: Fleet, actions: dict[str, Callable[[Event], None]], say: Callable[[str], None]
) -> None:
    """Play `events` at their moments (seconds after fleet.t0), restarting each killed process after
    its pause; between events, watch the fleet. `actions` does the server faults."""
    queue = list(events)
    heapq.heapify(queue)
    while queue:
        event = heapq.heappop(queue)
        while (left := fleet.t0 + event.at - time.time()) > 0:
            fleet.watch()
            time.sleep(min(left, 0.2))
        fleet.watch()
        if event.action == "kill":
            if fleet.kill(event.role):
                say(f"+{event.at:.0f}s SIGKILL {event.role}, restart in {event.pause:.1f}s")
                heapq.heappush(queue, Event(event.at + event.pause, "start", event.role))
        elif event.action == "start":
            fleet.start(event.role)
        else:
            say(f"+{event.at:.0f}s {event.action}")
            actions[event.action](event)
