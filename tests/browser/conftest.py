"""What the browser tests share: the real app in its own process, headless Chromium, screenshots.

The app runs as its own process (`manage.py runserver`) on a throw-away SQLite file with the demo
accounts and demo data from `seeddemo`. pytest-django's live_server is deliberately not used: its
flush between tests would DELETE audit rows, which the append-only triggers refuse.

Screenshots go to test-results/browser/ at the repository root (CI keeps them).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import skip_unless

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-results" / "browser"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(port: int, path: str) -> int | None:
    """The HTTP status of GET `path`, or None while nothing listens."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _last_error(log: str) -> str:
    """The last exception line of a server log, such as 'django.core...ImproperlyConfigured: ...'."""
    errors = [line for line in log.splitlines() if re.match(r"^[\w.]+(Error|Exception|Configured|Denied): ", line)]
    return errors[-1] if errors else "no exception in its log"


# The environment of each app serve_app runs, by its address: manage_on() runs a command on its data.
APP_ENVS: dict[str, dict[str, str]] = {}


def manage_on(url: str, *command: str) -> str:
    """Run `manage.py <command>` on the data of the app served at `url` (while it runs, as another
    process would: a sweep, a shell); its stdout."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *command],
        cwd=ROOT, env=APP_ENVS[url], capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"manage.py {command[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextmanager
def serve_app(*setup: list[str], prefix: str = "browser-test-", settings: str = "settings.dev") -> Iterator[str]:
    """Migrate and seed a fresh SQLite file, run each extra `manage.py` command in `setup`, serve it
    with runserver, yield its address, and stop it afterwards. `settings`: the settings module of
    every command and of the server."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    log_path = workdir / "server.log"
    server: subprocess.Popen[bytes] | None = None
    try:
        for command in (["migrate", "--noinput"], ["seeddemo"], *setup):
            done = subprocess.run([*manage, *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.fail(f"manage.py {' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        port = _free_port()
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while (status := _status(port, "/accounts/login/")) != 200:
            if status is not None or server.poll() is not None or time.monotonic() > deadline:
                server_log = log_path.read_text()
                print(f"--- runserver log ---\n{server_log[-8000:]}")
                pytest.fail(
                    f"runserver on port {port}: GET /accounts/login/ gave {status}: {_last_error(server_log)} "
                    "(the server's log is under 'Captured stdout setup')"
                )
            time.sleep(0.2)
        APP_ENVS[f"http://127.0.0.1:{port}"] = env
        yield f"http://127.0.0.1:{port}"
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """The demo app (migrate, seeddemo) on a throw-away SQLite file, served by runserver."""
    skip_unless(os.path.exists(CHROMIUM), "chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with serve_app() as url:
        yield url


@pytest.fixture(scope="session")
def pages_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    """The demo app prepared for every page of tests/browser/pages.py (a legal request, evidence, a
    release requested, ...), with DEBUG off; its address and the ids the pages' paths need. Shared by
    the accessibility run and the screenshots."""
    from tests.browser.pages import ids_setup, read_ids

    skip_unless(os.path.exists(CHROMIUM), "chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    ids_path = tmp_path_factory.mktemp("pages") / "ids.json"
    # One reminder sweep: notifications under the bell, and no "reminders are not being sent" banner.
    setup = (ids_setup(ids_path), ["sendreminders"])
    with serve_app(*setup, prefix="browser-pages-", settings="tests.browser.settings_pages") as url:
        yield url, read_ids(ids_path)


@pytest.fixture(scope="module")
def chromium_browser(app_url: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def pages_browser(pages_app: tuple[str, dict[str, int]]) -> Iterator[Browser]:
    """Headless Chromium for the tests on pages_app (one per module, as chromium_browser)."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def shots() -> Iterator[list[Path]]:
    """Paths appended here are printed after the test (the screenshots and files it wrote)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    yield taken
    for path in taken:
        print(f"screenshot: {path}")


def sign_in(page: Page, app_url: str, username: str, password: str, shot: Path | None = None) -> None:
    page.goto(f"{app_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Sign in')")
    if "/accounts/login/" in page.url:
        # Show what the browser got: a form error, or Django's 403/500 page with its reason.
        text = " ".join(page.locator("body").inner_text().split())[:600]
        pytest.fail(f"{username} could not sign in; the page says: {text}")


def failure_shot(page: Page, name: str, shots: list[Path]) -> None:
    """What the browser showed when a step failed, kept next to the other screenshots."""
    try:
        page.screenshot(path=str(SHOTS / name), full_page=True)
        shots.append(SHOTS / name)
    except Exception as exc:  # the page may be gone; the original error matters more
        print(f"no failure screenshot: {exc}")
