"""The records stream's on-failure queue, consumed: Lambda sends it only a pointer (shard and sequence range)
for a batch it gave up on, and the stream keeps records for 24 hours. This re-reads that range while it is
there, processes each record on its own, and records every record it still cannot process (or a range the
stream no longer holds) as a stream failure an operator can list and replay (api: /stream-failures).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from chalicelib.core import clock
from chalicelib.platform import aws
from chalicelib.platform.logs import log
from chalicelib.stores import config as config_store
from chalicelib.triggers import stream
from chalicelib.triggers.stream_records import parse

STREAM_FAILURE = "STREAM_FAILURE"
MAX_STORED_RECORD_BYTES = 300_000  # a stream record (two images) kept for replay when it fits in an item
MAX_READS = 50


class BatchInfo(BaseModel):
    """Lambda's `DDBStreamBatchInfo` (the on-failure destination record for a DynamoDB stream)."""

    shardId: str  # noqa: N815 - AWS's field names
    startSequenceNumber: str  # noqa: N815
    endSequenceNumber: str  # noqa: N815
    streamArn: str  # noqa: N815
    batchSize: int | None = None  # noqa: N815


class StreamFailure(BaseModel):
    id: str
    kind: Literal["stream", "event"] = Field(default="stream", description=(
        "a stream record (ours or a fed table's), or an EventBridge event an object declares"))
    stream_arn: str
    shard_id: str
    sequence_number: str
    end_sequence_number: str | None = Field(default=None, description="set when a whole range was lost")
    object_type: str | None = None
    record_id: str | None = None
    event_name: str | None = None
    reason: str
    at: str
    record: dict[str, Any] | None = Field(default=None, description="the stream record, for replay")


def failure_id(shard_id: str, sequence_number: str) -> str:
    return "sf_" + hashlib.sha256(f"{shard_id}#{sequence_number}".encode()).hexdigest()[:24]


def save(failure: StreamFailure) -> None:
    config_store.put(STREAM_FAILURE, failure.id, failure)
    log("stream.failure_recorded", logging.ERROR, failure_id=failure.id, object=failure.object_type,
        record_id=failure.record_id, reason=failure.reason)


def record_unreadable(raw: dict[str, Any], reason: str) -> StreamFailure:
    """A stream record no change could be read from, kept (when it fits an item) for an operator's replay."""
    stream = raw.get("dynamodb") or {}
    sequence = str(stream.get("SequenceNumber", ""))
    arn = str(raw.get("eventSourceARN", ""))
    keys = stream.get("Keys") or {}
    failure = StreamFailure(
        id=failure_id(arn.rsplit("/stream/", 1)[-1] or "stream", sequence),
        stream_arn=arn,
        shard_id="",
        sequence_number=sequence,
        object_type=(keys.get("object_type") or {}).get("S"),
        record_id=(keys.get("id") or {}).get("S"),
        event_name=raw.get("eventName"),
        reason=reason[:2000],
        at=clock.iso(clock.now()),
        record=raw if len(json.dumps(raw, default=str)) <= MAX_STORED_RECORD_BYTES else None,
    )
    save(failure)
    return failure


def _read_range(info: BatchInfo) -> list[dict[str, Any]] | None:
    """The stream records from start to end, or None when the stream no longer holds the start."""
    streams = aws.client("dynamodbstreams")
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=info.streamArn,
            ShardId=info.shardId,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info.startSequenceNumber,
        ).get("ShardIterator")
    except Exception as exc:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
        if code in {"TrimmedDataAccessException", "ResourceNotFoundException", "ValidationException"}:
            return None
        if type(exc).__name__ == "ParamValidationError":  # not a pointer into any stream: nothing to re-read
            return None
        raise
    end = int(info.endSequenceNumber)
    found: list[dict[str, Any]] = []
    for _ in range(MAX_READS):
        if not iterator:
            break
        answer = streams.get_records(ShardIterator=iterator, Limit=100)
        for record in answer.get("Records", []):
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > end:
                return found
            if sequence >= int(info.startSequenceNumber):
                found.append(record)
        if found and int(found[-1]["dynamodb"]["SequenceNumber"]) >= end:
            break
        if not answer.get("Records") and found:
            break
        iterator = answer.get("NextShardIterator")
    return found


def replay_range(info: BatchInfo) -> int:
    """Process each record of the range alone; returns how many could not be processed (and were recorded)."""
    now = clock.iso(clock.now())
    records = _read_range(info)
    if records is None:
        save(StreamFailure(
            id=failure_id(info.shardId, info.startSequenceNumber),
            stream_arn=info.streamArn,
            shard_id=info.shardId,
            sequence_number=info.startSequenceNumber,
            end_sequence_number=info.endSequenceNumber,
            reason="the stream no longer holds these records (24 h retention): write the records again",
            at=now,
        ))
        return 1
    failed = 0
    for raw in records:
        raw = {**raw, "eventSourceARN": info.streamArn}
        try:
            change = parse(raw, stream.feeds([raw]))
            problems = stream.process([change] if change else [])
        except Exception as exc:  # noqa: BLE001 - recorded below, the others go on
            change, problems = None, [("", f"{type(exc).__name__}: {exc}")]
        if not problems:
            continue
        failed += 1
        size = len(json.dumps(raw, default=str))
        save(StreamFailure(
            id=failure_id(info.shardId, raw["dynamodb"]["SequenceNumber"]),
            stream_arn=info.streamArn,
            shard_id=info.shardId,
            sequence_number=raw["dynamodb"]["SequenceNumber"],
            object_type=change.object_type if change else None,
            record_id=change.record_id if change else None,
            event_name=raw.get("eventName"),
            reason="; ".join(reason for _, reason in problems)[:2000],
            at=now,
            record=raw if size <= MAX_STORED_RECORD_BYTES else None,
        ))
    log("stream.range_replayed", records=len(records), failed=failed, shard_id=info.shardId,
        start=info.startSequenceNumber, end=info.endSequenceNumber)
    return failed


def handle(records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """SQS handler: a pointer that cannot be followed now (AWS error) is retried by SQS; one that is not a
    pointer at all is logged and dropped."""
    failures = []
    for raw in records:
        try:
            body = json.loads(raw["body"])
            info = BatchInfo.model_validate(body.get("DDBStreamBatchInfo") or {})
        except (ValueError, ValidationError, AttributeError) as exc:
            log("stream.failure_unreadable", logging.ERROR, error=str(exc)[:500])
            continue
        try:
            replay_range(info)
        except Exception as exc:  # noqa: BLE001 - retried by SQS
            log("stream.failure_replay_failed", logging.ERROR, error=f"{type(exc).__name__}: {exc}")
            failures.append({"itemIdentifier": raw["messageId"]})
    return {"batchItemFailures": failures}


def replay(failure: StreamFailure) -> list[str]:
    """An operator's replay of one recorded failure: its stream record processed again; returns the reasons
    it still fails for (empty: done, and the entry is removed)."""
    if failure.kind == "event":
        from chalicelib.triggers import record_events

        return record_events.replay(failure)
    if failure.record is None:
        return ["nothing to replay: the stream record was not kept; write the record again"]
    try:
        change = parse(failure.record, stream.feeds([failure.record]))
    except Exception as exc:  # noqa: BLE001 - still unreadable: said to the operator, kept
        return [f"{type(exc).__name__}: {exc}"]
    problems = [reason for _, reason in stream.process([change] if change else [])]
    if not problems:
        config_store.delete(STREAM_FAILURE, failure.id)
    return problems
