"""Message records in DynamoDB. Every state change is one conditional UpdateItem, so redelivered
triggers and duplicate queue messages cannot move a record twice (at least once in, exactly once out)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import iso
from chalicelib.core.texts import clip
from chalicelib.models.messages import (
    ENTERED_FROM,
    Channel,
    MessageRecord,
    MessageSource,
    MessageState,
    Payload,
    StateChange,
)
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import BadCursor, from_item, to_item, to_value
from chalicelib.platform.dynamo_codec import cursor_in as _cursor_in
from chalicelib.platform.dynamo_codec import cursor_out as _cursor_out
from chalicelib.platform.settings import get_settings

STATE_INDEX = "by_state"
# Texts that come from outside (provider errors, listener answers, exception messages) are clipped before they
# are stored: a 900 KB answer inside <Ack> must not make the record unwritable.
TRUNCATED_FIELDS = ("last_error", "error_code", "provider_status", "provider_message_id")
CONTACT_INDEX = "by_contact"


def new_record(
    message_id: str,
    channel: Channel,
    payload: Payload,
    source: MessageSource,
    now: datetime,
    *,
    definition_id: str | None = None,
    configuration_id: str | None = None,
) -> MessageRecord:
    deadline = now + timedelta(hours=get_settings().deadline_hours(channel))
    return MessageRecord(
        message_id=message_id,
        channel=channel,
        created_at=now,
        updated_at=now,
        deadline=deadline,
        due_at=now,
        source=source,
        payload=payload,
        definition_id=definition_id,
        configuration_id=configuration_id,
        history=[StateChange(state=MessageState.queued, at=now)],
    )


def _table() -> str:
    return get_settings().messages_table


def _item(record: MessageRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude_none=True)
    data["due_key"] = iso(record.due_at)
    if not record.pace:
        data.pop("pace", None)
    if record.contact_key:
        data["contact_sk"] = iso(record.created_at)
    return to_item(data)


def _record(item: dict[str, Any]) -> MessageRecord:
    data = from_item(item)
    data.pop("due_key", None)
    data.pop("contact_sk", None)
    return MessageRecord.model_validate(data)


def create(record: MessageRecord) -> MessageRecord | None:
    """Insert a new record; returns the stored one when it already existed (a redelivered trigger)."""
    try:
        aws.client("dynamodb").put_item(
            TableName=_table(),
            Item=_item(record),
            ConditionExpression="attribute_not_exists(message_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            old = (getattr(exc, "response", None) or {}).get("Item")
            return _record(old) if old else get(record.message_id)
        raise
    return None


PARALLEL_WRITES = 10


def create_many(records: list[MessageRecord]) -> dict[str, MessageRecord | None]:
    """`create` for many records, up to 10 conditional PutItems in flight: message id -> the record that
    already existed, or None if ours was written.

    Why not one TransactWriteItems per 25 or 100: it costs 2 write units per item, and moto (the local stage,
    the tests) copies every table for each transaction, which makes it slower with every record stored.
    Parallel puts keep 1 write unit per record and cut an instant send of 100 contacts to ~10 round trips.
    """
    unique = list({r.message_id: r for r in records}.values())
    if len(unique) <= 1:
        return {r.message_id: create(r) for r in unique}
    from concurrent.futures import ThreadPoolExecutor

    aws.client("dynamodb")  # created once here, not raced for by the workers
    with ThreadPoolExecutor(max_workers=min(PARALLEL_WRITES, len(unique))) as pool:
        return dict(zip((r.message_id for r in unique), pool.map(create, unique), strict=True))


def get(message_id: str) -> MessageRecord | None:
    found = aws.client("dynamodb").get_item(
        TableName=_table(), Key=to_item({"message_id": message_id}), ConsistentRead=True
    )
    return _record(found["Item"]) if "Item" in found else None


class Conflict(Exception):
    """The record was not in a state that allows the change; carries what it is now."""

    def __init__(self, current: MessageRecord | None) -> None:
        super().__init__("message record changed underneath")
        self.current = current


def _update(
    message_id: str,
    condition: str,
    values: dict[str, Any],
    sets: dict[str, Any],
    change: StateChange,
) -> MessageRecord:
    sets = {**sets, "state": change.state.value, "updated_at": change.at, "due_key": iso(sets["due_at"])}
    sets.update({k: clip(v) for k, v in sets.items() if k in TRUNCATED_FIELDS and isinstance(v, str)})
    change = change.model_copy(update={"detail": clip(change.detail)})
    present = {k: v for k, v in sets.items() if v is not None}
    removes = [k for k, v in sets.items() if v is None]
    clauses = ["history = list_append(history, :history)", *(f"#f_{k} = :v_{k}" for k in present)]
    update = "SET " + ", ".join(clauses) + (" REMOVE " + ", ".join(f"#f_{k}" for k in removes) if removes else "")
    attr_values = {f":v_{k}": v for k, v in present.items()}
    attr_values[":history"] = [change.model_dump(mode="json", exclude_none=True)]
    serial = {
        k: to_value(v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v)
        for k, v in {**attr_values, **values}.items()
    }
    try:
        answer = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key=to_item({"message_id": message_id}),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={**{f"#f_{k}": k for k in sets}, "#state": "state"},
            ExpressionAttributeValues=serial,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            old = (getattr(exc, "response", None) or {}).get("Item")
            raise Conflict(_record(old) if old else None) from exc
        raise
    return _record(answer["Attributes"])


def mark_swept(record: MessageRecord, now: datetime) -> bool:
    """Move a stuck record's due time to now, once: True for the one sweep (of two racing) that gets to
    re-enqueue it; the record then looks stuck again only after another grace period."""
    try:
        aws.client("dynamodb").update_item(
            TableName=_table(),
            Key=to_item({"message_id": record.message_id}),
            UpdateExpression="SET due_at = :now, due_key = :now",
            ConditionExpression="due_key = :old AND #state = :state AND attempts = :attempts",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":now": to_value(iso(now)), ":old": to_value(iso(record.due_at)),
                ":state": to_value(record.state.value), ":attempts": to_value(record.attempts),
            },
        )
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            return False
        raise
    return True


def claim(message_id: str, attempt: int, now: datetime, lease_until: datetime) -> MessageRecord:
    """queued -> sending for the attempt the queue message names, or take over a crashed sender's lease."""
    condition = (
        "(#state = :queued AND attempts = :a AND due_key <= :now)"
        " OR (#state = :sending AND attempts = :a1 AND due_key < :now)"
    )
    values = {":queued": "queued", ":sending": "sending", ":a": attempt, ":a1": attempt + 1, ":now": iso(now)}
    return _update(
        message_id,
        condition,
        values,
        {"attempts": attempt + 1, "due_at": lease_until},
        StateChange(state=MessageState.sending, at=now, detail=f"attempt {attempt + 1}"),
    )


