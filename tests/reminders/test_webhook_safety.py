"""A webhook is the one request the tracker makes to an address a person typed. What keeps it safe:
the name is resolved once and the request goes to the address that was vetted (a second lookup that
answers 127.0.0.1 changes nothing), no address that is not public gets a connection, whatever IPv4
address it hides; one message whether or not the name resolves; one deadline for the whole request;
a slow receiver delays nobody else; and every request is signed the Standard Webhooks way, so a
receiver can tell ours from a forgery or a replay."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from email.message import Message as HeaderMessage
from typing import Any

import pytest
import trustme
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from escalations.models import Channel, Delivery, DeliveryAttempt
from escalations.reminders import channels as notify
from escalations.reminders import sweep as reminders
from tests.reminders.test_sweep import (  # fixtures and constants shared with the sweep tests
    DUE_SOON_NOW,
    MINUTE,
    SECOND,
    T0,
    WEBHOOK_SECRET,
    Killed,
    boss,
    delivered,
    mod,
    prefs,
    receiver,
)
from tests.support import (
    Network,
    StubDNS,
    recording_connect,
    stub_getaddrinfo,
    trickling_receiver,
    webhook_receiver,
)

__all__ = ["boss", "mod", "receiver"]
# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = T0

REFUSED = "that address can't receive webhooks (it must be a public https address)"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> StubDNS:
    state = StubDNS()
    monkeypatch.setattr(socket, "getaddrinfo", stub_getaddrinfo(state, socket.getaddrinfo))
    return state


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    state = Network()
    monkeypatch.setattr(socket.socket, "connect", recording_connect(state, socket.socket.connect))
    return state


@pytest.fixture
def no_loopback(settings: Any) -> None:
    """As in production: the dev and test allowance for a receiver on this machine is off."""
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False


def hook(user: Any, url: str, secret: str = WEBHOOK_SECRET) -> None:
    prefs(user, email_notifications=False, in_app_notifications=False, webhook_url=url, webhook_secret=secret)


def headers_of(message: HeaderMessage) -> dict[str, str]:
    return {name.lower(): value for name, value in message.items()}


# --- which addresses may receive a webhook --------------------------------------------------------------

NOT_PUBLIC = [
    # The usual private, local and special ranges.
    "127.0.0.1",
    "10.0.0.5",
    "172.16.4.1",
    "192.168.1.20",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",  # noqa: S104 - an address a name may resolve to, not one we bind
    "0.1.2.3",
    "255.255.255.255",
    "224.0.0.251",  # multicast
    "240.0.0.1",
    "198.18.0.1",
    "192.0.2.1",
    "192.0.0.9",  # 192.0.0.0/24, IETF protocol assignments
    "192.0.0.170",
    "::1",
    "::",
    "fe80::1",
    "fd00::1",
    "fec0::1",  # site-local
    "ff02::1",
    "ff0e::1",  # global-scope multicast
    "2001:db8::1",
    # IPv4 hidden inside IPv6.
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::808:808",  # IPv4-compatible, deprecated whatever it holds
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]


@pytest.mark.usefixtures("no_loopback")
@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_a_name_that_resolves_to_a_non_public_address_gets_no_connection(mod, dns, network, address):
    dns.answer("hooks.example.test", [address])
    hook(mod, "https://hooks.example.test/hook")
    with pytest.raises(notify.DeliveryError) as refused:
        notify.send_webhook(mod, notify.test_message())
    assert str(refused.value) == REFUSED
    assert network.attempts == []


@pytest.mark.usefixtures("no_loopback")
@pytest.mark.parametrize(
    "url", ["https://10.0.0.5/hook", "https://[64:ff9b::7f00:1]/hook", "https://[::ffff:a9fe:a9fe]/"]
)
def test_an_address_typed_in_the_url_is_vetted_the_same_way(mod, network, url):
    hook(mod, url)
    with pytest.raises(notify.DeliveryError, match=f"^{REFUSED}$".replace("(", r"\(").replace(")", r"\)")):
        notify.send_webhook(mod, notify.test_message())
    assert network.attempts == []


@pytest.mark.usefixtures("no_loopback")
def test_one_non_public_answer_among_public_ones_refuses_the_name(mod, dns, network):
    dns.answer("hooks.example.test", ["8.8.8.8", "10.0.0.7"])
    hook(mod, "https://hooks.example.test/hook")
    with pytest.raises(notify.DeliveryError, match="it must be a public https address"):
        notify.send_webhook(mod, notify.test_message())
    assert network.attempts == []


@pytest.mark.usefixtures("no_loopback")
@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"]
)
def test_a_public_address_is_connected_to_as_vetted(mod, dns, network, address):
    """NAT64 and 6to4 addresses that hold a public IPv4 address are public too (an IPv6-only network
    reaches IPv4 receivers that way)."""
    dns.answer("hooks.example.test", [address])
    hook(mod, "https://hooks.example.test/hook")
    with pytest.raises(notify.DeliveryError) as failed:
        notify.send_webhook(mod, notify.test_message())
    assert network.attempts == [(address, 443)]
    assert str(failed.value).startswith("webhook unreachable")


@pytest.mark.usefixtures("no_loopback")
def test_the_same_message_whether_or_not_the_name_resolves(client_for, moderator, dns, network):
    """Otherwise the test button would tell anyone which internal names exist."""
    dns.answer("intranet.example.test", ["10.1.2.3"])
    dns.answer("nowhere.example.test", socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    client = client_for(moderator)
    said = []
    for host in ("intranet.example.test", "nowhere.example.test"):
        hook(moderator, f"https://{host}/hook")
        response = client.post("/accounts/profile/test/webhook/", follow=True)
        said.append([str(m) for m in response.context["messages"]])
    assert said == [[f"Webhook test failed: {REFUSED}."]] * 2
    assert network.attempts == []


def test_a_refused_address_is_a_failed_delivery_on_the_timeline(clock, mod, make_escalation, dns, network, settings):
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False
    dns.answer("hooks.example.test", ["64:ff9b::a9fe:a9fe"])
    hook(mod, "https://hooks.example.test/hook")
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    delivery = Delivery.objects.get(reminder__escalation=esc)
    assert (delivery.sent_at, delivery.last_error, delivery.next_attempt_at) == (None, REFUSED, T0 + MINUTE)
    assert DeliveryAttempt.objects.get(escalation=esc).error == REFUSED
    assert network.attempts == []


# --- resolved once: the connection goes to the address that was vetted --------------------------------


@pytest.mark.usefixtures("no_loopback")
def test_a_rebinding_name_cannot_turn_the_request_to_loopback(mod, dns, network, receiver):
    """The name answers a public address when it is vetted and 127.0.0.1 on any later lookup."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    dns.answer("hooks.rebind.test", ["8.8.8.8"], ["127.0.0.1"])
    hook(mod, f"https://hooks.rebind.test:{port}/hook")
    with pytest.raises(notify.DeliveryError, match="webhook unreachable"):
        notify.send_webhook(mod, notify.test_message())
    assert network.attempts == [("8.8.8.8", port)]
    assert dns.count("hooks.rebind.test") == 1
    assert receiver.requests == []


