"""The JSON form of an endpoint notification, as Standard Webhooks shapes a payload, and its JSON Schema.

`{"type": "<object>.created" | "<object>.updated", "timestamp": ..., "data": {"definition": {...},
"organization_id": ..., "notifications": [{"id", "record_id", "version", "record": {...}}]}}`, at most 100 notifications
and MAX_BODY_BYTES per request (the spec's advice: under 20 KB). A notification too large for a request of its
own goes thin: its id, the record's id and `record_url` (our record API: GET it with an API key), no fields.
Each value has its field's JSON type: int and double as numbers, boolean, date and dateTime as strings
(dateTime in UTC with milliseconds, as the SOAP form sends it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.models.records import FieldType

MAX_NOTIFICATIONS = 100
MAX_BODY_BYTES = 20_000
Event = Literal["created", "updated"]


@dataclass(frozen=True)
class JsonNote:
    id: str
    record_id: str
    fields: Mapping[str, Any]
    version: int = 0  # the record's version (0: written around the record API)


def _json_value(kind: FieldType, value: Any) -> Any:
    if kind == FieldType.int:
        return int(value)
    if kind == FieldType.double:
        return float(value)
    if kind == FieldType.boolean:
        return bool(value)
    return str(value)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def note_object(note: JsonNote, types: Mapping[str, FieldType]) -> dict[str, Any]:
    record = {name: _json_value(kind, note.fields[name]) for name, kind in types.items()
              if note.fields.get(name) is not None}
    return {"id": note.id, "record_id": note.record_id, "version": note.version, "record": record}


def thin_object(note: JsonNote, record_url: str) -> dict[str, Any]:
    return {"id": note.id, "record_id": note.record_id, "version": note.version, "thin": True,
            "record_url": record_url}


def body(event: Event, object_type: str, timestamp: str, definition: Mapping[str, str], organization_id: str,
         notes: list[dict[str, Any]]) -> bytes:
    return _dumps({"type": f"{object_type}.{event}", "timestamp": timestamp, "data": {
        "definition": dict(definition), "organization_id": organization_id, "notifications": notes}})


def overhead(object_type: str, timestamp: str, definition: Mapping[str, str], organization_id: str) -> int:
    """The bytes of a body around its notifications (the longer event name counted)."""
    return len(body("updated", object_type, timestamp, definition, organization_id, []))


def sized(note: dict[str, Any]) -> int:
    return len(_dumps(note))


def chunks(items: list[tuple[dict[str, Any], int]], overhead_bytes: int) -> list[list[dict[str, Any]]]:
    """Pure: consecutive groups of at most 100 notifications whose body stays within MAX_BODY_BYTES (the comma
    between two notifications counted)."""
    groups: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    weight = overhead_bytes
    for note, size in items:
        if current and (len(current) == MAX_NOTIFICATIONS or weight + 1 + size > MAX_BODY_BYTES):
            groups.append(current)
            current, weight = [], overhead_bytes
        weight += size + (1 if current else 0)
        current.append(note)
    if current:
        groups.append(current)
    return groups


_SCHEMA_TYPES: dict[FieldType, dict[str, Any]] = {
    FieldType.string: {"type": "string"},
    FieldType.id: {"type": "string"},
    FieldType.boolean: {"type": "boolean"},
    FieldType.int: {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    FieldType.double: {"type": "number"},
    FieldType.date: {"type": "string", "format": "date"},
    FieldType.datetime: {"type": "string", "format": "date-time"},
}


def schema(object_type: str, definition: Mapping[str, str], types: Mapping[str, FieldType]) -> dict[str, Any]:
    """JSON Schema (2020-12) of one definition's payloads: the JSON counterpart of its WSDL."""
    record = {"type": "object", "additionalProperties": False, "required": ["Id"],
              "properties": {name: _SCHEMA_TYPES[kind] for name, kind in types.items()}}
    version = {"type": "integer", "minimum": 0, "description": "the record's version: each write adds one"}
    full = {"type": "object", "additionalProperties": False, "required": ["id", "record_id", "version", "record"],
            "properties": {"id": {"type": "string"}, "record_id": {"type": "string"}, "version": version,
                           "record": record}}
    thin = {"type": "object", "additionalProperties": False,
            "required": ["id", "record_id", "version", "thin", "record_url"],
            "properties": {"id": {"type": "string"}, "record_id": {"type": "string"}, "version": version,
                           "thin": {"const": True}, "record_url": {"type": "string", "format": "uri"}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{definition.get('unique_name', '')} ({object_type}) notifications",
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"enum": [f"{object_type}.created", f"{object_type}.updated"]},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {
                "type": "object",
                "additionalProperties": False,
                "required": ["definition", "organization_id", "notifications"],
                "properties": {
                    "definition": {"type": "object", "required": ["id", "unique_name", "object"],
                                   "properties": {"id": {"const": definition.get("id")},
                                                  "unique_name": {"type": "string"},
                                                  "object": {"const": object_type}}},
                    "organization_id": {"type": "string"},
                    "notifications": {"type": "array", "minItems": 1, "maxItems": MAX_NOTIFICATIONS,
                                      "items": {"oneOf": [full, thin]}},
                },
            },
        },
    }
