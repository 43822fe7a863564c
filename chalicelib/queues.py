"""SQS edge: channel queues and their dead-letter queues. Triggers enqueue 10 per SendMessageBatch."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

from chalicelib import aws
from chalicelib.models.messages import QueueBody
from chalicelib.settings import get_settings

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


def dead_letter(channel: str, body: QueueBody, reason: str) -> None:
    """Park a dead message on its channel's DLQ, with why, for a later redrive."""
    url = queue_url(get_settings().dlq_name(channel))
    aws.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({**body.model_dump(), "reason": reason}))