@pytest.fixture
def https_receiver(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local HTTPS receiver whose certificate names hooks.rebind.test, from a throwaway CA that this
    test's process trusts (SSL_CERT_FILE). It notes the TLS server name each client asked for."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    server_names: list[str | None] = []
    requests: list[tuple[HeaderMessage, bytes]] = []

    def serve_for(name: str) -> Any:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(context)
        context.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                requests.append((self.headers, self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    servers: list[Any] = []

    class State:
        names = server_names
        received = requests
        serve = staticmethod(serve_for)

    yield State
    for server in servers:
        server.shutdown()
        server.server_close()


def test_https_goes_to_the_vetted_address_and_checks_the_certificate_for_the_name(
    mod, dns, network, https_receiver, settings
):
    """Loopback stands in for the vetted public address here (the test setting allows it)."""
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = True
    port = https_receiver.serve("hooks.rebind.test")
    dns.answer("hooks.rebind.test", ["127.0.0.1"], ["10.9.9.9"])
    hook(mod, f"https://hooks.rebind.test:{port}/hook")
    notify.send_webhook(mod, notify.test_message())

    assert network.attempts == [("127.0.0.1", port)]
    assert dns.count("hooks.rebind.test") == 1
    [(headers, body)] = https_receiver.received
    assert headers["Host"] == f"hooks.rebind.test:{port}"
    assert https_receiver.names == ["hooks.rebind.test"]
    assert Webhook(WEBHOOK_SECRET).verify(body, headers_of(headers))["test"] is True


def test_a_certificate_for_another_name_is_refused(mod, dns, network, https_receiver, settings):
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = True
    port = https_receiver.serve("someone-else.test")
    dns.answer("hooks.rebind.test", ["127.0.0.1"])
    hook(mod, f"https://hooks.rebind.test:{port}/hook")
    with pytest.raises(notify.DeliveryError, match="certificate"):
        notify.send_webhook(mod, notify.test_message())
    assert https_receiver.received == []


# --- one deadline for the whole request -----------------------------------------------------------------


def test_a_receiver_trickling_its_headers_is_cut_at_the_deadline(clock, mod, make_escalation, settings):
    """Each header line arrives well within any per-read timeout; only a deadline for the whole
    request ends it."""
    settings.WEBHOOK_DEADLINE_SECONDS = 1
    with trickling_receiver(interval=0.25, lines=24) as trickler:
        hook(mod, trickler.url)
        esc = make_escalation(knowledge_at=DUE_SOON_NOW)
        reminders.sweep()
        assert trickler.done.wait(timeout=15)
    assert trickler.requests == 1
    assert trickler.closed_early and not trickler.finished, "the connection was closed before it finished"
    delivery = Delivery.objects.get(reminder__escalation=esc)
    assert delivery.sent_at is None
    assert delivery.last_error == "webhook did not answer within 1 s"
    assert DeliveryAttempt.objects.get(escalation=esc).error == "webhook did not answer within 1 s"


def test_the_test_button_is_cut_at_the_deadline_too(client_for, moderator, settings):
    settings.WEBHOOK_DEADLINE_SECONDS = 0.5
    with trickling_receiver(interval=0.2, lines=20) as trickler:
        hook(moderator, trickler.url)
        response = client_for(moderator).post("/accounts/profile/test/webhook/", follow=True)
        assert trickler.done.wait(timeout=15)
    said = [str(m) for m in response.context["messages"]]
    assert said == ["Webhook test failed: webhook did not answer within 0.5 s."]
    assert trickler.closed_early and not trickler.finished


# --- a slow receiver delays nobody else ------------------------------------------------------------------


def test_a_stalled_receiver_delays_nobody_elses_reminders(clock, mod, boss, make_escalation, monkeypatch, settings):
    """The moderator's receiver holds its request until everyone else's reminders of the same sweep
    have gone out: the lead's email, in-app notification and webhook. It comes first in the sweep's
    order, so a sweep that waited for it would leave them waiting too."""
    settings.WEBHOOK_DEADLINE_SECONDS = 30  # the test ends the stall, not the deadline
    others_out = threading.Event()
    out: set[str] = set()
    lock = threading.Lock()
    holding: list[str] = []

    def note(what: str) -> None:
        with lock:
            out.add(what)
            if out >= {"email", "in_app", "webhook"}:
                others_out.set()

    def stall() -> None:
        holding.append("held")
        holding.append("released: the others went out" if others_out.wait(timeout=20) else "gave up waiting")

    real_email, real_in_app = notify.send_email, notify.in_app_notification

    def email(user: Any, message: Any) -> None:
        real_email(user, message)
        note("email")

    def in_app(*args: Any) -> Any:
        # The sweep's thread writes the in-app notification (a chunk at a time, in one transaction).
        made = real_in_app(*args)
        note("in_app")
        return made

    monkeypatch.setattr(notify, "send_email", email)
    monkeypatch.setattr(notify, "in_app_notification", in_app)
    with webhook_receiver() as stalled, webhook_receiver() as fast:
        stalled.stall = stall
        fast.stall = lambda: note("webhook")
        hook(mod, stalled.url)
        prefs(boss, email_notifications=True, in_app_notifications=True, webhook_url=fast.url, webhook_secret="x" * 64)
        first = make_escalation(knowledge_at=DUE_SOON_NOW)
        # Recorded first, so the moderator's webhook is first in the sweep's order.
        reminders.schedule_due(T0, reminders.policy.PolicyConfig.from_settings(), reminders.SweepStats())
        second = make_escalation(actor=boss, knowledge_at=DUE_SOON_NOW)
        reminders.sweep()
    assert holding == ["held", "released: the others went out"]
    assert delivered(second, "report_due_soon") == {
        ("leader", Channel.EMAIL),
        ("leader", Channel.IN_APP),
        ("leader", Channel.WEBHOOK),
    }
    assert delivered(first, "report_due_soon") == {("mod", Channel.WEBHOOK)}


# --- signed the Standard Webhooks way -----------------------------------------------------------------


def test_reminders_are_signed_so_a_standard_webhooks_receiver_verifies_them(clock, mod, receiver, make_escalation):
    hook(mod, receiver.url)
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    [(headers, body)] = receiver.requests
    payload = Webhook(WEBHOOK_SECRET).verify(body, headers_of(headers))
    assert payload["reminders"][0]["key"] == esc.key
    assert headers["webhook-timestamp"] == str(int(T0.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    # The old body-only signature could be replayed for ever: it is gone.
    assert "x-escalations-signature" not in headers_of(headers)

    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook("whsec_" + "A" * 44).verify(body, headers_of(headers))
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(WEBHOOK_SECRET).verify(body.replace(esc.key.encode(), b"ESC-999999"), headers_of(headers))


def test_a_captured_request_replayed_later_is_refused(clock, mod, receiver, make_escalation):
    hook(mod, receiver.url)
    make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    [(headers, body)] = receiver.requests
    captured = headers_of(headers)
    verifier = Webhook(WEBHOOK_SECRET)
    verifier.verify(body, captured)

    clock.move_to(T0 + 6 * MINUTE)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verifier.verify(body, captured)
    # Nor can whoever captured it bring the timestamp up to date: the signature covers it.
    refreshed = {**captured, "webhook-timestamp": str(int((T0 + 6 * MINUTE).timestamp()))}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verifier.verify(body, refreshed)


def test_a_webhook_sent_again_after_a_crash_carries_the_same_id(
    clock, mod, receiver, make_escalation, monkeypatch, settings
):
    """The receiver accepted it, then the worker died before recording so: after the lease the next
    sweep sends it again, freshly signed, under the same webhook-id, which the receiver can drop."""
    settings.REMINDER_CLAIM_LEASE_SECONDS = 120
    hook(mod, receiver.url)
    esc = make_escalation(knowledge_at=DUE_SOON_NOW)

    def die(*args: Any, **kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(reminders, "_record", die)
        with pytest.raises(Killed):
            reminders.sweep()
    assert len(receiver.requests) == 1

    clock.move_to(T0 + 121 * SECOND)
    reminders.sweep()
    (first, _), (again, body) = receiver.requests
    assert first["webhook-id"] and first["webhook-id"] == again["webhook-id"]
    assert int(again["webhook-timestamp"]) == int(first["webhook-timestamp"]) + 121
    Webhook(WEBHOOK_SECRET).verify(body, headers_of(again))
    assert Delivery.objects.get(reminder__escalation=esc).sent_at == T0 + 121 * SECOND


def test_each_message_has_its_own_id(clock, mod, receiver, make_escalation, client_for):
    hook(mod, receiver.url)
    make_escalation(knowledge_at=DUE_SOON_NOW)
    make_escalation(knowledge_at=DUE_SOON_NOW)
    reminders.sweep()
    client = client_for(mod)
    client.post("/accounts/profile/test/webhook/")
    client.post("/accounts/profile/test/webhook/")
    ids = [headers["webhook-id"] for headers, _ in receiver.requests]
    assert len(ids) == 4 and len(set(ids)) == 4 and all(ids)


def test_a_new_secret_verifies_with_its_whsec_prefix(mod, receiver):
    from escalations.reminders.webhook_signing import new_secret

    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret) <= 64
    hook(mod, receiver.url, secret=secret)
    notify.send_webhook(mod, notify.test_message())
    [(headers, body)] = receiver.requests
    assert Webhook(secret).verify(body, headers_of(headers))["test"] is True
