"""JSON endpoint delivery as Standard Webhooks asks: signed per attempt, only a 2xx acknowledges.

A 3xx is a failure and is not followed (a redirect must not carry a signed body elsewhere); 410 Gone is a
permanent failure (the partner retired the endpoint: retried only by an operator); 429, 502 and 504 wait at
least their Retry-After; anything else is retried with the definition's backoff. The request's whole deadline
is at most 30 s (the spec asks for 15 to 30).
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.core import standard_webhooks
from chalicelib.core.url_policy import Resolver, system_resolver
from chalicelib.models.messages import SoapPayload
from chalicelib.platform.http_client import HttpResponse
from chalicelib.platform.secrets import SecretMissing
from chalicelib.platform.settings import get_settings
from chalicelib.senders.outcomes import Accepted, Outcome, Permanent, Transient, parse_retry_after
from chalicelib.senders.soap import post_to_endpoint
from chalicelib.stores import signing_secrets

TIMEOUT_SECONDS = 30.0
THROTTLED = {429, 502, 504}


def interpret(answer: HttpResponse) -> Outcome:
    status = answer.status
    if 200 <= status < 300:
        return Accepted(provider_message_id=None, state="delivered")
    if 300 <= status < 400:
        where = answer.headers.get("location", "")[:200]
        return Transient(reason=f"HTTP {status}: redirect to {where or 'nowhere'} not followed", code=str(status))
    if status == 410:
        return Permanent(reason="HTTP 410: the endpoint is gone (retry once the partner restores it)",
                         code="endpoint_gone")
    retry_after = parse_retry_after(answer.headers.get("retry-after")) if status in THROTTLED else None
    return Transient(reason=f"HTTP {status}: {answer.body[:200].decode('utf-8', 'replace')}", code=str(status),
                     retry_after=retry_after)


def deliver(message_id: str, definition_id: str, payload: SoapPayload, now: datetime, *,
            resolve: Resolver = system_resolver) -> Outcome:
    try:
        in_force = signing_secrets.in_force(definition_id, now)
    except SecretMissing:
        in_force = []
    if not in_force:
        return Permanent(reason=f"no signing secret for definition {definition_id} "
                                "(POST /outbound-messages/{id}/rotate-secret makes one)", code="signing_secret")
    body = payload.envelope.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "Outbound-Webhooks/1.0",
               **standard_webhooks.headers(in_force, message_id, int(now.timestamp()), body)}
    timeout = min(get_settings().http_timeout_seconds, TIMEOUT_SECONDS)
    answer = post_to_endpoint(payload, body, headers, timeout=timeout, resolve=resolve)
    return interpret(answer) if isinstance(answer, HttpResponse) else answer
