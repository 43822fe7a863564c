"""What a provider's delivery report does to a message record (Twilio status callbacks, TeleSign callbacks)."""

from __future__ import annotations

import logging

from chalicelib.core import clock, fallback, lifecycle
from chalicelib.core.errors import not_found
from chalicelib.models.messages import MessageRecord, MessageState
from chalicelib.platform import metrics
from chalicelib.platform.logs import log
from chalicelib.stores import messages as message_store
from chalicelib.stores import transitions

# Twilio MessageStatus -> our state; the others (queued, sending, sent, accepted, ...) change nothing.
TWILIO_FINAL = {
    "delivered": MessageState.delivered,
    "read": MessageState.delivered,  # WhatsApp read receipts come after delivered
    "undelivered": MessageState.undelivered,
    "failed": MessageState.failed,
}
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


def apply_eum(message_id: str, provider_message_id: str, event_type: str, description: str,
              attempt: int | None = None) -> str:
    """An End User Messaging delivery event; the same answers as apply_twilio."""
    reason = f"End User Messaging reported {event_type}" + (f": {description}" if description else "")
    return _apply(message_id, "eum", attempt, provider_message_id, event_type, EUM_FINAL.get(event_type), reason,
                  event_type)


def apply_twilio(message_id: str, sid: str, status: str, error_code: str | None, attempt: int | None = None) -> str:
    """Returns what happened: "updated", "noted" (no state change), "duplicate" or "ignored" (the report does
    not answer this message's attempt: another provider's, an older attempt's, another provider id)."""
    reason = f"Twilio reported {status}" + (f" (ErrorCode {error_code})" if error_code else "")
    return _apply(message_id, "twilio", attempt, sid, status, TWILIO_FINAL.get(status), reason, error_code or status)


def apply_telesign(message_id: str, reference_id: str, code: int, description: str, attempt: int | None = None
                   ) -> str:
    """A TeleSign delivery report; the same answers as apply_twilio."""
    reason = f"TeleSign reported {code} {description}".strip()
    return _apply(message_id, "telesign", attempt, reference_id, str(code), TELESIGN_FINAL.get(code), reason,
                  str(code))


def _apply(message_id: str, provider: str, attempt: int | None, provider_id: str, status: str,
           target: MessageState | None, reason: str, error_code: str) -> str:
    record = message_store.get(message_id, consistent=False)  # a stale read only makes the write conflict
    if record is None:
        raise not_found("message", message_id)
    event = lifecycle.Reported(provider, attempt, provider_id, status, target, reason, error_code, clock.now())
    result = transitions.run(record, event)
    verdict = result.decision.verdict
    if verdict == "note" and target is None:
        # `queued`, `sending`, `sent` after our own `sent`: nothing a user needs changes, so nothing is written
        # (two callbacks per SMS, one of them non-final: a write each was a third of an SMS's DynamoDB cost).
        log("message.provider_status", message_id=message_id, status=status, state=record.state.value)
        return "noted"
    if verdict in {"ignore", "note"}:
        log("message.provider_status_ignored", message_id=message_id, status=status, provider=provider,
            attempt=attempt, reason=result.decision.reason)
        return "ignored"
    if verdict == "refuse":
        log("message.provider_status_duplicate", message_id=message_id, status=status,
            state=result.record.state.value)
        return "duplicate"
    state = result.decision.state
    if state == MessageState.delivered and record.fallback is not None and record.fallback.plan:
        _late_receipt(result.record)
    log("message.provider_report", logging.INFO if state == MessageState.delivered else logging.WARNING,
        message_id=message_id, channel=result.record.channel, state=state.value if state else None, code=error_code)
    return "updated"


def _late_receipt(record: MessageRecord) -> None:
    """Delivered after its fallback went out: the person got both. Counted, and nothing further starts (a
    delivered message never falls back)."""
    mark = record.fallback
    if mark is None:
        return
    following = message_store.get(fallback.next_id(mark), consistent=False)
    if following is None:
        return
    log("fallback.delivered_twice", logging.WARNING, message_id=record.message_id,
        next_message_id=following.message_id, logical=mark.logical)
    metrics.emit({"DuplicateDelivery": 1}, channel=record.channel, message_id=record.message_id)
