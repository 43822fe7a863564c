"""A sender's batch, as Lambda hands it over: its deliveries wait on the provider side by side, because that wait
is billed Lambda time; each record still settles on its own."""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock, ids
from chalicelib.models.messages import MessageSource, QueueBody, SmsPayload
from chalicelib.senders import pipeline
from chalicelib.stores import messages as message_store
from chalicelib.stores.messages import new_record


def sqs_record(message_id: str) -> dict[str, Any]:
    return {"messageId": f"sqs-{message_id}", "receiptHandle": f"rh-{message_id}",
            "body": QueueBody(message_id=message_id, attempt=0).model_dump_json(),
            "attributes": {"ApproximateReceiveCount": "1"}, "eventSourceARN": "arn:aws:sqs:us-east-1:0:none"}


def test_a_batch_waits_on_the_provider_side_by_side_and_every_record_settles(runtime: Any) -> None:
    tag = ids.random_id("batch")
    now = clock.now()
    records = [new_record(ids.deterministic_id("test", tag, str(i)), "sms",
                          SmsPayload(to=f"+1202555{30 + i:04d}", sender="+15005550006", body=f"batch {i}"),
                          MessageSource(kind="instant", ref=tag), now) for i in range(6)]
    message_store.create_many(records)
    twilio = runtime.twilio
    twilio.delay_seconds, twilio.most_in_flight = 0.4, 0
    try:
        answer = pipeline.handle_batch("sms", [sqs_record(r.message_id) for r in records])
    finally:
        twilio.delay_seconds = 0.0
    assert answer == {"batchItemFailures": []}
    assert twilio.most_in_flight >= 2  # sequential deliveries never overlap at the provider
    stored = [message_store.get(r.message_id) for r in records]
    assert [s.state.value if s else None for s in stored] == ["sent"] * 6
    numbers = {r.payload.to for r in records}  # type: ignore[union-attr]
    assert sorted(m["To"] for m in twilio.messages() if m.get("To") in numbers) == sorted(numbers)
