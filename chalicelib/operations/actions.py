"""What an operator does to a message: retry it, retry it now, delete it. Shared by the API, the CLI and the
DLQ redrive; the lifecycle (core/lifecycle.py) decides whether it may, and the store writes it once."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from chalicelib.core import clock, lifecycle
from chalicelib.models.messages import UNBUILDABLE, MessageRecord
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import messages as message_store
from chalicelib.stores import transitions

RETRYABLE = lifecycle.RETRYABLE
DELETABLE = lifecycle.DELETABLE


class NotAllowed(Exception):
    """The message is in a state the action does not apply to (it may have moved since it was listed)."""


def retry(record: MessageRecord, resend: bool = False, by: Literal["operator", "redrive", "replay"] = "operator",
          waive_window: bool = False) -> MessageRecord:
    """Failed/expired/undelivered: back to the queue with a fresh deadline. Queued (waiting out a backoff): due now.
    A message a provider accepted is sent again only with `resend` (the person would get it twice)."""
    if record.state not in RETRYABLE and by != "replay":
        raise NotAllowed(f"a {record.state.value} message cannot be retried")
    now = clock.now()
    payload = None
    if record.error_code == UNBUILDABLE:
        # Built again from the record as it is now: the operator may have fixed what made it unsendable.
        from chalicelib.soap.notifications import Unbuildable, rebuild

        try:
            payload = rebuild(record).model_dump(mode="json", exclude_none=True)
        except Unbuildable as exc:
            raise NotAllowed(f"still cannot be sent: {exc}") from exc
    deadline = now + timedelta(hours=get_settings().deadline_hours(record.channel))
    try:
        result = transitions.run(record, lifecycle.Retried(now, deadline, resend, payload, by, waive_window))
    except message_store.Conflict as exc:
        raise NotAllowed("the message changed while retrying; read it again") from exc
    if not result.changed:
        raise NotAllowed(result.decision.reason)
    updated = result.record
    log("message.operator_retry", message_id=updated.message_id, channel=updated.channel, was=record.state.value,
        by=by, resend=resend)
    return updated


def delete(record: MessageRecord) -> MessageRecord:
    """Ends a message that will not be delivered; the record stays (state `deleted`) for the audit trail."""
    try:
        result = transitions.run(record, lifecycle.Deleted(clock.now()))
    except message_store.Conflict as exc:
        raise NotAllowed("the message changed while deleting; read it again") from exc
    if not result.changed:
        raise NotAllowed(result.decision.reason)
    log("message.operator_delete", message_id=result.record.message_id, channel=result.record.channel,
        was=record.state.value)
    return result.record
