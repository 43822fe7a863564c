"""JSON notifications through the local runtime, checked as a partner checks them: with the `standardwebhooks`
library (Webhook(secret).verify) and the definition's own JSON Schema."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jsonschema
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from local.providers import FakeWebhookListener, Recorded, Scripted
from tests.conftest import Api, unique_object, wait_for
from tests.e2e.test_pipeline import message, wait_state

pytestmark = pytest.mark.e2e


def json_setup(api: Api, endpoint: str) -> tuple[str, dict[str, Any]]:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"Subject": "string", "Priority": "int",
                                                          "Amount": "double", "IsEscalated": "boolean"}})[0] == 200
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "To the CRM", "unique_name": "To_CRM", "endpoint_url": endpoint, "format": "json",
        "fields": ["Subject", "Priority", "Amount", "IsEscalated"]})
    assert status == 201, definition
    status, rule = api.call("POST", "/rules", {"object": obj, "name": "r", "evaluation": "created_and_every_edit",
                                               "definition_ids": [definition["id"]]})
    assert status == 201, rule
    return obj, definition


def disabled_endpoint(api: Api, listener: FakeWebhookListener, path: str) -> tuple[str, dict[str, Any]]:
    """A JSON definition whose endpoint answered 410 Gone: its circuit disabled. (URL, the endpoint's entry)."""
    url = listener.url + path
    obj, _ = json_setup(api, url)
    listener.script.append(Scripted(410, b"gone"))
    assert api.call("PUT", f"/records/{obj}/gone-1", {"fields": {"Subject": "x"}})[0] == 200
    entry = wait_for(lambda: (e := endpoint_of(api, url)).get("state") == "disabled" and e, 20, "disabled")
    return url, dict(entry)


def deliveries_to(listener: FakeWebhookListener, path: str, count: int = 1) -> list[Recorded]:
    return list(wait_for(lambda: (found := [r for r in listener.deliveries() if r.path == path])
                         and len(found) >= count and found, 30, f"{count} deliveries to {path}"))


def test_a_record_change_arrives_signed_and_shaped_as_documented(runtime: Any, api: Api,
                                                                 listener: FakeWebhookListener) -> None:
    obj, definition = json_setup(api, listener.url + "/first")
    secret = definition["signing_secret"]
    assert secret.startswith("whsec_")
    status, read = api.call("GET", f"/outbound-messages/{definition['id']}")
    assert status == 200 and "signing_secret" not in read and read["format"] == "json"  # shown once only
    assert api.call("PUT", f"/records/{obj}/case-1", {"fields": {
        "Subject": "Printer on fire", "Priority": 1, "Amount": 12.5, "IsEscalated": True}})[0] == 200
    delivered = deliveries_to(listener, "/first")[0]
    assert delivered.headers["content-type"] == "application/json"
    payload = Webhook(secret).verify(delivered.body, delivered.headers)
    assert payload["type"] == f"{obj}.created" and payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["definition"] == {"id": definition["id"], "unique_name": "To_CRM", "object": obj}
    note = data["notifications"][0]
    assert note["record_id"] == "case-1" and note["id"].startswith("04l")
    assert note["record"] == {"Id": "case-1", "Amount": 12.5, "IsEscalated": True, "Priority": 1,
                              "Subject": "Printer on fire"}
    status, schema = api.call("GET", f"/outbound-messages/{definition['id']}/schema")
    assert status == 200
    jsonschema.validate(payload, schema, format_checker=jsonschema.FormatChecker())
    # webhook-id is the message's id: the operator finds the delivery the partner names
    assert wait_state(api, delivered.headers["webhook-id"], "delivered")["channel"] == "soap"
    assert api.call("PUT", f"/records/{obj}/case-1", {"fields": {"Subject": "Still burning", "Priority": 1}}
                    )[0] == 200
    updated = deliveries_to(listener, "/first", 2)[1]
    assert Webhook(secret).verify(updated.body, updated.headers)["type"] == f"{obj}.updated"


def test_three_attempts_carry_one_id_and_each_verifies(runtime: Any, api: Api,
                                                       listener: FakeWebhookListener) -> None:
    obj, definition = json_setup(api, listener.url + "/flaky")
    listener.script.extend([Scripted(500, b"down"), Scripted(500, b"down")])
    assert api.call("PUT", f"/records/{obj}/case-2", {"fields": {"Subject": "x"}})[0] == 200
    attempts = deliveries_to(listener, "/flaky", 3)
    assert [r.answered for r in attempts] == [500, 500, 204]
    assert len({r.headers["webhook-id"] for r in attempts}) == 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in attempts]
    assert stamps == sorted(stamps)
    for request in attempts:
        Webhook(definition["signing_secret"]).verify(request.body, request.headers)
    assert wait_state(api, attempts[0].headers["webhook-id"], "delivered")["attempts"] == 3


