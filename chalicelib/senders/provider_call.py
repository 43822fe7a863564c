"""One provider API call, as every form-posting sender makes it: bounded timeout and answer size, transport
errors as transient outcomes, the answer read by the provider's own `interpret`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from chalicelib.platform.http_client import TransportError, post
from chalicelib.platform.settings import get_settings
from chalicelib.senders.outcomes import Outcome, Transient

PROVIDER_TIMEOUT_SECONDS = 15.0

Interpret = Callable[[int, bytes, str | None], Outcome]


def form_headers(user: str, secret: str) -> dict[str, str]:
    """HTTP basic auth and a UTF-8 form body, answered in JSON: what Twilio and TeleSign both take."""
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {
        "Authorization": f"Basic {token}",
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Accept": "application/json",
    }


def json_object(body: bytes) -> dict[str, Any]:
    """A provider's JSON answer, or {} when it is not a JSON object (an HTML error page, nothing at all)."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


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
