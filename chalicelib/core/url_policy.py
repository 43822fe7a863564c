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


# IPv6 forms that carry an IPv4 address in their last 32 bits: IPv4-mapped, SIIT (RFC 2765), the NAT64
# well-known prefix (RFC 6052) and IPv4-compatible (deprecated, RFC 4291). Each is judged as that IPv4 address.
_LOW32_CARRIERS = tuple(
    ipaddress.ip_network(n) for n in ("::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "::/96")
)
# Local-use NAT64 (RFC 8215) translates to whatever the operator's network holds: never public.
_NEVER_PUBLIC = (ipaddress.ip_network("64:ff9b:1::/48"),)


def _is_public(address: str) -> bool:
    """Globally reachable only: `is_global` also rules out shared (100.64/10), documentation and other
    special-purpose ranges that `is_private` misses. An IPv6 transition address is judged by the IPv4 address
    it carries: mapped, SIIT, NAT64, IPv4-compatible (last 32 bits), 6to4 (bits 16-48) and Teredo (its server
    and client); local-use NAT64 is refused outright."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _NEVER_PUBLIC):
            return False
        if any(ip in network for network in _LOW32_CARRIERS):  # :: and ::1 become 0.0.0.0/0.0.0.1: refused
            return _is_public(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        if ip.sixtofour is not None and not _is_public(str(ip.sixtofour)):
            return False
        if ip.teredo is not None and not all(_is_public(str(v4)) for v4 in ip.teredo):
            return False
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_insecure: bool) -> str:
    """Static check at save time (and again at send time): form, port, credentials, scheme, literal addresses."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise EndpointRefused("endpoint_url must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise EndpointRefused("endpoint_url must be an absolute http(s) URL")
    try:
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused("endpoint_url has a port outside 1-65535") from exc
    if port == 0:
        raise EndpointRefused("endpoint_url has a port outside 1-65535")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused(
            "endpoint_url must not carry credentials (user:password@): they would be sent in clear in every "
            "WSDL and listing; authenticate with client_certificate (mTLS) or the SessionId identity token"
        )
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
