"""Throughput of (a) trigger -> render -> enqueue and (b) SQS -> sender -> loopback provider -> record update,
with the CPU time this process spends per message and the AWS calls it makes, for SMS and for SOAP."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench.providers import ACCOUNT_SID, AUTH_TOKEN
from bench.stage import Stage
from chalicelib.platform import aws, http_client
from chalicelib.platform.dynamo_codec import to_item
from local.runtime import sqs_batch

SQS_CALLS = ("sqs:SendMessageBatch", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessageBatch")


@dataclass
class Phase:
    count: int  # messages (SMS) or notifications (SOAP)
    messages: int  # queue messages / provider requests
    wall: float
    cpu: float
    calls: Counter[str]
    call_seconds: Counter[str]

    @property
    def per_second(self) -> float:
        return self.count / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.count * 1e6


def measure(stage: Stage, count: int, messages: int, work: Callable[[], None]) -> Phase:
    stage.calls.clear()
    stage.call_seconds.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Phase(count, messages, wall, cpu, Counter(stage.calls), Counter(stage.call_seconds))


def _api(call: Callable[[bytes], Any], body: dict[str, Any]) -> str:
    """Configuration goes through the API's own functions (validation included), not around them."""
    response = call(json.dumps(body).encode())
    assert response.status_code in (200, 201), response.body
    return str(response.body["id"])