def test_rotation_signs_with_both_secrets_for_the_overlap_then_the_new_one_alone(
        runtime: Any, api: Api, listener: FakeWebhookListener) -> None:
    obj, definition = json_setup(api, listener.url + "/rotating")
    old = definition["signing_secret"]
    status, rotated = api.call("POST", f"/outbound-messages/{definition['id']}/rotate-secret", {"overlap_hours": 2})
    assert status == 200 and rotated["signing_secret"] != old and rotated["previous_valid_until"], rotated
    assert rotated["signs_from"] <= rotated["previous_valid_until"]
    new = rotated["signing_secret"]
    assert api.call("PUT", f"/records/{obj}/case-3", {"fields": {"Subject": "during the overlap"}})[0] == 200
    during = deliveries_to(listener, "/rotating")[0]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a partner on either secret verifies
        Webhook(secret).verify(during.body, during.headers)
    status, again = api.call("POST", f"/outbound-messages/{definition['id']}/rotate-secret", {"overlap_hours": 0})
    assert status == 200 and again["previous_valid_until"] is None
    assert api.call("PUT", f"/records/{obj}/case-4", {"fields": {"Subject": "after"}})[0] == 200
    after = deliveries_to(listener, "/rotating", 2)[1]
    Webhook(again["signing_secret"]).verify(after.body, after.headers)
    for retired in (old, new):
        with pytest.raises(WebhookVerificationError):
            Webhook(retired).verify(after.body, after.headers)


def test_a_redirect_is_not_followed_and_gone_fails_visibly_and_retryably(
        runtime: Any, api: Api, listener: FakeWebhookListener) -> None:
    obj, definition = json_setup(api, listener.url + "/moving")
    listener.script.append(Scripted(301, b"", {"Location": listener.url + "/elsewhere"}))
    listener.script.append(Scripted(410, b"gone"))
    assert api.call("PUT", f"/records/{obj}/case-5", {"fields": {"Subject": "x"}})[0] == 200
    first, second = deliveries_to(listener, "/moving", 2)
    message_id = first.headers["webhook-id"]
    failed = wait_state(api, message_id, "failed")
    assert failed["error_code"] == "endpoint_gone" and failed["attempts"] == 2, failed
    assert [r for r in listener.deliveries() if r.path == "/elsewhere"] == []  # the 301 was not followed
    status, listed = api.call("GET", f"/outbound-messages/queue?view=failed&definition_id={definition['id']}")
    assert status == 200 and [e["message_id"] for e in listed["entries"]] == [message_id]
    # 410 also disabled the endpoint: the operator resumes it, then retries the message
    gone = endpoint_of(api, listener.url + "/moving")
    assert gone["state"] == "disabled"
    assert api.call("POST", f"/endpoints/{gone['id']}/resume")[0] == 200
    assert api.call("POST", f"/outbound-messages/queue/{message_id}/retry")[0] == 202
    assert wait_state(api, message_id, "delivered")["attempts"] == 3
    Webhook(definition["signing_secret"]).verify(*_last(listener, "/moving"))


def _last(listener: FakeWebhookListener, path: str) -> tuple[bytes, dict[str, str]]:
    last = [r for r in listener.deliveries() if r.path == path][-1]
    return last.body, last.headers


