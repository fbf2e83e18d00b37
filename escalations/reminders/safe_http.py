"""One HTTP POST to an address a person typed (their webhook), made so it cannot be turned inwards or
held open.

- The host is resolved once, and every address it resolves to must be public (public_address): one
  private answer refuses the name. The connection then goes to a vetted address itself, never to
  the name again, so a second lookup that answers 127.0.0.1 (DNS rebinding) is never made. TLS
  still asks for, and verifies the certificate of, the name in the URL, and the Host header names
  it: to the receiver the request looks as if we had connected by name.
- One deadline covers the whole request: the lookup, connecting, TLS, sending, and reading the
  status line and headers. Every socket operation gets only the time left, so a receiver that
  trickles a header byte at a time is cut off when the deadline comes, not after the last byte.
- A refused address and a name that does not resolve get the same answer (Refused), so the result
  says nothing about which internal names exist.
- No redirect is followed and no proxy from the environment is used: the request goes where it was
  vetted, or nowhere.

Plain http is allowed only to loopback addresses, and only when the caller allows it (dev, tests).
Nothing here touches the database, so it may run in any thread.
"""

from __future__ import annotations

import functools
import http.client
import io
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from escalations.core.public_address import REFUSED_MESSAGE, is_loopback, is_public


class Refused(Exception):
    """The URL does not lead to a public https address (or its name does not resolve)."""

    def __init__(self) -> None:
        super().__init__(REFUSED_MESSAGE)


class Failed(Exception):
    """The request was made and did not succeed: unreachable, too slow, or not HTTP."""


class DeadlineExceeded(TimeoutError):
    """The whole request's time ran out."""


@dataclass
class Deadline:
    seconds: float
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.at = time.monotonic() + self.seconds

    def left(self) -> float:
        """Seconds left; raises DeadlineExceeded when none are."""
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded
        return remaining

    def message(self) -> str:
        return f"webhook did not answer within {self.seconds:g} s"


def tls_context() -> ssl.SSLContext:
    """Certificates checked against the system's trust store, for the name in the URL."""
    return ssl.create_default_context()


Sockaddr = tuple[Any, ...]


def resolve(host: str, port: int, deadline: Deadline) -> list[tuple[int, Sockaddr]]:
    """Every (family, address) `host` resolves to, looked up once. The lookup runs in a thread of
    its own so that a resolver that hangs costs no more than the deadline (getaddrinfo has no
    timeout); that thread ends when the resolver gives up."""
    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            outcome.append(exc)

    thread = threading.Thread(target=lookup, name="webhook-dns", daemon=True)
    thread.start()
    thread.join(timeout=deadline.left())
    if not outcome:
        raise DeadlineExceeded
    if isinstance(outcome[0], Exception):
        raise Refused from outcome[0]
    return [(family, sockaddr) for family, _type, _proto, _name, sockaddr in outcome[0]]


@dataclass(frozen=True)
class Target:
    scheme: str
    # ASCII (IDNA) form: what DNS, TLS's server name and the Host header carry.
    host: str
    port: int
    path: str


