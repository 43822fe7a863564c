"""How far the sweep has looked at new messages, per `by_time` shard, in one config-table item (pk SWEEP): each
message is read by the sweep about once, instead of every tick while it lives.

Written whole at the end of a tick. Two racing sweeps may set a mark back to where the slower one stopped;
that only makes the next tick read some messages again (re-enqueueing stays conditional), never skip one.
"""

from __future__ import annotations

from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item
from chalicelib.platform.settings import get_settings

KEY = {"pk": "SWEEP", "sk": "marks"}


def get_all() -> dict[int, str]:
    found = aws.client("dynamodb").get_item(TableName=get_settings().config_table, Key=to_item(KEY))
    marks = from_item(found["Item"]).get("marks", {}) if "Item" in found else {}
    return {int(shard): str(mark) for shard, mark in marks.items()}


def put_all(marks: dict[int, str]) -> None:
    item = {**KEY, "marks": {f"{shard:02d}": mark for shard, mark in sorted(marks.items())}}
    aws.client("dynamodb").put_item(TableName=get_settings().config_table, Item=to_item(item))
