"""Events bound to the attempt they answer, through the local runtime: a delivery event that names a message in
flight from another provider or an earlier attempt changes nothing, and no redrive or retry texts the person a
second time without being asked."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.providers import AWS_EXAMPLES, FakeTeleSign
from tests.conftest import Api, wait_for
from tests.e2e.test_pipeline import wait_state
from tests.e2e.test_providers import configuration, contact, send

pytestmark = pytest.mark.e2e
OURS = "+15005550006"


def eum_event(message_id: str, event_type: str, provider_id: str = "eum-earlier", attempt: str | None = None
              ) -> dict[str, Any]:
    event = json.loads(json.dumps(AWS_EXAMPLES["delivered"]))
    context = {"message_id": message_id, **({"attempt": attempt} if attempt else {})}
    event["detail"].update(eventType=event_type, messageId=provider_id, context=context)
    return dict(event)


def requests_to(runtime: Any, number: str) -> int:
    return sum(1 for r in runtime.twilio.requests if number in r.body.decode("utf-8", "replace"))


def in_flight(runtime: Any, api: Api, number: str, hang: float = 1.5) -> str:
    """A Twilio SMS whose send takes `hang` seconds (within the tests' 2 s HTTP timeout): returns its id once it
    is `sending` with no provider id."""
    runtime.twilio.fault_next(1, "slow", hang)
    (message_id,) = send(api, configuration(api, "sms", OURS), contact(number))
    wait_for(lambda: api.call("GET", f"/messages/{message_id}")[1]["state"] == "sending", 20, "sending")
    assert api.call("GET", f"/messages/{message_id}")[1].get("provider_message_id") is None
    return message_id


@pytest.mark.parametrize("event_type", ["TEXT_BLOCKED", "TEXT_DELIVERED"])
def test_another_providers_event_for_a_message_in_flight_changes_nothing_and_redrive_sends_nothing(
        runtime: Any, api: Api, event_type: str) -> None:
    number = "+14155557001" if event_type == "TEXT_BLOCKED" else "+14155557002"
    message_id = in_flight(runtime, api, number)
    assert runtime.put_event(eum_event(message_id, event_type)) == 1
    record = api.call("GET", f"/messages/{message_id}")[1]
    assert record["state"] == "sending", record  # neither failed nor delivered by End User Messaging's word
    assert "ignored: a eum report" in json.dumps(record["history"])
    wait_state(api, message_id, "sent")  # Twilio's own answer
    status, report = api.call("POST", "/dlq/sms/redrive", {"limit": 100})
    assert status == 200 and message_id not in json.dumps(report)
    time.sleep(1.0)
    assert requests_to(runtime, number.removeprefix("+")) == 1


def test_a_late_twilio_callback_from_an_earlier_attempt_changes_nothing(runtime: Any, api: Api) -> None:
    """Attempt 1 was accepted and later reported undelivered; the operator resent it (asked explicitly); attempt
    2 is in flight when attempt 1's `failed` arrives, validly signed, for its own callback URL."""
    from twilio.request_validator import RequestValidator

    number = "+14155557003"
    runtime.twilio.status_callbacks, runtime.twilio.final_status = True, "undelivered"
    try:
        (message_id,) = send(api, configuration(api, "sms", OURS), contact(number))
        first = wait_state(api, message_id, "undelivered")
    finally:
        runtime.twilio.status_callbacks, runtime.twilio.final_status = False, "delivered"
    status, body = api.call("POST", f"/messages/{message_id}/retry")
    assert status == 409 and "resend" in body["message"], body  # a provider accepted it: not without asking
    runtime.twilio.fault_next(1, "slow", 1.5)
    assert api.call("POST", f"/messages/{message_id}/retry", {"resend": True})[0] == 202
    wait_for(lambda: api.call("GET", f"/messages/{message_id}")[1]["attempts"] == 2, 20, "attempt 2 in flight")
    url = f"{runtime.api_url}/webhooks/twilio/status?message_id={message_id}&attempt=1"
    params = {"MessageSid": first["provider_message_id"], "MessageStatus": "failed", "ErrorCode": "30008",
              "AccountSid": runtime.twilio.account_sid}
    from tests.e2e.test_twilio_webhooks import post_form

    assert post_form(url, params, RequestValidator(runtime.twilio.auth_token).compute_signature(url, params)) == 200
    assert api.call("GET", f"/messages/{message_id}")[1]["state"] == "sending"
    final = wait_state(api, message_id, "sent")
    assert final["provider_message_id"] != first["provider_message_id"]
    assert requests_to(runtime, number.removeprefix("+")) == 2  # the first send, and the resend asked for


def test_a_late_telesign_report_from_an_earlier_attempt_changes_nothing(runtime: Any, api: Api) -> None:
    telesign: FakeTeleSign = runtime.telesign
    cfg = configuration(api, "sms", OURS, provider="telesign")
    (message_id,) = send(api, cfg, contact("+14155557004"))
    wait_state(api, message_id, "sent")
    first = telesign.sent[message_id]
    assert first[1].endswith("?attempt=1")
    assert telesign.report(message_id, 210, "Temporary phone error")[0] == 200
    wait_state(api, message_id, "failed")
    assert api.call("POST", f"/messages/{message_id}/retry", {"resend": True})[0] == 202
    wait_for(lambda: telesign.sent[message_id] != first, 20, "attempt 2 sent")
    wait_state(api, message_id, "sent")
    status, body = telesign.report(message_id, 200, "Delivered to handset", sent=first)  # attempt 1's, late
    assert status == 200 and json.loads(body)["result"] == "ignored", body
    assert api.call("GET", f"/messages/{message_id}")[1]["state"] == "sent"
    assert telesign.report(message_id, 200, "Delivered to handset")[0] == 200  # attempt 2's own report
    wait_state(api, message_id, "delivered")


def test_the_history_is_a_verified_chain(runtime: Any, api: Api) -> None:
    (message_id,) = send(api, configuration(api, "sms", OURS), contact("+14155557005"))
    wait_state(api, message_id, "sent")
    record = api.call("GET", f"/messages/{message_id}")[1]
    assert record["audit"]["verified"] is True, record["audit"]
    assert len(record["history"]) == len(record["chain"]) >= 3
    assert "payload=" + record["audit"]["payload_digest"] in record["history"][0]["detail"]
