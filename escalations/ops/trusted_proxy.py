"""X-Forwarded-Proto counts only when the TLS proxy in front of us sent it.

Under settings.prod Django reads `X-Forwarded-Proto: https` (SECURE_PROXY_SSL_HEADER) as "this
request came over HTTPS": secure cookies are sent back, the HTTPS redirect is skipped, CSRF checks
the https origin. Anyone who reaches the application server directly could send that header over
plain HTTP. So the header is removed from every request whose peer (REMOTE_ADDR) is not one of
TRUSTED_PROXIES (addresses or networks, e.g. "10.0.0.5" or "10.0.0.0/24"; by default the loopback
addresses, for a proxy on the same host), before SecurityMiddleware or anything else reads it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_PROTO = "HTTP_X_FORWARDED_PROTO"


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses and CIDR networks as written in TRUSTED_PROXIES; ImproperlyConfigured names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {entry!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)."
            ) from None
    return tuple(networks)


def is_trusted(peer: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class TrustedProxyMiddleware:
    """First of all: drop X-Forwarded-Proto unless the peer is a trusted proxy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.networks = parse_networks(settings.TRUSTED_PROXIES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if FORWARDED_PROTO in request.META and not is_trusted(request.META.get("REMOTE_ADDR") or "", self.networks):
            del request.META[FORWARDED_PROTO]
        return self.get_response(request)
