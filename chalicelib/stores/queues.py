"""SQS edge: channel queues and their dead-letter queues. Triggers enqueue 10 per SendMessageBatch."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

from chalicelib.models.messages import QueueBody
from chalicelib.platform import aws
from chalicelib.platform.settings import get_settings

_urls: dict[str, str] = {}
_lock = threading.Lock()
BATCH = 10


class EnqueueFailed(RuntimeError):
    pass


def queue_url(name: str) -> str:
    """Resolved once per container: names are per-stage configuration, URLs hold the account id."""
    if name not in _urls:
        url = aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        with _lock:
            _urls[name] = url
    return _urls[name]


def reset() -> None:
    _urls.clear()


def _send_batch(url: str, bodies: Sequence[str], delay: int) -> None:
    entries = [{"Id": str(i), "MessageBody": body, "DelaySeconds": delay} for i, body in enumerate(bodies)]
    for _ in range(3):
        answer = aws.client("sqs").send_message_batch(QueueUrl=url, Entries=entries)
        failed = {f["Id"] for f in answer.get("Failed", [])}
        if not failed:
            return
        entries = [e for e in entries if e["Id"] in failed]
    raise EnqueueFailed(f"{len(entries)} messages could not be enqueued on {url}")


def enqueue(channel: str, bodies: Sequence[QueueBody], delay: int = 0) -> None:
    url = queue_url(get_settings().queue_name(channel))
    texts = [b.model_dump_json() for b in bodies]
    for start in range(0, len(texts), BATCH):
        _send_batch(url, texts[start : start + BATCH], delay)


BACKLOG = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")


def waiting(channel: str) -> int:
    """Messages on the channel's queue that are visible or received and not yet deleted (SQS's approximate
    counts). In flight counts too: the tail of a batch a sender has received is not claimed yet, and a message
    a crashed sender held comes back; neither is lost (the load test found the first)."""
    return _depth(get_settings().queue_name(channel))


def parked(channel: str) -> int:
    """Entries on the channel's dead-letter queue (SQS's approximate count: visible and in flight)."""
    return _depth(get_settings().dlq_name(channel))


def _depth(queue_name: str) -> int:
    answer = aws.client("sqs").get_queue_attributes(QueueUrl=queue_url(queue_name), AttributeNames=list(BACKLOG))
    return sum(int(answer["Attributes"].get(name, "0")) for name in BACKLOG)


def dead_letter(channel: str, body: QueueBody, reason: str) -> None:
    """Park a dead message on its channel's DLQ, with why, for a later redrive."""
    url = queue_url(get_settings().dlq_name(channel))
    aws.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({**body.model_dump(), "reason": reason}))


def release(receipt_handles: Sequence[str], queue_arn: str) -> None:
    """Make received messages visible again now (a sender that ran out of time hands them back). Best effort:
    if this fails they come back after the visibility timeout anyway."""
    handles = [h for h in receipt_handles if h]
    name = queue_arn.rsplit(":", 1)[-1]
    if not handles or not name:
        return
    try:
        url = queue_url(name)
        for start in range(0, len(handles), BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + BATCH])
            ]
            aws.client("sqs").change_message_visibility_batch(QueueUrl=url, Entries=entries)
    except Exception as exc:  # noqa: BLE001 - see above
        from chalicelib.platform.logs import log

        log("queue.release_failed", error=f"{type(exc).__name__}: {exc}")
