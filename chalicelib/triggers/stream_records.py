"""Records-table stream records (Lambda's event shape) to RecordChange models."""

from __future__ import annotations

from typing import Any

from chalicelib.models.records import RecordChange
from chalicelib.platform.dynamo_codec import from_item

KEY_ATTRIBUTES = ("object_type", "id")


def image_fields(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored record is {object_type, id, ...fields}; listeners know the id as `Id`."""
    if image is None:
        return None
    data = from_item(image)
    record_id = data.pop("id")
    data.pop("object_type", None)
    return {"Id": record_id, **data}


def parse(raw: dict[str, Any]) -> RecordChange:
    stream = raw["dynamodb"]
    keys = from_item(stream["Keys"])
    return RecordChange(
        event_id=raw["eventID"],
        sequence_number=str(stream["SequenceNumber"]),
        kind=raw["eventName"],
        object_type=keys["object_type"],
        record_id=keys["id"],
        old=image_fields(stream.get("OldImage")),
        new=image_fields(stream.get("NewImage")),
    )
