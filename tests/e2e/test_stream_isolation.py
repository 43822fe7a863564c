"""A record that can never be sent fails alone, visibly and retryably; the records written with it are sent;
the stream's on-failure pointer is followed and what cannot be processed is recorded. Through the local runtime,
with records written straight into the table (around the API, which refuses such values)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib.soap.envelope import parse_notifications
from tests.conftest import Api, parked_on, unique_object, wait_for
from tests.e2e.test_pipeline import soap_setup, wait_state

pytestmark = pytest.mark.e2e


def write_records(runtime: Any, obj: str, items: list[dict[str, Any]]) -> None:
    """BatchWriteItem, 25 at a time: the records land in one stream burst, as a bulk import would."""
    dynamodb = runtime.client("dynamodb")
    table = "outbound-local-records"
    for start in range(0, len(items), 25):
        chunk = items[start:start + 25]
        dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {
            "object_type": {"S": obj}, "id": {"S": item["id"]},
            **{k: {"S": v} for k, v in item.items() if k != "id"}}}} for item in chunk]})


def delivered_ids(runtime: Any) -> bytes:
    return b"".join(r.body for r in runtime.soap.requests)


def failed_entries(api: Api, definition_id: str) -> list[dict[str, Any]]:
    status, body = api.call("GET", f"/outbound-messages/queue?view=failed&definition_id={definition_id}")
    assert status == 200, body
    return list(body["entries"])


def stream_failures_depth(runtime: Any) -> int:
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="outbound-local-stream-failures")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_a_control_character_fails_one_record_and_its_99_neighbours_are_sent(runtime: Any, api: Api) -> None:
    obj, definition_id = soap_setup(api, runtime.soap.url + "/isolation")
    batch = uuid.uuid4().hex[:6]
    ids = [f"500{batch}{i:04d}" for i in range(100)]
    bad = ids[41]
    write_records(runtime, obj, [{"id": rid, "Subject": "bell \u0007" if rid == bad else f"ok {rid}"} for rid in ids])
    wait_for(lambda: all(rid.encode() in delivered_ids(runtime) for rid in ids if rid != bad), 60,
             "the 99 good records' notifications")
    assert bad.encode() not in delivered_ids(runtime)
    listed = wait_for(lambda: [e for e in failed_entries(api, definition_id) if bad in e["record_ids"]], 20,
                      "the bad record in the failed view")
    assert listed[0]["error_code"] == "unbuildable" and "U+0007" in listed[0]["last_error"]
    assert stream_failures_depth(runtime) == 0
    # Born failed, so it is on the DLQ like every failed message (its alarm fires, a redrive can retry it).
    sqs = runtime.client("sqs")
    dlq = sqs.get_queue_url(QueueName="outbound-local-soap-dlq")["QueueUrl"]
    wait_for(lambda: parked_on(sqs, dlq, listed[0]["message_id"]), 20, "the failed message on the soap DLQ")

    # The operator cannot retry it until the record is fixed; then the retry builds it from the record as it is.
    message_id = listed[0]["message_id"]
    status, body = api.call("POST", f"/outbound-messages/queue/{message_id}/retry")
    assert status == 409 and "U+0007" in body["message"], body
    assert api.call("PUT", f"/records/{obj}/{bad}", {"fields": {"Subject": "fixed"}})[0] == 200
    status, body = api.call("POST", f"/outbound-messages/queue/{message_id}/retry")
    assert status in (200, 202), body
    wait_state(api, message_id, "delivered")
    assert bad.encode() in delivered_ids(runtime) and b"fixed" in delivered_ids(runtime)


def test_messages_are_split_by_size_and_an_oversized_record_travels_alone(runtime: Any, api: Api) -> None:
    """25 records of 20 KB written together would make a 500 KB envelope: split at 300 KB. One of 120 KB of '<'
    escapes to 480 KB: it goes in a message of its own (its envelope kept in S3, not in the message's item)."""
    obj, definition_id = soap_setup(api, runtime.soap.url + "/sizes")
    batch = uuid.uuid4().hex[:6]
    ids = [f"501{batch}{i:04d}" for i in range(25)]
    huge = f"502{batch}0000"
    before = len(runtime.soap.requests)
    write_records(runtime, obj, [{"id": rid, "Subject": "x" * 20_000} for rid in ids])
    write_records(runtime, obj, [{"id": huge, "Subject": "<" * 120_000}])
    wait_for(lambda: all(rid.encode() in delivered_ids(runtime) for rid in [*ids, huge]), 60, "the 26 large records")
    mine = [r for r in runtime.soap.requests[before:] if definition_id.encode() in r.body]
    grouped = [r for r in mine if huge.encode() not in r.body]
    assert len(grouped) >= 2 and all(len(r.body) <= 300_000 for r in grouped)
    alone = [parse_notifications(r.body).notifications for r in mine if huge.encode() in r.body]
    assert [[n.fields["Id"] for n in notes] for notes in alone] == [[huge]]
    assert alone[0][0].fields["Subject"] == "<" * 120_000
    assert not [e for e in failed_entries(api, definition_id) if huge in e["record_ids"]]


def test_a_hundred_records_of_fifty_wide_fields_are_all_delivered_and_a_300_kb_field_is_refused_at_the_api(
        runtime: Any, api: Api) -> None:
    """The widest envelopes we promise: 100 notifications of 50 fields of 1,000 characters (5 MB of envelopes, split into
    messages of at most 300 KB, each claim-checked in S3); a 300 KB or 2 MB field value through the API is a 4xx
    naming the field, never a 5xx."""
    obj = unique_object()
    fields = {f"Wide{i:02d}": "string" for i in range(50)}
    assert api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": fields})[0] == 200
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "Wide", "unique_name": "Wide", "endpoint_url": runtime.soap.url + "/wide",
        "fields": sorted(fields)})
    assert status == 201, definition
    status, rule = api.call("POST", "/rules", {"object": obj, "name": "all", "evaluation": "created",
                                               "definition_ids": [definition["id"]]})
    assert status == 201, rule
    batch = uuid.uuid4().hex[:6]
    ids = [f"504{batch}{i:04d}" for i in range(100)]
    before = len(runtime.soap.requests)
    write_records(runtime, obj, [{"id": rid, **{name: f"{rid}-{name}-" + uuid.uuid4().hex * 28 for name in fields}}
                                 for rid in ids])
    wait_for(lambda: all(rid.encode() in delivered_ids(runtime) for rid in ids), 120, "the 100 wide records")
    mine = [r for r in runtime.soap.requests[before:] if definition["id"].encode() in r.body]
    delivered = [n.fields["Id"] for r in mine for n in parse_notifications(r.body).notifications]
    assert sorted(set(delivered)) == ids and len(mine) >= 17 and all(len(r.body) <= 300_000 for r in mine)
    assert all(len(n.fields) == 51 for r in mine[:1] for n in parse_notifications(r.body).notifications)  # Id + 50 fields
    for size in (300_000, 2_000_000):
        status, body = api.call("PUT", f"/records/{obj}/504{batch}9999", {"fields": {"Wide00": "y" * size}})
        assert 400 <= status < 500 and body["fields"][0]["field"].endswith("Wide00"), (size, status, body)


