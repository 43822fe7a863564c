"""X-Twilio-Signature: HMAC-SHA1, keyed with the auth token, over the full URL followed by every POST
parameter's name and value, sorted by name (the algorithm of the official SDK's RequestValidator)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def compute(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Linear in the parameters (grouped once, joined once): a forged request with thousands of fields costs
    what its size costs, not its size squared."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    data = "".join([url, *(name + value for name in sorted(values) for value in sorted(values[name]))])
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
