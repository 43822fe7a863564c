"""API validation and the Lambda handlers invoked as Lambda invokes them, against moto's server."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core import clock
from chalicelib.models.messages import QueueBody
from chalicelib.stores import messages as message_store
from tests.conftest import Api, unique_object, wait_for
from tests.factories import Lambdas, sqs_event, stream_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lambdas(runtime: Any) -> Any:
    return Lambdas(runtime)


def test_unknown_route_is_404(api: Api) -> None:
    status, body = api.call("GET", "/no-such-route")
    assert status == 404 and body["error"] == "not_found"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/sends", {"contacts": [{"tocontactid": "+14155550100"}]}, "configuration_id"),
    ("/sends", {"configuration_id": "c", "contacts": []}, "contacts"),
    ("/sends", {"configuration_id": "c", "contacts": [{"tocontactid": "+1"}] * 101}, "contacts"),
    ("/sends", {"configuration_id": "c", "contacts": [{"tocontactid": "+1", "optin": "maybe"}]}, "contacts.0.optin"),
    ("/schedules", {"configuration_id": "c", "contacts": [{"tocontactid": "+1"}]}, "body"),
    ("/templates", {"name": "t", "channel_type": "fax", "bodies": {"en-US": "x"}}, "channel_type"),
    ("/outbound-messages", {"object": "Case", "name": "n", "unique_name": "bad__name",
                            "endpoint_url": "https://x.example"}, "unique_name"),
])
def test_bad_input_is_400_naming_the_field(api: Api, path: str, body: Any, field: str) -> None:
    status, answer = api.call("POST", path, body)
    assert status == 400, answer
    assert field in [f["field"] for f in answer["fields"]], answer


@pytest.mark.parametrize("query", ["state=lost", "limit=0", "limit=x", "cursor=%%%", "cursor=WzFd"])
def test_bad_listing_query_is_400_naming_the_parameter(api: Api, query: str) -> None:
    status, answer = api.call("GET", f"/messages?{query}")
    assert status == 400, answer
    assert answer["fields"][0]["field"] == query.split("=")[0]


def test_malformed_json_is_400(api: Api) -> None:
    status, answer = api.call("POST", "/sends", raw=b"{not json")
    assert status == 400 and answer["fields"][0]["field"] == "body"


def test_template_that_does_not_compile_is_refused_with_its_line(api: Api) -> None:
    status, answer = api.call("POST", "/templates", {"name": "t", "channel_type": "sms",
                                                      "bodies": {"en-US": "Hello\n{{ CustomerName "}})
    assert status == 400 and answer["fields"][0]["field"] == "bodies.en-US"
    assert "line 2" in answer["message"]
    status, answer = api.call("POST", "/templates", {"name": "t", "channel_type": "sms", "default_locale": "en-US",
                                                      "bodies": {"en-US": "ok", "de-DE": "Hallo\n{{ Kunde.Name }}"}})
    assert status == 400 and answer["fields"][0]["field"] == "bodies.de-DE"
    assert "line 2" in answer["message"] and "plain contact value" in answer["message"]


def test_definition_rules(api: Api) -> None:
    obj = unique_object()
    api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})
    base = {"object": obj, "name": "n", "unique_name": "Same_Name", "endpoint_url": "http://127.0.0.1:1/x"}
    status, answer = api.call("POST", "/outbound-messages", {**base, "fields": ["Nope"]})
    assert status == 409 and answer["fields"][0]["field"] == "fields.1"
    status, answer = api.call("POST", "/outbound-messages", {**base, "object": "Nope" + obj})
    assert status == 404 and answer["fields"][0]["field"] == "object"
    assert api.call("POST", "/outbound-messages", base)[0] == 201
    status, answer = api.call("POST", "/outbound-messages", base)
    assert status == 409 and answer["fields"][0]["field"] == "unique_name"
    other = unique_object()
    api.call("PUT", f"/objects/{other}", {"name": other, "fields": {}})
    assert api.call("POST", "/outbound-messages", {**base, "object": other})[0] == 201


def test_instant_send_with_unknown_configuration_is_404(api: Api) -> None:
    status, answer = api.call("POST", "/sends", {"configuration_id": "cfg_missing",
                                                  "contacts": [{"tocontactid": "+14155550100"}]})
    assert status == 404 and "cfg_missing" in answer["message"]


def test_redelivered_stream_batch_creates_one_message_and_one_delivery(runtime: Any, api: Api, lambdas: Any) -> None:
    obj = unique_object()
    api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})
    definition = api.call("POST", "/outbound-messages", {"object": obj, "name": "n", "unique_name": "Dup",
                                                         "endpoint_url": runtime.soap.url + "/dup"})[1]
    api.call("POST", "/rules", {"object": obj, "name": "r", "definition_ids": [definition["id"]]})
    event = {"Records": [stream_record("INSERT", obj, f"r{i}", {"Subject": f"s{i}"}) for i in range(3)]}
    before = len(runtime.soap.requests)
    first = lambdas.invoke("on_record_change", event).payload
    second = lambdas.invoke("on_record_change", event).payload
    assert first == second == {"batchItemFailures": []}
    wait_for(lambda: len(runtime.soap.requests) > before, what="delivery")
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="outbound-local-soap")["QueueUrl"]

    def drained() -> bool:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return attrs["ApproximateNumberOfMessages"] == attrs["ApproximateNumberOfMessagesNotVisible"] == "0"

    wait_for(drained, what="the soap queue to drain (a duplicate would be delivered by then)")
    bodies = [r.body for r in runtime.soap.requests[before:] if definition["id"].encode() in r.body]
    assert len(bodies) == 1 and bodies[0].count(b"<Notification>") == 3


def test_sender_reports_only_the_failing_record(runtime: Any, lambdas: Any) -> None:
    """A record the table cannot serve (here: a message id that does not exist) is dropped and logged; a
    record whose processing raises is reported alone in batchItemFailures."""
    good = QueueBody(message_id="msg_does_not_exist", attempt=0).model_dump_json()
    event = sqs_event([good, "{\"message_id\": 42}"])
    answer = lambdas.invoke("send_sms", event).payload
    assert answer == {"batchItemFailures": []}
    assert message_store.get("msg_does_not_exist") is None
    original = message_store.get
    try:
        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("DynamoDB throttled")
        message_store.get = broken  # the AWS edge failing, not the code under test
        event = sqs_event([good, QueueBody(message_id="msg_other", attempt=0).model_dump_json()])
        answer = lambdas.invoke("send_sms", event).payload
    finally:
        message_store.get = original
    assert answer == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    assert any("bad queue body" in json.loads(body)["reason"] for body in dlq_bodies(runtime, "sms"))


def test_a_message_that_keeps_failing_is_recorded_failed_and_parked(runtime: Any, lambdas: Any) -> None:
    """Before SQS's maxReceiveCount moves it to the DLQ silently, the record must say why (and be retryable)."""
    from tests.integration.test_message_store import records

    record = records(1, "poison")[0].model_copy(update={"due_at": clock.now()})
    message_store.create(record)
    body = QueueBody(message_id=record.message_id, attempt=0).model_dump_json()
    original = message_store.apply
    try:
        def broken(record: Any, decision: Any, at: Any) -> Any:
            if decision.state == "sending":  # the claim's write fails; giving up still writes
                raise RuntimeError("boom in the sender")
            return original(record, decision, at)
        message_store.apply = broken
        early = sqs_event([body])
        early["Records"][0]["attributes"] = {"ApproximateReceiveCount": "2"}
        assert lambdas.invoke("send_sms", early).payload["batchItemFailures"] != []
        assert message_store.get(record.message_id).state == "queued"  # type: ignore[union-attr]
        late = sqs_event([body])
        late["Records"][0]["attributes"] = {"ApproximateReceiveCount": "4"}
        assert lambdas.invoke("send_sms", late).payload == {"batchItemFailures": []}
    finally:
        message_store.apply = original
    stored = message_store.get(record.message_id)
    assert stored is not None and stored.state == "failed" and stored.error_code == "poison"
    assert "gave up after 4 receives: RuntimeError: boom in the sender" in (stored.last_error or "")
    assert any(json.loads(body)["message_id"] == record.message_id for body in dlq_bodies(runtime, "sms"))


