"""Outbound HTTP for senders: a deadline on every whole request and a cap on how much of an answer we read.

urllib3's read timeout bounds each socket read, so a server trickling one byte a second keeps a request alive
for as long as it likes. Every request here also has a whole-request deadline: a timer shuts the connection's
socket down when it passes, whatever phase the answer is in (headers or body).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import BaseHTTPResponse

_pools: dict[tuple[str | None, str | None, str | None], urllib3.PoolManager] = {}
_request = threading.local()  # the deadline of the request this thread is making, and its timer


def _abort(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing left to stop
            sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """Arms the calling request's deadline on the connection that waits for the answer."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_request, "deadline", None)
        if deadline is not None:
            timer = threading.Timer(max(0.0, deadline - time.monotonic()), _abort, (self,))
            timer.daemon = True
            timer.start()
            _request.timer = timer
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _pool(cert_file: str | None, key_file: str | None, ca_certs: str | None) -> urllib3.PoolManager:
    """One pool manager per client identity, so connections made with one certificate are never reused
    for a request that must present another (or none)."""
    key = (cert_file, key_file, ca_certs)
    if key not in _pools:
        manager = urllib3.PoolManager(
            num_pools=20, maxsize=10, retries=False, cert_file=cert_file, key_file=key_file, ca_certs=ca_certs
        )
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        _pools[key] = manager
    return _pools[key]


class TransportError(Exception):
    """No usable HTTP answer: connection refused or dropped, timeout or deadline, oversized answer."""


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
    addresses: Sequence[str] | None = None,
) -> HttpResponse:
    """`timeout` bounds the whole request, connect to last byte of the answer. `addresses`: connect only to
    these (vetted) IPs, in order, and never resolve the URL's host again; TLS still verifies the certificate
    against the host name, which is also sent as SNI and Host."""
    manager = _pool(cert_file, key_file, ca_certs)
    deadline = time.monotonic() + timeout
    options: dict[str, Any] = {
        "body": body,
        "timeout": urllib3.Timeout(connect=min(10.0, timeout), read=timeout),
        "preload_content": False,
        "redirect": False,
    }
    _request.deadline, _request.timer = deadline, None
    try:
        if addresses is None:
            response = manager.request(method, url, headers=headers, **options)
        else:
            response = _pinned(manager, method, url, headers, addresses, options)
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
        if time.monotonic() >= deadline:
            raise TransportError(f"no complete answer within the {timeout:g} s deadline") from exc
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        timer = getattr(_request, "timer", None)
        if timer is not None:
            timer.cancel()
        _request.deadline, _request.timer = None, None
    if time.monotonic() >= deadline:  # the socket was shut as the last bytes arrived: still past the deadline
        raise TransportError(f"no complete answer within the {timeout:g} s deadline")
    return HttpResponse(
        status=response.status,
        body=b"".join(chunks),
        headers={k.lower(): v for k, v in response.headers.items()},
    )


def _pinned(
    manager: urllib3.PoolManager,
    method: str,
    url: str,
    headers: dict[str, str],
    addresses: Sequence[str],
    options: dict[str, Any],
) -> BaseHTTPResponse:
    parts = urlsplit(url)
    host = parts.hostname or ""
    scheme = parts.scheme
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The pool key includes server_hostname, so a pool made for one name is never reused for another.
    tls = {"server_hostname": host, "assert_hostname": host} if scheme == "https" else None
    sent = {**headers, "Host": parts.netloc.rpartition("@")[2]}
    if not addresses:
        raise TransportError(f"no address to connect to for {host}")

    def open_at(address: str) -> BaseHTTPResponse:
        pool = manager.connection_from_host(address, port=port, scheme=scheme, pool_kwargs=tls)
        return pool.urlopen(method, target, headers=sent, retries=False, **options)

    for address in addresses[:-1]:
        try:
            return open_at(address)
        except urllib3.exceptions.ConnectTimeoutError:
            continue  # nothing was sent on a connect failure (NewConnectionError is one): the next address is safe
    return open_at(addresses[-1])
