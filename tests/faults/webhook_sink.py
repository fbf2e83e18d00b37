"""The soak's webhook receiver: a loopback HTTP server that verifies each request the way a receiver
of the Standard Webhooks scheme does (standardwebhooks, with the person's secret), answers 204, and
keeps what it accepted with its webhook-id. A request that fails verification is answered 401 and
kept apart: the soak fails on any."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.processes import free_port


@dataclass(frozen=True)
class Hook:
    username: str
    webhook_id: str
    text: str
    at: float


@dataclass
class WebhookSink:
    secrets: dict[str, str]  # username -> the secret on their profile
    port: int = 0
    accepted: list[Hook] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url_for(self, username: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{username}"

    def snapshot(self) -> tuple[list[Hook], list[str]]:
        with self._lock:
            return list(self.accepted), list(self.refused)


@contextmanager
def webhook_sink(sink: WebhookSink) -> Iterator[WebhookSink]:
    from standardwebhooks.webhooks import Webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            username = self.path.rsplit("/", 1)[-1]
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                payload = Webhook(sink.secrets[username]).verify(body, headers)
            except Exception as exc:
                with sink._lock:
                    sink.refused.append(f"{username}: {exc.__class__.__name__}: {exc}")
                self.send_response(401)
            else:
                with sink._lock:
                    sink.accepted.append(Hook(username, headers["webhook-id"], payload["text"], time.time()))
                self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="soak-webhooks", daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
