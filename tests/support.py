"""Test doubles shared by several test modules."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
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
    # Called with each request before the answer: a receiver that stalls until the test says so.
    stall: Callable[[], None] | None = None


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append((self.headers, body))
            if state.delay:
                time.sleep(state.delay)
            if state.stall is not None:
                state.stall()
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


# --- the network as a webhook sees it: names, connections, receivers that misbehave ------------------


@dataclass
class StubDNS:
    """Answers chosen names from a script, one answer per lookup (the last one repeats): a rebinding
    name answers a public address first and 127.0.0.1 afterwards. Other names resolve as usual."""

    answers: dict[str, list[list[str] | OSError]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def answer(self, host: str, *answers: list[str] | OSError) -> None:
        self.answers[host] = list(answers)

    def count(self, host: str) -> int:
        return self.lookups.count(host)


def stub_getaddrinfo(state: StubDNS, real: Any) -> Any:
    import socket

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in state.answers:
            return real(host, port, family, type, proto, flags)
        state.lookups.append(name)
        script = state.answers[name]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, OSError):
            raise answer
        port_number = int(port or 0)
        infos: list[tuple[Any, ...]] = []
        for address in answer:
            family, sockaddr = (
                (socket.AF_INET6, (address, port_number, 0, 0))
                if ":" in address
                else (socket.AF_INET, (address, port_number))
            )
            infos.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos

    return getaddrinfo


@dataclass
class Network:
    """Every outgoing TCP connection attempted: loopback goes through (the tests' receivers live
    there); anything else is refused, as a sandbox with no route out would."""

    attempts: list[tuple[str, int]] = field(default_factory=list)


def recording_connect(state: Network, real: Any) -> Any:
    def connect(sock: Any, address: Any) -> Any:
        host, port = address[0], address[1]
        state.attempts.append((host, port))
        if host in ("127.0.0.1", "::1", "localhost"):
            return real(sock, address)
        raise ConnectionRefusedError(f"the test network refuses {host}")

    return connect


@dataclass
class Trickler:
    """A receiver that answers its status line, then one header line every `interval` seconds."""

    url: str = ""
    requests: int = 0
    lines_sent: int = 0
    closed_early: bool = False
    finished: bool = False
    done: threading.Event = field(default_factory=threading.Event)


@contextmanager
def trickling_receiver(*, interval: float, lines: int) -> Iterator[Trickler]:
    import socket

    state = Trickler()
    server = socket.create_server(("127.0.0.1", 0))
    state.url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lengths = [
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
            ]
            length = lengths[0] if lengths else 0
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            state.requests += 1
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for n in range(lines):
                    time.sleep(interval)
                    conn.sendall(f"X-Trickle-{n}: still here\r\n".encode())
                    state.lines_sent += 1
                conn.sendall(b"Content-Length: 0\r\n\r\n")
                state.finished = True
            except OSError:
                state.closed_early = True
        state.done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.close()
        thread.join(timeout=interval * lines + 5)
