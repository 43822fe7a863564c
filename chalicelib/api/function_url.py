"""The provider webhooks behind a Lambda function URL: a callback through API Gateway REST costs
$3.50 per million requests; through a function URL it costs only the function's own invocation.

The same handlers and the same signature checks as the API's `/webhooks/...` routes (api/webhooks.py), reached
at the same paths under the function URL. A function URL hands over a payload-format-2.0 event: the path and
the query as sent (`rawPath`, `rawQueryString`), the body base64-encoded unless it is text, and its own host in
`requestContext.domainName` — the URL the provider called and signed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from chalice.app import Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api import webhooks
from chalicelib.api.http import endpoint, reply

TELESIGN_PATH = "/webhooks/telesign/status"


class HttpContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    method: str = "GET"


class RequestContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    domainName: str = Field(min_length=1)
    http: HttpContext = Field(default_factory=HttpContext)


class FunctionUrlEvent(BaseModel):
    """What this module reads of a function URL's event (payload format 2.0)."""

    model_config = ConfigDict(extra="allow")

    rawPath: str = "/"
    rawQueryString: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    isBase64Encoded: bool = False
    requestContext: RequestContext


Handler = Callable[[Mapping[str, str], Mapping[str, str], bytes | None, str], Response]


def _telesign(query: Mapping[str, str], headers: Mapping[str, str], raw: bytes | None, base_url: str) -> Response:
    return webhooks.telesign_status(headers, raw, query)


ROUTES: dict[str, Handler] = {
    webhooks.STATUS_PATH: webhooks.twilio_status,
    webhooks.INBOUND_PATH: webhooks.twilio_inbound,
    TELESIGN_PATH: _telesign,
}


def _body(event: FunctionUrlEvent) -> bytes | None:
    if event.body is None:
        return None
    if not event.isBase64Encoded:
        return event.body.encode("utf-8")
    try:
        return base64.b64decode(event.body, validate=True)
    except (binascii.Error, ValueError):
        return None


@endpoint
def _dispatch(event: FunctionUrlEvent) -> Response:
    handler = ROUTES.get(event.rawPath.rstrip("/") or "/")
    if handler is None:
        return reply(404, {"error": "not_found", "message": f"no webhook at {event.rawPath}"})
    if event.requestContext.http.method.upper() != "POST":
        return reply(405, {"error": "method_not_allowed", "message": "webhooks take POST"}, {"Allow": "POST"})
    query = dict(parse_qsl(event.rawQueryString, keep_blank_values=True))
    headers = {name.lower(): value for name, value in event.headers.items()}
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    return handler(query, headers, _body(event), f"{scheme}://{event.requestContext.domainName}")


def handle(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One function URL request in, one function URL response out (statusCode, headers, body)."""
    try:
        event = FunctionUrlEvent.model_validate(raw)
    except ValueError:
        response = reply(400, {"error": "validation_error", "message": "not a function URL request"})
    else:
        response = _dispatch(event)
    body = response.body
    text = body if isinstance(body, str) else json.dumps(body)
    return {"statusCode": response.status_code, "headers": dict(response.headers), "body": text}
