"""The soak's own Redis and PostgreSQL, on free loopback ports, so that stopping and restarting them
disturbs nobody else (the system servers on 5432 and 6379 are never touched).

PostgreSQL: a throw-away cluster made with initdb in a temporary directory and run with pg_ctl. As
root, both run as the `postgres` OS user (runuser), which owns the directory; PostgreSQL refuses to
run as root. Redis: a child redis-server without persistence; stopped with SIGTERM and started
again on the same port.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import free_port, postgres_problem, redis_problem

SERVER_WAIT_SECONDS = 60


def find_pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb (SOAK_PG_BINDIR overrides)."""
    if os.environ.get("SOAK_PG_BINDIR"):
        return Path(os.environ["SOAK_PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if x.isdigit()],
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def pg_problem() -> str:
    """'' when a private cluster can be made here, else why not."""
    bindir = find_pg_bindir()
    if bindir is None or not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        return "no initdb/pg_ctl (apt-get install postgresql; or set SOAK_PG_BINDIR)"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or _uid("postgres") is None):
        return "running as root, but there is no runuser or no postgres OS user to run PostgreSQL as"
    return ""


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own. `start()` runs initdb the first time."""

    bindir: Path
    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="soak-pg-")))
    restarts: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        argv = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def _ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(SERVER_WAIT_SECONDS), *args)

    def start(self) -> None:
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.root, user="postgres", group="postgres")
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
            # A test cluster: durability buys nothing here, speed does. A fast shutdown still checkpoints.
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._ctl("-o", options, "start")
        deadline = time.monotonic() + SERVER_WAIT_SECONDS
        while postgres_problem(self.admin_url) and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def restart(self, down_seconds: float) -> None:
        """Stop (fast: every connection is cut, open transactions roll back), stay down, start."""
        self.stop()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._ctl("-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"--- postgres.log (last {lines} lines) ---\n" + "\n".join(text[-lines:])


@dataclass
class PrivateRedis:
    """A redis-server of our own, without persistence: a restart starts empty, as after a crash."""

    binary: str
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self.root / "redis.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.root),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + SERVER_WAIT_SECONDS
        while redis_problem(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server on port {self.port} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM: the server closes every client connection and exits (nothing to save)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.stop()
