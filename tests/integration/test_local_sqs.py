"""The local runtime's moto SQS corrections (local/lazy_sqs.py) change its cost, not its answers: counts, receives
and long polls behave as before, whatever the queue's depth."""

from __future__ import annotations

import threading
import uuid
from typing import Any


def fresh_queue(runtime: Any) -> tuple[Any, str]:
    sqs = runtime.client("sqs")
    return sqs, sqs.create_queue(QueueName=f"lazy-{uuid.uuid4().hex[:8]}")["QueueUrl"]


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(found[names[0]]), int(found[names[1]]), int(found[names[2]])


def test_counts_and_receives_are_sqs_answers(runtime: Any) -> None:
    sqs, url = fresh_queue(runtime)
    for start in range(0, 30, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"}
                                                       for i in range(10)])
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"later{i}", "DelaySeconds": 600}
                                                   for i in range(5)])
    assert counts(sqs, url) == (30, 0, 5)
    taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600)["Messages"]
    assert len(taken) == 10 and all(m["Body"].startswith("m") for m in taken)
    assert counts(sqs, url) == (20, 10, 5)
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                     for i, m in enumerate(taken)])
    assert counts(sqs, url) == (20, 0, 5)
    rest = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages"):
        rest += batch
    assert len(rest) == 20 and {m["Body"] for m in rest} == {f"m{i}" for i in range(30)} - {m["Body"] for m in taken}


def test_a_long_poll_on_an_empty_queue_waits_then_wakes_for_a_message(runtime: Any) -> None:
    sqs, url = fresh_queue(runtime)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages") is None
    threading.Timer(0.3, lambda: sqs.send_message(QueueUrl=url, MessageBody="late")).start()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages")
    assert got and got[0]["Body"] == "late"
