"""Start the production stack and use it over HTTP, as a team would on its first day (.ci/run).

    python deploy/ci/stack_check.py host           gunicorn, a Celery worker and beat from this checkout
    python deploy/ci/stack_check.py image IMAGE    the same three from the built image (buildah run)

Both run the same commands (deploy/container/entrypoint.sh web|worker|beat|migrate|manage) under
settings.prod against a database of their own on the CI PostgreSQL (created, then dropped) with
production's two roles (the owner migrates; the app's role, which everything else runs as, must have
exactly its rights after the migrate step, or the check fails), a Redis
database of their own (flushed) and an SMTP sink (aiosmtpd, in this process). Then, over HTTP as a
browser behind the TLS proxy would (X-Forwarded-Proto: https, Origin, CSRF token, secure cookies):
sign in, log an escalation through the page, log one through the API with a service token, wait for
both reminders at the SMTP sink, read /healthz and /metrics, fetch a hashed, compressed static file,
and (host) reload gunicorn with HUP while requests keep being answered. Finally the processes' logs
must be JSON lines carrying request ids, user ids and task ids, and must not contain the references
typed in. Prints "production stack: ok" (host) or "image: ok" (image) and exits 0, or says what
failed and exits 1. Logs stay in test-results/stack/<mode>/.

Environment: CI_POSTGRES_URL (a maintenance connection that may create databases; default
postgres://postgres@127.0.0.1:5432/postgres), CI_REDIS_URL (default redis://127.0.0.1:6379/14, or /15
for the image: the database is flushed), STACK_PORT and STACK_SMTP_PORT (defaults 18600/18601, or
18620/18621 for the image). When Debian's prometheus is installed, a real Prometheus scrapes the
stack on STACK_PORT + 2 with deploy/prometheus/prometheus.yml and loads alerts.yml.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.processes import Sink, app_role_problems, postgres_problem, redis_problem, scratch_roles  # noqa: E402

ENTRYPOINT = "deploy/container/entrypoint.sh"
IMAGE_APP_DIR = "/app"
MODERATOR, MODERATOR_PASSWORD = "ci-moderator", "ci-moderator-" + secrets.token_urlsafe(12)
SETUP = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from escalations.accounts import tokens
User = get_user_model()
moderator = User.objects.create_user(%(moderator)r, email="ci-moderator@example.org", password=%(password)r)
moderator.groups.add(Group.objects.get(name="moderator"))
lead = User.objects.create_user("ci-lead", email="ci-lead@example.org")
lead.groups.add(Group.objects.get(name="lead"))
token, raw = tokens.create_token(
    actor=lead, name="ci-pipeline", scope="write", expires_at=timezone.now() + timedelta(days=1)
)
print(json.dumps({"moderator": moderator.pk, "lead": lead.pk, "token": raw}))
"""


