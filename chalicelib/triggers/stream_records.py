"""Records-table stream records to RecordChange models: Lambda's event shape (JSON: binary values base64 text)
and the Streams API's (boto3: binary values as bytes), so the on-failure re-read parses as the handler does.

Every attribute type DynamoDB has is read: a binary value becomes its base64 text (xsd:base64Binary, the form
a listener can carry), a set a sorted list, maps and lists stay nested. Whether a field of that shape may be
sent is the notification builder's decision, per field, not the parser's for the whole batch.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary

from chalicelib.models.records import RecordChange
from chalicelib.platform.dynamo_codec import from_item

KEY_ATTRIBUTES = ("object_type", "id")


def _bytes(value: Any) -> Any:
    return base64.b64decode(value, validate=True) if isinstance(value, str) else value


def _typed(value: dict[str, Any]) -> dict[str, Any]:
    """One typed attribute value with its binary parts as bytes, whichever form the record came in."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": _bytes(inner)}
    if kind == "BS":
        return {"BS": [_bytes(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _typed(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_typed(v) for v in inner]}
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Binary | bytes | bytearray):
        return base64.b64encode(bytes(value.value if isinstance(value, Binary) else value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=lambda v: (type(v).__name__, v))
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_image(image: dict[str, Any]) -> dict[str, Any]:
    """A stream image (typed attribute values) as plain Python values."""
    return dict(_plain(from_item({name: _typed(value) for name, value in image.items()})))


def image_fields(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored record is {object_type, id, ...fields}; listeners know the id as `Id`."""
    if image is None:
        return None
    data = read_image(image)
    record_id = data.pop("id")
    data.pop("object_type", None)
    data.pop("_version", None)
    return {"Id": record_id, **data}


def parse(raw: dict[str, Any]) -> RecordChange:
    stream = raw["dynamodb"]
    keys = read_image(stream["Keys"])
    return RecordChange(
        event_id=raw["eventID"],
        sequence_number=str(stream["SequenceNumber"]),
        kind=raw["eventName"],
        object_type=keys["object_type"],
        record_id=keys["id"],
        old=image_fields(stream.get("OldImage")),
        new=image_fields(stream.get("NewImage")),
        changed_at=_moment(stream.get("ApproximateCreationDateTime")),
        version=_version(stream.get("NewImage")),
    )


def _version(image: dict[str, Any] | None) -> int:
    """The version the record API wrote (0 for a record written around it)."""
    value = read_image(image).get("_version") if image else None
    return int(value) if isinstance(value, int | float | Decimal) else 0


def _moment(value: Any) -> datetime | None:
    """Lambda hands ApproximateCreationDateTime as epoch seconds, boto3 as a datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float | Decimal):
        return datetime.fromtimestamp(float(value), UTC)
    return None
