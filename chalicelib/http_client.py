"""Outbound HTTP for senders: timeouts on every request and a cap on how much of an answer we read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import urllib3

_pools: dict[tuple[str | None, str | None, str | None], urllib3.PoolManager] = {}


def _pool(cert_file: str | None, key_file: str | None, ca_certs: str | None) -> urllib3.PoolManager:
    """One pool manager per client identity, so connections made with one certificate are never reused
    for a request that must present another (or none)."""
    key = (cert_file, key_file, ca_certs)
    if key not in _pools:
        _pools[key] = urllib3.PoolManager(
            num_pools=20, maxsize=10, retries=False, cert_file=cert_file, key_file=key_file, ca_certs=ca_certs
        )
    return _pools[key]


class TransportError(Exception):
    """No usable HTTP answer: connection refused or dropped, timeout, oversized answer."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def post(url: str, body: bytes, headers: dict[str, str], **options: Any) -> HttpResponse:
    return request("POST", url, body, headers, **options)


def request(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    timeout: float,
    max_bytes: int,
    cert_file: str | None = None,
    key_file: str | None = None,
    ca_certs: str | None = None,
) -> HttpResponse:
    try:
        response = _pool(cert_file, key_file, ca_certs).request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=min(10.0, timeout), read=timeout),
            preload_content=False,
            redirect=False,
        )
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.stream(65536):
                size += len(chunk)
                if size > max_bytes:
                    raise TransportError(f"answer larger than {max_bytes} bytes")
                chunks.append(chunk)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc
    return HttpResponse(
        status=response.status,
        body=b"".join(chunks),
        headers={k.lower(): v for k, v in response.headers.items()},
    )
