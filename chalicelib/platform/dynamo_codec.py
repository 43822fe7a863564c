"""Plain Python values to DynamoDB's typed JSON and back (floats via Decimal, no resource layer at import)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SER = TypeSerializer()
_DES = TypeDeserializer()


SMALLEST = 1e-130  # DynamoDB stores nothing closer to zero; the API bounds the other end (1e125)


def _prepare(value: Any) -> Any:
    if isinstance(value, float):
        # A magnitude DynamoDB cannot hold ("Number underflow") becomes its nearest storable value, zero.
        return Decimal(repr(value)) if abs(value) >= SMALLEST or value == 0 else Decimal(0)
    if isinstance(value, dict):
        return {k: _prepare(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_restore(v) for v in value]
    return value


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(_prepare(v)) for k, v in data.items()}


def to_value(value: Any) -> dict[str, Any]:
    return dict(_SER.serialize(_prepare(value)))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _restore(_DES.deserialize(v)) for k, v in item.items()}


MAX_ITEM_BYTES = 409_600  # DynamoDB's item size limit, attribute names included


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (names and values, UTF-8; numbers about one byte per two digits),
    rounded up, so an API can refuse with a 413 what PutItem would refuse with a ValidationException."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(typed: dict[str, Any]) -> int:
    (kind, value), = typed.items()
    if kind == "S":
        return len(str(value).encode("utf-8", "surrogatepass"))
    if kind == "N":
        return len(str(value).lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(value)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in value)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_bytes(v) for k, v in value.items())
    return sum(len(str(v).encode()) for v in value)  # sets


class BadCursor(ValueError):
    pass


def cursor_out(key: dict[str, Any] | None) -> str | None:
    """A page's LastEvaluatedKey as an opaque cursor for the API."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def cursor_in(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise BadCursor("not a cursor this API returned") from exc
    if not isinstance(key, dict):
        raise BadCursor("not a cursor this API returned")
    return key
