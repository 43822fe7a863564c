"""Timeline activities: with "show in timeline", each customer message is also an activity on the entity the
contact's `entityrelationshipname` names (entity type; the id is the contact's address, or for automated sends the
triggering record). Stored at creation; read back with the message's current state.

Table: pk "<entity type>#<entity id>", sk "<created at>#<message id>" (idempotent for a re-run trigger).
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.clock import expires_at, iso
from chalicelib.models.messages import MessageRecord
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings
from chalicelib.stores import messages as message_store


def _table() -> str:
    return get_settings().timeline_table


def entity_key(entity_type: str, entity_id: str) -> str:
    return f"{entity_type}#{entity_id}"


def add(entity_type: str, entity_id: str, record: MessageRecord, body: str) -> None:
    item = {
        "entity": entity_key(entity_type, entity_id),
        "activity": f"{iso(record.created_at)}#{record.message_id}",
        "message_id": record.message_id,
        "channel": record.channel,
        "configuration_id": record.configuration_id or "",
        "body": body,
        "created_at": iso(record.created_at),
        "expires_at": expires_at(record.created_at, get_settings().retention_days),
    }
    aws.client("dynamodb").put_item(TableName=_table(), Item=to_item(item))


def activities(entity_type: str, entity_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, each with the message's state now (the record is the source of truth)."""
    found = aws.client("dynamodb").query(
        TableName=_table(),
        KeyConditionExpression="entity = :e",
        ExpressionAttributeValues={":e": to_value(entity_key(entity_type, entity_id))},
        ScanIndexForward=False,
        Limit=limit,
    )
    out = []
    for item in found.get("Items", []):
        data = from_item(item)
        record = message_store.get(str(data["message_id"]))
        out.append(
            {
                "message_id": data["message_id"],
                "channel": data["channel"],
                "configuration_id": data.get("configuration_id") or None,
                "body": data["body"],
                "created_at": data["created_at"],
                "state": record.state.value if record else None,
                "updated_at": iso(record.updated_at) if record else None,
            }
        )
    return out


def delete_entity(entity: str) -> int:
    """Every activity of one entity (its id is the contact's address: an erasure takes them all)."""
    client = aws.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": _table(), "KeyConditionExpression": "entity = :e",
                              "ExpressionAttributeValues": {":e": to_value(entity)},
                              "ProjectionExpression": "entity, activity"}
    removed = 0
    while True:
        found = client.query(**kwargs)
        for key in found.get("Items", []):
            client.delete_item(TableName=_table(), Key=key)
            removed += 1
        if "LastEvaluatedKey" not in found:
            return removed
        kwargs["ExclusiveStartKey"] = found["LastEvaluatedKey"]
