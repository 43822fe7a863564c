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

from chalicelib.core.record_checks import RECORD_ID_FORM
from chalicelib.models.records import ObjectSchema, RecordChange
from chalicelib.platform.dynamo_codec import from_item
from chalicelib.stores import records as record_store

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
    return None if image is None else _fields(read_image(image))


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """A record's fields: attributes the stack keeps beside them (`_version`, an event's order) are not fields."""
    kept = {k: v for k, v in data.items() if k not in KEY_ATTRIBUTES and not record_store.internal(k)}
    return {"Id": data["id"], **kept}


def table_name(raw: dict[str, Any]) -> str:
    """The table a stream record comes from (its eventSourceARN: ...:table/<name>/stream/<label>)."""
    arn = str(raw.get("eventSourceARN") or "")
    return arn.split(":table/", 1)[1].split("/stream/", 1)[0] if ":table/" in arn else ""


def parse(raw: dict[str, Any], feeds: dict[str, list[ObjectSchema]] | None = None) -> RecordChange | None:
    """The change a stream record is: of our records table, or of a team's table some object is fed by
    (`feeds`: table name -> those objects); None for an item of a fed table that no object takes."""
    if feeds and (fed := feeds.get(table_name(raw))):
        return _foreign(raw, fed)
    stream = raw["dynamodb"]
    keys = read_image(stream["Keys"])
    data = read_image(stream["NewImage"]) if stream.get("NewImage") else None  # read once: fields, before, version
    old, new = image_fields(stream.get("OldImage")), None if data is None else _fields(data)
    kind = raw["eventName"]
    previous = data.get(record_store.PREVIOUS) if data else None
    if isinstance(previous, dict):  # the event said what the values were before: the change is an edit of them
        old, kind = {"Id": keys["id"], **previous}, "MODIFY"
    return RecordChange(
        event_id=raw["eventID"],
        sequence_number=str(stream["SequenceNumber"]),
        kind=kind,
        object_type=keys["object_type"],
        record_id=keys["id"],
        old=old,
        new=new,
        changed_at=_moment(stream.get("ApproximateCreationDateTime")),
        version=_version(data),
    )


def _foreign(raw: dict[str, Any], objects: list[ObjectSchema]) -> RecordChange | None:
    """An item of a team's table as a record of the object it feeds: the id from its key attributes, every
    other attribute a field (a value no listener can take fails that record alone, when it is built)."""
    stream = raw["dynamodb"]
    old = read_image(stream["OldImage"]) if stream.get("OldImage") else None
    new = read_image(stream["NewImage"]) if stream.get("NewImage") else None
    if old is None and new is None:
        raise ValueError("the stream carries no images: its view type must be NEW_AND_OLD_IMAGES")
    latest = new if new is not None else old or {}
    schema = next((o for o in objects if o.table is not None and (
        o.table.type_attribute is None or latest.get(o.table.type_attribute) == o.table.type_value)), None)
    if schema is None or schema.table is None:
        return None
    id_attributes = schema.table.id_attributes
    keys = read_image(stream["Keys"])
    missing = [a for a in id_attributes if a not in keys]
    if missing:
        raise ValueError(f"{schema.name}: the item's key has no {', '.join(missing)} (id_attributes)")
    record_id = ":".join(str(keys[a]) for a in id_attributes)
    if not RECORD_ID_FORM.match(record_id):
        raise ValueError(f"{schema.name}: record id {record_id[:80]!r} must be 1 to 64 letters, digits or . _ : @ + -")

    def fields(image: dict[str, Any] | None) -> dict[str, Any] | None:
        if image is None:
            return None
        return {"Id": record_id, **{k: v for k, v in image.items() if k not in id_attributes}}

    return RecordChange(
        event_id=raw["eventID"],
        sequence_number=str(stream["SequenceNumber"]),
        kind=raw["eventName"],
        object_type=schema.name,
        record_id=record_id,
        old=fields(old),
        new=fields(new),
        changed_at=_moment(stream.get("ApproximateCreationDateTime")),
    )


def _version(data: dict[str, Any] | None) -> int:
    """The version the record API wrote (0 for a record written around it)."""
    value = data.get(record_store.VERSION) if data else None
    return int(value) if isinstance(value, int | float | Decimal) else 0


def _moment(value: Any) -> datetime | None:
    """Lambda hands ApproximateCreationDateTime as epoch seconds, boto3 as a datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float | Decimal):
        return datetime.fromtimestamp(float(value), UTC)
    return None
