"""What an operator does to a message: retry it, retry it now, delete it. Shared by the API and the CLI."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.core import clock
from chalicelib.models.messages import UNBUILDABLE, MessageRecord, MessageState, QueueBody
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues

RETRYABLE = frozenset({MessageState.failed, MessageState.expired, MessageState.undelivered, MessageState.queued})
DELETABLE = frozenset({MessageState.queued, MessageState.failed, MessageState.expired, MessageState.undelivered})


class NotAllowed(Exception):
    """The message is in a state the action does not apply to (it may have moved since it was listed)."""


def retry(record: MessageRecord) -> MessageRecord:
    """Failed/expired/undelivered: back to the queue with a fresh deadline. Queued (waiting out a backoff): due now.

    The conditional move names the exact source state, so a message a sender claimed meanwhile is left alone;
    a delayed queue message still in flight for the old attempt is dropped by the sender's claim check.
    """
    if record.state not in RETRYABLE:
        raise NotAllowed(f"a {record.state.value} message cannot be retried")
    now = clock.now()
    fields: dict[str, object] = {}
    if record.state != MessageState.queued:
        fields["deadline"] = now + timedelta(hours=get_settings().deadline_hours(record.channel))
    if record.error_code == UNBUILDABLE:
        # Built again from the record as it is now: the operator may have fixed what made it unsendable.
        from chalicelib.soap.notifications import Unbuildable, rebuild

        try:
            fields["payload"] = rebuild(record).model_dump(mode="json")
        except Unbuildable as exc:
            raise NotAllowed(f"still cannot be sent: {exc}") from exc
    try:
        updated = message_store.move(
            record.message_id,
            MessageState.queued,
            now,
            now,
            "operator retry",
            sources=frozenset({record.state}),
            **fields,
        )
    except message_store.Conflict as exc:
        raise NotAllowed("the message changed while retrying; read it again") from exc
    queues.enqueue(updated.channel, [QueueBody(message_id=updated.message_id, attempt=updated.attempts)])
    log("message.operator_retry", message_id=updated.message_id, channel=updated.channel, was=record.state.value)
    return updated


def delete(record: MessageRecord) -> MessageRecord:
    """Ends a message that will not be delivered; the record stays (state `deleted`) for the audit trail."""
    if record.state not in DELETABLE:
        raise NotAllowed(f"a {record.state.value} message cannot be deleted")
    now = clock.now()
    try:
        updated = message_store.move(
            record.message_id, MessageState.deleted, now, now, "operator delete", sources=frozenset({record.state})
        )
    except message_store.Conflict as exc:
        raise NotAllowed("the message changed while deleting; read it again") from exc
    log("message.operator_delete", message_id=updated.message_id, channel=updated.channel, was=record.state.value)
    return updated
