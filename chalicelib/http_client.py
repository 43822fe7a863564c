"""Outbound HTTP for senders: timeouts on every request and a cap on how much of an answer we read."""

from __future__ import annotations

from dataclasses import dataclass, field

import urllib3

_pool = urllib3.PoolManager(num_pools=20, maxsize=10, retries=False)


class TransportError(Exception):
    """No usable HTTP answer: connection refused or dropped, timeout, oversized answer."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    max_bytes: int,
) -> HttpResponse:
    try:
        response = _pool.request(
            "POST",
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