def test_a_throttled_answer_waits_at_least_its_retry_after(runtime: Any, api: Api,
                                                           listener: FakeWebhookListener) -> None:
    obj, _ = json_setup(api, listener.url + "/busy")
    listener.script.append(Scripted(429, b"slow down", {"Retry-After": "3600"}))
    assert api.call("PUT", f"/records/{obj}/case-6", {"fields": {"Subject": "x"}})[0] == 200
    refused = deliveries_to(listener, "/busy")[0]
    waiting = wait_for(lambda: (m := message(api, refused.headers["webhook-id"]))["attempts"] == 1
                       and m["state"] == "queued" and m, 20, "the throttled message back in the queue")
    wait = datetime.fromisoformat(waiting["due_at"]) - datetime.fromtimestamp(
        int(refused.headers["webhook-timestamp"]), datetime.fromisoformat(waiting["due_at"]).tzinfo)
    assert wait.total_seconds() >= 3599, waiting


def test_a_soap_definition_has_no_secret_and_cannot_rotate(runtime: Any, api: Api) -> None:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"Subject": "string"}})[0] == 200
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "n", "unique_name": "N", "endpoint_url": runtime.soap.url + "/x"})
    assert status == 201 and "signing_secret" not in definition and definition["format"] == "soap"
    status, answer = api.call("POST", f"/outbound-messages/{definition['id']}/rotate-secret")
    assert status == 409 and answer["fields"][0]["field"] == "format", answer
    # switched to JSON: the secret is made then, and shown in that answer
    status, switched = api.call("PUT", f"/outbound-messages/{definition['id']}", {
        **{k: definition[k] for k in ("object", "name", "unique_name", "endpoint_url", "fields")}, "format": "json"})
    assert status == 200 and switched["signing_secret"].startswith("whsec_"), switched
    assert json.dumps(api.call("GET", f"/outbound-messages/{definition['id']}")[1]).count("whsec_") == 0


def endpoint_of(api: Api, url: str) -> dict[str, Any]:
    status, listed = api.call("GET", "/endpoints?limit=100")
    assert status == 200, listed
    return next((e for e in listed["endpoints"] if e["endpoint_url"] == url), {})


class Down(FakeWebhookListener):
    """503 to everything while `down`."""

    down = True

    def answer(self, request: Recorded) -> Scripted:
        return Scripted(503, b"maintenance") if self.down else Scripted(204, b"")


def test_a_failing_endpoint_opens_its_circuit_is_probed_once_and_closes(runtime: Any, api: Api) -> None:
    """Ten failed attempts in a row open the circuit: later messages wait without spending an attempt (no
    request reaches the partner), one probe goes when it is due, and its success lets every waiting message
    through, each exactly once."""
    import time

    from chalicelib.core import circuit, clock

    listener = Down().start()
    try:
        url = listener.url + "/down"
        obj, _ = json_setup(api, url)
        for n in range(14):  # one at a time: separate stream batches, separate messages
            assert api.call("PUT", f"/records/{obj}/c-{n}", {"fields": {"Subject": f"change {n}"}})[0] == 200
            time.sleep(0.3)
        opened = wait_for(lambda: (e := endpoint_of(api, url)).get("state") == "open" and e, 30, "the circuit to open")
        assert opened["failures"] >= circuit.THRESHOLD and "503" in opened["reason"]
        definition_id = opened_definition(api, obj)

        def waiting() -> list[dict[str, Any]]:
            entries = api.call("GET", f"/outbound-messages/queue?view=pending&definition_id={definition_id}")[1][
                "entries"]
            return [m for e in entries if "circuit" in ((m := message(api, e["message_id"]))["history"][-1]["detail"]
                                                        or "")]

        held = wait_for(lambda: (found := waiting()) and found, 30, "messages waiting on the circuit")
        assert all(m["state"] == "queued" for m in held)
        failed = len(listener.deliveries())
        time.sleep(1.0)
        assert len(listener.deliveries()) == failed  # nothing more reaches the partner while open
        listener.down = False
        clock.advance(circuit.PROBE_MAX.total_seconds())  # past the probe time and every backoff
        ids = {r.headers["webhook-id"] for r in listener.deliveries()} | {m["message_id"] for m in held}

        def all_delivered() -> bool:
            if all(message(api, i)["state"] == "delivered" for i in ids):
                return True
            clock.advance(circuit.PROBE_RECHECK.total_seconds())  # those behind the probe look again
            return False

        wait_for(all_delivered, 60, "every message delivered once the probe closed the circuit", interval=1.0)
        after = listener.deliveries()
        assert [r.answered for r in after].count(503) == failed
        delivered = [r.headers["webhook-id"] for r in after if r.answered == 204]
        assert sorted(delivered) == sorted(set(delivered)) and set(delivered) == ids  # each delivered once
        assert endpoint_of(api, url)["state"] == "closed"
    finally:
        listener.stop()


