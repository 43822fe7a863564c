"""boto3 clients, created lazily once per container (never at import: moto or the region may not be set yet).

`AWS_ENDPOINT_URL` (honoured by botocore itself) points every client at moto's server locally; in AWS it is
unset. One code path either way.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_session_lock = threading.Lock()
_clients: dict[str, Any] = {}
_session: Any = None


def session() -> Any:
    """One session per container, created once even when threads race for it (event hooks registered on it, as
    the benchmarks do, then see every client)."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                import boto3  # deferred: keeps cold-start import of app.py light

                _session = boto3.session.Session()
    return _session


def _cached(key: str, service: str, endpoint_url: str | None = None, **config: Any) -> Any:
    """One client per key and container, created once even when threads race for it."""
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            from botocore.config import Config

            settings = Config(connect_timeout=5, max_pool_connections=20, **config)
            _clients[key] = session().client(service, config=settings, endpoint_url=endpoint_url)
        return _clients[key]


def client(service: str) -> Any:
    return _cached(service, service, read_timeout=20, retries={"mode": "standard", "max_attempts": 4})


def provider_client(service: str, timeout: float, endpoint_url: str = "") -> Any:
    """A client for an AWS service we *send through* (End User Messaging): one attempt per call, bounded like our
    HTTP providers. botocore's own retry could repeat a send whose answer was lost; our pipeline's backoff decides
    instead, as for every provider. `endpoint_url`: a stage's override, as our HTTP providers' base URLs are."""
    return _cached(f"provider:{service}:{endpoint_url}", service, endpoint_url or None, read_timeout=timeout,
                   retries={"mode": "standard", "total_max_attempts": 1})


def reset() -> None:
    """Drop cached clients (the environment changed: tests, the local runtime)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


def error_code(exc: Exception) -> str | None:
    """The AWS error code of a botocore ClientError, None for anything else."""
    code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
    return str(code) if code else None


def is_conditional_failure(exc: Exception) -> bool:
    return error_code(exc) in {"ConditionalCheckFailedException", "TransactionCanceledException"}
