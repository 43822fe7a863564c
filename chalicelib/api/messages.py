"""Message records: read one, list by state, retry a dead one."""

from __future__ import annotations

from datetime import timedelta

from chalice import Response

from chalicelib import clock, message_store, queues
from chalicelib.api.http import reply
from chalicelib.errors import ApiError, invalid, not_found
from chalicelib.models.messages import MessageState, QueueBody
from chalicelib.settings import get_settings


def get_message(message_id: str) -> Response:
    record = message_store.get(message_id)
    if record is None:
        raise not_found("message", message_id)
    return reply(200, record)


def list_messages(query: dict[str, str] | None) -> Response:
    query = query or {}
    try:
        state = MessageState(query.get("state", "failed"))
    except ValueError as exc:
        raise invalid("state", f"one of {', '.join(s.value for s in MessageState)}") from exc
    try:
        limit = int(query.get("limit", "50"))
    except ValueError as exc:
        raise invalid("limit", "must be an integer") from exc
    if not 1 <= limit <= 100:
        raise invalid("limit", "must be between 1 and 100")
    try:
        records, cursor = message_store.list_by_state(state, limit, query.get("cursor"))
    except message_store.BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    return reply(200, {"messages": [r.model_dump(mode="json") for r in records], "cursor": cursor})


def retry_message(message_id: str) -> Response:
    """An operator's retry: a failed or expired message goes back to the queue with a fresh deadline."""
    record = message_store.get(message_id)
    if record is None:
        raise not_found("message", message_id)
    if record.state not in {MessageState.failed, MessageState.expired}:
        raise ApiError(409, "conflict", f"state: a {record.state.value} message cannot be retried")
    now = clock.now()
    deadline = now + timedelta(hours=get_settings().deadline_hours(record.channel))
    try:
        updated = message_store.move(message_id, MessageState.queued, now, now, "operator retry", deadline=deadline)
    except message_store.Conflict as exc:
        raise ApiError(409, "conflict", "state: the message changed while retrying; read it again") from exc
    queues.enqueue(updated.channel, [QueueBody(message_id=message_id, attempt=updated.attempts)])
    return reply(202, updated)
