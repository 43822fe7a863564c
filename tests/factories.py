"""Lambda-shaped events for handler tests (chalice.test has no DynamoDB-stream generator, and its SQS
generator gives every record the same messageId)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from chalicelib.platform.dynamo_codec import to_item

_sequence = itertools.count(1000)


def stream_record(
    event_name: str, object_type: str, record_id: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None,
    stream_arn: str = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
) -> dict[str, Any]:
    keys = {"object_type": object_type, "id": record_id}
    dynamodb: dict[str, Any] = {
        "Keys": to_item(keys), "SequenceNumber": str(next(_sequence)), "StreamViewType": "NEW_AND_OLD_IMAGES",
        "SizeBytes": 100,
    }
    if new is not None:
        dynamodb["NewImage"] = to_item({**keys, **new})
    if old is not None:
        dynamodb["OldImage"] = to_item({**keys, **old})
    return {"eventID": uuid.uuid4().hex, "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": dynamodb, "eventSourceARN": stream_arn}


def sqs_event(bodies: list[str], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:q") -> dict[str, Any]:
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": uuid.uuid4().hex, "body": body, "attributes": {},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1"} for body in bodies]}


class Invoked:
    def __init__(self, payload: Any) -> None:
        self.payload = payload


class Lambdas:
    """Invokes the app's event handlers with a Lambda-like context whose remaining time is the function's
    configured timeout (chalice.test's context always says 3 s, which the senders' time budget would act on)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def invoke(self, function_name: str, event: dict[str, Any], timeout_s: float | None = None) -> Invoked:
        from local.runtime import LambdaLikeContext

        context = LambdaLikeContext(function_name, timeout_s)  # sub-second budgets for the time-budget tests
        return Invoked(getattr(self.runtime.app_module, function_name)(event, context))


def claim(record: Any, attempt: int, now: Any, lease_until: Any) -> Any:
    """A sender's claim of `attempt`, through the lifecycle (raises Conflict when it is not claimed)."""
    from chalicelib.core import lifecycle
    from chalicelib.stores import messages as message_store
    from chalicelib.stores import transitions

    current = message_store.get(record if isinstance(record, str) else record.message_id)
    if current is None:
        raise message_store.Conflict(None)
    result = transitions.run(current, lifecycle.Claimed(attempt, now, lease_until))
    if not result.changed:
        raise message_store.Conflict(result.record)
    return result.record