def opened_definition(api: Api, obj: str) -> str:
    listed = api.call("GET", f"/outbound-messages?object={obj}")[1]
    return str(listed["outbound_messages"][0]["id"])


def test_410_disables_the_endpoint_announces_it_and_an_operator_resumes_it(
        runtime: Any, api: Api, listener: FakeWebhookListener) -> None:
    from chalicelib.core import circuit, clock

    events = runtime.client("events")
    sqs = runtime.client("sqs")
    queue = sqs.create_queue(QueueName="ops-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="outbound-ops", EventPattern=json.dumps({"source": ["outbound.local"],
                                                                   "detail-type": ["Endpoint disabled"]}))
    events.put_targets(Rule="outbound-ops", Targets=[{"Id": "q", "Arn": queue_arn}])
    url = listener.url + "/retired"
    obj, _ = json_setup(api, url)
    listener.script.append(Scripted(410, b"gone"))
    assert api.call("PUT", f"/records/{obj}/g-1", {"fields": {"Subject": "x"}})[0] == 200
    gone = deliveries_to(listener, "/retired")[0].headers["webhook-id"]
    assert wait_state(api, gone, "failed")["error_code"] == "endpoint_gone"
    disabled = wait_for(lambda: (e := endpoint_of(api, url)).get("state") == "disabled" and e, 20, "disabled")
    assert "410" in disabled["reason"]
    announced = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"), 20,
                         "the Endpoint disabled event")
    event = json.loads(announced[0]["Body"])
    assert event["detail-type"] == "Endpoint disabled" and event["detail"]["endpoint_url"] == url
    assert api.call("PUT", f"/records/{obj}/g-2", {"fields": {"Subject": "y"}})[0] == 200
    queued = f"/messages?state=queued&definition_id={opened_definition(api, obj)}"
    held = wait_for(lambda: [m for m in api.call("GET", queued)[1]["messages"]
                             if "disabled" in (message(api, m["message_id"])["history"][-1]["detail"] or "")],
                    20, "the new message held by the disabled circuit")
    assert not [r for r in listener.deliveries() if r.path == "/retired" and b"g-2" in r.body]
    status, resumed = api.call("POST", f"/endpoints/{disabled['id']}/resume")
    assert status == 200 and resumed["state"] == "closed" and resumed["failures"] == 0, resumed
    clock.advance(circuit.RECHECK_DISABLED.total_seconds() + 5)
    wait_state(api, held[0]["message_id"], "delivered", 30)
    assert api.call("POST", "/endpoints/ep_unknown/resume")[0] == 404