def finish(
    message_id: str,
    claimed: int,
    target: MessageState,
    now: datetime,
    due_at: datetime,
    detail: str | None = None,
    **fields: Any,
) -> MessageRecord:
    """sending -> target, only for the attempt that claimed it."""
    return _update(
        message_id,
        "#state = :sending AND attempts = :n",
        {":sending": "sending", ":n": claimed},
        {"due_at": due_at, **fields},
        StateChange(state=target, at=now, detail=detail),
    )


def move(
    message_id: str,
    target: MessageState,
    now: datetime,
    due_at: datetime,
    detail: str | None = None,
    *,
    sources: frozenset[MessageState] | None = None,
    **fields: Any,
) -> MessageRecord:
    """An allowed transition from `sources` (default: every state that may enter `target`)."""
    allowed = ENTERED_FROM[target] if sources is None else sources & ENTERED_FROM[target]
    if not allowed:
        raise ValueError(f"no state in {sources} may move to {target.value}")
    sources_sorted = sorted(s.value for s in allowed)
    placeholders = {f":src{i}": s for i, s in enumerate(sources_sorted)}
    condition = f"#state IN ({', '.join(placeholders)})"
    return _update(
        message_id,
        condition,
        placeholders,
        {"due_at": due_at, **fields},
        StateChange(state=target, at=now, detail=detail),
    )


def set_fields(message_id: str, **fields: Any) -> MessageRecord:
    """Annotate a record without changing its state (provider ids, the conversation it belongs to)."""
    names = {f"#f_{k}": k for k in fields}
    answer = aws.client("dynamodb").update_item(
        TableName=_table(),
        Key=to_item({"message_id": message_id}),
        UpdateExpression="SET " + ", ".join(f"#f_{k} = :v_{k}" for k in fields),
        ConditionExpression="attribute_exists(message_id)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v_{k}": to_value(v) for k, v in fields.items()},
        ReturnValues="ALL_NEW",
    )
    return _record(answer["Attributes"])


