"""The integrations' tests: each integration is tried against a local receiver (or its endpoint is
called as the other system would), and the counts of what was accepted and refused are printed as
CI's line (scripts/integrations_summary.py):

    integrations: coop=N pagerduty=N teams=N slack=N events=N refused=M

How a test contributes (put it in tests/integrations/ and mark it `integrations`)::

    pytestmark = pytest.mark.integrations

    def test_pagerduty_trigger(integration_counter, ...):
        with local_receiver(answer) as receiver:          # a server on loopback (below)
            ...
        integration_counter.accepted("pagerduty")         # a request the receiver accepted
        integration_counter.refused("coop")               # a request our endpoint (or a receiver) refused

`integration_counter` is one object for the whole run (session scope): `accepted(kind, n=1)` counts
requests a local receiver accepted after checking them against the service's documented schema (or,
for coop, requests our endpoint accepted); `refused(kind, n=1)` counts requests refused on purpose in
those tests (a bad signature, a malformed body, a receiver answering 500). Kinds are KINDS; another
kind raises, so a typo cannot hide a zero. Count a request when it is answered, not when it is made.

`local_receiver(answer)` serves POSTs on 127.0.0.1 until the block ends; `answer(path, headers,
body)` returns (status, body bytes). Its port comes from RECEIVER_PORTS ("19400-19499": the first
free one; shared machines keep each run to its own range), else the kernel picks one.

At the end of the run the line is printed, and the counts are written as JSON to the file named by
INTEGRATIONS_COUNTS_FILE when it is set (the CI script reads it).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message as HeaderMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

KINDS = ("coop", "pagerduty", "teams", "slack", "events")


@dataclass
class IntegrationCounter:
    accepted_by_kind: Counter[str] = field(default_factory=Counter)
    refused_by_kind: Counter[str] = field(default_factory=Counter)

    def _check(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown integration {kind!r}; one of {', '.join(KINDS)}")

    def accepted(self, kind: str, n: int = 1) -> None:
        self._check(kind)
        self.accepted_by_kind[kind] += n

    def refused(self, kind: str, n: int = 1) -> None:
        self._check(kind)
        self.refused_by_kind[kind] += n

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": {kind: self.accepted_by_kind[kind] for kind in KINDS},
            "refused": {kind: self.refused_by_kind[kind] for kind in KINDS},
        }

    def line(self) -> str:
        return summary_line(self.as_dict())


def summary_line(counts: dict[str, Any]) -> str:
    accepted = " ".join(f"{kind}={counts['accepted'].get(kind, 0)}" for kind in KINDS)
    return f"integrations: {accepted} refused={sum(counts['refused'].values())}"


COUNTER = IntegrationCounter()


@pytest.fixture(scope="session")
def integration_counter() -> IntegrationCounter:
    """The run's counts of requests accepted and refused per integration (see the module's docstring)."""
    return COUNTER


Answer = Callable[[str, HeaderMessage, bytes], tuple[int, bytes]]


@dataclass
class LocalReceiver:
    url: str
    # (path, headers, body) of every POST, in the order received.
    requests: list[tuple[str, HeaderMessage, bytes]] = field(default_factory=list)


def _ports() -> list[int]:
    spec = os.environ.get("RECEIVER_PORTS", "")
    if not spec:
        return [0]
    first, _, last = spec.partition("-")
    return list(range(int(first), int(last or first) + 1))


@contextmanager
def local_receiver(answer: Answer) -> Iterator[LocalReceiver]:
    """A server on loopback that hands each POST to `answer` and sends back what it returns."""
    lock = threading.Lock()
    state = LocalReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.requests.append((self.path, self.headers, body))
                status, reply = answer(self.path, self.headers, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False

    server = None
    for port in _ports():
        try:
            server = Server(("127.0.0.1", port), Handler)
            break
        except OSError:
            continue
    if server is None:
        raise RuntimeError(f"no free port in RECEIVER_PORTS={os.environ.get('RECEIVER_PORTS')}")
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(COUNTER.line())


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("INTEGRATIONS_COUNTS_FILE")
    if target:
        with open(target, "w", encoding="utf-8") as out:
            json.dump(COUNTER.as_dict(), out)
