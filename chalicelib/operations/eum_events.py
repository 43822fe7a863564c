"""End User Messaging SMS delivery events, as EventBridge delivers them ("Text Message Delivery Status Updated",
source aws.sms-voice): each moves the message our `Context` names, as Twilio's status callbacks do.

The rule matches every SMS event of the account: one without our context (another application's message) is
skipped, and so is one whose record is gone; a bad event never raises, so EventBridge does not retry it forever.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.core.errors import ApiError
from chalicelib.core.lifecycle import attempt_named
from chalicelib.operations import provider_status
from chalicelib.platform.logs import log

SOURCE = "aws.sms-voice"
DETAIL_TYPE = "Text Message Delivery Status Updated"
PATTERN = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}


class TextEvent(BaseModel):
    """The event's `detail`, as far as we read it (AWS sends more: carrier, price, parts, ...)."""

    model_config = ConfigDict(extra="allow")

    eventType: str = Field(min_length=1)  # noqa: N815 - AWS's names
    messageId: str = Field(min_length=1)  # noqa: N815
    messageStatusDescription: str = ""  # noqa: N815
    context: dict[str, str] = Field(default_factory=dict)


def handle(detail: dict[str, Any]) -> str:
    """Returns what happened: updated, noted, duplicate, ignored, foreign or invalid."""
    try:
        event = TextEvent.model_validate(detail)
    except ValidationError as exc:
        log("eum.invalid_event", logging.WARNING, error=str(exc).splitlines()[0])
        return "invalid"
    message_id = event.context.get("message_id")
    if not message_id:
        return "foreign"
    try:
        return provider_status.apply_eum(message_id, event.messageId, event.eventType, event.messageStatusDescription,
                                         attempt_named(event.context.get("attempt")))
    except ApiError as exc:  # unknown message, or another messageId than the one it was sent as
        log("eum.event_refused", logging.WARNING, message_id=message_id, reason=exc.message)
        return "ignored"
