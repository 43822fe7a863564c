"""What a provider's delivery report does to a message record (Twilio status callbacks, TeleSign callbacks)."""

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
# TeleSign delivery codes (its "Transaction Status Codes"): 200 delivered to the handset; 203 delivered to the
# gateway (no final word: noted); failures and blocks are final. Others (290 in progress, 291-295 queued or
# sent) change nothing.
TELESIGN_FINAL = {200: MessageState.delivered, **dict.fromkeys((207, 210, 211, 220, 221), MessageState.failed),
                  **dict.fromkeys((229, 230, 237, 238), MessageState.failed)}


# End User Messaging SMS event types (its "Text Message Delivery Status Updated" events): delivered, or a final
# failure; TEXT_SUCCESSFUL (the carrier took it), the pending/queued ones and TEXT_UNKNOWN (no receipt within 72
# hours) are noted only.
EUM_FINAL = {
    "TEXT_DELIVERED": MessageState.delivered,
    **dict.fromkeys(("TEXT_INVALID", "TEXT_INVALID_MESSAGE", "TEXT_UNREACHABLE", "TEXT_CARRIER_UNREACHABLE",
                     "TEXT_BLOCKED", "TEXT_CARRIER_BLOCKED", "TEXT_SPAM", "TEXT_TTL_EXPIRED", "TEXT_PROTECT_BLOCKED"),
                    MessageState.failed),
}


def apply_eum(message_id: str, provider_message_id: str, event_type: str, description: str) -> str:
    """An End User Messaging delivery event; the same answers as apply_twilio."""
    reason = f"End User Messaging reported {event_type}" + (f": {description}" if description else "")
    return _apply(message_id, "messageId", provider_message_id, event_type, EUM_FINAL.get(event_type), reason,
                  event_type)


def apply_twilio(message_id: str, sid: str, status: str, error_code: str | None) -> str:
    """Returns what happened: "updated", "noted" (no state change), "duplicate" or "ignored"."""
    reason = f"Twilio reported {status}" + (f" (ErrorCode {error_code})" if error_code else "")
    return _apply(message_id, "MessageSid", sid, status, TWILIO_FINAL.get(status), reason, error_code or status)


def apply_telesign(message_id: str, reference_id: str, code: int, description: str) -> str:
    """A TeleSign delivery report; the same answers as apply_twilio."""
    reason = f"TeleSign reported {code} {description}".strip()
    return _apply(message_id, "reference_id", reference_id, str(code), TELESIGN_FINAL.get(code), reason, str(code))


def _apply(message_id: str, id_name: str, provider_id: str, status: str, target: MessageState | None, reason: str,
           error_code: str) -> str:
    record = message_store.get(message_id, consistent=False)  # a stale read only makes the move below conflict
    if record is None:
        raise not_found("message", message_id)
    if record.provider_message_id and record.provider_message_id != provider_id:
        raise ApiError(409, "conflict", f"{id_name} {provider_id} is not the message {message_id} was sent as")
    if target is None:
        # `queued`, `sending`, `sent` after our own `sent`: nothing a user needs changes, so nothing is written
        # (two callbacks per SMS, one of them non-final: a write each was a third of an SMS's DynamoDB cost).
        log("message.provider_status", message_id=message_id, status=status, state=record.state.value)
        return "noted"
    fields: dict[str, str] = {"provider_status": status}
    if target != MessageState.delivered:
        fields.update(last_error=reason, error_code=error_code)
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
