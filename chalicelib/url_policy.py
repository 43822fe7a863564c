"""Which endpoint URLs we may call: HTTPS only and public addresses only, unless the stage allows it."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class EndpointRefused(ValueError):
    pass


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (ip.version == 6 and ip.ipv4_mapped is not None and not _is_public(str(ip.ipv4_mapped)))
    )


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


def check_resolved(url: str, *, allow_insecure: bool) -> None:
    """At send time, after DNS: a public name may resolve to a private address (SSRF)."""
    check_url(url, allow_insecure=allow_insecure)
    if allow_insecure:
        return
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise EndpointRefused(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        if not _is_public(str(info[4][0])):
            raise EndpointRefused(f"{parts.hostname} resolves to a non-public address")
