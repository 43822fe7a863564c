"""One provider API call, as every form-posting sender makes it: bounded timeout and answer size, transport
errors as transient outcomes, the answer read by the provider's own `interpret`."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.http_client import TransportError, post
from chalicelib.senders.outcomes import Outcome, Transient
from chalicelib.settings import get_settings

PROVIDER_TIMEOUT_SECONDS = 15.0

Interpret = Callable[[int, bytes, str | None], Outcome]


def call(url: str, body: bytes, headers: dict[str, str], interpret: Interpret) -> Outcome:
    settings = get_settings()
    try:
        answer = post(
            url,
            body,
            headers,
            timeout=min(settings.http_timeout_seconds, PROVIDER_TIMEOUT_SECONDS),
            max_bytes=settings.http_max_response_bytes,
        )
    except TransportError as exc:
        return Transient(reason=str(exc), code="transport")
    return interpret(answer.status, answer.body, answer.headers.get("retry-after"))
