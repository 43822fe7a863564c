"""What happened around a contact: the timeline of an entity and the conversations replies start."""

from __future__ import annotations

from urllib.parse import unquote

from chalice.app import Response

from chalicelib.api.http import known_parameters, reply
from chalicelib.api.routing import Routes
from chalicelib.core.errors import invalid, not_found, require
from chalicelib.stores import conversations, timeline

routes = Routes(__name__)


@routes.management("/entities/{entity_type}/{entity_id}/timeline", methods=["GET"])
def get_timeline(entity_type: str, entity_id: str) -> Response:
    """An id may come percent-encoded (one holding `/` or `#`); it is looked up decoded."""
    entity_id = unquote(entity_id)
    return reply(
        200,
        {"entity": {"type": entity_type, "id": entity_id}, "activities": timeline.activities(entity_type, entity_id)},
    )


@routes.management("/conversations", methods=["GET"])
def list_conversations(query: dict[str, str] | None) -> Response:
    """A contact's conversations (their natural key), newest first: found through the contact's messages, each
    conversation named once with its newest message. `contact` is required (a number, @handle or X user id),
    `channel` optional; `cursor` pages through the contact's messages."""
    from chalicelib.api.messages import contact_keys
    from chalicelib.stores import message_listing

    query = known_parameters(query, {"contact", "channel", "cursor"})
    if not query.get("contact"):
        raise invalid("contact", "required: conversations are listed per contact")
    try:
        records, cursor = message_listing.list_for_contacts(contact_keys(query["contact"], query.get("channel")), [],
                                                          100, query.get("cursor"))
    except message_listing.BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    seen: dict[str, dict[str, str]] = {}
    for record in records:
        if record.conversation_id and record.conversation_id not in seen:
            seen[record.conversation_id] = {"conversation_id": record.conversation_id, "channel": record.channel,
                                            "last_message_id": record.message_id,
                                            "last_message_at": record.model_dump(
                                                mode="json", include={"created_at"})["created_at"]}
    return reply(200, {"conversations": list(seen.values()), "cursor": cursor})


@routes.management("/conversations/{conversation_id}", methods=["GET"])
def get_conversation(conversation_id: str) -> Response:
    entries = require(conversations.entries(conversation_id) or None, "conversation", conversation_id)
    return reply(200, {"conversation_id": conversation_id, "entries": [e.model_dump(mode="json") for e in entries]})


@routes.management("/conversations/{conversation_id}", methods=["DELETE"])
def delete_conversation(conversation_id: str) -> Response:
    """Removes its entries (inbound texts included); the messages keep their own records."""
    if not conversations.delete(conversation_id):
        raise not_found("conversation", conversation_id)
    return Response(body="", status_code=204)
