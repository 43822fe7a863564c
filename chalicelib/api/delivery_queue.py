"""The outbound message queue as Salesforce's monitoring page shows it: pending and failed SOAP deliveries."""

from __future__ import annotations

from typing import Any

from chalice.app import Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import known_parameters, page_limit, parse, reply
from chalicelib.api.routing import Routes
from chalicelib.core.errors import ApiError, invalid
from chalicelib.models.messages import MessageRecord, MessageState, SoapPayload
from chalicelib.operations import actions as operations
from chalicelib.stores import message_listing
from chalicelib.stores import messages as message_store

VIEWS: dict[str, list[MessageState]] = {
    "pending": [MessageState.queued, MessageState.sending],
    "failed": [MessageState.failed, MessageState.expired],
    "all": [MessageState.queued, MessageState.sending, MessageState.failed, MessageState.expired],
}
routes = Routes(__name__)


FILTERS = {"definition_id": "definition_id", "object": "payload.object_type"}
RETRY_ALL_LIMIT = 500
MAX_PAGES = 20


class QueueEntry(BaseModel):
    message_id: str
    definition_id: str | None
    object: str | None
    record_ids: list[str]
    notification_ids: list[str]
    state: MessageState
    attempts: int
    next_attempt_at: str | None = Field(description="when the next attempt is due, while queued")
    last_error: str | None
    error_code: str | None
    created_at: str
    deadline: str


def entry(record: MessageRecord) -> QueueEntry:
    payload = record.payload
    soap = payload if isinstance(payload, SoapPayload) else None
    return QueueEntry(
        message_id=record.message_id,
        definition_id=record.definition_id,
        object=soap.object_type if soap else None,
        record_ids=soap.record_ids if soap else [],
        notification_ids=soap.notification_ids if soap else [],
        state=record.state,
        attempts=record.attempts,
        next_attempt_at=record.due_at.isoformat() if record.state == MessageState.queued else None,
        last_error=record.last_error,
        error_code=record.error_code,
        created_at=record.created_at.isoformat(),
        deadline=record.deadline.isoformat(),
    )


@routes.management("/outbound-messages/queue", methods=["GET"], name="list_outbound_queue")
def list_queue(query: dict[str, str] | None) -> Response:
    query = known_parameters(query, {"view", "limit", "cursor", "record_id", *FILTERS})
    view = query.get("view", "all")
    if view not in VIEWS:
        raise invalid("view", f"one of {', '.join(VIEWS)}")
    equals = {"channel": "soap", **{FILTERS[k]: v for k, v in query.items() if k in FILTERS}}
    contains = {"payload.record_ids": query["record_id"]} if "record_id" in query else None
    try:
        records, cursor = message_listing.list_filtered(
            VIEWS[view], page_limit(query.get("limit")), query.get("cursor"), equals=equals, contains=contains
        )
    except message_listing.BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    return reply(200, {"entries": [entry(r).model_dump(mode="json") for r in records], "cursor": cursor})


class RetryAll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition_id: str = Field(min_length=1)
    include_pending: bool = Field(default=False, description="also attempt queued messages now")


@routes.management("/outbound-messages/queue/retry", methods=["POST"], name="retry_outbound_queue")
def retry_all(raw: bytes | None) -> Response:
    """Retry every failed/expired delivery of one definition, up to RETRY_ALL_LIMIT per call."""
    request = parse(RetryAll, raw)
    states = VIEWS["failed"] + ([MessageState.queued] if request.include_pending else [])
    retried: list[str] = []
    skipped: list[dict[str, Any]] = []
    seen: set[str] = set()
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        records, cursor = message_listing.list_filtered(
            states, 100, cursor, equals={"channel": "soap", "definition_id": request.definition_id}
        )
        for record in records:
            if record.message_id in seen:  # retried already and now listed again as queued
                continue
            seen.add(record.message_id)
            try:
                retried.append(operations.retry(record).message_id)
            except operations.NotAllowed as exc:
                skipped.append({"message_id": record.message_id, "reason": str(exc)})
        if cursor is None or len(seen) >= RETRY_ALL_LIMIT:
            break
    body = {"retried": retried, "skipped": skipped, "more": cursor is not None}
    return reply(202, body)


def _soap_record(message_id: str) -> MessageRecord:
    record = message_store.get(message_id)
    if record is None or record.channel != "soap":
        raise ApiError(404, "not_found", f"outbound message delivery {message_id} does not exist")
    return record


@routes.management("/outbound-messages/queue/{message_id}/retry", methods=["POST"], name="retry_outbound_queue_entry")
def retry_one(message_id: str) -> Response:
    try:
        return reply(202, entry(operations.retry(_soap_record(message_id))))
    except operations.NotAllowed as exc:
        raise ApiError(409, "conflict", f"state: {exc}") from exc


@routes.management("/outbound-messages/queue/{message_id}", methods=["DELETE"], name="delete_outbound_queue_entry")
def delete_one(message_id: str) -> Response:
    try:
        operations.delete(_soap_record(message_id))
    except operations.NotAllowed as exc:
        raise ApiError(409, "conflict", f"state: {exc}") from exc
    return Response(body="", status_code=204)
