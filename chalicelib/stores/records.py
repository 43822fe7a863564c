"""Reading records (the entities rules watch) back, for the related records an automated send needs."""

from __future__ import annotations

from typing import Any

from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item
from chalicelib.platform.settings import get_settings

BATCH = 100  # BatchGetItem's limit


def get_many(object_type: str, record_ids: list[str]) -> dict[str, dict[str, Any]]:
    """record id -> its fields (without the key attributes); missing records are simply absent."""
    table = get_settings().records_table
    client = aws.client("dynamodb")
    found: dict[str, dict[str, Any]] = {}
    wanted = list(dict.fromkeys(record_ids))
    for start in range(0, len(wanted), BATCH):
        keys = [to_item({"object_type": object_type, "id": rid}) for rid in wanted[start : start + BATCH]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(8):  # unprocessed keys come back under throttling: ask again
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                data = from_item(item)
                record_id = str(data.pop("id"))
                data.pop("object_type", None)
                found[record_id] = data
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RuntimeError("records could not be read (throttled)")
    return found