def test_replay_by_window_failed_missing_all_and_dry_run(runtime: Any, api: Api,
                                                         listener: FakeWebhookListener) -> None:
    """A: failed, then retried and delivered (not `failed` any more); B: held by the disabled endpoint until its
    deadline (expired, never attempted: `missing`); C: delivered; E: failed and still failed."""
    from datetime import timedelta

    from chalicelib.core import clock

    started = clock.now() - timedelta(minutes=1)
    url = listener.url + "/replayed"
    obj, definition = json_setup(api, url)
    definition_id = definition["id"]

    def put(record_id: str) -> None:
        assert api.call("PUT", f"/records/{obj}/{record_id}", {"fields": {"Subject": record_id}})[0] == 200

    def message_of(record_id: str) -> str:
        found = wait_for(lambda: api.call("GET", f"/messages?definition_id={definition_id}&record_id={record_id}"
                                          )[1]["messages"], 20, f"the message of {record_id}")
        return str(found[0]["message_id"])

    def resume() -> None:
        wait_for(lambda: endpoint_of(api, url).get("state") == "disabled", 20, "disabled")
        assert api.call("POST", f"/endpoints/{endpoint_of(api, url)['id']}/resume")[0] == 200

    listener.script.append(Scripted(410, b"gone"))
    put("A")
    a = message_of("A")
    wait_state(api, a, "failed")
    put("B")
    b = message_of("B")
    wait_for(lambda: "disabled" in (message(api, b)["history"][-1]["detail"] or ""), 20, "B held")
    clock.advance(25 * 3600)  # B's deadline passes while the endpoint is disabled
    def expired_after_another_hour() -> bool:
        if message(api, b)["state"] == "expired":
            return True
        clock.advance(3600)
        return False

    wait_for(expired_after_another_hour, 60, "B expired")
    assert message(api, b)["attempts"] == 0
    resume()
    assert api.call("POST", f"/outbound-messages/queue/{a}/retry")[0] == 202
    wait_state(api, a, "delivered")
    put("C")
    c = message_of("C")
    wait_state(api, c, "delivered")
    listener.script.append(Scripted(410, b"gone again"))
    put("E")
    e = message_of("E")
    wait_state(api, e, "failed")
    resume()
    window = {"definition_id": definition_id, "since": started.isoformat()}

    status, dry = api.call("POST", "/replays", {**window, "mode": "failed", "dry_run": True})
    assert status == 202 and dry["state"] == "done" and (dry["matched"], dry["replayed"]) == (1, 0), dry
    assert message(api, e)["state"] == "failed"  # a dry run changes nothing
    before = len(listener.deliveries())
    status, failed = api.call("POST", "/replays", {**window, "mode": "failed"},
                              headers={"Idempotency-Key": "replay-failed-1"})
    assert status == 202 and (failed["matched"], failed["replayed"]) == (1, 1), failed
    assert api.call("POST", "/replays", {**window, "mode": "failed"}, headers={"Idempotency-Key": "replay-failed-1"}
                    )[1]["id"] == failed["id"]  # a retried call starts nothing
    wait_state(api, e, "delivered")
    assert len(listener.deliveries()) == before + 1  # E only: A failed, then succeeded
    status, missing = api.call("POST", "/replays", {**window, "mode": "missing"})
    assert status == 202 and missing["replayed"] == 1, missing
    wait_state(api, b, "delivered")
    assert api.call("GET", f"/replays/{missing['id']}")[1]["replayed"] == 1
    status, everything = api.call("POST", "/replays", {**window, "mode": "all"})
    assert status == 202 and everything["replayed"] == 4, everything  # A, B, C, E: delivered, sent again

    def acknowledged() -> dict[str, int]:
        ids = [r.headers["webhook-id"] for r in listener.deliveries() if r.path == "/replayed" and r.answered == 204]
        return {m: ids.count(m) for m in (a, b, c, e)}

    # each delivered once before (same webhook-id: the partner dedupes) and once by the replay of everything
    wait_for(lambda: acknowledged() == {a: 2, b: 2, c: 2, e: 2}, 30, "every message acknowledged twice")
    assert all(message(api, m)["state"] == "delivered" for m in (a, b, c, e))
    assert api.call("POST", "/replays", {"definition_id": definition_id, "since": started.isoformat(),
                                         "until": (started - timedelta(days=1)).isoformat()})[0] == 400


def test_customer_messages_replay_failed_ones_never_everything(runtime: Any, api: Api) -> None:
    from datetime import timedelta, timezone

    from chalicelib.core import clock
    from local.providers import twilio_error
    from tests.e2e.test_pipeline import sms_configuration

    configuration_id = sms_configuration(api)
    since = (clock.now() - timedelta(minutes=1)).isoformat()
    refused = twilio_error(400, 21614, "not a mobile number")
    runtime.twilio.fail_next(1, refused.status, refused.body, refused.headers)
    status, sent = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155553411", "CustomerName": "Ana", "CaseName": "C-1", "contextitems": {"Status": "x"}}]})
    assert status == 202, sent
    wait_state(api, sent["message_ids"][0], "failed")
    status, everything = api.call("POST", "/replays", {"configuration_id": configuration_id, "since": since,
                                                       "mode": "all"})
    assert status == 409 and everything["fields"][0]["field"] == "mode", everything
    # a window given in another zone means the same instants (stored times are UTC)
    east = (clock.now() - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=2))).isoformat()
    status, replay = api.call("POST", "/replays", {"configuration_id": configuration_id, "since": east})
    assert status == 202 and (replay["mode"], replay["replayed"]) == ("failed", 1), replay
    wait_state(api, sent["message_ids"][0], "sent")
    assert replay["id"] in [r["id"] for r in api.call("GET", "/replays")[1]["replays"]]
