"""AWS End User Messaging SMS (`pinpoint-sms-voice-v2`, what remains of Pinpoint's SMS after its end of support):
`SendTextMessage` through boto3's own client, our message id in `Context` so delivery events find the record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.core import clock
from chalicelib.models.messages import SmsPayload
from chalicelib.platform import aws
from chalicelib.platform.settings import get_settings
from chalicelib.senders.outcomes import Accepted, Outcome, Permanent, Transient
from chalicelib.senders.provider_call import PROVIDER_TIMEOUT_SECONDS

TTL_RANGE = (5, 259_200)  # SendTextMessage's TimeToLive bounds, seconds
# Worth another try later: AWS throttling or failing, and the spend/daily quotas an operator can raise.
TRANSIENT = {"ThrottlingException", "InternalServerException", "ServiceQuotaExceededException"}
OPTED_OUT = "DESTINATION_PHONE_NUMBER_OPTED_OUT"


def request(message_id: str, payload: SmsPayload, deadline: datetime, attempt: int | None = None
            ) -> dict[str, Any]:
    """SendTextMessage's parameters: the deadline bounds how long AWS may keep trying (TimeToLive)."""
    settings = get_settings()
    remaining = int((deadline - clock.now()).total_seconds())
    params: dict[str, Any] = {
        "DestinationPhoneNumber": payload.to,
        "OriginationIdentity": payload.sender,
        "MessageBody": payload.body,
        "MessageType": "TRANSACTIONAL",
        "TimeToLive": max(TTL_RANGE[0], min(TTL_RANGE[1], remaining)),
        # Delivery events carry the Context back: the message and the attempt they report on.
        "Context": {"message_id": message_id, **({"attempt": str(attempt)} if attempt is not None else {})},
    }
    if settings.eum_configuration_set:
        params["ConfigurationSetName"] = settings.eum_configuration_set
    if settings.eum_max_price:
        params["MaxPrice"] = settings.eum_max_price
    return params


def interpret_error(exc: Exception) -> Outcome:
    code = aws.error_code(exc)
    if code is None:  # no answer: connection refused, timed out
        return Transient(reason=f"End User Messaging unreachable: {type(exc).__name__}: {exc}", code="transport")
    error = getattr(exc, "response", {}) or {}
    reason_code = str(error.get("Reason") or error.get("Error", {}).get("Reason") or "")
    message = str(error.get("Error", {}).get("Message") or error.get("message") or "")
    reason = f"End User Messaging {code}" + (f" {reason_code}" if reason_code else "") + f": {message}"
    full_code = f"{code}:{reason_code}" if reason_code else code
    if code in TRANSIENT:
        return Transient(reason=reason, code=full_code)
    return Permanent(reason=reason, code=full_code, opted_out=reason_code == OPTED_OUT)


def deliver(message_id: str, payload: SmsPayload, deadline: datetime, attempt: int | None = None) -> Outcome:
    settings = get_settings()
    timeout = min(settings.http_timeout_seconds, PROVIDER_TIMEOUT_SECONDS)
    client = aws.provider_client("pinpoint-sms-voice-v2", timeout, settings.eum_base_url)
    try:
        answer = client.send_text_message(**request(message_id, payload, deadline, attempt))
    except Exception as exc:  # noqa: BLE001 - botocore's errors, each read by interpret_error
        return interpret_error(exc)
    return Accepted(provider_message_id=str(answer["MessageId"]), state="sent")
