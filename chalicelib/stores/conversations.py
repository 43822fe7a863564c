"""Conversation entries in DynamoDB: pk conversation_id, sk the entry's message id.

The sort key is the message id (ours, or "in_" + the provider's), not the time, so a webhook Twilio delivers
twice stores one entry; entries are ordered by time when read (a conversation is small).
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.clock import expires_at
from chalicelib.models.conversations import ConversationEntry
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings


def _table() -> str:
    return get_settings().conversations_table


def add(entry: ConversationEntry) -> bool:
    """Store an entry once; False if it was already there (a redelivered webhook)."""
    item = {**entry.model_dump(mode="json", exclude_none=True), "entry": entry.message_id,
            "expires_at": expires_at(entry.at, get_settings().retention_days)}
    try:
        aws.client("dynamodb").put_item(
            TableName=_table(),
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(#e)",
            ExpressionAttributeNames={"#e": "entry"},
        )
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            return False
        raise
    return True


def entries(conversation_id: str, limit: int = 200) -> list[ConversationEntry]:
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "conversation_id = :c",
        "ExpressionAttributeValues": {":c": to_value(conversation_id)},
        "Limit": limit,
    }
    found = aws.client("dynamodb").query(**kwargs)
    result = []
    for item in found.get("Items", []):
        data = from_item(item)
        data.pop("entry", None)
        data.pop("expires_at", None)
        result.append(ConversationEntry.model_validate(data))
    return sorted(result, key=lambda e: (e.at, e.direction == "inbound"))


def delete(conversation_id: str) -> int:
    """Every entry of a conversation (a customer asking to be forgotten); returns how many there were."""
    client = aws.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": _table(), "KeyConditionExpression": "conversation_id = :c",
        "ExpressionAttributeValues": {":c": to_value(conversation_id)},
        "ProjectionExpression": "conversation_id, #e", "ExpressionAttributeNames": {"#e": "entry"},
    }
    removed = 0
    while True:
        found = client.query(**kwargs)
        keys = found.get("Items", [])
        for start in range(0, len(keys), 25):
            pending: dict[str, Any] = {_table(): [{"DeleteRequest": {"Key": key}} for key in keys[start:start + 25]]}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        removed += len(keys)
        if "LastEvaluatedKey" not in found:
            return removed
        kwargs["ExclusiveStartKey"] = found["LastEvaluatedKey"]