class Failed(Exception):
    """A check that did not hold: its message says what was expected and what came."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise Failed(message)


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# --- how processes are started: from the checkout, or from the image ------------------------------


@dataclass
class Runner:
    """Runs entrypoint.sh roles with an environment, from the checkout (`image` None) or in working
    containers of the image (buildah run, chroot isolation, the host's network)."""

    env: dict[str, str]
    logs: Path
    image: str | None = None
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    containers: list[str] = field(default_factory=list)

    def command(self, *args: str) -> list[str]:
        if self.image is None:
            return [str(ROOT / ENTRYPOINT), *args]
        container = subprocess.run(
            ["buildah", "from", "--pull-never", "--quiet", self.image], check=True, capture_output=True, text=True
        ).stdout.strip()
        self.containers.append(container)
        env = [f"--env={key}={value}" for key, value in self.env.items()]
        return [
            "buildah", "run", "--isolation", "chroot", "--network", "host", *env, container,
            "--", f"{IMAGE_APP_DIR}/{ENTRYPOINT}", *args,
        ]  # fmt: skip

    def process_env(self) -> dict[str, str]:
        if self.image is not None:
            return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        venv_bin = str(ROOT / ".venv" / "bin")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REQUIRE_SERVICES", "DJANGO_"))}
        return {**base, **self.env, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}"}

    def run(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            self.command(*args),
            env=self.process_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        name = re.sub(r"[^a-z0-9-]+", "-", "-".join(args[:2]).lower()).strip("-")[:60]
        (self.logs / f"{name}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise Failed(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, role: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{role}.log").open("wb") as out:
            proc = subprocess.Popen(
                self.command(role),
                env=self.process_env(),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.running[role] = proc
        return proc

    def alive(self) -> None:
        for role, proc in self.running.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{role}.log").read_text(errors="replace")[-3000:]
                raise Failed(f"the {role} process exited with {proc.returncode}:\n{tail}")

    def payload(self, role: str) -> int:
        """The pid of the role's own process: the one started, or under `buildah run` the first
        process below buildah's (buildah run, buildah-chroot-runtime, buildah-chroot-exec)."""
        queue = [self.running[role].pid]
        while queue:
            pid = queue.pop(0)
            try:
                argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if "buildah" not in argv0 and not argv0.startswith("memfd:"):
                return pid
            queue += children(pid)
        raise Failed(f"no {role} process found under pid {self.running[role].pid}")

    def stop(self) -> None:
        """SIGTERM to each role's own process, as a container engine does (gunicorn and Celery shut
        down cleanly on it), then to what is left of its group, then SIGKILL."""
        for role, proc in self.running.items():
            if proc.poll() is None:
                try:
                    os.kill(self.payload(role), signal.SIGTERM)
                except (Failed, ProcessLookupError):
                    with _quiet():
                        os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.running.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with _quiet():
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with _quiet():
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for container in self.containers:
            subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


def children(pid: int) -> list[int]:
    """Every child of `pid`, whichever of its threads started it (buildah's are Go threads)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _quiet() -> suppress:
    return suppress(ProcessLookupError)


# --- a browser's worth of HTTP --------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


class Browser:
    """Speaks to gunicorn as the TLS proxy in front of it would forward a browser: https as far as
    the app can tell, cookies kept (secure ones too: the proxy's side of them is https), the Origin
    a browser sends on a form post."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}
        self.set_cookie_lines: list[str] = []

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https", **(headers or {})}
        if self.cookies and "Authorization" not in sent:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            response = Response(raw.status, raw.headers, raw.read())
        finally:
            conn.close()
        for line in response.headers.get_all("Set-Cookie") or []:
            self.set_cookie_lines.append(line)
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if value in ("", '""'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def get(self, path: str, **headers: str) -> Response:
        return self.request("GET", path, headers=headers)

    def post_form(self, path: str, data: dict[str, str]) -> Response:
        return self.request(
            "POST",
            path,
            body=urlencode(data).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin},
        )


def csrf_token(page: Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    check(found, f"no CSRF token on the page ({page.status}):\n{page.text[:500]}")
    assert found is not None
    return found.group(1)


# --- the checks -----------------------------------------------------------------------------------


def wait_until(what: str, test: Callable[[], object], timeout: float, runner: Runner, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = test()
        if result:
            return result
        runner.alive()
        time.sleep(every)
    raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")


def healthz(browser: Browser) -> tuple[int, dict[str, Any]]:
    try:
        response = browser.get("/healthz")
    except OSError:
        return 0, {}
    try:
        return response.status, json.loads(response.body)
    except ValueError:
        return response.status, {}


def sign_in(browser: Browser) -> None:
    page = browser.get("/accounts/login/")
    check(page.status == 200, f"sign-in page answered {page.status}")
    check("Content-Security-Policy" in page.headers, "no Content-Security-Policy on the sign-in page")
    done = browser.post_form(
        "/accounts/login/",
        {"username": MODERATOR, "password": MODERATOR_PASSWORD, "csrfmiddlewaretoken": csrf_token(page), "next": ""},
    )
    check(done.status == 302, f"sign-in answered {done.status}, not a redirect:\n{done.text[:800]}")
    # settings.prod names the cookies with the __Host- prefix: Secure, Path=/, no Domain, by the browser's rule.
    session = [line for line in browser.set_cookie_lines if line.startswith("__Host-sessionid=")]
    check(session, "no __Host-sessionid cookie after signing in")
    flags = session[-1].lower()
    check("secure" in flags and "httponly" in flags, f"session cookie without Secure/HttpOnly: {session[-1]}")
    check("path=/" in flags and "domain=" not in flags, f"a __Host- cookie needs Path=/ and no Domain: {session[-1]}")
    mine = browser.get(done.header("Location") or "/escalations/mine/")
    check(mine.status == 200 and "My queue" in mine.text, f"after sign-in My queue answered {mine.status}")


def log_through_the_page(browser: Browser, reference: str, knowledge_at: datetime) -> tuple[int, str]:
    form = browser.get("/escalations/new/")
    check(form.status == 200, f"/escalations/new/ answered {form.status}")
    done = browser.post_form(
        "/escalations/new/",
        {
            "csrfmiddlewaretoken": csrf_token(form),
            "platform_reference": reference,
            "account_reference": "",
            "incident_type": "child_pornography",
            "priority": "urgent",
            "urgent_reason": "CI: a child may be at risk",
            "knowledge_at": knowledge_at.strftime("%Y-%m-%d %H:%M"),
            "notes": "",
        },
    )
    check(done.status == 302, f"logging an escalation answered {done.status}:\n{done.text[:1500]}")
    location = done.header("Location")
    found = re.search(r"/escalations/(\d+)/$", location)
    check(found, f"logging an escalation redirected to {location!r}")
    assert found is not None
    detail = browser.get(location)
    key = f"ESC-{int(found.group(1)):06d}"
    check(detail.status == 200 and key in detail.text, f"{location} answered {detail.status} without {key}")
    return int(found.group(1)), done.header("X-Request-ID")


def log_through_the_api(port: int, token: str, reference: str, knowledge_at: datetime) -> int:
    api = Browser(port)
    payload = json.dumps(
        {
            "platform_reference": reference,
            "incident_type": "child_pornography",
            "priority": "urgent",
            "urgent_reason": "CI pipeline: a child may be at risk",
            "knowledge_at": knowledge_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": reference}
    first = api.request("POST", "/api/v1/escalations/", body=payload, headers=headers)
    check(first.status == 201, f"API create answered {first.status}: {first.text[:800]}")
    created = json.loads(first.body)
    again = api.request("POST", "/api/v1/escalations/", body=payload, headers=headers)
    check(
        again.status == 201 and json.loads(again.body)["id"] == created["id"],
        f"a retry with the same Idempotency-Key answered {again.status}: {again.text[:300]}",
    )
    read = api.request("GET", f"/api/v1/escalations/{created['id']}/", headers={"Authorization": f"Bearer {token}"})
    check(read.status == 200 and json.loads(read.body)["key"] == created["key"], f"API read answered {read.status}")
    return int(created["id"])


def arrived(sink: Sink, keys: list[str]) -> bool:
    accepted, _ = sink.snapshot()
    return all(any(key in message.subject or key in message.text for message in accepted) for key in keys)


def metrics_page(browser: Browser, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    refused = browser.get("/metrics")
    check(refused.status == 403, f"/metrics without the token answered {refused.status}, not 403")
    page = Browser(browser.port).request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    check(page.status == 200, f"/metrics with the token answered {page.status}")
    samples = {}
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), float("nan"))


def check_metrics(samples: dict[Any, float]) -> None:
    lateness = metric(samples, "escalations_reminder_lateness_seconds_count", channel="email")
    check(lateness >= 2, f"reminder lateness counted {lateness} emails, expected at least 2")
    sent = metric(samples, "escalations_delivery_attempts_total", channel="email", outcome="ok")
    check(sent >= 2, f"delivery attempts (email, ok) = {sent}, expected at least 2")
    age = metric(samples, "escalations_sweep_heartbeat_age_seconds")
    check(0 <= age < 60, f"sweep heartbeat age {age} s")
    due_soon = metric(samples, "escalations_by_deadline_state", status="open", deadline_state="due_soon")
    check(due_soon >= 2, f"open escalations due soon = {due_soon}, expected 2")
    check(
        metric(samples, "escalations_audit_chain_state", state="broken") == 0,
        "the audit chain state says broken",
    )
    executed = sum(v for (name, labels), v in samples.items() if name == "django_db_execute_total")
    check(executed > 0, "django_db_execute_total missing: the database backend is not instrumented")
    logins = sum(
        v
        for (name, labels), v in samples.items()
        if name == "django_http_requests_total_by_view_transport_method_total" and ("view", "login") in labels
    )
    check(logins >= 2, f"django-prometheus counted {logins} sign-in requests, expected at least 2 (GET and POST)")


def check_static(browser: Browser) -> str:
    browser = Browser(browser.port)  # signed out: signed in, the sign-in page redirects
    page = browser.get("/accounts/login/")
    found = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page.text)
    check(found, "no hashed stylesheet URL on the sign-in page (collectstatic's manifest not used?)")
    assert found is not None
    path = found.group(1)
    response = browser.get(path, **{"Accept-Encoding": "gzip"})
    check(response.status == 200, f"{path} answered {response.status}")
    check(response.header("Content-Encoding") == "gzip", f"{path} not served compressed: {dict(response.headers)}")
    cache_control = response.header("Cache-Control")
    check("immutable" in cache_control, f"{path} not cached for ever: {cache_control}")
    check(b"{" in gzip.decompress(response.body), f"{path} is not a stylesheet")
    return path


def scraped_by_prometheus(port: int, prometheus_port: int, token: str, scratch: Path, logs: Path) -> str:
    """Debian's Prometheus scrapes /metrics with the token, as deploy/prometheus/prometheus.yml says,
    and loads the alert rules; '' when it is not installed, else what it read."""
    binary = shutil.which("prometheus")
    if binary is None:
        return ""
    (scratch / "token").write_text(token)
    shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", scratch / "alerts.yml")
    config = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    config = config.replace("/etc/prometheus/escalations-metrics-token", str(scratch / "token"))
    config = config.replace('"127.0.0.1:8000"', f'"127.0.0.1:{port}"')
    config = config.replace("scrape_interval: 30s", "scrape_interval: 1s")
    (scratch / "prometheus.yml").write_text(config)
    api = f"http://127.0.0.1:{prometheus_port}/api/v1"

    def read(path: str) -> Any:
        with urllib.request.urlopen(f"{api}/{path}", timeout=5) as response:  # noqa: S310 (loopback)
            return json.loads(response.read())["data"]

    with (logs / "prometheus.log").open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={scratch / 'prometheus.yml'}", f"--storage.tsdb.path={scratch / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                found = read("query?query=escalations_sweep_heartbeat_age_seconds")["result"]
                targets = read("targets")["activeTargets"]
                groups = read("rules")["groups"]
            except OSError:
                found, targets, groups = [], [], []
            if found and targets and targets[0]["health"] == "up":
                rules = sum(len(group["rules"]) for group in groups)
                return f"target up, heartbeat age {float(found[0]['value'][1]):.1f} s, {rules} alert rules loaded"
            time.sleep(1)
        raise Failed(f"Prometheus did not scrape /metrics within 60 s: {targets}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def gunicorn_workers(master: int) -> set[int]:
    return set(children(master))


def reload_gracefully(browser: Browser, runner: Runner) -> None:
    """HUP: new workers with freshly loaded code replace the old ones; no request goes unanswered."""
    master = runner.payload("web")
    before = wait_until(
        "two gunicorn workers", lambda: len(gunicorn_workers(master)) >= 2 and gunicorn_workers(master), 30, runner
    )
    os.kill(master, signal.SIGHUP)
    answered = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _ = healthz(browser)
        check(status == 200, f"/healthz answered {status} during the reload")
        answered += 1
        now = gunicorn_workers(master)
        if len(now) >= 2 and not (now & before):
            say(f"HUP: workers {sorted(before)} replaced by {sorted(now)}; {answered} requests answered meanwhile")
            return
        time.sleep(0.2)
    raise Failed(f"after HUP the workers were not replaced: {sorted(before)} -> {sorted(gunicorn_workers(master))}")


def json_lines(path: Path) -> list[dict[str, Any]]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def check_logs(logs: Path, request_id: str, user_id: int, secrets_typed: list[str]) -> None:
    web = json_lines(logs / "web.log")
    access = [line for line in web if line.get("logger") == "gunicorn.access"]
    check(access, "no JSON access log lines from gunicorn")
    mine = [line for line in access if line.get("request_id") == request_id]
    check(mine, f"no access log line with the request id {request_id} of the form post")
    check(mine[0].get("user_id") == user_id, f"the access line's user id is {mine[0].get('user_id')}, not {user_id}")
    check(mine[0].get("method") == "POST" and mine[0].get("status") == 302, f"access line: {mine[0]}")
    worker = json_lines(logs / "worker.log")
    check(any(line.get("task_id") for line in worker), "no worker log line carries a task id")
    for name in ("web.log", "worker.log", "beat.log"):
        text = (logs / name).read_text(errors="replace")
        for secret in secrets_typed:
            check(secret not in text, f"{name} contains a platform reference typed in ({secret})")
    # Celery prints a start-up banner (not a log line); gunicorn's output is JSON lines only.
    stray = [line for line in (logs / "web.log").read_text().splitlines() if line.strip() and not line.startswith("{")]
    check(not stray, f"web.log has lines that are not JSON: {stray[:3]}")


# --- the run --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["host", "image"])
    parser.add_argument("image", nargs="?", help="the image to run (image mode)")
    args = parser.parse_args()
    if args.mode == "image" and not args.image:
        parser.error("image mode needs the image's name")
    on_image = args.mode == "image"
    admin_url = os.environ.get("CI_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("CI_REDIS_URL", f"redis://127.0.0.1:6379/{15 if on_image else 14}")
    port = int(os.environ.get("STACK_PORT", 18620 if on_image else 18600))
    smtp_port = int(os.environ.get("STACK_SMTP_PORT", port + 1))
    logs = ROOT / "test-results" / "stack" / args.mode
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    started = time.monotonic()
    for problem in (postgres_problem(admin_url, "set CI_POSTGRES_URL"), redis_problem(redis_url, "set CI_REDIS_URL")):
        if problem:
            print(f"{'image' if on_image else 'production stack'}: FAILED ({problem})")
            return 1

    import redis
    from aiosmtpd.controller import Controller

    redis.Redis.from_url(redis_url).flushdb()
    sink = Sink()
    token = secrets.token_urlsafe(32)
    scratch = Path(tempfile.mkdtemp(prefix="escalations-stack-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, scratch, True)
        # Production's two roles (docs/deploy.md, "Database roles"): the owner migrates, the app's
        # role runs everything else, with only the rights the migrate step grants it.
        roles = stack.enter_context(scratch_roles(admin_url, f"escalations_ci_{args.mode}"))
        controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        stack.callback(controller.stop)
        env = {
            "DJANGO_SETTINGS_MODULE": "settings.prod",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": roles.app_url,
            "DATABASE_MIGRATE_URL": roles.owner_url,
            "CELERY_BROKER_URL": redis_url,
            "CACHE_URL": redis_url,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "SITE_URL": f"https://127.0.0.1:{port}",
            "REMINDER_SWEEP_SECONDS": "5",
            "METRICS_TOKEN": token,
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "GUNICORN_THREADS": "2",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        if not on_image:
            # The image carries its own collected static files and writes its scratch files in /tmp.
            env.update(STATIC_ROOT=str(scratch / "static"), CELERY_BEAT_SCHEDULE=str(scratch / "celerybeat-schedule"))
        runner = Runner(env=env, logs=logs, image=args.image if on_image else None)
        stack.callback(runner.stop)

        say("migrate (as its own step, before anything starts)")
        migrated = runner.run("migrate")
        problems = app_role_problems(admin_url, roles)
        check(
            not problems,
            "after the migrate step the app's role lacks its rights or has more: "
            + "; ".join(problems)
            + "\n"
            + migrated[-2000:],
        )
        say(f"the app's role {roles.app} may INSERT and SELECT the audit trail, not UPDATE, DELETE or TRUNCATE it")
        if not on_image:
            say("collectstatic (hashed, compressed names)")
            runner.run("manage", "collectstatic", "--noinput")
        runner.run("manage", "check", "--deploy", "--fail-level", "WARNING")
        setup = json.loads(
            runner.run("manage", "shell", "-c", SETUP % {"moderator": MODERATOR, "password": MODERATOR_PASSWORD})
            .strip()
            .splitlines()[-1]
        )
        say("start gunicorn, a Celery worker and beat")
        for role in ("web", "worker", "beat"):
            runner.start(role)
        browser = Browser(port)
        status, body = wait_until(
            "/healthz to answer 200 (the first sweep)",
            lambda: (lambda r: r if r[0] == 200 else None)(healthz(browser)),
            120,
            runner,
        )
        say(f"/healthz: {status} {body}")
        check(browser.get("/healthz").header("X-Request-ID"), "no X-Request-ID on the response")
        if on_image:
            health = runner.run("python", f"{IMAGE_APP_DIR}/deploy/container/healthcheck.py")
            say(f"the image's HEALTHCHECK: {health.strip()}")

        say(f"sign in as {MODERATOR} (CSRF token, secure cookies)")
        sign_in(browser)
        now = datetime.now(UTC)
        # Urgent, knowledge 50 minutes ago: the target is 10 minutes away, so "report due soon" (15
        # minutes before it) is already due and the next sweep sends it.
        page_reference = f"ci-ticket-{uuid.uuid4().hex[:10]}"
        api_reference = f"ci-pipeline-{uuid.uuid4().hex[:10]}"
        page_id, request_id = log_through_the_page(browser, page_reference, now - timedelta(minutes=50))
        say(f"logged ESC-{page_id:06d} through the page (request {request_id})")
        api_id = log_through_the_api(port, setup["token"], api_reference, now - timedelta(minutes=50))
        say(f"logged ESC-{api_id:06d} through the API with a service token")
        keys = [f"ESC-{page_id:06d}", f"ESC-{api_id:06d}"]
        wait_until(f"the reminders of {', '.join(keys)} at the SMTP sink", lambda: arrived(sink, keys), 90, runner)
        accepted, _ = sink.snapshot()
        for message in accepted:
            say(f"SMTP sink: {', '.join(message.to)}: {message.subject}")

        def counted() -> dict[Any, float] | None:
            page = metrics_page(browser, token)
            return page if metric(page, "escalations_reminder_lateness_seconds_count", channel="email") >= 2 else None

        samples = wait_until("the reminders in /metrics", counted, 30, runner)
        check_metrics(samples)
        say(
            "/metrics: lateness count (email) "
            f"{metric(samples, 'escalations_reminder_lateness_seconds_count', channel='email'):.0f}, "
            f"heartbeat age {metric(samples, 'escalations_sweep_heartbeat_age_seconds'):.1f} s, "
            "open due soon "
            f"{metric(samples, 'escalations_by_deadline_state', status='open', deadline_state='due_soon'):.0f}"
        )
        say(f"static: {check_static(browser)} gzip, immutable")
        scraped = scraped_by_prometheus(port, port + 2, token, scratch, logs)
        say(f"Prometheus: {scraped}" if scraped else "Prometheus: not installed, not tried")
        status, body = healthz(browser)
        check(status == 200 and body.get("status") == "ok", f"/healthz answered {status} {body}")
        reload_gracefully(browser, runner)
        check(browser.get("/escalations/mine/").status == 200, "the session did not survive the reload")
        runner.stop()
        check_logs(logs, request_id, setup["moderator"], [page_reference, api_reference])
        say("logs: JSON lines with request, user and task ids; no reference typed in appears")
    print(f"{'image' if on_image else 'production stack'}: ok ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        print(f"{'image' if 'image' in sys.argv[1:2] else 'production stack'}: FAILED")
        sys.exit(1)
