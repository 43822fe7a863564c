"""Latest-wins ordering's one write per change: each (definition, record) has a head in the message store
(`message_id` = `head#<definition>#<object>#<record>`, never indexed, expiring with the messages) holding the
newest version's sortable key and message, and the message of the version before it.

A version older than the head is refused at the door (its message is not even made); a redelivered stream batch
meets its own key and is told the same `previous` again, so a retried batch builds the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.clock import expires_at
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings


@dataclass(frozen=True)
class Head:
    latest_key: str
    latest_message: str
    previous_message: str | None


def key(definition_id: str, object_type: str, record_id: str) -> str:
    return f"head#{definition_id}#{object_type}#{record_id}"


def version_key(version: int, sequence_number: str) -> str:
    """Sortable as text: the record API's version first, then the stream's sequence number (which orders the
    changes of one item, and all of a record written around the API, whose version stays 0)."""
    return f"{version:012d}.{int(sequence_number):040d}"


def _table() -> str:
    return get_settings().messages_table


def get(head: str) -> Head | None:
    item = aws.client("dynamodb").get_item(TableName=_table(), Key=to_item({"message_id": head}),
                                           ConsistentRead=True).get("Item")
    if not item:
        return None
    data = from_item(item)
    return Head(str(data["latest_key"]), str(data["latest_message"]), data.get("previous_message") or None)


def advance(head: str, version: str, message_id: str, now: datetime) -> tuple[bool, str | None]:
    """(True, the previous version's message) when `version` is the newest known (or already is the head: a
    redelivered batch); (False, the newer version's message) when a newer one got there first."""
    try:
        answer = aws.client("dynamodb").update_item(
            TableName=_table(), Key=to_item({"message_id": head}),
            UpdateExpression="SET previous_message = if_not_exists(latest_message, :none), latest_key = :k, "
                             "latest_message = :m, expires_at = :exp",
            ConditionExpression="attribute_not_exists(latest_key) OR latest_key < :k",
            ExpressionAttributeValues={":k": to_value(version), ":m": to_value(message_id), ":none": to_value(""),
                                       ":exp": to_value(expires_at(now, get_settings().retention_days))},
            ReturnValues="UPDATED_NEW")
    except Exception as exc:
        if not aws.is_conditional_failure(exc):
            raise
        current = get(head)
        if current is not None and current.latest_key == version:
            return True, current.previous_message
        return False, current.latest_message if current else None
    previous = from_item(answer.get("Attributes", {})).get("previous_message")
    return True, str(previous) if previous else None
