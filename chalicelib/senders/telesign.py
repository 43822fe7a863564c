"""TeleSign Messaging API (SMS): form-encoded POST /v1/messaging with basic auth customer_id:api_key.

TeleSign answers HTTP 200 with a status object; the decision is taken on TeleSign's status code, not only on
HTTP's: 290 is "in progress" (accepted), 200/203 delivered, the 2xx failure and blocking codes and the 1xxxx
request errors are permanent, 429 and 5xx are worth retrying.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from chalicelib.core.lifecycle import bound_to
from chalicelib.models.messages import SmsPayload
from chalicelib.platform.secrets import json_parameter
from chalicelib.platform.settings import get_settings
from chalicelib.senders import provider_call
from chalicelib.senders.outcomes import Accepted, Outcome, Permanent, Transient, parse_retry_after

IN_PROGRESS = {290, 291, 292, 295}
DELIVERED = {200, 203}
FAILED = {207, 210, 211, 220, 221}
BLOCKED = {229, 230, 237, 238}


def build_request(
    payload: SmsPayload, message_id: str, customer_id: str, api_key: str, attempt: int | None = None
) -> tuple[str, bytes, dict[str, str]]:
    base = get_settings().telesign_base_url.rstrip("/")
    fields = {
        "phone_number": payload.to.removeprefix("+"),  # TeleSign wants the digits, country code first
        "message": payload.body,
        "message_type": "ARN",  # alerts, reminders, notifications
        "external_id": message_id,
    }
    if payload.sender:
        fields["sender_id"] = payload.sender
    if payload.status_callback:
        # delivery reports: POST /webhooks/telesign/status, bound to this attempt
        callback = payload.status_callback
        fields["callback_url"] = bound_to(callback, attempt) if attempt is not None else callback
    return f"{base}/v1/messaging", urlencode(fields).encode("utf-8"), provider_call.form_headers(customer_id, api_key)


def interpret(status: int, body: bytes, retry_after: str | None) -> Outcome:
    data = provider_call.json_object(body)
    status_object, errors_list = data.get("status"), data.get("errors")
    state: dict[str, Any] = status_object if isinstance(status_object, dict) else {}
    code = state.get("code")
    description = state.get("description") or "unexpected answer"
    errors: list[Any] = errors_list if isinstance(errors_list, list) else []
    detail = "; ".join(str(e.get("description")) for e in errors if isinstance(e, dict) and e.get("description"))
    reason = f"TeleSign HTTP {status}, status {code}: {description}" + (f" ({detail})" if detail else "")
    if status == 429 or status >= 500:
        return Transient(reason=reason, code=str(code or status), retry_after=parse_retry_after(retry_after))
    reference = data.get("reference_id")
    if status == 200 and isinstance(code, int) and reference:
        if code in IN_PROGRESS:
            return Accepted(provider_message_id=str(reference), state="sent")
        if code in DELIVERED:
            return Accepted(provider_message_id=str(reference), state="delivered")
    if isinstance(code, int) and (code in FAILED or code in BLOCKED or code >= 10000):
        return Permanent(reason=reason, code=str(code))
    if 400 <= status < 500:
        return Permanent(reason=reason, code=str(code or status))
    return Transient(reason=reason, code=str(code or status))


def deliver(message_id: str, payload: SmsPayload, attempt: int | None = None) -> Outcome:
    settings = get_settings()
    credentials = json_parameter(settings.telesign_credentials_param)
    url, body, headers = build_request(payload, message_id, credentials["customer_id"], credentials["api_key"],
                                       attempt)
    return provider_call.call(url, body, headers, interpret)
