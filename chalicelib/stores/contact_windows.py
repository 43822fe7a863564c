"""When each contact last wrote to each of our numbers: what WhatsApp's 24-hour window is measured from.

One small item per (channel, our number, contact) in the config table, moved only forward by a conditional
write (a late, redelivered webhook cannot shorten a window) and expired by TTL after the window is long shut.
The sender reads it once per WhatsApp message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.core.clock import iso, parse_iso
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import to_item, to_value
from chalicelib.platform.settings import get_settings

KIND = "INBOUND"
KEEP = timedelta(days=2)
WHATSAPP = "whatsapp:"


def _key(channel: str, ours: str, contact: str) -> dict[str, dict[str, str]]:
    plain = (ours.removeprefix(WHATSAPP), contact.removeprefix(WHATSAPP))
    return to_item({"pk": KIND, "sk": f"{channel}#{plain[0]}#{plain[1]}"})


def note_inbound(channel: str, ours: str, contact: str, at: datetime) -> None:
    try:
        aws.client("dynamodb").update_item(
            TableName=get_settings().config_table,
            Key=_key(channel, ours, contact),
            UpdateExpression="SET last_inbound = :at, expires_at = :ttl",
            ConditionExpression="attribute_not_exists(last_inbound) OR last_inbound < :at",
            ExpressionAttributeValues={":at": to_value(iso(at)), ":ttl": to_value(int((at + KEEP).timestamp()))},
        )
    except Exception as exc:
        if not aws.is_conditional_failure(exc):
            raise


def last_inbound(channel: str, ours: str, contact: str) -> datetime | None:
    found = aws.client("dynamodb").get_item(
        TableName=get_settings().config_table, Key=_key(channel, ours, contact), ConsistentRead=True
    )
    value = found.get("Item", {}).get("last_inbound", {}).get("S")
    return parse_iso(value) if value else None


def forget_contact(contact: str) -> int:
    """Erasure: every window the contact opened with any of our numbers."""
    from typing import Any

    client = aws.client("dynamodb")
    table = get_settings().config_table
    suffix = "#" + contact.removeprefix(WHATSAPP)
    kwargs: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": to_value(KIND)}, "ProjectionExpression": "pk, sk"}
    removed = 0
    while True:
        found = client.query(**kwargs)
        for key in found.get("Items", []):
            if key["sk"]["S"].endswith(suffix):
                client.delete_item(TableName=table, Key=key)
                removed += 1
        if "LastEvaluatedKey" not in found:
            return removed
        kwargs["ExclusiveStartKey"] = found["LastEvaluatedKey"]
