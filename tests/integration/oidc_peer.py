"""The real OpenID provider for the tests: node's oidc-provider, configured by deploy/ci/oidc/provider.js,
started on a loopback port for a module's tests and stopped after. Skipped when node or the provider's
packages (`npm ci --prefix deploy/ci/oidc`) are missing, unless REQUIRE_SERVICES names "oidc".

The tests count the sign-ins that went through and those refused; with OIDC_TALLY_FILE set each
module adds its line to that file (deploy/ci/oidc.sh sums them into "oidc: sign-ins=N refused=M")."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from tests.conftest import skip_unless

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = ROOT / "deploy" / "ci" / "oidc"
CLIENT_ID = "escalation-tracker"
CLIENT_SECRET = "ci-client-secret-of-the-escalation-tracker"  # a test peer's client, not a secret
ROLE_MAP = "tt-moderators=moderator,tt-leads=lead,tt-auditors=auditor"
# The ports this project's tests use for the peer (OIDC_PEER_PORT picks the first tried).
FIRST_PORT = int(os.environ.get("OIDC_PEER_PORT", "19010"))


def _free_port(first: int, last: int) -> int:
    for port in range(first, last + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last}")


def free_port() -> int:
    return _free_port(FIRST_PORT, FIRST_PORT + 89)


@contextmanager
def running_provider() -> Iterator[str]:
    """Start provider.js; yield its issuer URL."""
    node = shutil.which("node")
    skip_unless(node is not None, "oidc", "node is not installed (apt-get install nodejs npm)")
    skip_unless(
        (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir(),
        "oidc",
        "the provider's packages are missing: npm ci --prefix deploy/ci/oidc",
    )
    assert node is not None
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="oidc-provider-", suffix=".log", delete=False)  # noqa: SIM115
    env = {**os.environ, "PORT": str(port), "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET}
    process = subprocess.Popen([node, "provider.js"], cwd=PROVIDER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                skip_unless(False, "oidc", f"provider.js did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.2)
        yield issuer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        os.unlink(log.name)


def app_settings(issuer: str) -> dict[str, Any]:
    """The tracker's settings for this provider (as the environment would set them)."""
    return {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_RP_CLIENT_ID": CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_PROVIDER_NAME": "Test provider",
        "OIDC_ROLE_CLAIM": "groups",
        "OIDC_ROLE_MAP": dict(pair.split("=") for pair in ROLE_MAP.split(",")),
        "OIDC_RP_SCOPES": "openid email profile groups",
        "OIDC_SCOPES": "openid email profile groups",
        "OIDC_ALLOW_HTTP_LOOPBACK": True,
    }


def app_environment(issuer: str) -> dict[str, str]:
    """The same settings as environment variables, for an app in a process of its own."""
    return {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_PROVIDER_NAME": "Test provider",
        "OIDC_ROLE_MAP": ROLE_MAP,
        "OIDC_SCOPES": "openid email profile groups",
        "OIDC_ALLOW_HTTP_LOOPBACK": "true",
    }


def sign_in_at_provider(authorize_url: str, login: str, *, groups: str | None = None, mfa: bool = False) -> str:
    """Go from the tracker's redirect to the provider through its sign-in page, as a browser would
    without script; the URL the provider sends the person back to (the tracker's callback)."""
    session = requests.Session()
    url = authorize_url
    for _ in range(10):
        answer = session.get(url, allow_redirects=False, timeout=10)
        if answer.status_code == 200 and "/interaction/" in url:
            form = {"login": login, **({"groups": groups} if groups is not None else {})}
            if mfa:
                form["mfa"] = "1"
            answer = session.post(url.rstrip("/") + "/login", data=form, allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), (url, answer.status_code, answer.text[:500])
        url = urljoin(url, answer.headers["Location"])
        if "/accounts/oidc/callback/" in url:
            return url
    raise AssertionError(f"the provider never sent the person back: {url}")


class Tally:
    """Sign-ins that went through and those refused, written to OIDC_TALLY_FILE when set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.signed_in = 0
        self.refused = 0

    def write(self) -> None:
        path = os.environ.get("OIDC_TALLY_FILE")
        if path:
            with open(path, "a") as out:
                out.write(f"{self.name} {self.signed_in} {self.refused}\n")