def test_the_stream_failure_pointer_is_followed_and_what_still_fails_is_recorded(runtime: Any, api: Api) -> None:
    """Lambda's on-failure record holds only a shard and a sequence range. The consumer re-reads it: a group
    that fails again (here: the session-token key is missing from SSM) is recorded and can be replayed."""
    obj, definition_id = soap_setup(api, runtime.soap.url + "/pointer")
    status, definition = api.call("GET", f"/outbound-messages/{definition_id}")
    definition.pop("id")
    definition["include_session_id"] = True
    assert api.call("PUT", f"/outbound-messages/{definition_id}", definition)[0] == 200
    ssm = runtime.client("ssm")
    name = "/outbound/local/session-token-key"
    key = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    record_id = f"503{uuid.uuid4().hex[:12]}"
    streams = runtime.client("dynamodbstreams")
    import os

    stream_arn = os.environ["RECORDS_STREAM_ARN"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    ssm.delete_parameter(Name=name)
    from chalicelib.platform import secrets

    secrets.reset()
    try:
        assert api.call("PUT", f"/records/{obj}/{record_id}", {"fields": {"Subject": "needs a token"}})[0] == 200
        # Find the record's sequence number as Lambda's pointer would carry it.
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        sequence = None
        while iterator and sequence is None:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in answer["Records"]:
                if record["dynamodb"]["Keys"]["id"]["S"] == record_id:
                    sequence = record["dynamodb"]["SequenceNumber"]
            iterator = answer.get("NextShardIterator") if answer["Records"] else None
        assert sequence is not None
        sqs = runtime.client("sqs")
        url = sqs.get_queue_url(QueueName="outbound-local-stream-failures")["QueueUrl"]
        info = {"shardId": shard, "streamArn": stream_arn, "startSequenceNumber": sequence,
                "endSequenceNumber": sequence, "batchSize": 1}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"DDBStreamBatchInfo": info}))

        def recorded() -> list[dict[str, Any]]:
            failures = api.call("GET", "/stream-failures")[1]["stream_failures"]
            return [f for f in failures if f.get("record_id") == record_id]

        found = wait_for(recorded, 30, "the unprocessed record recorded")
    finally:
        ssm.put_parameter(Name=name, Value=key, Type="SecureString", Overwrite=True)
        secrets.reset()
    unprocessed = found[0]
    assert "SecretMissing" in unprocessed["reason"] and unprocessed["replayable"]
    # Replayed once the key is back: the notification goes out and the entry is gone.
    wait_for(lambda: api.call("POST", f"/stream-failures/{unprocessed['id']}/replay")[0] == 200, 20, "replay")
    wait_for(lambda: record_id.encode() in delivered_ids(runtime), 30, "the replayed notification")
    remaining = [f["id"] for f in api.call("GET", "/stream-failures")[1]["stream_failures"]]
    assert unprocessed["id"] not in remaining


