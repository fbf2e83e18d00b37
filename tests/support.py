"""Test doubles shared by several test modules."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as HeaderMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from escalations.policy import OPEN, STANDARD

K = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # knowledge obtained, a quiet Monday morning


@dataclass(frozen=True)
class Facts:
    """A test double for the escalation: only what the deadline rules read."""

    priority: str = STANDARD
    status: str = OPEN
    knowledge_at: datetime = K
    reported_at: datetime | None = None
    preservation_confirmed_at: datetime | None = None


@dataclass
class Receiver:
    """A local HTTP server standing in for a Slack-compatible webhook receiver."""

    url: str = ""
    # (headers, body) of each POST; headers look up case-insensitively.
    requests: list[tuple[HeaderMessage, bytes]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    garbage: bool = False


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append((self.headers, body))
            if state.delay:
                time.sleep(state.delay)
            if state.garbage:
                self.wfile.write(b"this is not HTTP\r\n\r\n")
                return
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the client gave up on a slow answer: expected in the timeout test

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/escalations"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
