"""End User Messaging two-way SMS: what a person texts to one of our End User Messaging numbers, as the service
publishes it to the stack's SNS topic (delivered raw to the inbound-SMS queue). It joins the person's
conversation and feeds the consent list, as a Twilio inbound webhook does; End User Messaging answers its own
registered keywords itself.

Only End User Messaging may publish to the topic (its policy), so a message that reached the queue is trusted as
the provider's; one that does not parse is logged and dropped (retrying cannot fix it).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.operations import replies
from chalicelib.platform.logs import log

E164 = r"^\+[1-9][0-9]{6,14}$"


class TwoWaySms(BaseModel):
    """The documented payload (AWS End User Messaging SMS User Guide, two-way-sms-payload)."""

    model_config = ConfigDict(extra="allow")

    originationNumber: str = Field(pattern=E164)  # noqa: N815 - AWS's field names
    destinationNumber: str = Field(min_length=1, max_length=64)  # noqa: N815
    messageBody: str = Field(default="", max_length=10_000)  # noqa: N815
    inboundMessageId: str = Field(min_length=1, max_length=128)  # noqa: N815
    messageKeyword: str | None = None  # noqa: N815


def parse(body: str) -> TwoWaySms:
    """The payload, from a raw delivery or from an SNS envelope (a subscription without raw delivery)."""
    data: Any = json.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        data = json.loads(data["Message"])
    return TwoWaySms.model_validate(data)


def handle(records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    failures: list[dict[str, str]] = []
    for raw in records:
        try:
            message = parse(str(raw.get("body", "")))
        except (ValueError, ValidationError) as exc:
            log("eum_inbound.unreadable", logging.ERROR, sqs_message_id=raw.get("messageId"),
                error=f"{type(exc).__name__}: {str(exc)[:300]}")
            continue
        try:
            result = replies.record_reply("eum", message.inboundMessageId, message.originationNumber,
                                          message.destinationNumber, message.messageBody)
            log("eum_inbound.received", inbound_message_id=message.inboundMessageId, consent=result.kind)
        except Exception as exc:  # noqa: BLE001 - retried by SQS; its neighbours go on
            log("eum_inbound.failed", logging.ERROR, inbound_message_id=message.inboundMessageId,
                error=f"{type(exc).__name__}: {exc}")
            failures.append({"itemIdentifier": str(raw.get("messageId"))})
    return {"batchItemFailures": failures}