def test_binary_sets_and_nested_attributes_do_not_stall_the_shard(runtime: Any, api: Api) -> None:
    """Records written by another writer with attribute types the record API never produces (binary, binary
    set, a map holding binary, a list), in one burst with 97 good ones: every record is delivered, none stalls
    the shard (before, a binary attribute failed every batch it was in)."""
    obj, _ = soap_setup(api, runtime.soap.url + "/binary")
    batch = uuid.uuid4().hex[:6]
    ids = [f"501{batch}{i:04d}" for i in range(100)]
    odd: dict[str, dict[str, Any]] = {ids[10]: {"Subject": {"B": b"\x89PNG"}}, ids[50]: {"Blobs": {"BS": [b"\x01", b"\x02"]}},
           ids[90]: {"Address": {"M": {"Seal": {"B": b"\xff"}, "Lines": {"L": [{"S": "a"}, {"B": b"\x00"}]}}}}}
    dynamodb = runtime.client("dynamodb")
    items = [{"object_type": {"S": obj}, "id": {"S": rid}, "Status": {"S": "New"},
              **odd.get(rid, {"Subject": {"S": f"ok {rid}"}})} for rid in ids]
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(RequestItems={"outbound-local-records": [
            {"PutRequest": {"Item": item}} for item in items[start:start + 25]]})
    wait_for(lambda: all(rid.encode() in delivered_ids(runtime) for rid in ids), 60, "all 100 records' notifications")
    body = delivered_ids(runtime)
    assert b"iVBORw==" in body  # the binary Subject, as its base64 text (a string field carries text)
    assert stream_failures_depth(runtime) == 0


def test_a_record_that_cannot_be_read_is_kept_for_the_operator_and_its_neighbours_go_on(
        runtime: Any, api: Api) -> None:
    """The stream handler reads each record on its own: one it cannot read (here binary that is not base64,
    which no writer can produce, standing for whatever shape comes next) becomes a listed stream failure."""
    from chalicelib.triggers import stream

    obj, _ = soap_setup(api, runtime.soap.url + "/unreadable")
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/outbound-local-records/stream/2026-12-05T00:00:00.000"
    tag = uuid.uuid4().hex[:6]

    def raw(number: int, subject: dict[str, Any]) -> dict[str, Any]:
        image = {"object_type": {"S": obj}, "id": {"S": f"502{tag}{number}"}, "Subject": subject}
        return {"eventID": f"{tag}-{number}", "eventName": "INSERT", "eventSourceARN": arn, "dynamodb": {
            "Keys": {"object_type": {"S": obj}, "id": {"S": f"502{tag}{number}"}}, "NewImage": image,
            "SequenceNumber": f"9{tag.encode().hex()}{number}", "StreamViewType": "NEW_AND_OLD_IMAGES"}}

    answer = stream.handle([raw(1, {"S": "first"}), raw(2, {"B": "not base64!"}), raw(3, {"S": "third"})])
    assert answer == {"batchItemFailures": []}
    wait_for(lambda: all(f"502{tag}{n}".encode() in delivered_ids(runtime) for n in (1, 3)), 30, "the neighbours")
    listed = [f for f in api.call("GET", "/stream-failures")[1]["stream_failures"] if f.get("record_id") == f"502{tag}2"]
    assert listed and "Error" in listed[0]["reason"], listed
    status, body = api.call("POST", f"/stream-failures/{listed[0]['id']}/replay")
    assert status == 409 and "Error" in body["message"], (status, body)  # still unreadable: said, and kept
