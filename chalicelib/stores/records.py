"""Reading records (the entities rules watch) back: the related records an automated send needs, the
operators' listing; and deleting one (its stream event changes nothing: rules ignore removals)."""

from __future__ import annotations

import random
import time
from typing import Any

from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import (
    MAX_ITEM_BYTES,
    BadCursor,
    cursor_in,
    cursor_out,
    from_item,
    item_bytes,
    to_item,
    to_value,
)
from chalicelib.platform.settings import get_settings

BATCH = 100  # BatchGetItem's limit
VERSION = "_version"  # each write through the record API adds one; no field name can start with "_"


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
                found[record_id] = {k: v for k, v in data.items() if not internal(k)}
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RuntimeError("records could not be read (throttled)")
    return found


def page(object_type: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of an object's records in id order: (records as {"id", "fields"}, the next cursor)."""
    kwargs: dict[str, Any] = {"TableName": get_settings().records_table, "Limit": limit,
                              "KeyConditionExpression": "object_type = :o",
                              "ExpressionAttributeValues": {":o": to_value(object_type)}}
    start = cursor_in(cursor)
    if start is not None:
        if set(start) != {"object_type", "id"} or start["object_type"] != {"S": object_type} or not isinstance(
                start["id"], dict) or set(start["id"]) != {"S"} or not isinstance(start["id"]["S"], str):
            raise BadCursor("not a cursor of this object's records")
        kwargs["ExclusiveStartKey"] = start
    answer = aws.client("dynamodb").query(**kwargs)
    records = []
    for item in answer.get("Items", []):
        data = from_item(item)
        data.pop("object_type", None)
        version = data.pop(VERSION, None)
        record_id = str(data.pop("id"))
        records.append({"id": record_id, "fields": {k: v for k, v in data.items() if not internal(k)},
                        "version": int(version or 0)})
    return records, cursor_out(answer.get("LastEvaluatedKey"))


def delete(object_type: str, record_id: str) -> bool:
    """True if it existed."""
    answer = aws.client("dynamodb").delete_item(
        TableName=get_settings().records_table, Key=to_item({"object_type": object_type, "id": record_id}),
        ReturnValues="ALL_OLD")
    return "Attributes" in answer


def current_version(object_type: str, record_id: str) -> int:
    """The record's version now (0: no such record, or one written around the API)."""
    found = aws.client("dynamodb").get_item(
        TableName=get_settings().records_table, Key=to_item({"object_type": object_type, "id": record_id}),
        ConsistentRead=True, ProjectionExpression="#v, id", ExpressionAttributeNames={"#v": VERSION}).get("Item")
    return int(from_item(found).get(VERSION, 0)) if found else 0


class Stale(Exception):
    """The record moved past the version the write was conditional on."""


def put(item: dict[str, Any], expected: int) -> int:
    """The record as `item`, one version past `expected` (0: it must not exist, or have no version yet)."""
    version = expected + 1
    condition = "attribute_not_exists(id) OR attribute_not_exists(#v)" if expected == 0 else "#v = :v"
    values = {} if expected == 0 else {":v": to_value(expected)}
    try:
        aws.client("dynamodb").put_item(
            TableName=get_settings().records_table, Item=to_item({**item, VERSION: version}),
            ConditionExpression=condition, ExpressionAttributeNames={"#v": VERSION},
            **({"ExpressionAttributeValues": values} if values else {}))
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            raise Stale(f"{item.get('object_type')} {item.get('id')} is no longer at version {expected}") from exc
        raise
    return version


ORDER = "_order"  # an event-fed record: the sortable order of the event it holds (core/event_records.py)
EVENT = "_event"  # ... and that event's id: (order, id) totally orders one record's events
PREVIOUS = "_previous"  # ... and the values before the change, when its events carry them
EVENT_WRITE_ATTEMPTS = 25


def oversize(item: dict[str, Any]) -> str | None:
    """Why `item` (with every attribute kept beside its fields, its version at its widest) cannot be stored, or
    None: DynamoDB refuses an item over its size, so the record is refused before the write, naming it."""
    size = item_bytes(to_item({**item, VERSION: 10**9}))
    if size > MAX_ITEM_BYTES:
        return f"the record would weigh {size} bytes; a record holds at most {MAX_ITEM_BYTES} (DynamoDB's item size)"
    return None


def internal(name: str) -> bool:
    """Attributes the stack keeps beside a record's fields (no field name starts with `_`)."""
    return name.startswith("_")


def _by_time(order: str) -> bool:
    """An order taken from the event's time (whole seconds): two changes may share it, so the event id breaks
    the tie. An order the producer gave (a version, an updatedAt) names one change: equal is the same change."""
    return order.startswith("t")


def put_event(item: dict[str, Any], order: str, event_id: str, previous: dict[str, Any] | None) -> bool:
    """The record as an event left it, one version up, unless the record already holds this event or a later
    one (False: a redelivered or overtaken event changes nothing, so its stream record never exists)."""
    client = aws.client("dynamodb")
    tie = " OR (#o = :o AND #e < :e)" if _by_time(order) else ""
    names = {"#v": VERSION, "#o": ORDER, **({"#e": EVENT} if tie else {})}  # DynamoDB refuses an unused name
    newer = f"(attribute_not_exists(#o) OR #o < :o{tie})"
    for attempt in range(EVENT_WRITE_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, 0.01 * attempt))  # noqa: S311 - jitter, not security
        expected = current_version(str(item["object_type"]), str(item["id"]))
        held = "(attribute_not_exists(id) OR attribute_not_exists(#v))" if expected == 0 else "#v = :v"
        values = {":o": to_value(order)}
        if tie:
            values[":e"] = to_value(event_id)
        if expected:
            values[":v"] = to_value(expected)
        extra = {PREVIOUS: previous} if previous is not None else {}
        try:
            client.put_item(
                TableName=get_settings().records_table,
                Item=to_item({**item, **extra, VERSION: expected + 1, ORDER: order, EVENT: event_id}),
                ConditionExpression=f"{held} AND {newer}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values)
            return True
        except Exception as exc:
            if not aws.is_conditional_failure(exc):
                raise
        if _holds_later(str(item["object_type"]), str(item["id"]), order, event_id):
            return False
    raise Stale(f"{item.get('object_type')} {item.get('id')} is being written concurrently")


def _holds_later(object_type: str, record_id: str, order: str, event_id: str) -> bool:
    found = aws.client("dynamodb").get_item(
        TableName=get_settings().records_table, Key=to_item({"object_type": object_type, "id": record_id}),
        ConsistentRead=True, ProjectionExpression="#o, #e", ExpressionAttributeNames={"#o": ORDER, "#e": EVENT},
    ).get("Item")
    if not found:
        return False
    held = from_item(found)
    if ORDER not in held:
        return False
    if not _by_time(order):
        return str(held[ORDER]) >= order
    return (str(held[ORDER]), str(held.get(EVENT, ""))) >= (order, event_id)
