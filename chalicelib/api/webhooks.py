"""Provider webhooks: Twilio's status callbacks and inbound messages (X-Twilio-Signature) and TeleSign's delivery
reports (its Authorization HMAC), each verified before anything is read."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

from chalice.app import Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import parse, reply, validate
from chalicelib.api.routing import Routes
from chalicelib.core import telesign_signature, twilio_signature
from chalicelib.core.errors import ApiError
from chalicelib.core.lifecycle import attempt_named
from chalicelib.operations import provider_status, replies
from chalicelib.platform.logs import log
from chalicelib.platform.secrets import json_parameter
from chalicelib.platform.settings import get_settings
from chalicelib.triggers import keyword_answers

routes = Routes(__name__)


STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SID = r"^(SM|MM)[0-9a-fA-F]{32}$"


class TwilioStatus(BaseModel):
    model_config = ConfigDict(extra="allow")  # Twilio sends many more fields

    MessageSid: str = Field(pattern=SID)
    MessageStatus: str = Field(min_length=1)
    ErrorCode: str | None = None


class TwilioInbound(BaseModel):
    model_config = ConfigDict(extra="allow")

    MessageSid: str = Field(pattern=SID)
    From: str = Field(min_length=1)
    To: str = Field(min_length=1)
    Body: str = ""


def _refused(path: str) -> None:
    """A callback whose signature does not verify: logged, and counted (metric WebhookRefused, alarmed), since
    a run of them means a wrong auth token in the stage's parameters, or someone forging callbacks."""
    from chalicelib.platform import metrics

    log("webhook.bad_signature", path=path)
    metrics.emit({"WebhookRefused": 1}, channel="webhook", path=path)


# What a provider's callback can be, checked before any signature is computed: Twilio's status callbacks and
# inbound messages carry a few dozen fields (an inbound MMS with ten media: about 60) in a few KB; TeleSign's
# report is a small JSON object.
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200
MAX_QUERY_FIELDS = 20


def _bounded(raw: bytes | None) -> bytes:
    body = raw or b""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"body: {len(body)} bytes, more than a provider callback's "
                       f"{MAX_BODY_BYTES}", [{"field": "body", "message": f"at most {MAX_BODY_BYTES} bytes"}])
    return body


def _urls(base_url: str, path: str, query: Mapping[str, str] | None) -> list[str]:
    """The URLs Twilio may have signed for this request. Twilio signs the webhook URL exactly as configured,
    query string included, but API Gateway hands us the query decoded, as a map: the spellings a configured
    URL can have (a space as + or %20, / and : escaped or not; the parameters in the order received or sorted)
    are each checked. A forger still needs the auth token for any of them."""
    root = base_url.rstrip("/") + path
    if not query:
        return [root]
    items = list(query.items())
    found: list[str] = []
    for ordered in (items, sorted(items)):
        for quote_via in (quote_plus, quote):
            for safe in ("", "/:@,"):
                url = f"{root}?{urlencode(ordered, quote_via=quote_via, safe=safe)}"
                if url not in found:
                    found.append(url)
    return found


def _verified(
    path: str, query: Mapping[str, str] | None, headers: Mapping[str, str], raw: bytes | None, base_url: str
) -> dict[str, str]:
    """The form parameters, if Twilio signed exactly this URL and these parameters with our auth token.
    `base_url`: where the request reached us (api/public_url.py), so the URL checked is the one Twilio called."""
    body = _bounded(raw)
    try:
        params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise ApiError(400, "validation_error", f"fields: more than {MAX_FIELDS} form fields (Twilio sends a few "
                       "dozen)", [{"field": "fields", "message": f"at most {MAX_FIELDS}"}]) from exc
    if len(query or {}) > MAX_QUERY_FIELDS:
        raise ApiError(400, "validation_error", f"query: more than {MAX_QUERY_FIELDS} parameters",
                       [{"field": "query", "message": f"at most {MAX_QUERY_FIELDS}"}])
    settings = get_settings()
    token = str(json_parameter(settings.twilio_credentials_param).get("auth_token", ""))
    signature = headers.get("x-twilio-signature")
    if not any(twilio_signature.valid(token, url, params, signature) for url in _urls(base_url, path, query)):
        _refused(path)
        raise ApiError(403, "forbidden", "X-Twilio-Signature is missing or does not match")
    return dict(params)


@routes.public("/webhooks/twilio/status", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
def twilio_status(
    query: Mapping[str, str] | None, headers: Mapping[str, str], raw: bytes | None, base_url: str
) -> Response:
    form = validate(TwilioStatus, _verified(STATUS_PATH, query, headers, raw, base_url))
    message_id = (query or {}).get("message_id")
    if not message_id:
        raise ApiError(
            400,
            "validation_error",
            "message_id: missing from the callback URL",
            [{"field": "message_id", "message": "missing from the callback URL"}],
        )
    result = provider_status.apply_twilio(message_id, form.MessageSid, form.MessageStatus, form.ErrorCode,
                                          _attempt(query))
    return reply(200, {"message_id": message_id, "result": result})


@routes.public("/webhooks/twilio/inbound", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
def twilio_inbound(
    query: Mapping[str, str] | None, headers: Mapping[str, str], raw: bytes | None, base_url: str
) -> Response:
    form = validate(TwilioInbound, _verified(INBOUND_PATH, query, headers, raw, base_url))
    result = replies.record_twilio_reply(form.MessageSid, form.From, form.To, form.Body)
    keyword_answers.answer(result, form.From, form.MessageSid)
    # An empty TwiML answer: our answer to a keyword, if any, goes through the message lifecycle.
    return Response(body=EMPTY_TWIML, status_code=200, headers={"Content-Type": "text/xml; charset=utf-8"})


class TeleSignStatus(BaseModel):
    model_config = ConfigDict(extra="allow")  # TeleSign sends more (submit_timestamp, errors, ...)

    code: int
    description: str = ""


class TeleSignReport(BaseModel):
    model_config = ConfigDict(extra="allow")

    reference_id: str = Field(min_length=1, max_length=64)
    external_id: str | None = Field(default=None, max_length=64, description="our message id, sent with the SMS")
    status: TeleSignStatus


def _attempt(query: Mapping[str, str] | None) -> int | None:
    """The attempt a callback URL is bound to (core/lifecycle.bound_to); None for URLs older than binding."""
    value = (query or {}).get("attempt")
    attempt = attempt_named(value)
    if value is not None and attempt is None:
        raise ApiError(400, "validation_error", "attempt: not an attempt number",
                       [{"field": "attempt", "message": "not an attempt number"}])
    return attempt


@routes.public("/webhooks/telesign/status", methods=["POST"], content_types=["application/json"])
def telesign_status(headers: Mapping[str, str], raw: bytes | None, query: Mapping[str, str] | None = None
                    ) -> Response:
    """A TeleSign delivery report for an SMS we sent with `callback_url` and `external_id` = our message id."""
    body = _bounded(raw)
    api_key = str(json_parameter(get_settings().telesign_credentials_param).get("api_key", ""))
    if not telesign_signature.valid(api_key, body, headers.get("authorization")):
        _refused("/webhooks/telesign/status")
        raise ApiError(403, "forbidden", "Authorization is missing or is not TeleSign's signature of this body")
    report = parse(TeleSignReport, body)
    if not report.external_id:
        raise ApiError(400, "validation_error", "external_id: missing (not an SMS this service sent)",
                       [{"field": "external_id", "message": "missing"}])
    result = provider_status.apply_telesign(report.external_id, report.reference_id, report.status.code,
                                            report.status.description, _attempt(query))
    return reply(200, {"message_id": report.external_id, "result": result})
