"""Message records: read one, list by state."""

from __future__ import annotations

from chalice import Response

from chalicelib import message_store
from chalicelib.api.http import reply
from chalicelib.errors import invalid, not_found
from chalicelib.models.messages import MessageState


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
    records, cursor = message_store.list_by_state(state, limit, query.get("cursor"))
    return reply(200, {"messages": [r.model_dump(mode="json") for r in records], "cursor": cursor})