def drain(channel: str, expected: int, batch_size: int = 10) -> None:
    """Lambda's SQS event source, one function instance: batches of `batch_size` until `expected` were processed."""
    import app

    handler = getattr(app, f"send_{channel}")
    from chalicelib.platform.settings import get_settings

    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().queue_name(channel))["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:123456789012:{get_settings().queue_name(channel)}"
    done = 0
    idle = 0
    while done < expected:
        received = sqs_batch(sqs, url, arn, handler, batch_size, 0)
        done += received
        idle = 0 if received else idle + 1
        if idle > 50:
            raise RuntimeError(f"{channel}: queue ran dry after {done} of {expected}")


# --- SMS ----------------------------------------------------------------------------------------------------


def _send_all(requests: list[Any]) -> None:
    from chalicelib.triggers import instant

    for request in requests:
        instant.send(request)


def sms_configuration() -> str:
    from chalicelib.api import configurations, templates

    template = _api(
        templates.create_template,
        {
            "name": "Bench",
            "channel_type": "sms",
            "default_locale": "en-US",
            "bodies": {
                "en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is {{ status }}.",
                "fr-FR": "Bonjour {{ CustomerName }}, le dossier {{ CaseName }} est {{ status }}.",
            },
        },
    )
    return _api(
        configurations.create_configuration,
        {"name": "Bench SMS", "channel_type": "sms", "channel": "+15005550006", "template_id": template},
    )


def sms_requests(configuration_id: str, count: int, offset: int, per_send: int = 100) -> Iterator[Any]:
    from chalicelib.models.customer import InstantSendRequest

    for start in range(0, count, per_send):
        contacts = [
            {
                "tocontactid": f"+14152{offset + start + i:06d}",
                "locale": "fr-FR" if i % 2 else "en-US",
                "CustomerName": f"Customer {i}",
                "CaseName": f"C-{start + i}",
                "contextitems": {"status": "open"},
            }
            for i in range(min(per_send, count - start))
        ]
        yield InstantSendRequest.model_validate({"configuration_id": configuration_id, "contacts": contacts})


CHUNK = 500  # trigger this many, then drain them: moto's SQS scans the whole queue on every call


def combine(phases: list[Phase]) -> Phase:
    calls: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for phase in phases:
        calls.update(phase.calls)
        seconds.update(phase.call_seconds)
    return Phase(
        sum(p.count for p in phases),
        sum(p.messages for p in phases),
        sum(p.wall for p in phases),
        sum(p.cpu for p in phases),
        calls,
        seconds,
    )


def run_sms(stage: Stage, count: int, offset: int) -> tuple[Phase, Phase]:

    configuration_id = sms_configuration()
    requests = list(sms_requests(configuration_id, count, offset))  # request parsing is the API's, not timed
    before = stage.provider_counts()[0]
    triggers, senders = [], []
    per_chunk = CHUNK // 100
    for start in range(0, len(requests), per_chunk):
        chunk = requests[start : start + per_chunk]
        size = sum(len(r.contacts) for r in chunk)
        triggers.append(measure(stage, size, size, partial(_send_all, chunk)))
        senders.append(measure(stage, size, size, partial(drain, "sms", size)))
    trigger, sender = combine(triggers), combine(senders)
    received = stage.provider_counts()[0] - before
    if received != count:
        raise RuntimeError(f"sms: the provider received {received} requests for {count} messages")
    return trigger, sender


# --- SOAP ---------------------------------------------------------------------------------------------------


def soap_definition(stage: Stage, object_type: str, ordering: str = "none") -> None:
    from chalicelib.api import definitions, objects, rules

    schema = {"name": object_type, "fields": {"Subject": "string", "Status": "string", "Priority": "int"}}
    response = objects.put_object_schema(object_type, json.dumps(schema).encode(), None)
    assert response.status_code in (200, 201), response.body
    definition = _api(
        definitions.create_definition,
        {
            "object": object_type,
            "name": "Bench",
            "unique_name": "Bench",
            "endpoint_url": stage.soap_url,
            "fields": ["Subject", "Status", "Priority"],
            "ordering": ordering,
        },
    )
    _api(
        rules.create_rule,
        {"object": object_type, "name": "Created", "evaluation": "created", "definition_ids": [definition]},
    )


def stream_batches(object_type: str, count: int, per_batch: int = 100) -> list[list[dict[str, Any]]]:
    """Lambda-shaped INSERT records, `per_batch` per batch (100: the stream mapping's batch size)."""
    batches = []
    sequence = 10**20
    for start in range(0, count, per_batch):
        batch = []
        for i in range(start, min(count, start + per_batch)):
            sequence += 1
            keys = {"object_type": object_type, "id": f"500bench{i:010d}"}
            fields = {"Subject": f"Subject {i}", "Status": "New", "Priority": i % 5}
            batch.append(
                {
                    "eventID": uuid.uuid4().hex,
                    "eventName": "INSERT",
                    "eventSource": "aws:dynamodb",
                    "dynamodb": {
                        "Keys": to_item(keys),
                        "NewImage": to_item({**keys, **fields}),
                        "SequenceNumber": str(sequence),
                        "StreamViewType": "NEW_AND_OLD_IMAGES",
                    },
                }
            )
        batches.append(batch)
    return batches


def run_soap(stage: Stage, count: int) -> tuple[Phase, Phase]:
    import app

    object_type = "Bench" + uuid.uuid4().hex[:8]
    soap_definition(stage, object_type)
    batches = stream_batches(object_type, count)
    messages = len(batches)
    before = stage.provider_counts()

    def trigger_all() -> None:
        for batch in batches:
            result = app.on_record_change({"Records": batch}, None)
            assert not result["batchItemFailures"], result

    trigger = measure(stage, count, messages, trigger_all)
    sender = measure(stage, count, messages, lambda: drain("soap", messages))
    after = stage.provider_counts()
    if (after[1] - before[1], after[2] - before[2]) != (messages, count):
        raise RuntimeError(f"soap: listener got {after[1] - before[1]} messages, {after[2] - before[2]} notifications")
    return trigger, sender


# --- the providers' own capacity ----------------------------------------------------------------------------


def provider_capacity(stage: Stage, requests: int = 2000) -> float:
    """Requests per second one sequential client gets from the loopback Twilio (same HTTP client as ours)."""
    import base64

    url = f"{stage.twilio_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    body = b"To=%2B14155550100&From=%2B15005550006&Body=capacity"
    start = time.perf_counter()
    for _ in range(requests):
        answer = http_client.post(url, body, headers, timeout=10, max_bytes=65536)
        assert answer.status == 201, answer.body
    return requests / (time.perf_counter() - start)