def last_to_contact(contact_key: str, states: frozenset[MessageState]) -> MessageRecord | None:
    """The newest message to a contact that reached one of `states` (the one a reply answers)."""
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": CONTACT_INDEX,
        "KeyConditionExpression": "contact_key = :c",
        "ExpressionAttributeValues": {":c": to_value(contact_key)},
        "ScanIndexForward": False,
        "Limit": 20,
    }
    for _ in range(5):
        found = aws.client("dynamodb").query(**kwargs)
        for item in found.get("Items", []):
            record = _record(item)
            if record.state in states:
                return record
        if "LastEvaluatedKey" not in found:
            return None
        kwargs["ExclusiveStartKey"] = found["LastEvaluatedKey"]
    return None


def list_by_state(
    state: MessageState, limit: int = 50, cursor: str | None = None, due_before: datetime | None = None
) -> tuple[list[MessageRecord], str | None]:
    condition = "#state = :state"
    values: dict[str, Any] = {":state": to_value(state.value)}
    if due_before is not None:
        condition += " AND due_key < :before"
        values[":before"] = to_value(iso(due_before))
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": STATE_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": {"#state": "state"},
        "ExpressionAttributeValues": values,
        "Limit": limit,
    }
    start = _cursor_in(cursor)
    if start:
        kwargs["ExclusiveStartKey"] = start
    found = aws.client("dynamodb").query(**kwargs)
    return [_record(i) for i in found.get("Items", [])], _cursor_out(found.get("LastEvaluatedKey"))


MAX_QUERIES_PER_PAGE = 10


def list_filtered(
    states: list[MessageState],
    limit: int,
    cursor: str | None = None,
    *,
    equals: dict[str, str] | None = None,
    contains: dict[str, str] | None = None,
    ranges: dict[str, tuple[str | None, str | None]] | None = None,
) -> tuple[list[MessageRecord], str | None]:
    """Records in any of `states` (in that order), filtered on top-level or dotted attributes.

    Filters apply after DynamoDB's Limit, so a page may hold fewer than `limit` records while a cursor is
    still returned; a bounded number of queries per page keeps one call's latency predictable.
    """
    start = _cursor_in(cursor) or {"i": 0, "k": None}
    try:
        index, key = int(start["i"]), start.get("k")
    except (KeyError, TypeError, ValueError) as exc:
        raise BadCursor("not a cursor this API returned") from exc
    names: dict[str, str] = {"#state": "state"}
    values: dict[str, Any] = {}
    clauses: list[str] = []

    def path(attribute: str) -> str:
        parts = []
        for part in attribute.split("."):
            alias = f"#a{len(names)}"
            names[alias] = part
            parts.append(alias)
        return ".".join(parts)

    for n, (attribute, value) in enumerate((equals or {}).items()):
        clauses.append(f"{path(attribute)} = :eq{n}")
        values[f":eq{n}"] = to_value(value)
    for n, (attribute, value) in enumerate((contains or {}).items()):
        clauses.append(f"contains({path(attribute)}, :in{n})")
        values[f":in{n}"] = to_value(value)
    for n, (attribute, (low, high)) in enumerate((ranges or {}).items()):
        if low is not None:
            clauses.append(f"{path(attribute)} >= :lo{n}")
            values[f":lo{n}"] = to_value(low)
        if high is not None:
            clauses.append(f"{path(attribute)} <= :hi{n}")
            values[f":hi{n}"] = to_value(high)
    found: list[MessageRecord] = []
    queries = 0
    while index < len(states) and len(found) < limit and queries < MAX_QUERIES_PER_PAGE:
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": STATE_INDEX,
            "KeyConditionExpression": "#state = :state",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {**values, ":state": to_value(states[index].value)},
            "Limit": limit - len(found),
        }
        if clauses:
            kwargs["FilterExpression"] = " AND ".join(clauses)
        if key:
            kwargs["ExclusiveStartKey"] = key
        answer = aws.client("dynamodb").query(**kwargs)
        queries += 1
        found.extend(_record(i) for i in answer.get("Items", []))
        key = answer.get("LastEvaluatedKey")
        if not key:
            index += 1
    more = index < len(states)
    return found, _cursor_out({"i": index, "k": key}) if more else None