def dlq_bodies(runtime: Any, channel: str) -> list[str]:
    """Everything on a DLQ now (received in pages; each page stays invisible while the next is read)."""
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName=f"outbound-local-{channel}-dlq")["QueueUrl"]
    bodies: list[str] = []
    for _ in range(50):
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not page:
            break
        bodies.extend(m["Body"] for m in page)
    return bodies


def test_management_routes_need_the_stage_api_key(runtime: Any, api: Api) -> None:
    anonymous, wrong = Api(runtime.api_url), Api(runtime.api_url, "not-the-key")
    assert anonymous.call("GET", "/messages?state=failed")[0] == 401
    assert wrong.call("GET", "/messages?state=failed")[0] == 403
    assert wrong.call("POST", "/sends", {"configuration_id": "c", "contacts": []})[0] == 403
    assert api.call("GET", "/messages?state=failed")[0] == 200
    assert anonymous.call("GET", "/health")[0] == 200  # health and the signed webhooks stay open
    assert anonymous.call("POST", "/webhooks/twilio/status?message_id=m", raw=b"MessageSid=x",
                          content_type="application/x-www-form-urlencoded")[0] == 403  # unsigned, not unauthorised


def test_a_sender_out_of_time_starts_no_delivery_and_hands_the_batch_back(runtime: Any, lambdas: Any) -> None:
    """With less time left than one attempt needs (HTTP timeout plus a settle), nothing is claimed or sent:
    every message is reported failed and visible again at once, not after the 18-minute visibility timeout."""
    from tests.integration.test_message_store import records

    queue = "outbound-local-sms"
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    runtime.pause(queue)
    try:
        from chalicelib.core import clock, ids

        made = [r.model_copy(update={"due_at": clock.now()}) for r in records(3, ids.random_id("budget"))]
        for record in made:
            message_store.create(record)
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": QueueBody(message_id=r.message_id, attempt=0).model_dump_json()}
            for i, r in enumerate(made)])
        received = wait_for(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                        VisibilityTimeout=600).get("Messages"), what="the batch")
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                              "attributes": {"ApproximateReceiveCount": "1"}, "eventSourceARN": arn} for m in received]}
        before = len(runtime.twilio.requests)
        answer = lambdas.invoke("send_sms", event, timeout_s=1.0).payload
        assert answer == {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in received]}
        assert len(runtime.twilio.requests) == before
        assert all(message_store.get(r.message_id).attempts == 0 for r in made)  # type: ignore[union-attr]
        again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
        assert {m["MessageId"] for m in again} == {m["MessageId"] for m in received}
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(again)])
    finally:
        runtime.resume(queue)
    for record in made:
        wait_for(partial(_state_is, record.message_id, "sent"), what="the batch sent later")


def test_sms_templates_warn_of_ucs2_and_previews_count_segments(api: Api) -> None:
    status, template = api.call("POST", "/templates", {
        "name": "t", "channel_type": "sms", "default_locale": "en-US",
        "bodies": {"en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is open.",
                   "fr-FR": "Bonjour {{ CustomerName }} 👋, ça avance : {{ CaseName }}."}})
    assert status == 201 and set(template["warnings"]) == {"fr-FR"} and "UCS-2" in template["warnings"]["fr-FR"]
    contact = {"tocontactid": "+14155550100", "CustomerName": "Ana", "CaseName": "C" * 150}
    status, gsm = api.call("POST", f"/templates/{template['id']}/preview", {"contact": contact})
    assert status == 200 and (gsm["encoding"], gsm["segments"]) == ("GSM-7", 2) and gsm["characters"] == 172
    status, ucs = api.call("POST", f"/templates/{template['id']}/preview", {"contact": contact, "locale": "fr-FR"})
    assert status == 200 and ucs["encoding"] == "UCS-2" and ucs["segments"] == 3


def _state_is(message_id: str, state: str) -> bool:
    record = message_store.get(message_id)
    return record is not None and record.state == state
