"""Message records in DynamoDB. Every state change is one conditional UpdateItem, so redelivered
triggers and duplicate queue messages cannot move a record twice (at least once in, exactly once out)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import audit_chain
from chalicelib.core.clock import expires_at, iso
from chalicelib.core.lifecycle import Decision, Expect
from chalicelib.core.texts import clip
from chalicelib.models.messages import (
    Channel,
    MessageRecord,
    MessageSource,
    MessageState,
    Payload,
    StateChange,
)
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings
from chalicelib.stores import message_keys as keys
from chalicelib.stores import payloads

# Texts that come from outside (provider errors, listener answers, exception messages) are clipped before they
# are stored: a 900 KB answer inside <Ack> must not make the record unwritable.
TRUNCATED_FIELDS = ("last_error", "error_code", "provider_status", "provider_message_id")


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
    digest = audit_chain.payload_digest(payload.model_dump(mode="json", exclude_none=True))
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
        history=[StateChange(state=MessageState.queued, at=now, detail=f"payload={digest}")],
    )


def _table() -> str:
    return get_settings().messages_table


def _history_line(change: StateChange) -> str:
    """One history entry as one string ("<at> <state> <detail>"): a map per entry would repeat three attribute
    names in every write unit."""
    return f"{iso(change.at)} {change.state.value}" + (f" {clip(change.detail)}" if change.detail else "")


def _history_entry(line: Any) -> dict[str, Any]:
    if isinstance(line, dict):  # the form written before the message store
        return line
    at, state, *detail = str(line).split(" ", 2)
    return {"at": at, "state": state, "detail": detail[0] if detail else None}


def _item(record: MessageRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude_none=True,
                             exclude={"payload", "history", "due_at", "updated_at", "created_at", "deadline"})
    if not record.pace:
        data.pop("pace", None)
    data["created_at"] = iso(record.created_at)
    data["deadline"] = iso(record.deadline)
    data["due_key"] = iso(record.due_at)
    history = record.history
    if not record.chain and history and not any("payload=" in (c.detail or "") for c in history):
        # Created elsewhere than new_record (a migrated record): its first entry names the payload it holds.
        digest = audit_chain.payload_digest(record.payload.model_dump(mode="json", exclude_none=True))
        first = history[0]
        history = [first.model_copy(update={"detail": f"{first.detail + ' ' if first.detail else ''}payload={digest}"}),
                   *history[1:]]
    data["history"] = [_history_line(c) for c in history]
    if not record.chain:
        data["chain"] = audit_chain.extend([], data["history"], "")
    data["time_pk"] = keys.time_pk(record.created_at, record.message_id)
    data["time_sk"] = keys.time_sk(record.created_at, record.message_id)
    data["expires_at"] = expires_at(record.created_at, get_settings().retention_days)
    if keys.needs_attention(record.state, created=True):
        data["attn_pk"] = keys.attention_pk(record.state, record.message_id)
    data.update(payloads.encode(record.message_id, record.payload.model_dump(mode="json", exclude_none=True)))
    return to_item(data)


STORAGE_ONLY = ("contact_sk", "time_pk", "time_sk", "attn_pk", "expires_at")


def _record(item: dict[str, Any]) -> MessageRecord:
    data = from_item(item)
    for name in STORAGE_ONLY:
        data.pop(name, None)
    data["payload"] = payloads.decode(data)
    due = data.pop("due_key", None)
    data.setdefault("due_at", due)
    history = [_history_entry(line) for line in data.get("history", [])]
    data["history"] = history
    if "updated_at" not in data:
        data["updated_at"] = history[-1]["at"] if history else data["created_at"]
    return MessageRecord.model_validate(data)


def decode_item(item: dict[str, Any]) -> MessageRecord:
    """A stored item (this form, or the one written before the message store) as a record."""
    return _record(item)


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


def get(message_id: str, *, consistent: bool = True) -> MessageRecord | None:
    found = aws.client("dynamodb").get_item(
        TableName=_table(), Key=to_item({"message_id": message_id}), ConsistentRead=consistent
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
    due = sets.pop("due_at")
    if "payload" in sets:  # rebuilt (an operator's retry of an unbuildable message): one stored form only
        encoded = payloads.encode(message_id, sets.pop("payload"))
        sets.update({form: encoded.get(form) for form in (payloads.PLAIN, payloads.PACKED, payloads.CLAIM)})
    sets = {**sets, "state": change.state.value, "due_key": iso(due)}
    sets.update({k: clip(v) for k, v in sets.items() if k in TRUNCATED_FIELDS and isinstance(v, str)})
    sets["attn_pk"] = (keys.attention_pk(change.state, message_id)
                       if keys.needs_attention(change.state, created=False) else None)
    present = {k: v for k, v in sets.items() if v is not None}
    removes = [k for k, v in sets.items() if v is None]
    link = present.pop("chain_link", None)
    clauses = ["history = list_append(history, :history)", *(f"#f_{k} = :v_{k}" for k in present)]
    if link:
        clauses.append("#chain = list_append(if_not_exists(#chain, :empty), :chain)")
    update = "SET " + ", ".join(clauses) + (" REMOVE " + ", ".join(f"#f_{k}" for k in removes) if removes else "")
    attr_values = {f":v_{k}": v for k, v in present.items()}
    attr_values[":history"] = [_history_line(change)]
    if link:
        attr_values.update({":chain": link, ":empty": []})
    serial = {
        k: to_value(iso(v) if isinstance(v, datetime) else v)
        for k, v in {**attr_values, **values}.items()
    }
    try:
        answer = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key=to_item({"message_id": message_id}),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={**{f"#f_{k}": k for k in sets if k != "chain_link"}, "#state": "state",
                                      **({"#chain": "chain"} if link else {})},
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


def audit(record: MessageRecord) -> audit_chain.Verdict:
    """Whether the record's history verifies as a chain and ends at the payload it holds (core/audit_chain.py)."""
    lines = [_history_line(change) for change in record.history]
    return audit_chain.verify(lines, record.chain, record.payload.model_dump(mode="json", exclude_none=True))