def target(url: str) -> Target:
    """The parts of `url` the request uses; Refused when it is not an http(s) URL with a host."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise Refused from None
    if parts.scheme not in ("https", "http") or not host:
        raise Refused
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=host, port=port, path=path)


def vetted_addresses(where: Target, deadline: Deadline, *, allow_loopback_http: bool) -> list[tuple[int, Sockaddr]]:
    """The addresses the host resolves to, if every one may receive the request; else Refused."""
    addresses = resolve(where.host, where.port, deadline)
    if not addresses:
        raise Refused
    ips = [sockaddr[0] for _family, sockaddr in addresses]
    loopback = allow_loopback_http and all(is_loopback(ip) for ip in ips)
    if where.scheme == "http" and not loopback:
        raise Refused
    if not loopback and not all(is_public(ip) for ip in ips):
        raise Refused
    return addresses


class _DeadlineReader(io.RawIOBase):
    """The socket as http.client reads the answer: each read gets only the time left."""

    def __init__(self, sock: socket.socket, deadline: Deadline):
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._deadline.left())
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    def __init__(self, sock: socket.socket, deadline: Deadline):
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineResponse(http.client.HTTPResponse):
    """http.client reads the status line and headers line by line from sock.makefile(): hand it a
    file whose every read is bounded by the deadline."""

    def __init__(self, sock: socket.socket, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(_DeadlineSocket(sock, deadline), *args, **kwargs)  # type: ignore[arg-type]


class _PinnedConnection(http.client.HTTPSConnection):
    """An HTTP(S) connection to one vetted address, on behalf of the name in the URL: TLS server
    name, certificate check and Host header all use `host`; the TCP connection goes to `sockaddr`."""

    def __init__(self, host: str, port: int, *, family: int, sockaddr: Sockaddr, deadline: Deadline, tls: bool) -> None:
        context = tls_context() if tls else None
        super().__init__(host, port, context=context)
        self.default_port = 443 if tls else 80  # the Host header names the port only when not this
        self.response_class = functools.partial(_DeadlineResponse, deadline=deadline)  # type: ignore[assignment]
        self._family = family
        self._sockaddr = sockaddr
        self._deadline = deadline
        self._tls = context

    def connect(self) -> None:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._deadline.left())
            sock.connect(self._sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                # The handshake as a whole gets the time left (Python applies a socket's timeout
                # to the whole handshake, not to each read within it).
                sock.settimeout(self._deadline.left())
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def post(url: str, body: bytes, headers: dict[str, str], *, deadline_seconds: float, allow_loopback_http: bool) -> int:
    """POST `body` to `url` and return the answer's HTTP status (redirects are not followed: a 3xx is
    returned as it is). Raises Refused when the URL may not receive it (no connection is made) and
    Failed, with a message fit for a person, when the request did not get an answer in time."""
    deadline = Deadline(deadline_seconds)
    where = target(url)
    try:
        addresses = vetted_addresses(where, deadline, allow_loopback_http=allow_loopback_http)
        connection = _connect(where, addresses, deadline)
        try:
            assert connection.sock is not None
            connection.sock.settimeout(deadline.left())
            connection.request("POST", where.path, body=body, headers=headers)
            with connection.getresponse() as response:
                return response.status
        finally:
            connection.close()
    except Refused:
        raise
    except TimeoutError as exc:  # the deadline, or a socket timeout set from it
        raise Failed(deadline.message()) from exc
    except ssl.SSLCertVerificationError as exc:
        raise Failed(f"webhook unreachable: its TLS certificate was refused ({exc.verify_message})") from exc
    except ssl.SSLError as exc:
        raise Failed(f"webhook unreachable: TLS failed ({exc.reason or exc})") from exc
    except OSError as exc:
        raise Failed(f"webhook unreachable: {exc}") from exc
    except (http.client.HTTPException, ValueError) as exc:
        # A receiver that answers something other than HTTP: a failed delivery to retry.
        raise Failed(f"webhook answered badly: {exc.__class__.__name__}: {exc}") from exc


def post_json(url: str, body: bytes, extra_headers: dict[str, str] | None = None) -> int:
    """POST a JSON body the way every outbound call of the tracker goes (webhooks, Slack, Teams,
    PagerDuty, events): its User-Agent, WEBHOOK_DEADLINE_SECONDS, loopback http only where the
    settings allow it. The status; Refused or Failed as post() raises them."""
    headers = {"Content-Type": "application/json", "User-Agent": "escalation-tracker", **(extra_headers or {})}
    return post(
        url,
        body,
        headers,
        deadline_seconds=settings.WEBHOOK_DEADLINE_SECONDS,
        allow_loopback_http=settings.WEBHOOK_ALLOW_HTTP_LOOPBACK,
    )


def _connect(where: Target, addresses: list[tuple[int, Sockaddr]], deadline: Deadline) -> _PinnedConnection:
    """Connect to the first vetted address that answers (an unreachable IPv6 address falls back to
    the next one); the deadline bounds them all."""
    last: OSError | None = None
    for family, sockaddr in addresses:
        connection = _PinnedConnection(
            where.host, where.port, family=family, sockaddr=sockaddr, deadline=deadline, tls=where.scheme == "https"
        )
        try:
            connection.connect()
            return connection
        except ssl.SSLError:
            raise  # the receiver answered, with the wrong certificate: another address won't fix that
        except TimeoutError:
            raise  # the deadline is spent
        except OSError as exc:
            last = exc
    assert last is not None
    raise last
