"""Running wrk with load.lua, and reading what it reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("load.lua")
MARK = "LOADTEST "
# What a request of each kind must answer to count as served: the page, or the created escalation.
EXPECTED = {"get": 200, "post": 201}


class WrkError(RuntimeError):
    """wrk did not run, or did not report (its own output is in the message)."""


@dataclass(frozen=True)
class Result:
    """One page under load: what wrk counted, in the units of the report."""

    requests: int
    seconds: float
    # Answered within the timeout with the expected status (200, or 201 for a create); answers with
    # any other status are `unexpected`.
    ok: int
    unexpected: dict[str, int]
    # Connections refused or broken.
    socket_errors: int
    # Requests answered only after wrk's timeout: wrk leaves them out of its percentiles, and they are
    # not counted as served.
    timeouts: int
    # None when no request was answered.
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @property
    def per_second(self) -> float:
        """Requests served as expected, per second of the run."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(self.unexpected.values()) + self.socket_errors

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "per_second": round(self.per_second, 2), "errors": self.errors}


def parse(output: str, kind: str) -> Result:
    """The report line load.lua's done() prints, from wrk's whole output."""
    lines = [line for line in output.splitlines() if line.startswith(MARK)]
    if not lines:
        raise WrkError(f"wrk printed no {MARK.strip()} line (did load.lua run?):\n{output[-2000:]}")
    raw = json.loads(lines[-1][len(MARK) :])
    expected = str(EXPECTED[kind])
    statuses = {str(status): int(n) for status, n in raw["statuses"].items()}
    errors = raw["errors"]
    percentiles = raw["latency_us"]["percentiles"]
    timeouts = int(errors["timeout"])
    # wrk counts an answer that came after the timeout both as a timeout and (through load.lua's
    # response hook) under its status: it is taken off the served ones (such an answer is almost
    # always the expected page, only late).
    answered = sum(statuses.values()) - timeouts

    def ms(microseconds: float) -> float | None:
        # wrk reports percentiles of answered requests; with none answered there are none to report.
        return round(microseconds / 1000, 1) if answered > 0 else None

    return Result(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1_000_000,
        ok=max(statuses.get(expected, 0) - timeouts, 0),
        unexpected={status: n for status, n in sorted(statuses.items()) if status != expected},
        socket_errors=int(errors["connect"]) + int(errors["read"]) + int(errors["write"]),
        timeouts=timeouts,
        p50_ms=ms(percentiles["50"]),
        p90_ms=ms(percentiles["90"]),
        p95_ms=ms(percentiles["95"]),
        p99_ms=ms(percentiles["99"]),
        max_ms=ms(raw["latency_us"]["max"]),
    )


def binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("make loadtest needs wrk on the PATH: apt-get install wrk (Debian and Ubuntu)")
    return found


def version() -> str:
    done = subprocess.run([binary(), "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    # "wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer": the name and version only.
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0].strip() if lines else "wrk"


def command(port: int, kind: str, requests_file: Path, clients: int, seconds: int, timeout: int) -> list[str]:
    # One thread per few connections: wrk shares the 2 cores with the server it measures.
    threads = 1 if clients < 4 else 2
    return [
        binary(),
        f"--threads={threads}",
        f"--connections={clients}",
        f"--duration={seconds}s",
        f"--timeout={timeout}s",
        f"--script={SCRIPT}",
        f"http://127.0.0.1:{port}/",
        "--",
        kind,
        str(requests_file),
    ]


def start(port: int, kind: str, requests_file: Path, clients: int, seconds: int, timeout: int) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - wrk from the PATH with our own arguments
        command(port, kind, requests_file, clients, seconds, timeout),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str], kind: str, limit: float) -> Result:
    try:
        output, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise WrkError(f"wrk ran past {limit:.0f} s:\n{output[-2000:]}") from None
    if proc.returncode != 0:
        raise WrkError(f"wrk exited {proc.returncode}:\n{output[-2000:]}")
    return parse(output, kind)