def mark_swept(record: MessageRecord, now: datetime) -> bool:
    """Move a stuck record's due time to now, once: True for the one sweep (of two racing) that gets to
    re-enqueue it; the record then looks stuck again only after another grace period."""
    try:
        aws.client("dynamodb").update_item(
            TableName=_table(),
            Key=to_item({"message_id": record.message_id}),
            UpdateExpression="SET due_key = :now",
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


def _expected(expect: tuple[Expect, ...], values: dict[str, Any], also: str) -> str:
    """A decision's Expect alternatives as one condition expression (its placeholders added to `values`), each
    with `also` (DynamoDB refuses redundant parentheses, so the alternatives are not wrapped once more)."""
    alternatives = []
    for i, option in enumerate(expect):
        states = sorted(s.value for s in option.states)
        names = [f":e{i}s{j}" for j in range(len(states))]
        values.update(zip(names, states, strict=True))
        clauses = [f"#state IN ({', '.join(names)})"]
        if option.attempts is not None:
            clauses.append(f"attempts = :e{i}a")
            values[f":e{i}a"] = option.attempts
        if option.due_at_most is not None:
            clauses.append(f"due_key <= :e{i}d")
            values[f":e{i}d"] = iso(option.due_at_most)
        if option.due_before is not None:
            clauses.append(f"due_key < :e{i}b")
            values[f":e{i}b"] = iso(option.due_before)
        alternatives.append("(" + " AND ".join([*clauses, also]) + ")")
    return " OR ".join(alternatives)


def apply(record: MessageRecord, decision: Decision, at: datetime) -> MessageRecord:
    """A decision of core/lifecycle.py, written with one conditional UpdateItem: the record must still be as
    the decision expects it and its history as long as it was read (each entry is chained to the one before).
    Conflict carries the record as it is now, to decide again on."""
    if decision.verdict == "ignore":
        change = StateChange(state=record.state, at=at, detail=f"ignored: {decision.reason}")
        sets: dict[str, Any] = {"due_at": record.due_at}
        values: dict[str, Any] = {":istate": record.state.value, ":hlen": len(record.history)}
        condition = "#state = :istate AND size(history) = :hlen"
    else:
        assert decision.verdict == "apply" and decision.state is not None and decision.due_at is not None
        change = StateChange(state=decision.state, at=at, detail=decision.detail)
        sets = {"due_at": decision.due_at, **decision.fields}
        values = {":hlen": len(record.history)}
        condition = _expected(decision.expect, values, "size(history) = :hlen")
    line = _history_line(change)
    if len(record.chain) == len(record.history):  # records written before the chain stay unchained
        digest = ""
        for old in record.history:
            digest = audit_chain.carried_digest(_history_line(old), digest)
        sets["chain_link"] = audit_chain.extend(record.chain, [line], digest)
    return _update(record.message_id, condition, values, sets, change)


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


def get_many(message_ids: list[str]) -> dict[str, MessageRecord]:
    """Records by id (eventually consistent: listings and the sweep, which re-check with conditional writes)."""
    found: dict[str, MessageRecord] = {}
    wanted = list(dict.fromkeys(message_ids))
    for start in range(0, len(wanted), 100):
        request = {_table(): {"Keys": [to_item({"message_id": m}) for m in wanted[start:start + 100]]}}
        for _ in range(8):
            answer = aws.client("dynamodb").batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(_table(), []):
                record = _record(item)
                found[record.message_id] = record
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
    return found


def last_to_contact(contact_key: str, states: frozenset[MessageState]) -> MessageRecord | None:
    """The newest message to a contact that reached one of `states` (the one a reply answers)."""
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": keys.CONTACT_INDEX,
        "KeyConditionExpression": "contact_key = :c",
        "ExpressionAttributeValues": {":c": to_value(contact_key)},
        "ScanIndexForward": False,
        "Limit": 20,
    }
    for _ in range(5):
        found = aws.client("dynamodb").query(**kwargs)
        ids = [str(from_item(i)["message_id"]) for i in found.get("Items", [])]
        records = get_many(ids)
        for message_id in ids:
            record = records.get(message_id)
            if record is not None and record.state in states:
                return record
        if "LastEvaluatedKey" not in found:
            return None
        kwargs["ExclusiveStartKey"] = found["LastEvaluatedKey"]
    return None
