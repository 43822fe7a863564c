"""Records in the stack's own records table: written whole, one version up; each change can fire rules."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from chalice.app import Response
from pydantic import BaseModel

from chalicelib.api.http import page_limit, parse, reply, versioned_reply
from chalicelib.api.objects import get_schema
from chalicelib.api.routing import Routes
from chalicelib.api.versioned import filters, versioned
from chalicelib.core import record_checks
from chalicelib.core.errors import ApiError, invalid, not_found
from chalicelib.core.record_checks import RECORD_ID_FORM
from chalicelib.core.versions import expected_version, stale
from chalicelib.models.records import OBJECT_NAME, ObjectSchema, RecordInput
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import BadCursor, from_item, to_item
from chalicelib.platform.settings import get_settings
from chalicelib.stores import config as config_store
from chalicelib.stores import records as record_store

routes = Routes(__name__)


WRITE_ATTEMPTS = 25


@routes.management("/records/{object_type}/{record_id}", methods=["PUT"])
def put_record(object_type: str, record_id: str, raw: bytes | None, if_match: str | None = None) -> Response:
    """The record replaced whole, one version up (If-Match: only over that version, 412 otherwise); each
    version is what latest-wins definitions order by."""
    if not OBJECT_NAME.match(object_type):
        raise invalid("object_type", "must start with a letter and hold letters, digits, underscores (at most 80)")
    if not RECORD_ID_FORM.match(record_id):
        raise invalid("id", "must be 1 to 64 letters, digits or . _ : @ + -")
    record = parse(RecordInput, raw)
    schema = get_schema(object_type)
    record_checks.check_id(schema, record_id)
    fields = record_checks.checked_fields(schema, dict(record.fields))
    plain = {k: v for k, v in {**fields, "object_type": object_type, "id": record_id}.items() if v is not None}
    if message := record_store.oversize(plain):
        raise ApiError(413, "too_large", f"fields: {message}", [{"field": "fields", "message": message}])
    for attempt in range(WRITE_ATTEMPTS):  # each round of racing writers has one winner
        if attempt:
            time.sleep(random.uniform(0, 0.01 * attempt))  # noqa: S311 - jitter, not security
        current = record_store.current_version(object_type, record_id)
        expected = expected_version(if_match, current) if if_match else current
        try:
            version = record_store.put(plain, expected)
            break
        except record_store.Stale as exc:
            if if_match:
                raise stale(exc) from exc
    else:
        raise ApiError(409, "conflict", "id: the record is being written by others; try again",
                       [{"field": "id", "message": "written concurrently"}])
    return versioned_reply(200, RecordView(object_type=object_type, id=record_id, fields=fields), version)


@routes.management("/records/{object_type}/{record_id}", methods=["GET"])
def get_record(object_type: str, record_id: str) -> Response:
    found = aws.client("dynamodb").get_item(
        TableName=get_settings().records_table, Key=to_item({"object_type": object_type, "id": record_id})
    )
    if "Item" not in found:
        raise not_found(f"{object_type} record", record_id)
    data = from_item(found["Item"])
    data.pop("object_type")
    version = int(data.pop(record_store.VERSION, 0))
    shown = {k: v for k, v in data.items() if k != "id" and not record_store.internal(k)}
    return versioned_reply(200, RecordView(object_type=object_type, id=str(data["id"]), fields=shown), version)


class RecordView(BaseModel):
    object_type: str
    id: str
    fields: dict[str, Any]


@routes.management("/records/{object_type}", methods=["GET"])
def list_records(object_type: str, query: Mapping[str, str] | None) -> Response:
    """An object's records in id order (`limit` up to 100, `cursor`)."""
    wanted = filters(query, set())
    versioned(config_store.SCHEMA, object_type, ObjectSchema, "object")
    try:
        records, cursor = record_store.page(object_type, page_limit(wanted.get("limit"), 100), wanted.get("cursor"))
    except BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    return reply(200, {"object_type": object_type, "records": records, "cursor": cursor})


@routes.management("/records/{object_type}/{record_id}", methods=["DELETE"])
def delete_record(object_type: str, record_id: str) -> Response:
    """Removes the record; no rule fires on a removal, and messages already built from it stay as they are."""
    if not record_store.delete(object_type, record_id):
        raise ApiError(404, "not_found", f"{object_type} record {record_id} does not exist")
    return Response(body="", status_code=204)

