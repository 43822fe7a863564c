"""What a provider's delivery report does to a message record (Twilio status callbacks)."""

from __future__ import annotations

import logging

from chalicelib.core import clock
from chalicelib.core.errors import ApiError, not_found
from chalicelib.models.messages import MessageState, QueueBody
from chalicelib.platform import metrics
from chalicelib.platform.logs import log
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues

# Twilio MessageStatus -> our state; the others (queued, sending, sent, accepted, ...) change nothing.
TWILIO_FINAL = {
    "delivered": MessageState.delivered,
    "read": MessageState.delivered,  # WhatsApp read receipts come after delivered
    "undelivered": MessageState.undelivered,
    "failed": MessageState.failed,
}
FROM = frozenset({MessageState.sent, MessageState.sending})


def apply_twilio(message_id: str, sid: str, status: str, error_code: str | None) -> str:
    """Returns what happened: "updated", "noted" (no state change), "duplicate" or "ignored"."""
    record = message_store.get(message_id)
    if record is None:
        raise not_found("message", message_id)
    if record.provider_message_id and record.provider_message_id != sid:
        raise ApiError(409, "conflict", f"MessageSid {sid} is not the message {message_id} was sent as")
    target = TWILIO_FINAL.get(status)
    if target is None:
        if record.state in FROM:
            message_store.set_fields(message_id, provider_status=status)
        log("message.provider_status", message_id=message_id, status=status, state=record.state.value)
        return "noted"
    reason = f"Twilio reported {status}" + (f" (ErrorCode {error_code})" if error_code else "")
    fields: dict[str, str] = {"provider_status": status}
    if target != MessageState.delivered:
        fields.update(last_error=reason, error_code=error_code or status)
    now = clock.now()
    try:
        updated = message_store.move(message_id, target, now, now, reason, sources=FROM, **fields)
    except message_store.Conflict as conflict:
        current = conflict.current
        outcome = "duplicate" if current is not None and current.state == target else "ignored"
        log(
            "message.provider_status_" + outcome,
            message_id=message_id,
            status=status,
            state=current.state.value if current else None,
        )
        return outcome
    level = logging.INFO if target == MessageState.delivered else logging.WARNING
    log(
        "message.provider_report",
        level,
        message_id=message_id,
        channel=updated.channel,
        state=target.value,
        code=error_code,
    )
    if target != MessageState.delivered:
        queues.dead_letter(updated.channel, QueueBody(message_id=message_id, attempt=updated.attempts), reason)
        metrics.emit({"Undelivered" if target == MessageState.undelivered else "Failed": 1},
                     channel=updated.channel, message_id=message_id)
    else:
        metrics.reached("Delivered", channel=updated.channel, message_id=message_id, created_at=updated.created_at,
                        now=now)
    return "updated"
