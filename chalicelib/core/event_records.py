"""EventBridge events read as record changes: which object an event is a change of, and the record it leaves
(id, fields, values before, order among the record's events), checked as the record API checks a write.

Pure: the trigger (triggers/record_events.py) hands in the event and the objects, and stores what comes back.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from chalicelib.core.errors import ApiError, invalid
from chalicelib.core.record_checks import check_id, checked_fields
from chalicelib.models.records import ObjectSchema, RecordInput

MAX_ORDER_TEXT = 200
MAX_ORDER_NUMBER = 10**30


class EventChange(BaseModel):
    """What one event writes: the record's new fields, and the values before when the event carries them."""

    object_type: str
    record_id: str
    fields: dict[str, Any]
    previous: dict[str, Any] | None
    order: str  # sortable text: one record's events are applied in (order, event_id) order
    event_id: str


def resolve(document: Any, pointer: str) -> Any:
    """RFC 6901: the value `pointer` names in `document`; KeyError when it names nothing."""
    if pointer == "":
        return document
    value = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and re.fullmatch(r"0|[1-9][0-9]*", token) and int(token) < len(value):
            value = value[int(token)]
        else:
            raise KeyError(pointer)
    return value


def objects_for(objects: list[ObjectSchema], source: Any, detail_type: Any) -> list[ObjectSchema]:
    return [o for o in objects if o.events is not None and o.events.source == source
            and o.events.detail_type == detail_type]


def _at(detail: Any, pointer: str, what: str) -> Any:
    try:
        return resolve(detail, pointer)
    except KeyError:
        raise invalid(f"detail{pointer}", f"the {what} is not in the event (pointer {pointer!r})") from None


def order_key(value: Any, field: str) -> str:
    """Numbers (non-negative integers) sort before texts; each kind sorts among its own as values do."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_ORDER_NUMBER:
        return f"n{value:030d}"
    if isinstance(value, str) and 0 < len(value) <= MAX_ORDER_TEXT:
        return "s" + value
    raise invalid(field, f"must be a non-negative integer below 10^30 or a text of 1 to {MAX_ORDER_TEXT} characters")


def _values(schema: ObjectSchema, found: Any, field: str) -> dict[str, Any]:
    """The object's fields among `found`'s members, checked as the record API checks them (other members: not
    this object's, ignored)."""
    if not isinstance(found, dict):
        raise invalid(field, "must be a JSON object of field values")
    picked = {name: value for name, value in found.items() if isinstance(name, str) and schema.field_type(name)
              and name != "Id"}
    try:
        record = RecordInput.model_validate({"fields": picked}, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"][1:2])
        raise invalid(f"{field}.{where}" if where else field, str(error["msg"])) from None
    return checked_fields(schema, dict(record.fields), prefix=field)


def change_from_event(schema: ObjectSchema, event: dict[str, Any]) -> EventChange:
    """The record change `event` is for `schema`, or an ApiError naming what in the event is wrong."""
    source = schema.events
    if source is None:
        raise invalid("detail-type", f"{schema.name} takes no events")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise invalid("detail", "must be a JSON object")
    raw_id = _at(detail, source.id_pointer, "record id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        raise invalid(f"detail{source.id_pointer}", "the record id must be a text or an integer")
    record_id = str(raw_id)
    try:
        check_id(schema, record_id)
    except ApiError as exc:
        raise invalid(f"detail{source.id_pointer}", exc.fields[0]["message"]) from None
    fields_at = f"detail{source.fields_pointer}"
    fields = _values(schema, _at(detail, source.fields_pointer, "fields"), fields_at)
    previous = None
    if source.previous_pointer is not None:  # absent or null: a creation, or a change with nothing said before
        try:
            before = resolve(detail, source.previous_pointer)
        except KeyError:
            before = None
        if before is not None:
            previous = _values(schema, before, f"detail{source.previous_pointer}")
    if source.order_pointer is not None:
        order = order_key(_at(detail, source.order_pointer, "order"), f"detail{source.order_pointer}")
    else:
        moment = event.get("time")
        if not isinstance(moment, str) or not moment:
            raise invalid("time", "the event has no time to order it by")
        order = "t" + moment
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise invalid("id", "the event has no id")
    return EventChange(object_type=schema.name, record_id=record_id, fields=fields, previous=previous,
                       order=order, event_id=event_id)
