"""EventBridge events as record changes: the stack's rule on the team's bus puts matching events on a queue;
each event an object declares (source, detail-type) is checked as the record API checks a write and written
as that record, so the records stream turns it into rule evaluations exactly as an API write.

One record's events are applied in their own order (an order pointer in the event, else its time, then its
id), whatever order the queue delivers them in: an event older than the one the record holds, delivered twice,
or (with an order pointer) the same change published again, writes nothing. An event that fails the checks is
kept as a stream failure (listed, replayed once the object or the producer is fixed), and its neighbours go on;
only AWS errors return it to the queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import ApiError
from chalicelib.core.event_records import change_from_event, objects_for
from chalicelib.models.records import ObjectSchema
from chalicelib.platform.logs import log
from chalicelib.platform.metrics import emit
from chalicelib.stores import config as config_store
from chalicelib.stores import records as record_store
from chalicelib.triggers.stream_failures import MAX_STORED_RECORD_BYTES, STREAM_FAILURE, StreamFailure, save


def _objects() -> list[ObjectSchema]:
    return [o for o in config_store.list_all(config_store.SCHEMA, ObjectSchema) if o.events is not None]


def failure_id(event: dict[str, Any], object_type: str | None) -> str:
    key = f"{event.get('id')}#{object_type}" if event.get("id") else json.dumps(event, sort_keys=True, default=str)
    return "ef_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _keep(event: dict[str, Any], object_type: str | None, reason: str) -> None:
    kept = len(json.dumps(event, default=str)) <= MAX_STORED_RECORD_BYTES
    save(StreamFailure(
        id=failure_id(event, object_type), kind="event",
        stream_arn=f"events:{str(event.get('source', ''))[:256]}", shard_id="",
        sequence_number=str(event.get("id", ""))[:128], object_type=object_type,
        event_name=str(event.get("detail-type", ""))[:256], reason=reason[:2000], at=clock.iso(clock.now()),
        record=event if kept else None))


def apply(event: dict[str, Any], schema: ObjectSchema) -> str | None:
    """Writes the record `event` leaves; the reason it cannot be written, or None (written, or older than what
    the record holds). AWS errors are raised: the event goes back to the queue."""
    try:
        change = change_from_event(schema, event)
    except ApiError as exc:
        return exc.message
    # A null value is an absent field, as the record API stores it.
    item = {k: v for k, v in {**change.fields, "object_type": change.object_type, "id": change.record_id}.items()
            if v is not None}
    extra = {record_store.PREVIOUS: change.previous} if change.previous is not None else {}
    problem = record_store.oversize({**item, **extra, record_store.ORDER: change.order,
                                     record_store.EVENT: change.event_id})
    if problem:
        return problem
    written = record_store.put_event(item, change.order, change.event_id, change.previous)
    log("record_event.written" if written else "record_event.overtaken", object=change.object_type,
        record_id=change.record_id, event_id=change.event_id)
    return None


def _one(body: str, objects: list[ObjectSchema]) -> None:
    try:
        event = json.loads(body, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    except ValueError as exc:
        _keep({"body": body[:MAX_STORED_RECORD_BYTES // 2]}, None, f"not a JSON event: {exc}")
        return
    if not isinstance(event, dict):
        _keep({"body": body[:MAX_STORED_RECORD_BYTES // 2]}, None, "not a JSON object")
        return
    matched = objects_for(objects, event.get("source"), event.get("detail-type"))
    if not matched:
        log("record_event.unclaimed", source=str(event.get("source"))[:256],
            detail_type=str(event.get("detail-type"))[:256])
        return
    for schema in matched:
        reason = apply(event, schema)
        if reason is not None:
            emit({"RecordEventsRefused": 1}, channel="events", object=schema.name)
            _keep(event, schema.name, reason)


def handle(records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """SQS batch: each event on its own; one that hit an AWS error is retried by SQS alone."""
    objects = _objects()
    failures = []
    for raw in records:
        try:
            _one(str(raw.get("body", "")), objects)
        except Exception as exc:  # noqa: BLE001 - this event alone goes back to the queue
            log("record_event.retry", logging.ERROR, error=f"{type(exc).__name__}: {exc}"[:500])
            failures.append({"itemIdentifier": raw["messageId"]})
    return {"batchItemFailures": failures}


def replay(failure: StreamFailure) -> list[str]:
    """An operator's replay: the kept event read again against the object as it is now."""
    event = failure.record
    if event is None or "body" in event and "id" not in event:
        return ["nothing to replay: the event was not kept whole"]
    schema = config_store.get(config_store.SCHEMA, failure.object_type or "", ObjectSchema)
    if schema is None or schema.events is None:
        return [f"object {failure.object_type} no longer takes events"]
    reason = apply(event, schema)
    if reason is None:
        config_store.delete(STREAM_FAILURE, failure.id)
        return []
    return [reason]
