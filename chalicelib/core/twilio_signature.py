"""X-Twilio-Signature: HMAC-SHA1, keyed with the auth token, over the full URL followed by every POST
parameter's name and value, sorted by name (the algorithm of the official SDK's RequestValidator)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def compute(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    pairs = list(params)
    data = url
    for name in sorted({name for name, _ in pairs}):
        for value in sorted({v for n, v in pairs if n == name}):
            data += name + value
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """Twilio may sign the URL with or without the scheme's default port, as the SDK's validator allows."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or parts.hostname is None:
        return [url]
    host = parts.hostname
    if parts.port is None:
        with_port = urlunsplit(parts._replace(netloc=f"{host}:{default}"))
        return [url, with_port]
    if parts.port == default:
        return [url, urlunsplit(parts._replace(netloc=host))]
    return [url]


def valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    if not signature or not auth_token:
        return False
    pairs = list(params)
    return any(
        hmac.compare_digest(compute(auth_token, candidate, pairs).encode(), signature.encode())
        for candidate in _port_variants(url)
    )
