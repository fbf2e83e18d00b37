"""Which IP addresses a webhook may be sent to: public ones only. Pure: no lookups, no settings.

`ipaddress`'s `is_global` alone is not enough: depending on the Python release it calls NAT64
(64:ff9b::/96), 6to4 (2002::/16), IPv4-compatible (::/96) and site-local (fec0::/10) addresses global,
and multicast too, while each of those can lead to 127.0.0.1 or a private network. So an IPv6
address that carries an IPv4 address is judged by that IPv4 address, the transition and special
ranges below are refused outright, and what is left must be global, unicast and not reserved.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# One answer for every address refused, and for a name that does not resolve: what a person learns
# from it says nothing about which internal names exist.
REFUSED_MESSAGE = "that address can't receive webhooks (it must be a public https address)"

# Refused whatever `is_global` says in this Python release (IANA special-purpose registries).
REFUSED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments, some marked global (192.0.0.9, 192.0.0.10)
        "192.0.2.0/24",
        "192.88.99.0/24",  # the retired 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
REFUSED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",  # IPv4-compatible (deprecated), with :: and ::1
        "64:ff9b:1::/48",  # local-use NAT64: where it leads is the local network's choice
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) among them
        "2001:db8::/32",
        "3fff::/20",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) or 6to4 (2002::/16)
    address leads to; None for any other IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _public_v4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not address.is_multicast and not any(address in net for net in REFUSED_V4)


def _public_v6(address: ipaddress.IPv6Address) -> bool:
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_site_local
        and not any(address in net for net in REFUSED_V6)
    )


def is_public(address: str | IPAddress) -> bool:
    """True when `address` (text as getaddrinfo gives it, a zone suffix allowed, or an address
    object) is globally routable, judging an IPv6 address that carries an IPv4 one by that IPv4
    address. False for anything that is not an IP address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return False  # a zone index only means something on a local link
        inner = embedded_ipv4(ip)
        return _public_v4(inner) if inner is not None else _public_v6(ip)
    return _public_v4(ip)


def is_loopback(address: str | IPAddress) -> bool:
    """127.0.0.0/8 or ::1, written as such (not hidden in another form)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
