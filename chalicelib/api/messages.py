"""Message records: read one, list by state, retry or delete one."""

from __future__ import annotations

from chalice import Response

from chalicelib import message_store, operations
from chalicelib.api.http import reply
from chalicelib.errors import ApiError, invalid, not_found, require
from chalicelib.models.messages import MessageRecord, MessageState


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


def _found(message_id: str) -> MessageRecord:
    return require(message_store.get(message_id), "message", message_id)


def retry_message(message_id: str) -> Response:
    """Failed or expired: back in the queue with a fresh deadline; queued: attempted now."""
    try:
        return reply(202, operations.retry(_found(message_id)))
    except operations.NotAllowed as exc:
        raise ApiError(409, "conflict", f"state: {exc}") from exc


def delete_message(message_id: str) -> Response:
    try:
        return reply(200, operations.delete(_found(message_id)))
    except operations.NotAllowed as exc:
        raise ApiError(409, "conflict", f"state: {exc}") from exc
