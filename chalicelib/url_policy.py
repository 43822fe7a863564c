"""Which endpoint URLs we may call: HTTPS only and public addresses only, unless the stage allows it."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# host, port -> the addresses to connect to, in preference order
Resolver = Callable[[str, int], list[str]]


class EndpointRefused(ValueError):
    pass


class Unresolvable(Exception):
    """DNS gave no answer. Not a policy decision: the partner's DNS may be back later, so it is retried."""


@dataclass(frozen=True)
class PinnedTarget:
    """An endpoint with the addresses it was vetted at: the connection goes to these and nowhere else,
    so a second DNS answer (rebinding) can never reach a private address."""

    url: str
    addresses: tuple[str, ...]


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _is_public(address: str) -> bool:
    """Globally reachable only: `is_global` also rules out shared (100.64/10), documentation and other
    special-purpose ranges that `is_private` misses. An IPv4 address carried inside IPv6 (mapped, or
    the NAT64 prefix) is judged as the IPv4 address it reaches."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _is_public(str(ip.ipv4_mapped))
        if ip in _NAT64:
            return _is_public(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_insecure: bool) -> str:
    """Static check at save time: scheme, host, and literal addresses."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise EndpointRefused("endpoint_url must be an absolute http(s) URL")
    if allow_insecure:
        return url
    if parts.scheme != "https":
        raise EndpointRefused("endpoint_url must use HTTPS on this stage")
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        raise EndpointRefused("endpoint_url must not point at a loopback host")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return url
    if not _is_public(str(literal)):
        raise EndpointRefused("endpoint_url must not point at a private, loopback or link-local address")
    return url


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def pin(url: str, *, allow_insecure: bool, resolve: Resolver = system_resolver) -> PinnedTarget:
    """At send time: resolve once, refuse if any answer is non-public (outside local), and hand back the
    vetted addresses for the connection to use. Resolving here and again in the HTTP client would leave
    a window where the name points elsewhere."""
    check_url(url, allow_insecure=allow_insecure)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            raise Unresolvable(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise Unresolvable(f"{host} resolves to no address")
    if not allow_insecure and not all(_is_public(address) for address in addresses):
        raise EndpointRefused(f"{host} resolves to a non-public address")
    return PinnedTarget(url=url, addresses=tuple(addresses))
