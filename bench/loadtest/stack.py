"""The served stack of a load run: its database copy, gunicorn from deploy/container/entrypoint.sh
under settings.prod, and people signing in to it over HTTP."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg
from psycopg import sql

from ..config import ROOT, database_name, with_database

ENTRYPOINT = ROOT / "deploy" / "container" / "entrypoint.sh"


class StackError(RuntimeError):
    """The stack did not start or did not answer as a person would expect: the message says how."""


# --- what the run needs ---------------------------------------------------------------------------


def postgres_problem(url: str) -> str:
    try:
        with psycopg.connect(with_database(url, "postgres"), connect_timeout=5):
            return ""
    except psycopg.Error as exc:
        host = urlsplit(url).hostname
        return f"PostgreSQL at {host} does not answer ({str(exc).strip()}): set BENCH_DATABASE_URL"


def redis_problem(url: str) -> str:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except (redis.RedisError, ValueError) as exc:
        return f"Redis at {url} does not answer ({exc}): set LOADTEST_REDIS_URL"
    return ""


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=5).flushdb()


# --- the database copy ----------------------------------------------------------------------------


def copy_database(source: str, target: str) -> float:
    """Drop `target` and make it again as a copy of `source` (CREATE DATABASE ... TEMPLATE, a file
    copy); returns the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(with_database(source, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database_name(target))))
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(database_name(target)), sql.Identifier(database_name(source))
                )
            )
        except psycopg.errors.ObjectInUse:
            raise StackError(
                f"cannot copy {database_name(source)}: another session is connected to it (a `make bench` "
                "running?). Try again when it has finished."
            ) from None
    return time.perf_counter() - started


def drop_database(url: str) -> None:
    with psycopg.connect(with_database(url, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database_name(url))))


# --- processes ------------------------------------------------------------------------------------


def process_env(stack_env: dict[str, str]) -> dict[str, str]:
    """The caller's environment without its Django settings, plus the stack's, with this checkout's
    virtual environment first on the PATH (entrypoint.sh does the same)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LOADTEST_", "PYTEST_"))}
    venv_bin = str(ROOT / ".venv" / "bin")
    return {**base, **stack_env, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}"}


def run(args: list[str], env: dict[str, str], log: Path, timeout: float = 900) -> str:
    done = subprocess.run(  # noqa: S603 - our own entry point and modules
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise StackError(f"{' '.join(args[:3])} exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def manage(env: dict[str, str], log: Path, *args: str) -> str:
    return run([str(ENTRYPOINT), "manage", *args], env, log)


def python_module(module: str, env: dict[str, str], log: Path) -> str:
    return run([sys.executable, "-m", module], env, log)


@dataclass
class Web:
    """gunicorn, started as the image and the systemd unit start it."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own entry point
                [str(ENTRYPOINT), "web"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise StackError(f"gunicorn exited with {self.proc.returncode}:\n{tail}")

    def cpu_seconds(self) -> tuple[float, frozenset[int]]:
        """CPU time (user and system) used so far by gunicorn's workers, the master's children, and
        their pids."""
        assert self.proc is not None
        total = 0
        workers = frozenset(_children(self.proc.pid))
        for pid in workers:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK"), workers

    def settle(self, timeout: float = 120) -> float:
        """Wait until the workers are idle (under 5 % of a core over half a second): requests a client
        gave up on are still being worked through after wrk stops, and would slow the next measurement.
        Returns the seconds waited."""
        started = time.monotonic()
        before, _ = self.cpu_seconds()
        while time.monotonic() - started < timeout:
            time.sleep(0.5)
            self.alive()
            now, _ = self.cpu_seconds()
            if now - before < 0.025:
                break
            before = now
        return time.monotonic() - started

    def stop(self) -> None:
        """SIGTERM to the master (entrypoint.sh execs gunicorn): it stops its workers cleanly."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


# --- a browser's worth of HTTP --------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    location: str
    body: str


@dataclass
class Person:
    """Speaks to gunicorn as the TLS proxy in front of it forwards a browser: https as far as the app
    can tell (X-Forwarded-Proto), cookies kept, the Origin a browser sends with a form."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https"}
        if self.cookies:
            headers["Cookie"] = self.cookie_header
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"https://127.0.0.1:{self.port}"
        try:
            conn.request(method, path, body=body, headers=headers)
            raw = conn.getresponse()
            answer = Answer(raw.status, raw.getheader("Location", ""), raw.read().decode(errors="replace"))
            set_cookies = raw.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()
        for line in set_cookies:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if value in ("", '""'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return answer

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Answer:
        return self.request("POST", path, form)


def csrf_token(page: Answer) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    if not found:
        raise StackError(f"no CSRF token on the page ({page.status}):\n{page.body[:500]}")
    return found.group(1)


def sign_in(port: int, username: str, password: str, totp_key: str | None) -> Person:
    """The sign-in form, then (with an authenticator) the code step with the code it shows now."""
    person = Person(port)
    page = person.get("/accounts/login/")
    if page.status != 200:
        raise StackError(f"the sign-in page answered {page.status}")
    done = person.post(
        "/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": csrf_token(page), "next": ""},
    )
    if done.status != 302:
        raise StackError(f"signing in as {username} answered {done.status}, not a redirect:\n{done.body[:800]}")
    # The password step sends everyone on to the page they asked for; the two-factor gate in front of
    # it sends a person with an authenticator on to the code step.
    location = done.location
    for _ in range(3):
        if "/accounts/login/verify/" in location:
            break
        step = person.get(location)
        if step.status != 302:
            break
        location = step.location
    if "/accounts/login/verify/" in location:
        if totp_key is None:
            raise StackError(f"{username} was asked for a code but has no authenticator")
        from django_otp.oath import totp

        form = person.get(location)
        code = f"{totp(bytes.fromhex(totp_key)):06d}"
        verified = person.post(location, {"otp_token": code, "csrfmiddlewaretoken": csrf_token(form)})
        if verified.status != 302 or "/accounts/login/" in verified.location:
            raise StackError(f"the code step for {username} answered {verified.status}:\n{verified.body[:800]}")
    elif totp_key is not None:
        raise StackError(f"{username} has an authenticator but was not asked for a code (REQUIRE_2FA off?)")
    return person


def wait_for(port: int, web: Web, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        web.alive()
        try:
            if Person(port).get("/accounts/login/").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise StackError(f"gunicorn did not answer /accounts/login/ within {timeout:.0f} s (log: {web.log})")
