"""What happened around a contact: the timeline of an entity and the conversations replies start."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.http import reply
from chalicelib.core.errors import not_found, require
from chalicelib.stores import conversations, timeline


def get_timeline(entity_type: str, entity_id: str) -> Response:
    return reply(
        200,
        {"entity": {"type": entity_type, "id": entity_id}, "activities": timeline.activities(entity_type, entity_id)},
    )


def get_conversation(conversation_id: str) -> Response:
    entries = require(conversations.entries(conversation_id) or None, "conversation", conversation_id)
    return reply(200, {"conversation_id": conversation_id, "entries": [e.model_dump(mode="json") for e in entries]})


def delete_conversation(conversation_id: str) -> Response:
    """Removes its entries (inbound texts included); the messages keep their own records."""
    if not conversations.delete(conversation_id):
        raise not_found("conversation", conversation_id)
    return Response(body="", status_code=204)
