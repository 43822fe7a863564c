"""What a message costs in DynamoDB, priced by DynamoDB's rules over the items really written (bench/pricing.py)
with the indexes infra/template.yaml declares: the floor, not the whole-record indexes of before."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import boto3

from bench import pricing
from chalicelib.core import clock, ids, lifecycle
from chalicelib.models.messages import (
    MessageSource,
    MessageState,
    SmsPayload,
    SoapPayload,
)
from chalicelib.operations import migrate_messages
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import to_item
from chalicelib.platform.settings import get_settings
from chalicelib.stores import message_listing, payloads, transitions
from chalicelib.stores import messages as message_store
from chalicelib.stores.messages import new_record

LATER = timedelta(days=30)  # never due: the runtime's sweep leaves these records alone


def sms(tag: str) -> Any:
    now = clock.now()
    callback = f"https://abcdef1234.execute-api.eu-west-1.amazonaws.com/api/webhooks/twilio/status?message_id={tag}"
    return new_record(
        ids.deterministic_id("cost", tag), "sms",
        SmsPayload(to="+14155550188", sender="+15005550006", body="Hi Ana, case C-1042 is open. Reply STOP to stop.",
                   status_callback=callback),
        MessageSource(kind="instant", ref=ids.random_id("send")), now, configuration_id=ids.random_id("cfg"),
    ).model_copy(update={"due_at": now + LATER, "contact_key": "sms#+14155550188"})


def priced() -> tuple[pricing.Ledger, Any]:
    """Hooks on the handlers' own DynamoDB client (botocore copies a session's hooks into a client when it
    creates it, so the client's are the ones that count)."""
    ledger = pricing.Ledger()
    return ledger, pricing.capture(aws.client("dynamodb").meta.events, ledger)


def of_messages(ledger: pricing.Ledger) -> dict[str, int]:
    """The message store's units (the runtime's own pollers and ticks run meanwhile, on other tables)."""
    return {k: v for k, v in ledger.writes.items() if k.startswith("message-store") and v}


def test_an_sms_life_costs_one_write_unit_per_write_and_one_per_index_it_needs(runtime: Any) -> None:
    ledger, remove = priced()
    try:
        record = sms(ids.random_id("life"))
        assert message_store.create(record) is None
        now = clock.now()
        claimed = transitions.run(record, lifecycle.Claimed(0, now + LATER, now + LATER + timedelta(seconds=90)))
        sid = "SM" + "0" * 32
        sent = transitions.run(claimed.record, lifecycle.Accepted(1, now, sid))
        delivered = transitions.run(sent.record, lifecycle.Reported(
            "twilio", 1, sid, "delivered", MessageState.delivered, "Twilio reported delivered", None, now))
        assert claimed.changed and sent.changed and delivered.changed
    finally:
        remove()
    # Created, claimed, sent, delivered: one unit each; by_time and by_contact_keys once, at creation; no
    # index rewritten by a state change (the whole-record indexes of before cost 13 more units per SMS).
    assert of_messages(ledger) == {"message-store": 4, "message-store:by_time": 1,
                                   "message-store:by_contact_keys": 1}
    assert ledger.largest["message-store"] <= 1024


def test_a_message_that_dies_enters_the_attention_index_and_a_retry_leaves_it(runtime: Any) -> None:
    record = sms(ids.random_id("dies"))
    assert message_store.create(record) is None
    now = clock.now()
    claimed = transitions.run(record, lifecycle.Claimed(0, now + LATER, now + LATER + timedelta(seconds=90)))
    ledger, remove = priced()
    try:
        dead = transitions.run(claimed.record, lifecycle.Refused(1, now, "21211 invalid number", "21211"))
        failed = message_listing.list_filtered([MessageState.failed], 100, days=2, equals={"channel": "sms"})[0]
        message_store.apply(dead.record, lifecycle.decide(dead.record, lifecycle.Retried(now, now + LATER)), now)
    finally:
        remove()
    assert record.message_id in {r.message_id for r in failed}
    assert ledger.writes["message-store:by_attention"] == 3  # entered (1); its sort key moved on the retry (2)


def test_large_payloads_are_compressed_or_claim_checked_and_read_back_whole(runtime: Any) -> None:
    now = clock.now()
    wide = "".join(f"<sf:Field{i}>{os.urandom(600).hex()}</sf:Field{i}>" for i in range(50))
    envelope = "<soapenv:Envelope>" + wide * 10 + "</soapenv:Envelope>"  # ~600 KB, incompressible values
    big = new_record(ids.random_id("big"), "soap",
                     SoapPayload(endpoint_url="https://erp.example.com/ack", envelope=envelope,
                                 notification_ids=["04l000000000001AAA"]),
                     MessageSource(kind="stream", ref="t"), now).model_copy(update={"due_at": now + LATER})
    small = sms(ids.random_id("small"))
    assert message_store.create(big) is None and message_store.create(small) is None
    raw = aws.client("dynamodb").get_item(TableName=get_settings().messages_table,
                                          Key=to_item({"message_id": big.message_id}))["Item"]
    assert payloads.CLAIM in raw and payloads.PACKED not in raw and len(json.dumps(raw)) < 4000
    assert message_store.get(big.message_id).payload == big.payload  # type: ignore[union-attr]
    payloads._cache.clear()  # read back from S3 itself, as another container would
    assert message_store.get(big.message_id).payload.envelope == envelope  # type: ignore[union-attr]
    raw_small = aws.client("dynamodb").get_item(TableName=get_settings().messages_table,
                                                Key=to_item({"message_id": small.message_id}))["Item"]
    assert payloads.PACKED in raw_small


def test_records_of_the_table_before_issue_17_are_migrated_and_readable(runtime: Any) -> None:
    """The item form of before (plain payload map, history of maps, due_at and updated_at) in the legacy table
    is copied once into the message store; a second run copies nothing."""
    record = sms(ids.random_id("legacy"))
    old_item = record.model_dump(mode="json", exclude_none=True)
    old_item.update(due_key=old_item["due_at"], contact_sk=old_item["created_at"], pace=None)
    old_item.pop("pace")
    client = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    client.put_item(TableName=get_settings().legacy_messages_table, Item=to_item(old_item))
    first = migrate_messages.migrate()
    assert first["copied"] >= 1 and first["unreadable"] == 0
    assert migrate_messages.migrate()["copied"] == 0
    migrated = message_store.get(record.message_id)
    assert migrated is not None and migrated.payload == record.payload and migrated.history == record.history
    assert migrated.due_at == record.due_at and migrated.updated_at == record.updated_at
